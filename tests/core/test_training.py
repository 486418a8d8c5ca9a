"""Datasets, the training loop (checkpoints, resume, cancel, divergence, seeds) and
device selection, on a tiny synthetic chest6 dataset."""

from __future__ import annotations

import csv
import math
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.models import LandmarkNet, LandmarkNetConfig
from core.schema import load_schema
from core.training.augment import NO_AUGMENT
from core.training.datasets import DatasetError, load_dataset
from core.devices import DeviceError, select_device
from core.training.loop import TrainConfig, TrainingDiverged, run_training
from core.training.recipes import Recipe
from core.training.samplers import cache_images
from core.training.stage_runner import train_stage
from core.training.stages import GlobalStage

IMAGE_SIZE = (96, 80)  # (H, W) of the stored images
# chest6 order: R_apex, R_costophrenic, R_cardiophrenic, L_apex, L_costophrenic, L_cardiophrenic;
# the patient's right is on the image's left.
BASE_POINTS = np.array([[24, 20], [18, 72], [32, 66], [56, 20], [62, 72], [48, 66]], dtype=float)


def make_dataset(
    root: Path,
    splits: tuple[str, ...] = ("train", "train", "train", "val"),
    missing: tuple[int, int] | None = (1, 4),
) -> dict[str, np.ndarray]:
    """Generic-CSV dataset: ``images/<id>.png`` (8-bit, a bright blob per landmark) and
    ``landmarks.csv`` (id, split, mm_per_px, <name>_x, <name>_y). ``missing`` =
    (image, landmark) left blank. Returns the points written, by id."""
    names = load_schema("chest6").landmarks
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(42)
    ys, xs = np.mgrid[: IMAGE_SIZE[0], : IMAGE_SIZE[1]]
    written, rows = {}, []
    for n, split in enumerate(splits):
        sid = f"img{n:02d}"
        points = BASE_POINTS + rng.uniform(-3, 3, size=BASE_POINTS.shape).round(2)
        pixels = np.full(IMAGE_SIZE, 30.0) + rng.normal(0, 4, IMAGE_SIZE)
        for x, y in points:
            pixels += 200.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / "images" / f"{sid}.png")
        if missing is not None and n == missing[0]:
            points[missing[1]] = np.nan
        row = {"id": sid, "split": split, "mm_per_px": "0.5"}
        for name, (x, y) in zip(names, points):
            row[f"{name}_x"] = "" if np.isnan(x) else f"{x:.2f}"
            row[f"{name}_y"] = "" if np.isnan(y) else f"{y:.2f}"
        rows.append(row)
        written[sid] = points
    with open(root / "landmarks.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return written


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny convolutions gain nothing from more, and on a busy
    machine oversubscribed OpenMP threads make each step ~100× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("chest_synthetic")
    return root, make_dataset(root)


@pytest.fixture(scope="module")
def cached(dataset_dir):
    data = load_dataset(dataset_dir[0])
    return (
        data.schema,
        cache_images(data.subset("train").samples, (32, 32), None),
        cache_images(data.subset("val").samples, (32, 32), None),
    )


def _global_stage(cached, config: TrainConfig, seed: int = 0) -> GlobalStage:
    schema, train, val = cached
    torch.manual_seed(seed)
    net = LandmarkNet(
        LandmarkNetConfig(
            n_landmarks=schema.n_landmarks,
            input_size=(32, 32),
            width=4,
            depth=3,
            refiner_hidden=8,
            adjacency=schema.normalized_adjacency().tolist(),
        )
    )
    return GlobalStage(net, schema, train, val, config, torch.device("cpu"))


# --- datasets ------------------------------------------------------------------


def test_load_dataset_matches_chest6_and_splits(dataset_dir):
    root, written = dataset_dir
    data = load_dataset(root)
    assert data.schema.name == "chest6"
    assert data.splits == ["train", "val"]
    assert len(data) == 4
    assert [s.id for s in data.subset("train").samples] == ["img00", "img01", "img02"]
    val = load_dataset(root, "val")
    assert [s.id for s in val.samples] == ["img03"]
    for sample in data.samples:
        np.testing.assert_allclose(sample.points, written[sample.id], atol=0.006)  # CSV keeps 2 decimals
        assert sample.spacing == (0.5, 0.5)
        assert sample.image_path == root / "images" / f"{sample.id}.png"
    assert np.isnan(data.samples[1].points[4]).all() and np.isfinite(data.samples[1].points[:4]).all()
    assert data.points().shape == (4, 6, 2)


def test_load_dataset_errors_are_dataset_errors(dataset_dir, tmp_path):
    with pytest.raises(DatasetError, match="no split 'test'"):
        load_dataset(dataset_dir[0], "test")
    with pytest.raises(DatasetError):
        load_dataset(tmp_path / "absent")
    (tmp_path / "landmarks.csv").write_text("id,foo_x,foo_y\na,1,2\n")
    with pytest.raises(DatasetError, match="no bundled schema"):
        load_dataset(tmp_path)


def test_cached_images_are_resized_and_points_scaled(cached):
    _, train, _ = cached
    item = train[0]
    assert item.original_size == IMAGE_SIZE
    assert tuple(item.coarse.shape) == (1, 32, 32)
    assert 0.0 <= float(item.coarse.min()) and float(item.coarse.max()) <= 1.0
    # The apex blob at (x, y) of the 80×96 image is at ((x + .5)·32/80 − .5, (y + .5)·32/96 − .5).
    x, y = item.sample.points[0]
    np.testing.assert_allclose(item.points_in((32, 32))[0], [(x + 0.5) * 0.4 - 0.5, (y + 0.5) / 3 - 0.5])


# --- the loop --------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(cached, tmp_path_factory):
    """Two epochs of the global stage; returns (work folder, result, progress reports)."""
    work = tmp_path_factory.mktemp("global_run")
    reports = []
    config = TrainConfig(epochs=2)
    result = run_training(_global_stage(cached, config), config, work / "global.pt", torch.device("cpu"), progress=reports.append)
    return work, result, reports


def test_training_publishes_checkpoints_atomically(trained, cached):
    work, result, reports = trained
    assert sorted(p.name for p in work.iterdir()) == ["global.pt", "global.pt.last"]  # no temp files left
    state = torch.load(work / "global.pt", weights_only=True)
    net = _global_stage(cached, TrainConfig()).model
    net.load_state_dict(state)  # a complete state_dict of the model
    last = torch.load(work / "global.pt.last", weights_only=True)
    assert last["epoch"] == 2 and len(last["history"]) == 2


def test_training_history_and_reports(trained):
    _, result, reports = trained
    assert result.stopped == "completed"
    assert result.epochs_done == 2 and len(result.history) == 2
    assert [r.epoch for r in reports] == [1, 2]
    for entry in result.history:
        assert math.isfinite(entry["train_loss"]) and entry["train_loss"] > 0
        assert math.isfinite(entry["val_mre_px"])
    assert result.best_mre_px == min(h["val_mre_px"] for h in result.history)
    assert reports[-1].eta_seconds == 0


def test_training_resumes_where_it_stopped(trained, cached, tmp_path):
    work, _, _ = trained
    for name in ("global.pt", "global.pt.last"):  # resume a copy; the fixture's files stay as they were
        (tmp_path / name).write_bytes((work / name).read_bytes())
    reports = []
    config = TrainConfig(epochs=3)
    stage = _global_stage(cached, config, seed=7)  # other initial weights: the resumed state replaces them
    result = run_training(stage, config, tmp_path / "global.pt", torch.device("cpu"), progress=reports.append)
    assert [r.epoch for r in reports] == [3]  # only the missing epoch ran
    assert len(result.history) == 3 and result.epochs_done == 3
    assert result.history[:2] == torch.load(work / "global.pt.last", weights_only=True)["history"]


def test_cancel_flag_stops_training(cached, tmp_path):
    cancel = threading.Event()
    cancel.set()
    config = TrainConfig(epochs=5)
    stage = _global_stage(cached, config)
    result = run_training(stage, config, tmp_path / "global.pt", torch.device("cpu"), cancel=cancel)
    assert result.stopped == "cancelled"
    assert result.epochs_done == 0 and result.history == []
    assert not (tmp_path / "global.pt.last").exists()


class _DivergingStage:
    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 2)

    def n_items(self) -> int:
        return 2

    def step(self, index, rng, progress):
        return torch.tensor(float("nan"), requires_grad=True)

    def validate(self) -> float:
        return 1.0


