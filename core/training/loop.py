"""The training loop shared by both stages: AdamW, warm-up + cosine, per-epoch
validation MRE, best checkpoint published atomically, resume, progress and cancel.

The loop knows nothing about Qt or the command line; it reports through a
``progress(report)`` callback and stops when ``cancel`` (a ``threading.Event``)
is set, which it checks at every step. On CUDA the network runs under autocast
(``devices.autocast_dtype``: bf16, or fp16 with a GradScaler). Under torchrun
(``core.training.distributed``) each rank trains its shard of every epoch through
``DistributedDataParallel``; rank 0 alone validates, writes and reports.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from core.atomic import atomic_torch_save
from core.training import distributed
from core.training.augment import AugmentConfig
from core.devices import Autocast, autocast_dtype, precision_name
from core.training.schedules import warmup_cosine


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops and the best checkpoint stays."""


class TrainingCancelled(RuntimeError):
    """The cancel flag was set; the last completed epoch is checkpointed."""


@dataclass
class TrainConfig:
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.08  # fraction of training spent warming up
    seed: int = 0
    max_minutes: float | None = None
    sigma: tuple[float, float] = (3.0, 1.5)  # target σ at start and end, network-input pixels
    lambda_sym: float = 1.2e-3
    lambda_ord: float = 4e-3
    min_lateral: float = 0.2  # symmetry d_lat, fraction of the input width
    order_margin: float = 0.01  # order δ, fraction of the input height
    w_soft_l1: float = 0.02
    w_refined_l1: float = 0.1
    jitter: float = 8.0  # patch stage: centre jitter σ, fine pixels
    landmarks_per_step: int | None = None  # patch stage: landmarks sampled per image (None = all)
    batch_size: int = 1  # images per step: 1 is cheapest per image on a CPU; a GPU wants more
    # Global stage's heatmap loss (core.losses.heatmap): "ce", "l2" or "sc".
    loss: str = "ce"
    sc_gamma: float = 1e-4  # γ of the spatial-configuration term (DESIGN.md 2.2)
    sc_beta: float = 10.0  # β of its softmax
    sigma_alpha: float = 5.0  # α of the adaptive heatmaps' σ regulariser (DESIGN.md 2.5)
    # Segmentation-informed model (DESIGN.md 2.3, core.training.families.segnet): loss weights and the
    # consistency target, "present" (the paper's v_k = 1 for a labelled landmark) or "target_mass"
    # (the target heatmap's own mass inside the true mask: no pull inwards for boundary landmarks).
    # These defaults are the paper's (the `segnet-paper` configuration); the `segnet` configuration
    # sets core.training.families.segnet.WEIGHTS.
    w_kl: float = 0.1
    w_dice: float = 1.0
    w_vis: float = 10.0
    vis_target: str = "present"
    ewc_alpha: float = 40.0  # FARNet's EWC loss (DESIGN.md 2.4)
    # The decoder that turns the global heatmaps into the points validation scores (and so selects
    # the checkpoint by); None: the network's own (refined) points. Regression heatmaps are decoded
    # at inference with their paper's decoder (the recipe's ``inference.global_decoder``), and must be
    # selected with it too: a soft-argmax over their flat background lands near the image centre
    # while the peaks form, and picked the wrong epochs (issue 21).
    val_decoder: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sigma"] = list(self.sigma)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["sigma"] = tuple(d.get("sigma", (3.0, 1.5)))
        aug = dict(d.pop("augment", {}) or {})
        for key in ("scale", "gamma", "contrast"):
            if key in aug:
                aug[key] = tuple(aug[key])
        return cls(**d, augment=AugmentConfig(**aug))


@dataclass
class EpochReport:
    epoch: int  # 1-based, completed
    epochs: int
    train_loss: float
    val_mre_px: float
    best_mre_px: float
    lr: float
    seconds: float  # wall time of this epoch
    elapsed: float  # since the run (or resume) started
    eta_seconds: float
    samples_per_rank: list[int] | None = None  # under torchrun: images each process trained this epoch

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["samples_per_rank"] is None:
            del d["samples_per_rank"]
        return d


class Stage(Protocol):
    """What the loop needs from a stage (global or patch).

    ``net`` is what ``step`` calls forward: ``model`` itself, or for the length of a
    run ``model`` wrapped for mixed precision and DistributedDataParallel.
    """

    model: torch.nn.Module
    net: torch.nn.Module

    def n_items(self) -> int: ...

    def step(self, indices: list[int], rng: np.random.Generator, progress: float) -> torch.Tensor: ...

    def validate(self) -> float: ...


@dataclass
class TrainResult:
    best_mre_px: float
    epochs_done: int
    history: list[dict]
    stopped: str  # "completed", "time budget", "cancelled"
    seconds: float
    precision: str = "fp32"  # "bf16", "fp16" (autocast) or "fp32"


def _rng_for_epoch(seed: int, epoch: int, rank: int = 0) -> np.random.Generator:
    """Augmentation draws: rank 0 (and a single process) as ever, other ranks their own stream."""
    return np.random.default_rng([seed, epoch] if rank == 0 else [seed, epoch, rank])


def _epoch_order(rng: np.random.Generator, n_items: int, epoch: int, seed: int) -> list[int]:
    """The items of this epoch in training order: a permutation, or this rank's shard under torchrun."""
    if distributed.current().enabled:
        return distributed.shard(n_items, epoch, seed)
    return [int(k) for k in rng.permutation(n_items)]


