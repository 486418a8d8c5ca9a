"""Training under torchrun (DistributedDataParallel, gloo on the CPU) and mixed-precision selection.

The helpers of ``core.training.distributed`` are no-ops without torchrun; the sampler gives
each rank its own shard; and ``torchrun --nproc_per_node 2 -m core.cli train --project P``
publishes exactly one version, prints its JSON once and leaves the project as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from core.learning import ModelRegistry
from core.project import Project
from core.training import distributed
from core.devices import Autocast, DeviceError, autocast_dtype, precision_name
from core.training.distributed import Ranks
from core.training.loop import TrainConfig, run_training
from project_support import reviewed_ceph_project, trainer_env


def test_without_torchrun_everything_is_one_process():
    assert distributed.from_environment({}) == distributed.SINGLE
    assert distributed.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) == distributed.SINGLE
    assert distributed.from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == Ranks(4, 3, 1)
    with pytest.raises(DeviceError, match="RANK=5 with WORLD_SIZE=2"):
        distributed.from_environment({"WORLD_SIZE": "2", "RANK": "5"})
    with pytest.raises(DeviceError, match="torchrun environment"):
        distributed.from_environment({"WORLD_SIZE": "two"})
    with distributed.session("cpu") as ranks:  # no WORLD_SIZE here: no process group
        assert ranks == distributed.current() == distributed.SINGLE
        assert ranks.is_main and not ranks.enabled and not torch.distributed.is_initialized()
        model = torch.nn.Linear(2, 2)
        assert distributed.wrap_model(model, torch.device("cpu")) is model
        assert distributed.agree(True, False) == (True, False)
        assert distributed.from_main(1.5, 2) == (1.5, 2.0)
        assert distributed.gather_counts(3) == [3]
        assert distributed.mean_over_ranks(6.0, 3) == 2.0
        assert distributed.main_result({"v": 1}) == {"v": 1}
        device, reason = distributed.device_for_rank("cpu")
        assert device.type == "cpu" and "distributed" not in reason


def _mean_over_two_ranks(rank: int, init: str, out) -> None:
    """One gloo rank: rank 0 ran 1 step of loss 1.0, rank 1 ran 3 steps summing to 9.0."""
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    distributed._active = Ranks(2, rank, rank, "gloo")
    try:
        out.put((rank, distributed.mean_over_ranks([1.0, 9.0][rank], [1, 3][rank])))
    finally:
        torch.distributed.destroy_process_group()


def test_training_loss_is_the_mean_over_every_rank(tmp_path):
    """Reported once by rank 0, the epoch's loss must be over all shards' steps: (1 + 9) / 4."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_mean_over_two_ranks, args=(r, f"file://{tmp_path / 'store'}", out)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == {0: 2.5, 1: 2.5}


def test_ranks_train_disjoint_shards_that_cover_the_data():
    for n in (6, 7):
        shards = [distributed.shard(n, epoch=0, seed=0, ranks=Ranks(2, r, r, "gloo")) for r in (0, 1)]
        assert [len(s) for s in shards] == [distributed.shard_size(n, Ranks(2, 0, 0))] * 2 == [-(-n // 2)] * 2
        assert set(shards[0]) | set(shards[1]) == set(range(n))
        if n % 2 == 0:  # nothing repeated to even them out
            assert not set(shards[0]) & set(shards[1])
    # set_epoch: another epoch, another split; the same epoch, the same split on every call
    epochs = [distributed.shard(40, epoch=e, seed=0, ranks=Ranks(2, 0, 0, "gloo")) for e in (0, 1, 0)]
    assert epochs[0] != epochs[1] and epochs[0] == epochs[2]


def test_mixed_precision_only_where_it_pays():
    assert autocast_dtype(torch.device("cpu")) is None  # measured slower on this CPU
    assert precision_name(None) == "fp32" and precision_name(torch.bfloat16) == "bf16"
    assert precision_name(torch.float16) == "fp16"
    if torch.cuda.is_available():
        assert autocast_dtype(torch.device("cuda")) in (torch.bfloat16, torch.float16)
    # The wrapper runs the network in reduced precision and hands float32 back to the losses.
    net = Autocast(torch.nn.Linear(4, 3), torch.device("cpu"), torch.bfloat16)
    out = net(torch.randn(2, 4))
    assert out.dtype == torch.float32


class _TinyStage:
    def __init__(self) -> None:
        self.model = self.net = torch.nn.Linear(4, 2)
        self.seen: list[torch.dtype] = []

    def n_items(self) -> int:
        return 3

    def step(self, indices, rng, progress):
        captured = {}
        handle = self.model.register_forward_hook(lambda m, i, o: captured.update(dtype=o.dtype))
        out = self.net(torch.ones(len(indices), 4))
        handle.remove()
        self.seen.append(captured["dtype"])
        return out.pow(2).mean()

    def validate(self) -> float:
        return float(self.model.weight.abs().sum())


def test_the_loop_uses_autocast_when_the_device_has_it(tmp_path, monkeypatch):
    stage = _TinyStage()
    result = run_training(stage, TrainConfig(epochs=1), tmp_path / "a.pt", torch.device("cpu"))
    assert result.precision == "fp32" and set(stage.seen) == {torch.float32} and stage.net is stage.model
    # Pretend the device supports bf16 (as CUDA does): the network runs in bf16, the result says so.
    monkeypatch.setattr("core.training.loop.autocast_dtype", lambda device: torch.bfloat16)
    stage = _TinyStage()
    result = run_training(stage, TrainConfig(epochs=1), tmp_path / "b.pt", torch.device("cpu"))
    assert result.precision == "bf16" and set(stage.seen) == {torch.bfloat16}
    assert stage.net is stage.model  # the wrapper is gone after the run


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="this PyTorch has no gloo backend")
def test_torchrun_two_processes_train_one_version(tmp_path):
    path = reviewed_ceph_project(tmp_path, n_images=6)  # 5 train (3 + 3 with one repeat), 1 locked val
    before = path.read_bytes()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "core.cli", "train", "--project", str(path), "--epochs", "1", "--stage", "patch",
               "--device", "cpu", "--json"]
    t0 = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=trainer_env())
    seconds = time.monotonic() - t0
    assert out.returncode == 0, out.stderr[-2000:]
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "epoch", "done"], kinds  # rank 0 alone reports, once
    start, epoch, done = events
    assert start["reason"].startswith("distributed: 2 processes (gloo)") and start["processes"] == 2
    assert start["precision"] == "fp32" and start["n_train"] == 5
    assert epoch["samples_per_rank"] == [3, 3]  # each rank trained its own shard of the 5 images
    assert done["version"] == "v1"
    registry = ModelRegistry(path, "ceph19")
    assert registry.versions() == ["v0", "v1"]
    assert [p.name for p in registry.root.iterdir()] == ["v1"]  # no work folder or temp left behind
    card = registry.card("v1")["training"]
    assert card["processes"] == 2 and card["precision"] == "fp32" and "gloo" in card["device_reason"]
    assert path.read_bytes() == before  # training reads the project, never writes it
    with Project.open(path) as project:
        assert not project.read_only and project.stale_lock is None and len(project.images) == 6
    print(f"torchrun 2 processes, 1 patch epoch: {seconds:.1f} s")
