"""Model families: each global network's training contract in one module (ADR 0008).

Adding a family: its network in ``core/models/<family>.py`` with a line in
``GLOBAL_NETS`` (loading a model file needs only that), and a module here
defining ``FAMILY`` (:class:`ModelFamily`: build, stages, retraining, recipe
variant, experiment configurations) with a line in :data:`FAMILIES`. Recipes,
experiments and project retraining all go through
:func:`core.training.stage_runner.make_stage`.
"""

from __future__ import annotations

import torch

from core.schema import LandmarkSchema
from core.training.families import farnet, segnet, unet
from core.training.families.base import Configuration, ModelFamily
from core.training.recipes import Recipe

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (unet.FAMILY, segnet.FAMILY, farnet.FAMILY)}


def get_family(kind: str) -> ModelFamily:
    """The family named ``kind`` (a recipe's ``model``, a network config's ``kind``); ValueError (one line)."""
    if kind not in FAMILIES:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[kind]


def family_of(net: torch.nn.Module) -> ModelFamily:
    """The family of a built or loaded global network (its config's ``kind``; U-Net configs have none)."""
    return get_family(getattr(net.config, "kind", "unet"))


def build_global(recipe: Recipe, schema: LandmarkSchema) -> torch.nn.Module:
    """The recipe's untrained global network, whatever its family."""
    return get_family(recipe.model).build(recipe, schema)


def configurations() -> dict[str, Configuration]:
    """Every family's experiment configurations, in registry order."""
    return {name: c for f in FAMILIES.values() for name, c in f.configurations.items()}


def architecture_family(config, with_patch: bool) -> str:
    """Short architecture name for a card: unet-gnn, unet, segnet, farnet, + "-patch" with a local stage."""
    return get_family(getattr(config, "kind", "unet")).card_name(config, with_patch)


__all__ = ["FAMILIES", "ModelFamily", "architecture_family", "build_global", "configurations", "family_of", "get_family"]
