"""Train one stage of a recipe on a dataset folder and record what happened.

:func:`make_stage` is the one place a network's training stage is chosen (by
its family, ``core.training.families``), for recipes, experiments and project
retraining alike; :func:`run_training` is the one loop that trains it.

Writes into ``work``: ``<stage>.pt`` (best weights, a plain state_dict),
``<stage>.pt.last`` (resume state) and ``<stage>.json`` (architecture, training
settings, data, device, history and result). :func:`core.training.assemble`
turns a work folder into a model file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from core.atomic import atomic_write_text
from core.models import PatchNet, PatchNetConfig
from core.schema import LandmarkSchema
from core.training import distributed
from core.training.datasets import load_dataset
from core.training.families import build_global, family_of
from core.training.loop import EpochReport, TrainConfig, run_training
from core.training.recipes import Recipe
from core.training.samplers import CachedImage, cache_images, physical_fine_mm
from core.training.stages import PatchStage

STAGES = ("global", "patch")


def build_stage_model(recipe: Recipe, stage: str, schema: LandmarkSchema) -> torch.nn.Module:
    """The recipe's untrained network for ``stage``: its family's global network, or the patch network."""
    if stage == "global":
        return build_global(recipe, schema)
    if stage == "patch":
        return PatchNet(PatchNetConfig(schema.n_landmarks, recipe.patch_size, recipe.fine_scale, recipe.patch_width, recipe.patch_depth))
    raise ValueError(f"unknown stage {stage!r}")


def make_stage(model: torch.nn.Module, stage: str, schema: LandmarkSchema, train: list[CachedImage], val: list[CachedImage],
               config: TrainConfig, device: torch.device, retraining: bool = False):
    """What :func:`run_training` trains for ``stage`` of ``model``: the one place recipes, experiments
    and project retraining (``retraining``: its family's stage for corrected points) choose a stage."""
    if stage == "patch":
        return PatchStage(model, train, val, config, device)
    family = family_of(model)
    if retraining:
        return family.retrain_stage(model, schema, train, val, family.retrain_config(config, model), device)
    return family.stage(model, schema, train, val, config, device)


def train_stage(
    recipe: Recipe,
    stage: str,
    dataset_dir: Path,
    work: Path,
    train_split: str | None = "train",
    val_split: str | None = "val",
    device_preference: str = "auto",
    config: TrainConfig | None = None,
    progress: Callable[[EpochReport], None] | None = None,
    cancel: threading.Event | None = None,
    init_from: Path | None = None,
) -> dict:
    """Train ``stage`` of ``recipe`` and return the record written to ``<stage>.json``."""
    work.mkdir(parents=True, exist_ok=True)
    device, reason = distributed.device_for_rank(device_preference)
    config = config or (recipe.global_train if stage == "global" else recipe.patch_train)
    full = load_dataset(dataset_dir)
    train = full.subset(train_split)
    if recipe.val_holdout:
        val = replace(train, samples=train.samples[-recipe.val_holdout :])
        train = replace(train, samples=train.samples[: -recipe.val_holdout])
        val_split = f"last {recipe.val_holdout} of {train_split}"
    else:
        val = full.subset(val_split) if val_split else train
    schema = full.schema
    torch.manual_seed(config.seed)  # the seed fixes the initial weights, not only the batches
    model = build_stage_model(recipe, stage, schema)
    if init_from is not None:
        # Fine-tuning: start from a stage checkpoint of the same architecture.
        model.load_state_dict(torch.load(init_from, map_location="cpu", weights_only=True))
    fine = recipe.fine_scale if stage == "patch" else None
    t0 = time.monotonic()
    bits = family_of(model).mask_bits(schema, model.config) if stage == "global" else None
    fine_mm = None
    if stage == "patch":  # the patch stage learns at its images' physical scale (geometry.fine_grid)
        fine_mm = model.config.fine_mm_per_px = physical_fine_mm(train.samples, recipe.fine_scale)
    train_items = cache_images(train.samples, recipe.input_size, fine, bits, fine_mm)
    val_items = cache_images(val.samples, recipe.input_size, fine, bits, fine_mm)
    cache_seconds = time.monotonic() - t0
    runner = make_stage(model, stage, schema, train_items, val_items, config, device)
    checkpoint = work / f"{stage}.pt"
    result = run_training(runner, config, checkpoint, device, progress=progress, cancel=cancel)
    record = {
        "recipe": recipe.name,
        "stage": stage,
        "schema": schema.name,
        "model_config": model.config.to_dict(),
        "train_config": config.to_dict(),
        "data": {
            "dataset": full.name,
            "train_split": train_split,
            "val_split": val_split,
            "n_train": len(train),
            "n_val": len(val),
            "train_ids": [s.id for s in train.samples],
        },
        "init_from": str(init_from) if init_from else None,
        "device": str(device),
        "device_reason": reason,
        "precision": result.precision,
        "processes": distributed.current().world_size,
        "threads": torch.get_num_threads(),
        "cache_seconds": cache_seconds,
        "best_val_mre_px": result.best_mre_px,
        "epochs_done": result.epochs_done,
        "stopped": result.stopped,
        "seconds": result.seconds,
        "history": result.history,
    }
    if distributed.current().is_main:
        atomic_write_text(work / f"{stage}.json", json.dumps(record, indent=1))
    distributed.barrier()  # the other ranks go on once the record is there
    return record
