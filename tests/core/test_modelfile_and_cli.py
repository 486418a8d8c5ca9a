"""Model files (ADR 0002), the Predictor and the ``anatomark`` CLI on a tiny model
trained here on a synthetic chest6 dataset."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.inference import Predictor
from core.prediction import Prediction
from core.modelfile import ModelFileError, load_model, read_card
from core.resources import schemas_dir, shared_data_dir
from core.schema import load_schema
from core.training.assemble import assemble_model
from core.training.loop import TrainConfig
from core.training.recipes import Recipe
from core.training.stage_runner import train_stage

IMAGE_SIZE = (96, 80)  # (H, W) of the stored images
# chest6 order: R_apex, R_costophrenic, R_cardiophrenic, L_apex, L_costophrenic, L_cardiophrenic.
BASE_POINTS = np.array([[24, 20], [18, 72], [32, 66], [56, 20], [62, 72], [48, 66]], dtype=float)
SPACING = 0.5  # mm per px written in the CSV


def make_dataset(root: Path, splits: tuple[str, ...] = ("train", "train", "train", "val")) -> None:
    """Generic-CSV dataset (same layout as in test_training): ``images/<id>.png`` with a
    bright blob per landmark and ``landmarks.csv`` (id, split, mm_per_px, <name>_x/_y)."""
    names = load_schema("chest6").landmarks
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(42)
    ys, xs = np.mgrid[: IMAGE_SIZE[0], : IMAGE_SIZE[1]]
    rows = []
    for n, split in enumerate(splits):
        points = BASE_POINTS + rng.uniform(-3, 3, size=BASE_POINTS.shape).round(2)
        pixels = np.full(IMAGE_SIZE, 30.0) + rng.normal(0, 4, IMAGE_SIZE)
        for x, y in points:
            pixels += 200.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / "images" / f"img{n:02d}.png")
        row = {"id": f"img{n:02d}", "split": split, "mm_per_px": str(SPACING)}
        for name, (x, y) in zip(names, points):
            row[f"{name}_x"], row[f"{name}_y"] = f"{x:.2f}", f"{y:.2f}"
        rows.append(row)
    with open(root / "landmarks.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny convolutions gain nothing from more, and on a busy
    machine oversubscribed OpenMP threads make each step ~100× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chest_synthetic")
    make_dataset(root)
    return root


@pytest.fixture(scope="module")
def model_path(dataset_dir, tmp_path_factory) -> Path:
    """A two-stage model (global U-Net + GNN, patch net), one epoch each, assembled to ``tiny.pt``."""
    recipe = Recipe(
        name="tiny",
        schema="chest6",
        input_size=(32, 32),
        width=4,
        depth=3,
        global_train=TrainConfig(epochs=1),
        patch_size=16,
        fine_scale=0.5,
        patch_width=4,
        patch_depth=3,
        patch_train=TrainConfig(epochs=1),
    )
    folder = tmp_path_factory.mktemp("model")
    work = folder / "work"
    for stage in ("global", "patch"):
        record = train_stage(recipe, stage, dataset_dir, work, device_preference="cpu")
        assert record["epochs_done"] == 1
    return assemble_model(work, folder / "tiny.pt", "tiny", title="test model")


def _copy(model: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".pt", ".json"):
        shutil.copy(model.with_suffix(suffix), folder / f"m{suffix}")
    return folder / "m.pt"


def _rewrite_card(pt: Path, **changes) -> None:
    card = json.loads(pt.with_suffix(".json").read_text())
    card.update(changes)
    pt.with_suffix(".json").write_text(json.dumps(card))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(pt: Path, **kwargs) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(pt, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("m.")
    return message


# --- model files -------------------------------------------------------------------


def test_model_file_pair_and_card(model_path):
    assert model_path.exists() and model_path.with_suffix(".json").exists()
    assert sorted(p.name for p in model_path.parent.iterdir() if p.is_file()) == ["tiny.json", "tiny.pt"]
    card = read_card(model_path)
    assert card["schema"]["name"] == "chest6"
    assert card["input_size"] == [32, 32]
    assert card["architecture"]["patch"]["patch_size"] == 16
    assert card["weights_sha256"] == _sha256(model_path)
    assert card["training"]["train_ids"] == ["img00", "img01", "img02"]


def test_load_model(model_path):
    loaded = load_model(model_path, expected_schema=load_schema("chest6"))
    assert loaded.schema.name == "chest6"
    assert loaded.model_id == "tiny@1"
    assert loaded.patch_net is not None
    assert not loaded.global_net.training


def test_truncated_weights_are_refused(model_path, tmp_path):
    pt = _copy(model_path, tmp_path)
    pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    assert "checksum" in _refused(pt)


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: a file appears if code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_refused_without_running(model_path, tmp_path):
    pt = _copy(model_path, tmp_path / "model")
    # The payload is live: an unsafe load would run it.
    probe = tmp_path / "probe.pt"
    torch.save({"x": _Payload(tmp_path / "probe-ran")}, probe)
    torch.load(probe, weights_only=False)
    assert (tmp_path / "probe-ran").exists()
    # Same payload as the model's weights, with a card whose checksum matches.
    marker = tmp_path / "marker"
    torch.save({"global.unet.head.weight": _Payload(marker)}, pt)
    _rewrite_card(pt, weights_sha256=_sha256(pt))
    assert "safe loader" in _refused(pt)
    assert not marker.exists()


def test_weights_that_are_not_a_state_dict_are_refused(model_path, tmp_path):
    pt = _copy(model_path, tmp_path)
    torch.save([torch.zeros(2)], pt)  # loads fine with weights_only, but is no state_dict
    _rewrite_card(pt, weights_sha256=_sha256(pt))
    _refused(pt)


def test_model_for_another_schema_is_refused(model_path, tmp_path):
    pt = _copy(model_path, tmp_path)
    message = _refused(pt, expected_schema=load_schema("ceph19"))
    assert "chest6" in message and "ceph19" in message


def test_garbage_card_is_refused(model_path, tmp_path):
    pt = _copy(model_path, tmp_path)
    pt.with_suffix(".json").write_text("{not json")
    assert "card" in _refused(pt)
    pt.with_suffix(".json").write_text('{"format_version": 99}')
    assert "card" in _refused(pt)
    pt.with_suffix(".json").unlink()
    assert "missing" in _refused(pt)


def test_assemble_reuses_the_patch_stage_of_another_model(model_path, tmp_path, capsys):
    """A new global stage (here: the tiny one again, in a work folder with no patch stage) takes the
    patch stage from an existing model file; the weights are the donor's and the card says so."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("global.pt", "global.json"):
        shutil.copy(model_path.parent / "work" / name, work / name)
    out = tmp_path / "reused.pt"
    assert main(["train", "--recipe", "chest6", "--stage", "assemble", "--work", str(work), "--patch-from", str(model_path), "--out", str(out), "--model-version", "2", "--parent-version", "1", "--name", "chest6-seg"]) == 0
    reused, donor = load_model(out), load_model(model_path)
    for key, value in donor.patch_net.state_dict().items():
        assert torch.equal(reused.patch_net.state_dict()[key], value)
    card = read_card(out)
    assert card["architecture"]["family"].endswith("-patch") and "reused from" in card["title"]
    assert (card["version"], card["parent_version"]) == ("2", "1") and reused.model_id == "chest6-seg@2"
    assert card["training"]["patch"]["reused_from"] == {"model": donor.model_id, "weights_sha256": donor.card["weights_sha256"]}


