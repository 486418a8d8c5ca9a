"""The training loop shared by both stages: AdamW, warm-up + cosine, per-epoch
validation MRE, best checkpoint published atomically, resume, progress and cancel.

The loop knows nothing about Qt or the command line; it reports through a
``progress(report)`` callback and stops when ``cancel`` (a ``threading.Event``)
is set, which it checks after every step.
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
from core.training.augment import AugmentConfig
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

    def to_dict(self) -> dict:
        return asdict(self)


class Stage(Protocol):
    """What the loop needs from a stage (global or patch)."""

    model: torch.nn.Module

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


def _rng_for_epoch(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def run_training(
    stage: Stage,
    config: TrainConfig,
    checkpoint: Path,
    device: torch.device,
    progress: Callable[[EpochReport], None] | None = None,
    cancel: threading.Event | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train ``stage.model`` and publish ``checkpoint`` (best weights) and ``<checkpoint>.last`` (resume state)."""
    torch.manual_seed(config.seed)
    model = stage.model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    last_path = checkpoint.with_name(checkpoint.name + ".last")
    start_epoch, best, history = 0, math.inf, []
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = int(state["epoch"]), float(state["best"]), list(state["history"])
    planned = config.epochs  # shrunk after the first epoch when a time budget cannot fit them all
    batch = max(1, int(config.batch_size))
    steps_per_epoch = -(-stage.n_items() // batch)
    total_steps = planned * steps_per_epoch
    started = time.monotonic()
    stopped = "completed"
    epoch = start_epoch
    while epoch < planned:
        epoch_start = time.monotonic()
        rng = _rng_for_epoch(config.seed, epoch)
        model.train()
        losses = []
        order = rng.permutation(stage.n_items())
        for i in range(steps_per_epoch):
            frac = (epoch * steps_per_epoch + i) / max(1, total_steps)
            lr = warmup_cosine(frac, config.warmup, config.lr * 0.05, config.lr, config.lr * 0.01)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = stage.step([int(k) for k in order[i * batch : (i + 1) * batch]], rng, frac)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: loss is {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            if cancel is not None and cancel.is_set():
                stopped = "cancelled"
                break
        if stopped == "cancelled":
            break
        model.eval()
        with torch.no_grad():
            val = float(stage.validate())
        if val < best:
            best = val
            atomic_torch_save(checkpoint, {k: v.detach().cpu() for k, v in model.state_dict().items()})
        elapsed = time.monotonic() - started
        done = epoch + 1 - start_epoch
        if config.max_minutes is not None and done in (1, 3):
            # Fit the schedule to the budget: the learning rate and σ then anneal
            # fully instead of being cut off mid-cosine when time runs out. Planned
            # after epoch 1, then again after epoch 3 from the steady epochs 2–3
            # (the first pays for kernel selection and caches on a GPU).
            per_epoch = elapsed if done == 1 else (elapsed - first_epoch_seconds) / 2.0
            budget = config.max_minutes * 60.0 - (0.0 if done == 1 else elapsed)
            fits = start_epoch + done + max(0, int(budget / max(per_epoch, 1e-6))) - (1 if done == 1 else 0)
            planned = max(start_epoch + done, min(config.epochs, fits))
            total_steps = planned * steps_per_epoch
        if done == 1:
            first_epoch_seconds = elapsed
        report = EpochReport(
            epoch=epoch + 1,
            epochs=planned,
            train_loss=float(np.mean(losses)),
            val_mre_px=val,
            best_mre_px=best,
            lr=lr,
            seconds=time.monotonic() - epoch_start,
            elapsed=elapsed,
            eta_seconds=elapsed / done * (planned - epoch - 1),
        )
        history.append(report.to_dict())
        epoch += 1
        atomic_torch_save(
            last_path,
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best": best, "history": history},
        )
        if progress is not None:
            progress(report)
        if config.max_minutes is not None and elapsed > config.max_minutes * 60.0:
            stopped = "time budget"
            break
    if stopped == "completed" and planned < config.epochs:
        stopped = "time budget"
    return TrainResult(best, len(history), history, stopped, time.monotonic() - started)
