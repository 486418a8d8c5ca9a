"""Train one stage of a recipe on a dataset folder and record what happened.

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
from core.models import LandmarkNet, LandmarkNetConfig, PatchNet, PatchNetConfig
from core.training.datasets import load_dataset
from core.training import distributed
from core.training.loop import EpochReport, TrainConfig, run_training
from core.training.recipes import Recipe
from core.training.samplers import cache_images, physical_fine_mm
from core.training.stages import PatchStage
from core.training.zoo_stages import build_zoo_model, global_stage_class, segmentation_classes

STAGES = ("global", "patch")


def build_stage_model(recipe: Recipe, stage: str, n_landmarks: int, adjacency: list[list[float]]):
    if stage == "global":
        config = LandmarkNetConfig(
            n_landmarks=n_landmarks,
            input_size=recipe.input_size,
            width=recipe.width,
            depth=recipe.depth,
            use_refiner=recipe.use_refiner,
            refiner_noise=recipe.refiner_noise if recipe.use_refiner else 0.0,
            refiner_detach=recipe.refiner_detach and recipe.use_refiner,
            adjacency=adjacency if recipe.use_refiner else [],
            temperature=recipe.temperature,
            heatmap=recipe.heatmap,
            heatmap_sigma=recipe.global_train.sigma[0],
        )
        return LandmarkNet(config)
    if stage == "patch":
        return PatchNet(PatchNetConfig(n_landmarks, recipe.patch_size, recipe.fine_scale, recipe.patch_width, recipe.patch_depth))
    raise ValueError(f"unknown stage {stage!r}")


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
    adjacency = schema.normalized_adjacency().tolist()
    torch.manual_seed(config.seed)  # the seed fixes the initial weights, not only the batches
    if stage == "global" and recipe.model != "unet":
        refiner = {"use_refiner": recipe.use_refiner, "refiner_noise": recipe.refiner_noise, "refiner_detach": recipe.refiner_detach}
        model = build_zoo_model(recipe.model, schema, recipe.input_size, recipe.width, recipe.depth, recipe.model_options, refiner)
    else:
        model = build_stage_model(recipe, stage, schema.n_landmarks, adjacency)
    if init_from is not None:
        # Fine-tuning: start from a stage checkpoint of the same architecture.
        model.load_state_dict(torch.load(init_from, map_location="cpu", weights_only=True))
    fine = recipe.fine_scale if stage == "patch" else None
    t0 = time.monotonic()
    bits = segmentation_classes(schema, model.config.mask_classes)[1] if stage == "global" and recipe.model == "segnet" else None
    fine_mm = None
    if stage == "patch":  # the patch stage learns at its images' physical scale (geometry.fine_grid)
        fine_mm = model.config.fine_mm_per_px = physical_fine_mm(train.samples, recipe.fine_scale)
    train_items = cache_images(train.samples, recipe.input_size, fine, bits, fine_mm)
    val_items = cache_images(val.samples, recipe.input_size, fine, bits, fine_mm)
    cache_seconds = time.monotonic() - t0
    if stage == "global":
        runner = global_stage_class(recipe.model)(model, schema, train_items, val_items, config, device)
    else:
        runner = PatchStage(model, train_items, val_items, config, device)
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
