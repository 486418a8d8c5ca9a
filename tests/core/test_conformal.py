"""Calibrated uncertainty regions (split conformal prediction): the quantile, the regions'
geometry, coverage on exchangeable data, and ``anatomark calibrate`` writing a model card."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_modelfile_and_cli import _one_thread, dataset_dir, model_path  # noqa: F401  (shared fixtures: a tiny two-stage model)

from core.cli import main
from core.uncertainty.conformal import (
    ConformalCalibration,
    calibrate,
    conformal_quantile,
    covered,
    ellipse_mm,
    ellipses,
    heatmap_covariance,
    nonconformity,
)
from core.inference import Predictor
from core.modelfile import ModelFileError, load_model, read_card, republish

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_conformal_quantile_on_hand_made_scores():
    scores = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]  # n = 9
    # α = 0.2: rank ⌈10 · 0.8⌉ = 8 → the 8th smallest, 0.8.
    assert conformal_quantile(scores, 0.2) == 0.8
    # α = 0.5: rank ⌈10 · 0.5⌉ = 5 → 0.5; NaNs are left out (n stays 9).
    assert conformal_quantile(scores + [math.nan], 0.5) == 0.5
    # α = 0.1 needs rank ⌈10 · 0.9⌉ = 9 = n → the maximum; with n = 8 the rank 9 does not exist.
    assert conformal_quantile(scores, 0.1) == 0.9
    assert conformal_quantile(scores[:8], 0.1) == math.inf
    with pytest.raises(ValueError):
        conformal_quantile(scores, 1.0)


def test_coverage_on_exchangeable_data_is_at_least_nominal():
    """Calibrate on n points, test on a fresh one, 4000 times: the hit rate is ≥ 1 − α
    (exactly ⌈(n+1)(1−α)⌉/(n+1) = 0.9 for n = 19, 0.9 · 3 SE tolerance for the sampling)."""
    rng = np.random.default_rng(7)
    alpha, n, trials = 0.1, 19, 4000
    cov = np.array([[[9.0, 4.0], [4.0, 4.0]]])  # one landmark, anisotropic spread
    chol = np.linalg.cholesky(cov[0])
    errors = rng.standard_t(4, size=(trials, n + 1, 1, 2)) @ chol.T  # heavy-tailed, not Gaussian
    scores = nonconformity(errors, cov)[..., 0]  # (trials, n + 1)
    hits = [scores[t, n] <= conformal_quantile(scores[t, :n], alpha) for t in range(trials)]
    rate = float(np.mean(hits))
    # The same through calibrate/covered for one trial.
    cal = calibrate(np.zeros((n, 1, 2)), errors[0, :n], np.repeat(cov[None], n, 0), alpha, ("L",))
    assert covered(np.zeros((1, 2)), errors[0, n], cov, cal.quantiles)[0] == hits[0]
    se = math.sqrt(0.9 * 0.1 / trials)
    assert rate >= 0.9 - 3 * se
    assert rate <= 0.9 + 1 / (n + 1) + 3 * se  # and not much more (continuous scores)


def test_covariance_of_a_gaussian_heatmap_in_image_pixels():
    ys, xs = np.mgrid[:40, :50]
    d = np.stack([xs - 20.3, ys - 18.0], -1)
    cov = np.array([[6.0, 2.0], [2.0, 3.0]])
    inv = np.linalg.inv(cov)
    h = np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, inv, d))[None]
    got = heatmap_covariance(h, IDENTITY)
    assert got[0] == pytest.approx(cov + np.eye(2) / 12, abs=1e-3)
    # The heatmap is a 4× downscaled image: px² scale by 16, the pixel floor by 16 too.
    scaled = heatmap_covariance(h, np.array([[4.0, 0, 1.5], [0, 4.0, 1.5]]))
    assert scaled[0] == pytest.approx(16 * (cov + np.eye(2) / 12), abs=2e-2)
    assert np.isnan(heatmap_covariance(np.zeros((1, 5, 5)), IDENTITY)).all()


def test_ellipse_axes_angle_and_membership():
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    rot = np.array([[c, -s], [s, c]])
    cov = (rot @ np.diag([16.0, 1.0]) @ rot.T)[None]
    region = ellipses(cov, np.array([2.0]))[0]
    assert region == pytest.approx([8.0, 2.0, 30.0])  # q·σ along the rotated axes
    tip = 7.9 * rot[:, 0]  # just inside along the major axis, outside along the minor one
    assert covered(np.zeros((1, 2)), tip[None], cov, [2.0])[0]
    assert not covered(np.zeros((1, 2)), (2.1 * rot[:, 1])[None], cov, [2.0])[0]
    assert nonconformity(tip[None], cov)[0] == pytest.approx(2 * 7.9 / 8.0)
    assert ellipse_mm(cov, np.array([2.0]), (0.5, 0.5))[0] == pytest.approx([4.0, 1.0, 30.0])


def test_calibration_card_round_trip():
    cal = ConformalCalibration(0.1, 20, ("A", "B"), np.array([1.5, math.inf]), "x", (3.0, math.inf))
    card = {"uncertainty": {"conformal": cal.card()}}
    assert card["uncertainty"]["conformal"]["quantiles"] == [1.5, None]  # JSON has no inf
    back = ConformalCalibration.from_card(json.loads(json.dumps(card)), ("A", "B"))
    assert back.alpha == 0.1 and back.n == 20 and back.coverage == pytest.approx(0.9)
    assert back.quantiles[0] == 1.5 and math.isinf(back.quantiles[1])
    assert ConformalCalibration.from_card(card, ("A", "C")) is None  # another schema's calibration
    assert ConformalCalibration.from_card({}, ("A", "B")) is None


# --- a tiny model calibrated through the CLI ---------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_calibrate_writes_a_card_and_keeps_the_weights(model_path, dataset_dir, tmp_path, capsys):
    out = tmp_path / "calibrated.pt"
    # Three images calibrate (α = 0.5 needs n ≥ 1: rank ⌈4 · 0.5⌉ = 2), the fourth measures.
    args = ["calibrate", "--model", str(model_path), "--dataset", str(dataset_dir), "--limit", "3", "--alpha", "0.5"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n"] == 3 and printed["alpha"] == 0.5 and len(printed["quantiles"]) == 6
    assert _sha(out) == _sha(model_path)  # same weights, byte for byte
    card = read_card(out)
    assert card["weights_sha256"] == read_card(model_path)["weights_sha256"]
    assert card["uncertainty"]["conformal"]["data"].endswith(":all images 1–3 (ids img00 … img02)")
    assert len(card["uncertainty"]["conformal"]["median_radius_mm"]) == 6
    load_model(out)  # the checksum still verifies

    pred = Predictor(out, "cpu").predict(dataset_dir / "images" / "img03.png")
    assert pred.coverage == pytest.approx(0.5) and pred.region_px.shape == (6, 3)
    finite = np.isfinite(pred.region_px).all(axis=1)
    assert finite.any() and (pred.region_px[finite, 0] >= pred.region_px[finite, 1]).all()
    row = next(lm for k, lm in enumerate(pred.to_dict()["landmarks"]) if finite[k])
    assert set(row["region_px"]) == {"semi_axes", "angle_deg"}
    assert Predictor(model_path, "cpu").predict(dataset_dir / "images" / "img03.png").region_px is None

    # Coverage on the image left out, as evaluate reports it.
    assert main(["evaluate", "--model", str(out), "--dataset", str(dataset_dir), "--skip", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 1 and summary["conformal"]["n_images"] == 1
    assert summary["conformal"]["nominal"] == pytest.approx(0.5) and summary["conformal"]["observed"] in {0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1}
    assert summary["decoder"] == "soft_argmax"
    # ... and recorded in the card, with the images it was measured on; the weights stay the same.
    assert main(["evaluate", "--model", str(out), "--dataset", str(dataset_dir), "--skip", "3", "--record-coverage", "--json"]) == 0
    check = read_card(out)["uncertainty"]["coverage_check"]
    assert check["observed"] == summary["conformal"]["observed"] and check["data"].endswith(":all images 4–4")
    capsys.readouterr()
    load_model(out)
    assert main(["evaluate", "--model", str(model_path), "--dataset", str(dataset_dir), "--record-coverage"]) == 2
    assert "no uncertainty calibration" in capsys.readouterr().err


def test_cli_calibrate_bad_input_is_one_line(model_path, dataset_dir, tmp_path, capsys):
    base = ["calibrate", "--model", str(model_path), "--dataset", str(dataset_dir), "--out", str(tmp_path / "x.pt")]
    assert main([*base, "--alpha", "1.5"]) == 2
    assert "--alpha must be between 0 and 1" in capsys.readouterr().err
    assert main([*base, "--skip", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "anatomark: no calibration images (check --split, --skip and --limit)"
    assert not (tmp_path / "x.pt").exists()


def test_republish_refuses_replaced_weights(model_path, tmp_path):
    copy = tmp_path / "m.pt"
    copy.write_bytes(model_path.read_bytes()[:-10])
    copy.with_suffix(".json").write_text(model_path.with_suffix(".json").read_text())
    with pytest.raises(ModelFileError, match="checksum"):
        republish(copy, tmp_path / "out.pt", read_card(copy))
