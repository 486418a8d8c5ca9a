"""Training the models: data sets and samplers, augmentation, the two stages (global, patch),
the training loop with its schedules, distributed runs, and the recipes of the bundled models.

Nothing here is needed to predict: inference uses ``core.geometry`` and ``core.devices``
(an import-linter contract in pyproject.toml holds it).
"""
