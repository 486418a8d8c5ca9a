"""Which model a project predicts with: the one answer the app, the command line and retraining use.

A project uses the version its learning record names (``Project.learning["current"]``, set when a
version is adopted); before any adoption, ``v0``: the installed model of its schema, when there is
one. Answered from the project and the registry folder's names alone, without PyTorch, so the app
can ask while it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.learning.registry import BUNDLED, ModelRegistry, RegistryError
from core.resources import ModelFileError, resolve_model

__all__ = ["ActiveModel", "active_model", "current_version"]


def current_version(project, registry: ModelRegistry) -> str | None:
    """The version the project uses: recorded, else ``v0`` (bundled) when there is one, else None."""
    current = project.learning.get("current")
    if current:
        return current
    return BUNDLED if BUNDLED in registry.versions() else None


@dataclass(frozen=True)
class ActiveModel:
    """The model a project predicts with.

    ``version``: ``v0`` (the installed model of the schema), ``v1``… (a retrained or adopted
    version in ``<project>.models/``) or None (no model at all). ``path``: its weights file, None
    when there is none. ``adopted``: True for a project version (not the installed file itself).
    """

    version: str | None
    path: Path | None

    @property
    def adopted(self) -> bool:
        return self.version not in (None, BUNDLED)

    @property
    def model(self) -> str | None:
        """What a ``Predictor`` takes: the version's file (a path), or None without a model."""
        return str(self.path) if self.path is not None else None


def active_model(project) -> ActiveModel:
    """The project's :class:`ActiveModel`; a recorded version whose files are gone falls back to the
    installed model of the schema (the project still opens and predicts)."""
    registry = ModelRegistry(project.path, project.schema.name)
    version = current_version(project, registry)
    if version is not None:
        try:
            return ActiveModel(version, registry.path(version))
        except RegistryError:
            pass
    try:
        return ActiveModel(BUNDLED, resolve_model(project.schema.name))
    except ModelFileError:
        return ActiveModel(None, None)
