"""DistributedDataParallel under ``torchrun``: one place for ranks, sharding and agreement.

``torchrun --nproc_per_node N -m core.cli train …`` starts N copies of the command with
``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` set. The train commands open a :func:`session`
around their work; inside it the training loop shards each epoch's images with a
``DistributedSampler``, wraps the network in ``DistributedDataParallel`` and asks
:func:`agree`/:func:`from_main` so every rank takes the same decision (diverged,
cancelled, best epoch, time budget). Only rank 0 validates and writes (checkpoints,
registry version, project, JSON and progress lines); the others wait for it.

Without torchrun (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) every helper here is a no-op
and training runs exactly as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from core.devices import DeviceError, select_device

__all__ = ["Ranks", "agree", "barrier", "current", "device_for_rank", "from_environment", "from_main",
           "gather_counts", "main_result", "session", "shard", "shard_size", "wrap_model"]

#: How long a rank waits for the others (rank 0 evaluating and publishing a version included).
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the training processes (one process: the defaults)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"distributed: {self.world_size} processes ({self.backend or 'not started'})"


SINGLE = Ranks()
_active: Ranks = SINGLE


def from_environment(env: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun announces in the environment; :data:`SINGLE` without torchrun."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1") or 1)
        rank = int(env.get("RANK", "0") or 0)
        local = int(env.get("LOCAL_RANK", str(rank)) or 0)
    except ValueError as exc:
        raise DeviceError(f"torchrun environment is not understood: {exc}") from None
    if world <= 1:
        return SINGLE
    if not 0 <= rank < world:
        raise DeviceError(f"torchrun environment is inconsistent: RANK={rank} with WORLD_SIZE={world}")
    return Ranks(world, rank, local)


def current() -> Ranks:
    """The ranks of the open :func:`session` (:data:`SINGLE` outside one)."""
    return _active


@contextmanager
def session(device_preference: str = "auto") -> Iterator[Ranks]:
    """Start the process group when torchrun launched us (nccl on CUDA, gloo otherwise), end it after.

    Re-entrant: inside an open session it yields that session and leaves it open.
    """
    global _active
    ranks = from_environment()
    if not ranks.enabled or _active.enabled:
        yield _active
        return
    preference = (device_preference or "auto").lower()
    wants_cuda = preference == "auto" or preference.startswith("cuda")
    backend = "nccl" if wants_cuda and torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group(backend, rank=ranks.rank, world_size=ranks.world_size, timeout=TIMEOUT)
    _active = Ranks(ranks.world_size, ranks.rank, ranks.local_rank, backend)
    try:
        yield _active
    finally:
        _active = SINGLE
        dist.destroy_process_group()


def device_for_rank(preference: str = "auto") -> tuple[torch.device, str]:
    """:func:`~core.devices.select_device`, with each rank on its own GPU (``cuda:LOCAL_RANK``)."""
    ranks = current()
    if ranks.enabled and ranks.backend == "nccl":
        preference = f"cuda:{ranks.local_rank}"
    device, reason = select_device(preference)
    return (device, f"{ranks.describe()}; {reason}") if ranks.enabled else (device, reason)


def shard_size(n_items: int, ranks: Ranks | None = None) -> int:
    """Items per rank and epoch: ``ceil(n / world)`` (the sampler repeats a few to even the shards)."""
    return -(-n_items // (ranks or current()).world_size)


def shard(n_items: int, epoch: int, seed: int, ranks: Ranks | None = None) -> list[int]:
    """A rank's item indices for ``epoch`` (default: this process's): a ``DistributedSampler`` over
    ``range(n_items)``, reshuffled every epoch (``set_epoch``), the same permutation on every rank."""
    ranks = ranks or current()
    sampler = torch.utils.data.DistributedSampler(range(n_items), num_replicas=ranks.world_size, rank=ranks.rank,
                                                  shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return [int(i) for i in sampler]


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` in a session (gradients averaged over ranks), else ``model``."""
    if not current().enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _collective_device() -> torch.device:
    """NCCL reduces tensors on the rank's GPU only; gloo on the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if current().backend == "nccl" else torch.device("cpu")


def agree(*flags: bool) -> tuple[bool, ...]:
    """Each flag true on any rank → true on every rank (diverged, cancelled), so all stop together."""
    if not current().enabled:
        return tuple(bool(f) for f in flags)
    t = torch.tensor([1.0 if f else 0.0 for f in flags], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def from_main(*values: float) -> tuple[float, ...]:
    """Rank 0's numbers on every rank (validation MRE, elapsed time): one decision for all."""
    if not current().enabled:
        return tuple(float(v) for v in values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_collective_device())
    dist.broadcast(t, src=0)
    return tuple(t.tolist())


def mean_over_ranks(total: float, count: int) -> float:
    """Σ total / Σ count over every rank: e.g. the epoch's training loss over all shards, not rank 0's."""
    if not current().enabled:
        return float(total) / max(1, int(count))
    t = torch.tensor([float(total), float(count)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t[0] / t[1].clamp_min(1.0))


def gather_counts(count: int) -> list[int]:
    """``count`` of every rank, rank order (e.g. images trained this epoch per process)."""
    if not current().enabled:
        return [int(count)]
    out: list = [None] * current().world_size
    dist.all_gather_object(out, int(count))
    return [int(c) for c in out]


def main_result(value):
    """Rank 0's ``value`` (any picklable object) on every rank; waits until rank 0 has it."""
    if not current().enabled:
        return value
    box = [value if current().is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if current().enabled:
        dist.barrier()
