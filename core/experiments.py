"""Experiments: train one configuration of the model zoo on a dataset, evaluate it, record the figures.

A *configuration* is a recipe variant (model kind + loss options) applied to
the dataset's own recipe (chest6, ceph19: input size, augmentation, budget),
so every method is trained by the same engine (``train_stage`` →
``run_training``) and scored by the same evaluation. Only the global stage is
trained: the comparison is between methods, not the local patch stage that
any of them could be followed by.

A configuration is a name from :data:`CONFIGURATIONS` or a JSON file::

    {"name": "tiny-seg", "configuration": "segnet", "recipe": "chest6",
     "overrides": {"input_size": [64, 64], "width": 4, "depth": 3, "model_options": {...}},
     "train": {"epochs": 1, "batch_size": 2}}

``results.json`` (see :func:`run_experiment`) is what ``experiment-report``
tabulates.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_text
from core.training.loop import EpochReport, TrainConfig
from core.training.families import configurations
from core.training.recipes import Recipe, get_recipe

#: Configuration name → (description, recipe variant), gathered from the model families
#: (``core.training.families``); "sc" is the spatial-configuration loss.
CONFIGURATIONS: dict[str, tuple[str, Callable[[Recipe], Recipe]]] = configurations()

RECIPE_FIELDS = {f.name for f in fields(Recipe)} - {"global_train", "patch_train"}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"augment"}


class ExperimentError(ValueError):
    """A configuration or results file that cannot be used; ``str(e)`` is one line."""


def _apply(obj, changes: dict, known: set[str], what: str):
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ExperimentError(f"{what}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    changes = {k: tuple(v) if isinstance(v, list) and k in ("input_size", "sigma") else v for k, v in changes.items()}
    return replace(obj, **changes)


def resolve_configuration(spec: str, schema_name: str) -> tuple[str, str, Recipe]:
    """(name, base configuration, recipe) for a configuration name or JSON file and the dataset's schema."""
    path = Path(spec)
    if spec in CONFIGURATIONS:
        data = {"configuration": spec}
    elif path.suffix == ".json" or path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExperimentError(f"{path}: cannot read configuration ({exc.__class__.__name__})") from exc
        if not isinstance(data, dict):
            raise ExperimentError(f"{path}: a configuration file holds one JSON object")
    else:
        raise ExperimentError(f"unknown configuration {spec!r}; choose one of {', '.join(CONFIGURATIONS)} or give a .json file")
    base = data.get("configuration", "structure-aware")
    if base not in CONFIGURATIONS:
        raise ExperimentError(f"{spec}: unknown configuration {base!r}; choose one of {', '.join(CONFIGURATIONS)}")
    try:
        recipe = get_recipe(data.get("recipe", schema_name))
    except KeyError as exc:
        raise ExperimentError(f"no recipe for schema {schema_name!r}; name one with \"recipe\" in a configuration file") from exc
    recipe = _apply(recipe, data.get("overrides", {}), RECIPE_FIELDS, spec)
    recipe = CONFIGURATIONS[base][1](recipe)
    recipe = replace(recipe, global_train=_apply(recipe.global_train, data.get("train", {}), TRAIN_FIELDS, spec))
    name = str(data.get("name", base))
    return name, base, replace(recipe, name=name) if "name" in data else recipe


def _count_parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def run_experiment(
    spec: str,
    dataset_dir: Path,
    out_dir: Path,
    train_split: str = "train",
    eval_split: str | None = None,
    max_minutes: float | None = None,
    device: str = "auto",
    eval_device: str = "cpu",
    progress: Callable[[EpochReport], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Train, assemble, evaluate; write ``out_dir/model.pt`` (+ card) and ``out_dir/results.json``.

    Training runs on ``device``; evaluation (and so the predict time per image)
    on ``eval_device``, the CPU by default: the figure users of a desktop app
    meet. The validation split (model selection) is the recipe's hold-out, else
    ``val`` when the dataset has one, else the training set; ``eval_split``
    defaults to ``val`` (chest) or ``test1`` (ceph), whichever exists.
    """
    from core.evaluation import evaluate_predictor
    from core.inference import Predictor
    from core.training.assemble import assemble_model
    from core.training.datasets import load_dataset
    from core.training.stage_runner import train_stage

    dataset = load_dataset(dataset_dir)
    name, base, recipe = resolve_configuration(spec, dataset.schema.name)
    splits = dataset.splits
    if eval_split is None:
        eval_split = next((s for s in ("test1", "val", "test") if s in splits), None)
    val_split = None if recipe.val_holdout else ("val" if "val" in splits else None)
    config = recipe.global_train if max_minutes is None else replace(recipe.global_train, max_minutes=max_minutes)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = train_stage(recipe, "global", Path(dataset_dir), out_dir / "work", train_split, val_split, device, config, progress, cancel)
    model_path = assemble_model(
        out_dir / "work", out_dir / "model.pt", recipe.name, title=f"experiment {name} ({recipe.model})",
        inference=recipe.inference, with_patch=False, evaluation=recipe.evaluation,
    )
    predictor = Predictor(model_path, eval_device)
    evaluated = dataset.subset(eval_split)
    t0 = time.monotonic()
    summary = evaluate_predictor(predictor, evaluated)
    history = record["history"]
    seconds = [h["seconds"] for h in history]
    results = {
        "configuration": name,
        "base_configuration": base,
        "description": CONFIGURATIONS[base][0],
        "model_kind": recipe.model,
        "recipe": recipe.name,
        "dataset": dataset.name,
        "schema": dataset.schema.name,
        "train_split": train_split,
        "val_split": record["data"]["val_split"],
        "eval_split": eval_split,
        "n_train": record["data"]["n_train"],
        "n_eval": len(evaluated),
        "input_size": list(recipe.input_size),
        "parameters": _count_parameters(predictor.model.global_net),
        "epochs_done": record["epochs_done"],
        "stopped": record["stopped"],
        "train_seconds": round(record["seconds"], 1),
        # Steady epochs only: the first pays for allocator warm-up and caches.
        "train_seconds_per_epoch": round(float(np.mean(seconds[1:] if len(seconds) > 1 else seconds)), 2) if seconds else None,
        "predict_ms_per_image": summary["median_predict_ms"],
        "device": record["device"],
        "eval_device": str(predictor.device),
        "threads": record["threads"],
        "train_loss_first_last": [round(history[0]["train_loss"], 4), round(history[-1]["train_loss"], 4)] if history else None,
        "best_val_mre_px": record["best_val_mre_px"],
        "mre_px": summary["mre_px"],
        "mre_mm": summary["mre_mm"],
        "sdr": summary["sdr"],
        "sdr_unit": summary["sdr_unit"],
        "reference": summary.get("reference"),
        "dice": summary.get("dice"),
        "evaluate_seconds": round(time.monotonic() - t0, 1),
        "model_path": str(model_path),
        "train_config": config.to_dict(),
    }
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=1) + "\n")
    return results
