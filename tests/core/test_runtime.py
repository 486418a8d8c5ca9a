"""The compiled runtime (issue 22): the NumPy twins of the pipeline's PyTorch steps, the OpenVINO
predictor's outputs against PyTorch's (points within 0.05 px), its cache, its fallbacks, and a
command-line prediction that never imports PyTorch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.geometry import patch_matrices
from core.resampling import resize_image, standardise, warp
from core.resources import models_dir, samples_dir
from core.runtime import arrays, open_predictor

openvino = pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install openvino): the compiled runtime is off")

from core.runtime.compiled import CompiledPredictor, RuntimeUnavailable  # noqa: E402

RG1 = samples_dir() / "chest_RG1.dcm"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One compiled-model cache for the module (each model compiles once: a few seconds)."""
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture
def use_cache(cache, monkeypatch) -> Path:
    monkeypatch.setenv("ANATOMARK_CACHE", str(cache))
    return cache


@pytest.mark.parametrize("shape, size", [((1024, 1024), (256, 256)), ((1955, 1841), (160, 128)), ((300, 280), (150, 140)),
                                         ((90, 100), (256, 256)), ((64, 64), (64, 64))])
def test_resize_matches_pytorchs_antialiased_resize(shape, size):
    image = np.random.default_rng(0).random(shape, dtype=np.float32) * 4000
    np.testing.assert_allclose(arrays.resize_image(image, size), resize_image(image, size)[0].numpy(), atol=4e-5 * 4000)


def test_standardise_and_warp_match_pytorch():
    rng = np.random.default_rng(1)
    batch = rng.random((3, 1, 20, 30), dtype=np.float32) * 50
    np.testing.assert_allclose(arrays.standardise(batch), standardise(torch.from_numpy(batch)).numpy(), atol=1e-5)
    fine = rng.random((120, 90), dtype=np.float32)
    # patches inside, across the border and wholly outside the image, rotated and zoomed
    centres = np.array([[45.0, 60.0], [2.5, 118.0], [-80.0, 300.0], [88.7, 0.2]])
    matrices = patch_matrices(centres, 32, angles=np.array([0.0, 17.0, -30.0, 90.0]), zooms=np.array([1.0, 1.3, 0.8, 1.0]))
    ours = arrays.warp(fine, matrices, (32, 32))
    theirs = warp(torch.from_numpy(fine)[None], torch.as_tensor(matrices, dtype=torch.float32), (32, 32)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    assert not ours[2].any()  # outside: zeros


@pytest.mark.parametrize("exclusive", [False, True])
def test_mask_upsampling_matches_the_predictors(exclusive):
    from core.inference import full_resolution_masks

    logits = np.random.default_rng(2).normal(0, 3, (4 if exclusive else 3, 32, 40)).astype(np.float32)
    ours = arrays.upsample_masks(logits, exclusive, (250, 310))
    theirs = full_resolution_masks(torch.from_numpy(logits)[None], exclusive, (250, 310))
    assert ours.shape == theirs.shape and (ours != theirs).mean() < 1e-4  # ties at the threshold only


@pytest.mark.parametrize("model, image", [("chest6", RG1), ("chest6-seg", RG1), ("ceph19", "ceph")])
def test_compiled_predictions_match_pytorchs(use_cache, model, image, shared_data):
    """Same points within 0.05 px (the issue's bound), confidences, heatmaps, regions and masks."""
    from core.inference import Predictor

    if not (models_dir() / f"{model}.pt").exists():
        pytest.skip(f"bundled model {model} not installed")
    if image == "ceph":
        image = shared_data / "ceph_isbi2015" / "images" / "001.jpg"
        if not image.exists():
            pytest.skip(f"shared data file missing: {image}")
    reference = Predictor(model, "cpu").predict(image)
    compiled = CompiledPredictor(model)
    got = compiled.predict(image)
    assert got.model_id == reference.model_id and got.landmarks == reference.landmarks and got.decoder == reference.decoder
    for name in ("points", "refined", "soft_argmax"):
        assert np.abs(getattr(got, name) - getattr(reference, name)).max() < 0.05, name
    # Confidence is the mass of the pixels whose centres lie in a disc around the point: a point
    # 0.01 px away can take in or leave out one pixel at the rim (about 1 % of the mass).
    np.testing.assert_allclose(got.confidence, reference.confidence, atol=0.02)
    np.testing.assert_allclose(got.heatmaps, reference.heatmaps, atol=1e-5)
    np.testing.assert_allclose(got.heatmap_to_image, reference.heatmap_to_image)
    if reference.region_px is not None:
        np.testing.assert_allclose(got.region_px, reference.region_px, rtol=2e-3, atol=1e-3)
        assert got.coverage == reference.coverage
    assert (got.masks is None) == (reference.masks is None)
    if reference.masks is not None:
        assert got.mask_classes == reference.mask_classes and (got.masks != reference.masks).mean() < 1e-4
    assert (got.anatomy is None) == (reference.anatomy is None)


def test_the_cache_is_reused_and_a_replaced_model_is_refused(use_cache, tmp_path):
    from core.resources import ModelFileError

    CompiledPredictor("chest6")
    folders = {p.name for p in use_cache.iterdir()}
    CompiledPredictor("chest6")
    assert {p.name for p in use_cache.iterdir()} == folders  # nothing compiled again
    copy = tmp_path / "m.pt"
    shutil.copy(models_dir() / "chest6.pt", copy)
    shutil.copy(models_dir() / "chest6.json", tmp_path / "m.json")
    with open(copy, "r+b") as f:  # one flipped byte: the card's checksum no longer holds
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFileError, match="checksum"):
        CompiledPredictor(copy)


