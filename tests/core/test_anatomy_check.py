"""The anatomy check (core.anatomy): the right bundled model for an image, and a clear "no" for the rest."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.anatomy import (FITS, MISFIT, UNSURE, AnatomyFit, BundledChooser, anatomy_reference, check_reference,
                          fit_of, procrustes_residual, schema_models)
from core.card_checks import CardError, check_card
from core.cli import main
from core.model_card import ModelCard
from core.modelfile import read_card
from core.resources import resolve_model
from core.resources import samples_dir

SQUARE_ISH = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 6.0], [0.0, 8.0], [5.0, 12.0]])


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return points @ np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]).T


def test_position_size_and_rotation_do_not_matter() -> None:
    moved = _rotate(SQUARE_ISH, 33.0) * 7.5 + np.array([400.0, -20.0])
    assert procrustes_residual(moved, SQUARE_ISH) == pytest.approx(0.0, abs=1e-7)


def test_a_mirror_image_is_another_shape() -> None:
    mirrored = SQUARE_ISH * np.array([-1.0, 1.0])
    assert procrustes_residual(mirrored, SQUARE_ISH) > 0.1


def test_missing_landmarks_are_left_out() -> None:
    partial = SQUARE_ISH.copy()
    partial[1] = np.nan
    assert procrustes_residual(partial * 3.0, SQUARE_ISH) == pytest.approx(0.0, abs=1e-7)
    partial[2:4] = np.nan
    assert math.isnan(procrustes_residual(partial, SQUARE_ISH))


def test_reference_from_training_shapes() -> None:
    rng = np.random.default_rng(0)
    shapes = [_rotate(SQUARE_ISH + rng.normal(0, 0.3, SQUARE_ISH.shape), rng.uniform(-20, 20)) * rng.uniform(1, 3)
              for _ in range(30)]
    entry = anatomy_reference(shapes + [np.full_like(SQUARE_ISH, np.nan)], "generated")
    assert entry["n_shapes"] == 30
    check_reference(entry, 5)
    residuals = [procrustes_residual(s, np.array(entry["mean_shape"])) for s in shapes]
    assert max(residuals) == pytest.approx(entry["typical_residual"], abs=1e-5)
    with pytest.raises(ValueError, match="at least 5"):
        anatomy_reference(shapes[:3], "too few")


def test_verdicts_follow_the_ratio() -> None:
    assert AnatomyFit("m", "a", 0.1, 0.1).verdict == FITS
    assert AnatomyFit("m", "a", 0.2, 0.1).verdict == UNSURE
    assert AnatomyFit("m", "a", 0.3, 0.1).verdict == MISFIT
    assert AnatomyFit("m", "a", float("nan"), 0.1).verdict == MISFIT


@pytest.mark.parametrize("entry", [
    "not an object", {"mean_shape": [[0, 0]] * 4, "typical_residual": 0.1},
    {"mean_shape": [[0, 0], [1, "x"], [2, 2], [3, 3], [4, 4]], "typical_residual": 0.1},
    {"mean_shape": [[0, 0], [1, float("nan")], [2, 2], [3, 3], [4, 4]], "typical_residual": 0.1},
    {"mean_shape": SQUARE_ISH.tolist(), "typical_residual": 0},
    {"mean_shape": SQUARE_ISH.tolist(), "typical_residual": True},
    {"mean_shape": SQUARE_ISH.tolist()},
])
def test_a_bad_reference_is_refused(entry) -> None:
    with pytest.raises(ValueError):
        check_reference(entry, 5)
    assert fit_of(SQUARE_ISH, ModelCard.parse({"anatomy": entry, "schema": {"name": "x"}}), "m") is None


def test_a_card_with_a_bad_reference_is_refused_in_one_line() -> None:
    card = read_card(resolve_model("ceph19"))
    card["anatomy"]["mean_shape"] = card["anatomy"]["mean_shape"][:3]
    with pytest.raises(CardError, match="anatomy.mean_shape must be 19"):
        check_card(card, 19)


def test_the_bundled_anatomies() -> None:
    assert sorted(schema_models()) == ["ceph19", "chest6"]  # chest6-seg is a variant of chest6


@pytest.fixture(scope="module")
def chooser() -> BundledChooser:
    return BundledChooser("cpu")


def test_a_chest_dicom_from_another_site_goes_to_chest6(chooser) -> None:
    prediction, fits = chooser.choose(samples_dir() / "chest_RG1.dcm")
    assert prediction is not None and prediction.model_id.startswith("chest6@")
    assert [f.model.split("@")[0] for f in fits] == ["chest6", "ceph19"]
    assert fits[0].fits and fits[1].verdict == MISFIT


def test_a_cephalogram_goes_to_ceph19(chooser, shared_data) -> None:
    prediction, fits = chooser.choose(shared_data / "ceph_isbi2015" / "images" / "151.jpg", (0.2, 0.2))
    assert prediction.model_id.startswith("ceph19@") and fits[0].ratio < 1.2


@pytest.mark.parametrize("image", ["hand_dha/images/3167.png", "dicom/RG2_JLSL.dcm", "dicom/RG3_J2KR.dcm"])
def test_hands_hips_and_extremities_fit_no_bundled_model(chooser, shared_data, image) -> None:
    prediction, fits = chooser.choose(shared_data / image)
    assert prediction is None and not any(f.fits for f in fits)


def test_cli_predict_picks_the_model_or_refuses(shared_data, capsys) -> None:
    ceph = str(shared_data / "ceph_isbi2015" / "images" / "151.jpg")
    hand = str(shared_data / "hand_dha" / "images" / "3167.png")
    assert main(["predict", ceph, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["model"].startswith("ceph19@") and record["anatomy"]["verdict"] == "fits"
    assert record["warnings"] == []
    assert main(["predict", hand, "--json"]) == 2
    captured = capsys.readouterr()
    assert "no bundled model fits this image" in captured.err and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_cli_predict_with_a_model_warns_on_a_misfit(shared_data, capsys) -> None:
    ceph = str(shared_data / "ceph_isbi2015" / "images" / "151.jpg")
    assert main(["predict", ceph, "--model", "chest6", "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["model"].startswith("chest6@") and record["anatomy"]["verdict"] != "fits"
    assert len(record["warnings"]) == 1 and "may not show what chest6" in record["warnings"][0]
    assert "warning:" in captured.err