def test_nan_loss_raises_training_diverged(tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        run_training(_DivergingStage(), TrainConfig(epochs=2), tmp_path / "x.pt", torch.device("cpu"))
    assert not (tmp_path / "x.pt").exists()


def test_same_seed_same_weights(cached, tmp_path):
    def weights(seed: int, folder: str) -> dict[str, torch.Tensor]:
        config = TrainConfig(epochs=1, seed=seed)
        stage = _global_stage(cached, config, seed=seed)
        run_training(stage, config, tmp_path / folder / "global.pt", torch.device("cpu"))
        return stage.model.state_dict()

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_train_stage_is_reproducible_from_the_seed(dataset_dir, tmp_path):
    """The seed in TrainConfig fixes the initial weights too, not only the augmentation."""
    recipe = Recipe(
        name="tiny",
        schema="chest6",
        input_size=(32, 32),
        width=4,
        depth=3,
        global_train=TrainConfig(epochs=1, augment=NO_AUGMENT),
        patch_size=16,
        fine_scale=0.5,
        patch_width=4,
        patch_depth=3,
        patch_train=TrainConfig(epochs=1),
    )
    for folder in ("a", "b"):
        record = train_stage(recipe, "global", dataset_dir[0], tmp_path / folder, device_preference="cpu")
        assert record["epochs_done"] == 1 and record["data"]["n_train"] == 3 and record["data"]["n_val"] == 1
    a = torch.load(tmp_path / "a" / "global.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "global.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    config = replace(recipe.global_train, seed=3)
    train_stage(recipe, "global", dataset_dir[0], tmp_path / "c", device_preference="cpu", config=config)
    c = torch.load(tmp_path / "c" / "global.pt", weights_only=True)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# --- devices -----------------------------------------------------------------------


def test_select_cpu_says_why():
    device, reason = select_device("cpu")
    assert device == torch.device("cpu")
    assert reason.startswith("cpu") and len(reason) > 5


def test_select_unavailable_cuda_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(DeviceError, match="cuda requested"):
        select_device("cuda")


def test_select_unknown_device_is_an_error():
    with pytest.raises(DeviceError, match="unknown device"):
        select_device("tpu")


class _SlowStage:
    """A stage whose epoch takes about 0.2 s, to test budget-fitted schedules."""

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 2)

    def n_items(self) -> int:
        return 2

    def step(self, index, rng, progress):
        time.sleep(0.1)
        return self.model(torch.ones(1, 2)).pow(2).sum()

    def validate(self) -> float:
        return 1.0


def test_time_budget_shrinks_the_schedule_so_it_anneals(tmp_path):
    # 100 planned epochs of ~0.2 s cannot fit in 0.01 min (0.6 s): the loop
    # re-plans after the first epoch so the cosine ends on the last epoch run.
    config = TrainConfig(epochs=100, max_minutes=0.01)
    result = run_training(_SlowStage(), config, tmp_path / "x.pt", torch.device("cpu"))
    assert result.stopped == "time budget"
    assert 2 <= result.epochs_done <= 4
    last = result.history[-1]
    assert last["epochs"] == result.epochs_done
    assert last["lr"] < 0.25 * config.lr  # unfitted, epoch 3 of 100 would still be warming up (≈0.4)
