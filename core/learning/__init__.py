"""The learning loop: corrections become training data, retraining, model versions (issue 4).

Modules, one concern each:

- ``selection``: which images train (provenance) and the locked validation subset.
- ``registry``: model versions ``v0`` (bundled), ``v1``… in ``<project>.models/``.
- ``guard``: the L2-SP penalty toward the parent weights (against forgetting).
- ``validation``: a model's metrics on the locked validation subset (accepted points censored, ADR 0005).
- ``verdict``: better / worse / inconclusive, with a bootstrap 95 % interval of the MRE change.
- ``finetune``: one retraining run → a new published version with its card.
- ``interrupted``: a run's scratch folder; resuming a run that was killed.
- ``adoption``: adopt (never a version the verdict calls worse, unless forced), restore, re-predict.

No Qt here; long work takes a ``progress`` callback and a ``cancel`` event.
See ``user_guide/retraining.md`` and ``docs/adr/0004-model-registry.md``.
"""

from core.learning.adoption import AdoptionRefused, adopt, repredict, version_rows
from core.learning.finetune import RetrainResult, RetrainSettings, retrain
from core.learning.registry import ModelRegistry, RegistryError
from core.learning.selection import is_reviewed, locked_validation, training_split

__all__ = [
    "AdoptionRefused",
    "ModelRegistry",
    "RegistryError",
    "RetrainResult",
    "RetrainSettings",
    "adopt",
    "is_reviewed",
    "locked_validation",
    "repredict",
    "retrain",
    "training_split",
    "version_rows",
]