def test_assemble_puts_a_retrained_patch_stage_behind_another_models_global_stage(model_path, tmp_path, capsys):
    """The converse of --patch-from: a work folder with only a (re)trained patch stage takes its global
    stage from an existing model file; weights are the donor's, the card says where they came from."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("patch.pt", "patch.json"):
        shutil.copy(model_path.parent / "work" / name, work / name)
    out = tmp_path / "faster.pt"
    assert main(["train", "--recipe", "chest6", "--stage", "assemble", "--work", str(work), "--global-from", str(model_path), "--out", str(out), "--model-version", "2", "--parent-version", "1"]) == 0
    new, donor = load_model(out), load_model(model_path)
    for key, value in donor.global_net.state_dict().items():
        assert torch.equal(new.global_net.state_dict()[key], value)
    card = read_card(out)
    assert card["training"]["global"]["reused_from"] == {"model": donor.model_id, "weights_sha256": donor.card["weights_sha256"]}
    assert "global stage reused from" in card["title"] and card["training"]["train_ids"] == donor.card["training"]["train_ids"]
    assert card["training"]["patch"]["epochs_done"] >= 1 and new.model_id == "chest6@2"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--recipe", "chest6", "--stage", "assemble", "--work", str(empty), "--global-from", str(model_path), "--out", str(tmp_path / "z.pt")]) == 2
    assert "no trained patch stage" in capsys.readouterr().err and not (tmp_path / "z.pt").exists()
    assert main(["train", "--recipe", "chest6", "--stage", "assemble", "--work", str(work), "--global-from", str(model_path), "--patch-from", str(model_path), "--out", str(tmp_path / "z.pt")]) == 2
    assert "not both" in capsys.readouterr().err


def test_train_set_reaches_nested_settings(dataset_dir, tmp_path, capsys):
    """``--set augment.rotation_deg=3`` changes the augmentation of the stage it trains; a whole
    number for an optional count stays an integer; an unknown key lists the known ones."""
    work = tmp_path / "w"
    args = ["train", "--recipe", "chest6", "--stage", "patch", "--dataset", str(dataset_dir), "--work", str(work), "--epochs", "1", "--device", "cpu"]
    assert main(args + ["--set", "augment.rotation_deg=3", "--set", "landmarks_per_step=2"]) == 0
    config = json.loads((work / "patch.json").read_text())["train_config"]
    assert config["augment"]["rotation_deg"] == 3.0 and config["augment"]["translation"] == 0.0
    assert config["landmarks_per_step"] == 2 and isinstance(config["landmarks_per_step"], int)
    capsys.readouterr()
    assert main(args + ["--set", "augment.spin=3"]) == 2
    assert "augment.rotation_deg" in capsys.readouterr().err


def test_assemble_refuses_a_patch_donor_without_a_patch_stage(model_path, tmp_path, capsys):
    work = model_path.parent / "work"
    global_only = assemble_model(work, tmp_path / "g.pt", "g", with_patch=False)
    with pytest.raises(ModelFileError, match="no patch stage"):
        assemble_model(work, tmp_path / "y.pt", "y", patch_from=global_only)
    assert main(["train", "--recipe", "chest6", "--stage", "assemble", "--work", str(work), "--patch-from", str(global_only), "--out", str(tmp_path / "z.pt")]) == 2
    assert "no patch stage" in capsys.readouterr().err and not (tmp_path / "z.pt").exists()
    assert main(["train", "--recipe", "chest6", "--stage", "global", "--work", str(tmp_path / "w")]) == 2
    assert "needs --dataset" in capsys.readouterr().err

# --- inference ---------------------------------------------------------------------


def test_predictor_returns_a_prediction_in_image_pixels(model_path, dataset_dir):
    predictor = Predictor(model_path, device="cpu")
    pred = predictor.predict(dataset_dir / "images" / "img03.png")
    assert isinstance(pred, Prediction)
    h, w = IMAGE_SIZE
    assert pred.image_size == (h, w)
    assert pred.landmarks == load_schema("chest6").landmarks
    assert pred.model_id == "tiny@1"
    for points in (pred.points, pred.refined, pred.soft_argmax):
        assert points.shape == (6, 2)
        assert np.isfinite(points).all()
        assert (points[:, 0] >= -0.5).all() and (points[:, 0] <= w - 0.5).all()
        assert (points[:, 1] >= -0.5).all() and (points[:, 1] <= h - 0.5).all()
    assert pred.heatmaps.shape == (6, 32, 32)
    np.testing.assert_allclose(pred.heatmaps.sum(axis=(1, 2)), 1.0, atol=1e-4)
    assert pred.confidence.shape == (6,)
    assert ((pred.confidence >= 0) & (pred.confidence <= 1)).all()
    # The soft-argmax is the heatmaps' mean position, taken to image pixels by heatmap_to_image.
    ys, xs = np.mgrid[:32, :32]
    hm = pred.heatmaps
    mean_hm = np.stack([(hm * xs).sum(axis=(1, 2)), (hm * ys).sum(axis=(1, 2))], axis=-1)
    to_image = mean_hm @ pred.heatmap_to_image[:, :2].T + pred.heatmap_to_image[:, 2]
    np.testing.assert_allclose(to_image, pred.soft_argmax, atol=1e-3)
    record = pred.to_dict()
    assert [lm["name"] for lm in record["landmarks"]] == list(pred.landmarks)
    # the answer is named, and the order of every pair is said (issue 17 item 8)
    assert record["image_size_order"] == ["height", "width"] and record["spacing_order"] == ["x", "y"]
    first = record["landmarks"][0]
    assert first["point"] == [first["x"], first["y"]] == [round(float(v), 2) for v in pred.points[0]]
    json.dumps(record, allow_nan=False)


# --- command line ------------------------------------------------------------------


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("anatomark:")
    return lines[0]


def test_cli_predict_json(model_path, dataset_dir, capsys):
    image = dataset_dir / "images" / "img00.png"
    assert main(["predict", str(image), "--model", str(model_path), "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["image"] == str(image)
    assert out["schema"] == "chest6"
    assert [lm["name"] for lm in out["landmarks"]] == list(load_schema("chest6").landmarks)
    for lm in out["landmarks"]:
        assert 0 <= lm["confidence"] <= 1


def test_cli_predict_empty_dicom_is_one_line(model_path, tmp_path, capsys):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    assert main(["predict", str(empty), "--model", str(model_path), "--device", "cpu"]) == 2
    assert "empty.dcm" in _one_error_line(capsys)


def test_cli_predict_reports_the_good_images_when_one_fails(model_path, dataset_dir, tmp_path, capsys):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    good = dataset_dir / "images" / "img01.png"
    assert main(["predict", str(good), str(empty), "--model", str(model_path), "--device", "cpu", "--json"]) == 2
    captured = capsys.readouterr()
    assert [r["image"] for r in json.loads(captured.out)] == [str(good)]
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("anatomark: empty.dcm")


def test_cli_predict_undecodable_transfer_syntax(model_path, capsys, monkeypatch):
    from core.imaging import jpeg12

    monkeypatch.setattr(jpeg12, "available", lambda: False)  # as without the jpeg12 extra
    data = shared_data_dir()
    path = data / "dicom" / "RG2_JPLY.dcm" if data is not None else None
    if path is None or not path.exists():
        pytest.skip("../shared/data/dicom/RG2_JPLY.dcm not available")
    assert main(["predict", str(path), "--model", str(model_path), "--device", "cpu"]) == 2
    line = _one_error_line(capsys)
    assert "1.2.840.10008.1.2.4.51" in line and 'pip install "anatomark[jpeg12]"' in line


def test_cli_evaluate_json(model_path, dataset_dir, capsys):
    args = ["evaluate", "--model", str(model_path), "--dataset", str(dataset_dir), "--split", "val", "--device", "cpu", "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    summary = json.loads(out)  # exactly one JSON object
    assert {"n_images", "mre_px", "mre_mm", "sdr", "per_landmark"} <= summary.keys()
    assert summary["n_images"] == 1 and summary["split"] == "val"
    assert len(summary["per_landmark"]) == 6
    # Isotropic 0.5 mm pixels: every mm error is half the px error.
    assert summary["mre_mm"] == pytest.approx(SPACING * summary["mre_px"])
    # The same errors as predicting the image directly.
    pred = Predictor(model_path, device="cpu").predict(dataset_dir / "images" / "img03.png")
    with open(dataset_dir / "landmarks.csv", newline="") as fh:
        row = [r for r in csv.DictReader(fh) if r["id"] == "img03"][0]
    gt = np.array([[float(row[f"{n}_x"]), float(row[f"{n}_y"])] for n in pred.landmarks])
    assert summary["mre_px"] == pytest.approx(np.linalg.norm(pred.points - gt, axis=1).mean(), rel=1e-5)


def test_cli_evaluate_unknown_split(model_path, dataset_dir, capsys):
    args = ["evaluate", "--model", str(model_path), "--dataset", str(dataset_dir), "--split", "nope", "--device", "cpu"]
    assert main(args) == 2
    assert "nope" in _one_error_line(capsys)


def test_cli_models_json(model_path, tmp_path, monkeypatch, capsys):
    resources = tmp_path / "resources"
    shutil.copytree(schemas_dir(), resources / "schemas")
    (resources / "models").mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(model_path.with_suffix(suffix), resources / "models" / f"tiny{suffix}")
    monkeypatch.setenv("ANATOMARK_RESOURCES", str(resources))
    assert main(["models", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cards] == ["tiny"]
    assert cards[0]["schema"]["name"] == "chest6"
    assert "training" not in cards[0]
    # A bundled model is found by name.
    image = tmp_path / "blank.png"
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(image)
    assert main(["predict", str(image), "--model", "tiny", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "tiny@1"


def test_cli_missing_model_is_one_line(dataset_dir, capsys):
    image = dataset_dir / "images" / "img00.png"
    assert main(["predict", str(image), "--model", "/nonexistent.pt", "--device", "cpu"]) == 2
    assert "nonexistent" in _one_error_line(capsys)
