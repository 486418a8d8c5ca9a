"""Every training loss, one module per method (DESIGN.md 2.1–2.5):

- ``structure``: the structure-aware model's heatmap cross-entropy, symmetry and order terms (2.1);
- ``spatial_configuration``: heatmap L2 plus the spatial-configuration term (2.2);
- ``segmentation``: the segmentation-informed model's Dice/BCE and consistency terms (2.3);
- ``farnet``: FARNet's exponentially weighted centre loss (2.4);
- ``heatmap``: the global stage's heatmap term as a recipe selects it (``TrainConfig.loss`` ×
  the model's target shape), built from the above.

Submodules are imported where needed (no torch import here): models import the loss their
family trains with, ``core.training`` the recipe's.
"""
