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
- ``active``: which model a project predicts with (the version, its file), answered without torch.

No Qt here; long work takes a ``progress`` callback and a ``cancel`` event.
See ``user_guide/retraining.md`` and ``docs/adr/0004-model-registry.md``.
"""

import importlib

#: Public name → the module that defines it. Imported on first use (PEP 562), so asking which model a
#: project uses (``core.learning.active``) or listing its versions does not load PyTorch.
_EXPORTS = {
    "AdoptionRefused": "adoption", "adopt": "adoption", "repredict": "adoption", "version_rows": "adoption",
    "RetrainResult": "finetune", "RetrainSettings": "finetune", "retrain": "finetune",
    "ModelRegistry": "registry", "RegistryError": "registry",
    "is_reviewed": "selection", "locked_validation": "selection", "training_split": "selection",
    "ActiveModel": "active", "active_model": "active", "current_version": "active",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"core.learning.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'core.learning' has no attribute {name!r}")
