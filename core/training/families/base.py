"""The contract every model family fulfils (ADR 0008).

A *family* is a global network and everything training needs to know about
it: how a recipe builds it, the stage (losses) that trains it from a recipe,
the stage that retrains it on a project's corrected points, the masks it
learns from, the recipe variants and experiment configurations that select
it, and its short name on a model card. The network itself lives in
``core.models`` (``GLOBAL_NETS``), because loading a model file must not
import training; everything else is the family's module under
``core.training.families``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from core.schema import LandmarkSchema
from core.training.loop import TrainConfig
from core.training.recipes import Recipe
from core.training.stages import GlobalStage

#: An experiment configuration: (one-line description, recipe variant it applies to a dataset's recipe).
Configuration = tuple[str, Callable[[Recipe], Recipe]]


def _no_masks(schema: LandmarkSchema, config: Any) -> None:
    return None


def _same_config(config: TrainConfig, net: torch.nn.Module) -> TrainConfig:
    return config


@dataclass(frozen=True)
class ModelFamily:
    """One global-network family; ``FAMILIES`` (``core.training.families``) lists them."""

    #: The network config's ``kind`` and a recipe's ``model``.
    name: str
    #: One line for the architecture page and the experiment list.
    summary: str
    #: (recipe, schema) → the untrained global network.
    build: Callable[[Recipe, LandmarkSchema], torch.nn.Module]
    #: Trains the network from a recipe on a dataset: its own losses (DESIGN.md).
    stage: type[GlobalStage]
    #: Trains it on a project's reviewed images, whose corrections are points only (never masks).
    retrain_stage: type[GlobalStage]
    #: What retraining does with this family, in one sentence (the architecture page prints it).
    retraining: str
    #: Experiment configurations (``core.experiments``) that select this family, by name.
    configurations: Mapping[str, Configuration] = field(default_factory=dict)
    #: (schema, network config) → the mask bits its stage learns from, or None (no masks cached).
    mask_bits: Callable[[LandmarkSchema, Any], list[int] | None] = _no_masks
    #: A project's recipe training settings → the ones retraining this network uses.
    retrain_config: Callable[[TrainConfig, torch.nn.Module], TrainConfig] = _same_config

    def card_name(self, config: Any, with_patch: bool) -> str:
        """The card's ``architecture.family``: ``<name>``, ``-gnn`` with a refiner, ``-patch`` with a local stage."""
        base = f"{self.name}-gnn" if getattr(config, "use_refiner", False) else self.name
        return base + ("-patch" if with_patch else "")


def renamed(recipe: Recipe, suffix: str, **changes) -> Recipe:
    """``recipe`` with ``changes`` and ``suffix`` appended to its name (how variants name themselves)."""
    return replace(recipe, name=f"{recipe.name}{suffix}", **changes)