def test_a_damaged_cache_falls_back_to_pytorch(use_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("ANATOMARK_CACHE", str(tmp_path / "c"))
    CompiledPredictor("chest6")
    for xml in (tmp_path / "c").rglob("global.xml"):
        xml.write_text("<not a graph")
    with pytest.raises(RuntimeUnavailable, match="cannot load the compiled model"):
        CompiledPredictor("chest6")
    predictor = open_predictor("chest6", "cpu")  # auto: PyTorch instead, same answer
    assert type(predictor).__name__ == "Predictor"
    with pytest.raises(RuntimeUnavailable):
        open_predictor("chest6", "cpu", runtime="openvino")


def test_a_decoder_without_a_graph_form_runs_on_pytorch(use_cache):
    assert type(open_predictor("chest6", "cpu", decoder="blob")).__name__ == "Predictor"
    with pytest.raises(RuntimeUnavailable, match="'blob' decoder has no graph form"):
        open_predictor("chest6", "cpu", decoder="blob", runtime="openvino")
    assert type(open_predictor("chest6", "cpu", runtime="torch")).__name__ == "Predictor"
    with pytest.raises(ValueError, match="unknown runtime"):
        open_predictor("chest6", runtime="onnx")


def _cli(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    """``anatomark`` in a fresh interpreter that reports whether PyTorch was ever imported."""
    code = ("import sys; from core.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr); sys.exit(rc)")
    env = dict(os.environ, ANATOMARK_CACHE=str(cache))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_command_line_prediction_never_imports_pytorch(use_cache, tmp_path):
    CompiledPredictor("chest6")  # compiled (this needs PyTorch, once)
    out = _cli(["predict", str(RG1), "--model", "chest6", "--json"], use_cache)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "NO-TORCH"
    result = json.loads(out.stdout)
    reference = open_predictor("chest6", "cpu", runtime="torch").predict(RG1)
    got = np.array([lm["point"] for lm in result["landmarks"]])
    assert np.abs(got - reference.points).max() < 0.05 + 0.01  # printed to 0.01 px
    # A damaged image: one line, exit status 2, still without PyTorch.
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(RG1.read_bytes()[:5000])
    out = _cli(["predict", str(bad), "--model", "chest6"], use_cache)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines[-1] == "NO-TORCH" and len(lines) == 2 and lines[0].startswith("anatomark: ")
