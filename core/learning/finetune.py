"""One retraining run: reviewed images → a new model version with a before/after report.

Fine-tuning (the default) starts from the project's current version, trains
the global stage and the patch stage for a few epochs at a low learning rate
with the L2-SP penalty toward the parent (``guard``), and publishes the result
as the next version in the registry, whose card carries the parent, the
training images by hash, the settings, the device, the duration and the
before/after metrics on the locked validation subset. Nothing is adopted
here (``adoption.adopt`` does that, on the user's say-so).

Checkpoint selection inside the run uses the *training* images (no
augmentation), never the locked validation subset, so the before/after
comparison stays an honest one.

Under torchrun (``core.training.distributed``) every process runs ``retrain``
on the same project; each trains its shard, rank 0 alone measures, publishes
and reports, and every rank returns rank 0's result.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from core.atomic import atomic_write_text
from core.learning.guard import DEFAULT_ALPHA, AnchoredStage
from core.learning.active import current_version
from core.learning.interrupted import RunRecord, finish_stage, resume_run, start_run
from core.learning.registry import ModelRegistry, RegistryError
from core.learning.selection import images_to_settle, prepare_validation, training_split
from core.learning.validation import compact, evaluate_model, worse_images
from core.learning.verdict import judge
from core.modelfile import INTENDED_USE, combined_state_dict, load_model, read_card, schema_hash
from core.project import Project
from core.training import distributed
from core.devices import autocast_dtype, precision_name
from core.training.loop import EpochReport, TrainingCancelled, TrainingDiverged, run_training
from core.training.recipes import RECIPES, Recipe
from core.training.samplers import cache_images, physical_fine_mm
from core.training.families import architecture_family
from core.training.stage_runner import build_stage_model, make_stage

__all__ = ["FINE_TUNE_EPOCHS", "RetrainResult", "RetrainSettings", "retrain"]

# Chosen on shifted ceph test1 images 21-60 (tests/bench/bench_loop.py, user_guide/retraining.md;
# reported on 61-150): 6/9/12/16 epochs gave 1.36/1.33/1.31/1.29 mm on the site's rest in
# 18/28/33/51 s for 20 images; 12 keeps the 20-image retrain well inside the 60-s target.
FINE_TUNE_EPOCHS = {"global": 12, "patch": 12}
FINE_TUNE_LR = 3e-4


@dataclass
class RetrainSettings:
    """``start``: ``current``, ``scratch`` or a version (``v0``, ``v3``…). ``epochs`` per stage
    (default: ``FINE_TUNE_EPOCHS``, or the recipe's when from scratch); ``max_minutes`` for the
    whole run, split evenly between the stages; ``alpha``: L2-SP strength (0 = plain fine-tuning)."""

    start: str = "current"
    epochs: int | None = None
    max_minutes: float | None = None
    device: str = "auto"
    stages: tuple[str, ...] = ("global", "patch")
    lr: float | None = None
    alpha: float = DEFAULT_ALPHA
    batch_size: int | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = list(self.stages)
        return d


@dataclass
class RetrainResult:
    version: str
    model_path: Path
    parent: str | None
    before: dict
    after: dict
    adoptable: bool
    worse: list[dict]
    device: str
    device_reason: str
    seconds: float
    stopped: dict = field(default_factory=dict)  # stage → "completed" / "time budget"
    validation: str = "locked"  # or "training images" while no subset is locked yet
    verdict: dict = field(default_factory=dict)  # verdict.Verdict.to_dict(): outcome, interval, text


def _recipe(schema_name: str) -> Recipe:
    """The schema's recipe; other schemas train with the ceph19 settings (a generic small model)."""
    if schema_name in RECIPES:
        return RECIPES[schema_name]
    return replace(RECIPES["ceph19"], name=schema_name, schema=schema_name, val_holdout=0)


def _base_card(project: Project, recipe: Recipe, global_net, patch_net) -> dict:
    schema = project.schema
    return {
        "name": recipe.name,
        "schema": {"name": schema.name, "hash": schema_hash(schema), "content": schema.to_dict()},
        "inference": dict(recipe.inference),
        "evaluation": dict(recipe.evaluation),
        "intended_use": INTENDED_USE,
        "licence": "weights: research use only",
    }


def retrain(
    project: Project,
    settings: RetrainSettings | None = None,
    progress: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
    resume: bool = False,
) -> RetrainResult:
    """Train a new version from the project's reviewed images and publish it (not adopted).

    ``progress`` receives JSON-ready dicts: ``{"event": "start", device, reason, …}``,
    ``{"event": "epoch", "stage", **EpochReport}`` and ``{"event": "evaluate", …}``.
    Raises RegistryError (nothing to train on, unknown version, another training of the
    project running), DeviceError, TrainingDiverged (NaN/inf loss; nothing published) or
    TrainingCancelled (nothing published; the project and current model untouched).
    ``resume``: carry on with the newest run of the project that was killed
    (``core.learning.interrupted``), with its settings (``settings.device`` still counts).
    """
    if not distributed.current().is_main:  # rank 0 holds the project's training lock for all
        return _retrain(project, settings or RetrainSettings(), progress, cancel, resume)
    with ModelRegistry(project.path, project.schema.name).training_lock():
        return _retrain(project, settings or RetrainSettings(), progress, cancel, resume)


def _resumed_settings(saved: dict, given: RetrainSettings) -> RetrainSettings:
    """The interrupted run's settings from its ``run.json`` (only known fields of the right kind; the
    device is this call's), so a record from another version cannot stop the resume with a traceback."""
    defaults = RetrainSettings()
    kept = {}
    for f in fields(RetrainSettings):
        value = saved.get(f.name, getattr(defaults, f.name))
        if f.name == "stages":
            ok = isinstance(value, (list, tuple)) and all(v in ("global", "patch") for v in value) and value
            kept[f.name] = tuple(value) if ok else defaults.stages
        elif f.name in ("start", "device"):
            kept[f.name] = value if isinstance(value, str) else getattr(defaults, f.name)
        else:
            default = getattr(defaults, f.name)
            plain = isinstance(value, (int, float)) and not isinstance(value, bool)
            kept[f.name] = value if value is None or plain else default
    return RetrainSettings(**{**kept, "device": given.device})


@dataclass
class _Run:
    """What one retraining run works with, decided before any training starts."""

    schema: object  # the project's LandmarkSchema
    registry: ModelRegistry
    settings: RetrainSettings
    claimed: tuple | None  # (work folder, RunRecord) of the killed run being resumed
    current: str | None  # the project's version now (measured "before")
    parent: str | None  # the version fine-tuned from; None: from scratch
    reviewed: set[str]
    train: list
    val: list
    validation: str  # "locked", or "training images" while the project has no locked subset
    device: torch.device
    reason: str
    precision: str
    recipe: Recipe
    emit: Callable[[dict], None]
    t0: float


def _retrain(project: Project, settings: RetrainSettings, progress: Callable[[dict], None] | None,
             cancel: threading.Event | None, resume: bool) -> RetrainResult:
    """Plan, build the networks, measure "before", train each stage, publish with the verdict.

    Retraining trains the global stage, then the patch stage (the ``stages`` setting), each as
    its family says for corrected points (``ModelFamily.retrain_stage``): e.g. a
    segmentation-informed model learns from its landmark terms only and keeps its mask decoder
    as the parent left it, because project corrections are points, never masks."""
    run = _plan(project, settings, progress, resume)
    global_net, patch_net, card = _networks(project, run)
    names = project.schema.landmarks
    measure = run.current and distributed.current().is_main  # rank 0 alone measures and publishes
    before = compact(evaluate_model(run.registry.path(run.current), run.val, names, "cpu", cancel)) if measure else None
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled("training cancelled before it started")
    stopped, histories = _train_stages(run, global_net, patch_net, cancel)
    seconds_training = time.monotonic() - run.t0
    card.update(_trained_card(project, run, global_net, patch_net, stopped, histories))
    return _publish(run, global_net, patch_net, card, before, stopped, seconds_training)


def _plan(project: Project, settings: RetrainSettings, progress: Callable[[dict], None] | None,
          resume: bool) -> _Run:
    """The run's images (training, locked validation), parent, device; emits the ``start`` event."""
    ranks = distributed.current()
    emit = progress if progress is not None and ranks.is_main else (lambda event: None)
    t0 = time.monotonic()
    registry = ModelRegistry(project.path, project.schema.name)
    if resume and ranks.world_size > 1:
        raise RegistryError("--resume continues a run in one process; run it without torchrun")
    claimed = resume_run(registry) if resume else None
    if claimed is not None:
        settings = _resumed_settings(claimed[1].settings, settings)
    current = current_version(project, registry)
    reviewed = {im.id for im in project.images if im.reviewed}
    prepare_validation(project)
    train, val = training_split(project)
    if project.dirty and not project.read_only:
        project.save()  # the locked validation subset is recorded before any training
    if not train:
        raise RegistryError("no reviewed images to train on: correct or verify every landmark of some images first")
    validation = "locked"
    if not val:
        val, validation = train, "training images"
    if settings.start == "current":
        if current is None:
            raise RegistryError("the project has no model yet: train with --from scratch")
        parent = current
    elif settings.start == "scratch":
        parent = None
    else:
        registry.path(settings.start)
        parent = settings.start
    device, reason = distributed.device_for_rank(settings.device)
    precision = precision_name(autocast_dtype(device))
    recipe = _recipe(project.schema.name)
    emit({"event": "start", "device": str(device), "reason": reason, "precision": precision,
          "processes": ranks.world_size, "parent": parent, "current": current,
          "n_train": len(train), "n_val": len(val), "validation": validation, "settings": settings.to_dict(),
          "resumed": claimed is not None})
    return _Run(project.schema, registry, settings, claimed, current, parent, reviewed, train, val, validation,
                device, reason, precision, recipe, emit, t0)


def _networks(project: Project, run: _Run):
    """(global net, patch net or None, the new card's inherited part): the parent's, or new ones."""
    if run.parent is not None:
        loaded = load_model(run.registry.path(run.parent), "cpu", expected_schema=project.schema)
        # Not inherited: the parent's measurements, and its conformal calibration ("uncertainty"),
        # which holds for the parent's errors only; the new version draws no regions until calibrated.
        dropped = ("metrics", "training", "weights_sha256", "format_version", "imported_from", "uncertainty")
        return loaded.global_net, loaded.patch_net, {k: v for k, v in loaded.card.items() if k not in dropped}
    torch.manual_seed(run.settings.seed)
    global_net = build_stage_model(run.recipe, "global", project.schema)
    patch_net = build_stage_model(run.recipe, "patch", project.schema)
    return global_net, patch_net, _base_card(project, run.recipe, global_net, patch_net)


def _stage_config(run: _Run, stage: str, n_stages: int):
    """The recipe's training settings for ``stage``, as a fine-tune (or a run from scratch) uses them."""
    settings, parent = run.settings, run.parent
    base = run.recipe.global_train if stage == "global" else run.recipe.patch_train
    epochs = settings.epochs or (FINE_TUNE_EPOCHS[stage] if parent else base.epochs)
    return replace(
        base,
        epochs=int(epochs),
        lr=settings.lr or (FINE_TUNE_LR if parent else base.lr),
        weight_decay=0.0 if parent and settings.alpha > 0 else base.weight_decay,
        max_minutes=settings.max_minutes / n_stages if settings.max_minutes else None,
        batch_size=settings.batch_size or (1 if run.device.type == "cpu" else 4),
        seed=settings.seed,
    )


def _train_stages(run: _Run, global_net, patch_net, cancel: threading.Event | None) -> tuple[dict, dict]:
    """Train each stage in turn (skipping stages a resumed run had finished); (stopped, histories)."""
    stages = [s for s in run.settings.stages if s == "global" or patch_net is not None]
    fine = patch_net.config.fine_scale if patch_net is not None and "patch" in stages else None
    if run.parent is None and patch_net is not None:  # a new patch stage learns at the images' physical scale
        patch_net.config.fine_mm_per_px = physical_fine_mm(run.train, patch_net.config.fine_scale)
    fine_mm = patch_net.config.fine_mm_per_px if patch_net is not None else None
    items = cache_images(run.train, tuple(global_net.config.input_size), fine, fine_mm_per_px=fine_mm)
    if run.claimed is not None:
        work, record = run.claimed
        if record.parent != run.parent or record.train_ids != [s.id for s in run.train]:
            shutil.rmtree(work, ignore_errors=True)
            raise RegistryError("the reviewed images or the model changed since the interrupted training; "
                                "start a new run without --resume")
    else:
        record = RunRecord(run.parent, run.settings.to_dict(), [s.id for s in run.train],
                           started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        work = start_run(run.registry, record)  # also removes the folders of killed runs (pid gone); a live run's stay
    stopped, histories = {}, {}
    try:
        for stage in stages:
            config = _stage_config(run, stage, len(stages))
            model = global_net if stage == "global" else patch_net
            runner = make_stage(model, stage, run.schema, items, items, config, run.device, retraining=True)
            if run.parent is not None and run.settings.alpha > 0:
                runner = AnchoredStage(runner, run.settings.alpha)

            def report(r: EpochReport, stage: str = stage) -> None:
                run.emit({"event": "epoch", "stage": stage, **r.to_dict()})

            checkpoint = work / f"{stage}.pt"
            if stage in record.stages_done and checkpoint.exists():  # trained before the run was killed
                model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
                model.to("cpu").eval()
                stopped[stage], histories[stage] = "completed before the interruption", []
                continue
            try:
                result = run_training(runner, config, checkpoint, run.device, progress=report, cancel=cancel,
                                      resume=run.claimed is not None)
            except TrainingDiverged as exc:
                raise TrainingDiverged(f"{exc} in the {stage} stage; nothing was published. Try a lower "
                                       f"learning rate or fewer epochs, or check the corrected points") from exc
            if result.stopped == "cancelled":
                raise TrainingCancelled("training cancelled; nothing was published")
            stopped[stage], histories[stage] = result.stopped, result.history
            if checkpoint.exists():
                model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
            model.to("cpu").eval()
            if distributed.current().is_main:
                finish_stage(work, record, stage)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return stopped, histories


def _trained_card(project: Project, run: _Run, global_net, patch_net, stopped: dict, histories: dict) -> dict:
    """What the new version's card says of its training (before the measurements are added)."""
    return {
        "parent_version": run.parent,
        "title": f"{run.recipe.name} retrained on {len(run.train)} reviewed images of {project.path.name}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"family": architecture_family(global_net.config, patch_net is not None),
                         "global": global_net.config.to_dict(),
                         "patch": patch_net.config.to_dict() if patch_net is not None else None},
        "input_size": list(global_net.config.input_size),
        "training": {
            "project": project.path.name,  # the file name only: cards travel, folder names can name patients
            "project_id": project._attrs.get("project_id"),
            "images": [{"id": s.id, "sha256": project.image(s.id).sha256} for s in run.train],
            "validation_ids": [s.id for s in run.val],
            "validation": run.validation,
            "settings": run.settings.to_dict(),
            "device": str(run.device),
            "device_reason": run.reason,
            "precision": run.precision,
            "processes": distributed.current().world_size,
            "threads": torch.get_num_threads(),
            "stopped": stopped,
            "history": histories,
        },
        "metrics": {},
    }


def _publish(run: _Run, global_net, patch_net, card: dict, before: dict | None, stopped: dict,
             seconds_training: float) -> RetrainResult:
    """Publish the version (rank 0) with its after-measurement and verdict in the card; every rank
    returns rank 0's result."""
    outcome: dict = {}

    def evaluate(version: str, tmp_model: Path) -> None:
        run.emit({"event": "evaluate", "version": version, "n_val": len(run.val)})
        after = compact(evaluate_model(tmp_model, run.val, run.schema.landmarks, "cpu"))
        worse = worse_images(before, after) if before else []
        informative = int(after.get("n_informative") or 0)
        more = images_to_settle(len(run.reviewed), len(run.val), informative)
        settle = f"correct {more} more image{'s' if more != 1 else ''} and train again (they join the validation subset)"
        verdict = judge(before, after, on_training_images=run.validation != "locked", settle=settle).to_dict()
        seconds = time.monotonic() - run.t0
        tmp_card = read_card(tmp_model)
        tmp_card["training"]["seconds"] = round(seconds, 1)
        tmp_card["training"]["seconds_training"] = round(seconds_training, 1)
        tmp_card["metrics"] = {"validation": {"before": before, "after": after, "before_version": run.current,
                                             "worse_images": worse, "adoptable": verdict["adoptable"],
                                             "verdict": verdict}}
        import json

        atomic_write_text(tmp_model.with_suffix(".json"), json.dumps(tmp_card, indent=1) + "\n")
        outcome.update(after=after, worse=worse, adoptable=verdict["adoptable"], seconds=seconds, verdict=verdict)

    result = None
    if distributed.current().is_main:
        version, model_path = run.registry.publish(combined_state_dict(global_net, patch_net), card, evaluate)
        result = RetrainResult(
            version=version, model_path=model_path, parent=run.parent, before=before or {}, after=outcome["after"],
            adoptable=outcome["adoptable"], worse=outcome["worse"], device=str(run.device), device_reason=run.reason,
            seconds=outcome["seconds"], stopped=stopped, validation=run.validation, verdict=outcome["verdict"],
        )
    return distributed.main_result(result)