def _train_epoch(stage: Stage, optimizer, scaler, order, rng, epoch: int, steps_per_epoch: int, total_steps: int,
                 config: TrainConfig, cancel: threading.Event | None) -> tuple[list[float], float, bool]:
    """One epoch's steps: (their losses, the last learning rate, whether training was cancelled).
    TrainingDiverged when a loss is not finite (on any rank: every rank stops together)."""
    batch = max(1, int(config.batch_size))
    model = stage.model
    losses: list[float] = []
    lr = config.lr
    for i in range(steps_per_epoch):
        frac = (epoch * steps_per_epoch + i) / max(1, total_steps)
        lr = warmup_cosine(frac, config.warmup, config.lr * 0.05, config.lr, config.lr * 0.01)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = stage.step(order[i * batch : (i + 1) * batch], rng, frac)
        # Every rank stops together: one rank leaving alone would hang the others.
        diverged, cancelled = distributed.agree(not bool(torch.isfinite(loss)), cancel is not None and cancel.is_set())
        if diverged:
            value = float(loss.detach())
            what = f"loss is {value}" if not math.isfinite(value) else "loss is not finite in another process"
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: {what}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
        losses.append(float(loss.detach()))
        if cancelled:
            return losses, lr, True
    return losses, lr, False


def _epochs_within_budget(config: TrainConfig, start_epoch: int, done: int, elapsed: float,
                          first_epoch_seconds: float) -> int:
    """The epochs that fit ``config.max_minutes``: the learning rate and σ then anneal fully instead
    of being cut off mid-cosine when time runs out. Planned after epoch 1, then again after epoch 3
    from the steady epochs 2–3 (the first pays for kernel selection and caches on a GPU)."""
    per_epoch = elapsed if done == 1 else (elapsed - first_epoch_seconds) / 2.0
    budget = config.max_minutes * 60.0 - (0.0 if done == 1 else elapsed)
    fits = start_epoch + done + max(0, int(budget / max(per_epoch, 1e-6))) - (1 if done == 1 else 0)
    return max(start_epoch + done, min(config.epochs, fits))


def run_training(
    stage: Stage,
    config: TrainConfig,
    checkpoint: Path,
    device: torch.device,
    progress: Callable[[EpochReport], None] | None = None,
    cancel: threading.Event | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train ``stage.model`` and publish ``checkpoint`` (best weights) and ``<checkpoint>.last`` (resume state).

    Under torchrun only rank 0 validates, writes and calls ``progress``; every rank
    returns the same result.
    """
    ranks = distributed.current()
    torch.manual_seed(config.seed)
    model = stage.model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    dtype = autocast_dtype(device)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    net = distributed.wrap_model(model, device)
    stage.net = Autocast(net, device, dtype) if dtype is not None else net
    last_path = checkpoint.with_name(checkpoint.name + ".last")
    start_epoch, best, history = 0, math.inf, []
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = int(state["epoch"]), float(state["best"]), list(state["history"])
    planned = config.epochs  # shrunk after the first epoch when a time budget cannot fit them all
    batch = max(1, int(config.batch_size))
    steps_per_epoch = -(-distributed.shard_size(stage.n_items()) // batch)
    total_steps = planned * steps_per_epoch
    started = time.monotonic()
    stopped = "completed"
    epoch = start_epoch
    first_epoch_seconds = 0.0
    try:
        while epoch < planned:
            epoch_start = time.monotonic()
            rng = _rng_for_epoch(config.seed, epoch, ranks.rank)
            model.train()
            order = _epoch_order(rng, stage.n_items(), epoch, config.seed)
            losses, lr, cancelled = _train_epoch(stage, optimizer, scaler, order, rng, epoch, steps_per_epoch,
                                                 total_steps, config, cancel)
            if cancelled:
                stopped = "cancelled"
                break
            model.eval()
            val = math.nan
            if ranks.is_main:
                with torch.no_grad():
                    val = float(stage.validate())
            # Rank 0's measurement and clock decide for all (best epoch, time budget); the
            # training loss is the mean over every rank's steps.
            val, elapsed = distributed.from_main(val, time.monotonic() - started)
            train_loss = distributed.mean_over_ranks(float(np.sum(losses)), len(losses))
            samples = distributed.gather_counts(len(order)) if ranks.enabled else None
            if val < best:
                best = val
                if ranks.is_main:
                    atomic_torch_save(checkpoint, {k: v.detach().cpu() for k, v in model.state_dict().items()})
            done = epoch + 1 - start_epoch
            if config.max_minutes is not None and done in (1, 3):
                planned = _epochs_within_budget(config, start_epoch, done, elapsed, first_epoch_seconds)
                total_steps = planned * steps_per_epoch
            if done == 1:
                first_epoch_seconds = elapsed
            report = EpochReport(
                epoch=epoch + 1,
                epochs=planned,
                train_loss=train_loss,
                val_mre_px=val,
                best_mre_px=best,
                lr=lr,
                seconds=time.monotonic() - epoch_start,
                elapsed=elapsed,
                eta_seconds=elapsed / done * (planned - epoch - 1),
                samples_per_rank=samples,
            )
            history.append(report.to_dict())
            epoch += 1
            if ranks.is_main:
                atomic_torch_save(
                    last_path,
                    {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best": best, "history": history},
                )
                if progress is not None:
                    progress(report)
            if config.max_minutes is not None and elapsed > config.max_minutes * 60.0:
                stopped = "time budget"
                break
    finally:
        stage.net = model  # DDP and autocast wrap this run only
    if stopped == "completed" and planned < config.epochs:
        stopped = "time budget"
    return TrainResult(best, len(history), history, stopped, time.monotonic() - started, precision_name(dtype))
