"""Measurements: hand-computed angles and distances, the Monte-Carlo spread from heatmaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.measurements import heatmap_offsets, measure
from core.schema import load_schema


def _ceph_points() -> np.ndarray:
    schema = load_schema("ceph19")
    pts = np.full((schema.n_landmarks, 2), np.nan)
    pts[schema.index("S")] = (0.0, 0.0)
    pts[schema.index("N")] = (100.0, 0.0)
    pts[schema.index("A")] = (100.0 + 50.0 * math.cos(math.radians(-100)), -50.0 * math.sin(math.radians(-100)))
    pts[schema.index("B")] = (100.0 + 80.0 * math.cos(math.radians(-105)), -80.0 * math.sin(math.radians(-105)))
    pts[schema.index("Me")] = (90.0, 120.0)
    return pts


def test_hand_computed_angles_and_distances():
    schema = load_schema("ceph19")
    values = {m.name: m for m in measure(schema, _ceph_points(), (0.1, 0.1))}
    # S at the origin, N 100 px right: the angle S-N-A at N is 180 - 100 = 80 deg, S-N-B 75 deg.
    assert values["SNA"].value == pytest.approx(80.0, abs=1e-9)
    assert values["SNB"].value == pytest.approx(75.0, abs=1e-9)
    assert values["ANB"].value == pytest.approx(5.0, abs=1e-9) and values["ANB"].unit == "deg"
    assert values["S_N_length"].value == pytest.approx(10.0) and values["S_N_length"].unit == "mm"
    assert values["anterior_face_height"].value == pytest.approx(0.1 * math.hypot(10, 120))
    assert values["gonial_angle"].value is None  # Ar, Go missing
    assert values["SNA"].sd is None  # no samples: no uncertainty
    # Without a spacing, distances are in px; angles do not change.
    px = {m.name: m for m in measure(schema, _ceph_points(), None)}
    assert px["S_N_length"].value == pytest.approx(100.0) and px["S_N_length"].unit == "px"
    assert px["SNA"].value == pytest.approx(80.0)


def test_matches_schema_compute_measurements():
    schema = load_schema("chest6")
    pts = np.random.default_rng(3).uniform(0, 500, (6, 2))
    ours = {m.name: m.value for m in measure(schema, pts, (0.2, 0.3))}
    ref = schema.compute_measurements(pts, (0.2, 0.3))
    assert ours == pytest.approx(ref)


def _gaussian_heatmaps(k: int, sigma: float, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    h = np.exp(-((xx - 32.0) ** 2 + (yy - 30.0) ** 2) / (2 * sigma**2))
    return np.repeat((h / h.sum())[None], k, axis=0).astype(np.float32)


def test_offsets_follow_the_heatmap_and_its_scale():
    scale = np.array([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5]])  # 64² heatmap -> 256² image
    off = heatmap_offsets(_gaussian_heatmaps(2, 3.0), scale, n=4000, seed=1)
    assert off.shape == (4000, 2, 2)
    assert np.abs(off.mean(axis=0)).max() < 1e-9  # centred on the heatmap's mean
    # Gaussian sigma 3 heatmap px (+ uniform jitter within the pixel) = 4 * sqrt(9 + 1/12) image px.
    assert off[:, 0, 0].std() == pytest.approx(4 * math.sqrt(9 + 1 / 12), rel=0.06)
    empty = np.zeros((1, 8, 8), np.float32)
    assert np.isnan(heatmap_offsets(empty, scale, n=5)).all()


def test_uncertainty_shrinks_with_a_sharper_heatmap_and_fixed_points_add_none():
    schema = load_schema("ceph19")
    pts = np.nan_to_num(_ceph_points(), nan=50.0)
    a2i = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]])
    sds = []
    for sigma in (4.0, 1.0):
        off = heatmap_offsets(_gaussian_heatmaps(schema.n_landmarks, sigma), a2i, n=2000, seed=2)
        values = {m.name: m for m in measure(schema, pts, (0.1, 0.1), off)}
        sna = values["SNA"]
        assert sna.low < sna.value < sna.high and sna.sd > 0
        sds.append(sna.sd)
    assert sds[1] < 0.5 * sds[0]
    # S, N and A corrected (fixed): SNA has no spread left; SNB (B still predicted) has.
    uncertain = np.ones(schema.n_landmarks, bool)
    uncertain[[schema.index(n) for n in ("S", "N", "A")]] = False
    values = {m.name: m for m in measure(schema, pts, (0.1, 0.1), off, uncertain)}
    assert values["SNA"].sd == pytest.approx(0.0, abs=1e-9) and values["SNB"].sd > 0
    # A person's clicking error, when given, makes fixed points uncertain again.
    jitter = {m.name: m for m in measure(schema, pts, (0.1, 0.1), off, uncertain, user_sd_px=2.0)}
    assert jitter["SNA"].sd > 0


def test_measure_image_on_a_project(tmp_path):
    from pathlib import Path

    from core.prediction import Prediction
    from core.measurements import measure_image
    from core.project import Project

    rg1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"
    project = Project.create(tmp_path / "p.anatomark", "chest6")
    image = project.add_image(rg1)
    pts = np.array([[500, 300], [350, 1500], [800, 1400], [1350, 300], [1500, 1500], [1050, 1400]], float)
    hm = _gaussian_heatmaps(6, 2.0)
    a2i = np.array([[1841 / 64, 0, 0], [0, 1955 / 64, 0]])
    project.store_prediction(image.id, Prediction("m", "chest6", project.schema.landmarks, (1955, 1841), None, pts,
                                                  pts, pts, np.ones(6), hm, a2i))
    values = {m.name: m for m in measure_image(project.schema, project.image(image.id), project.prediction(image.id),
                                               n=300)}
    assert values["right_lung_height"].value == pytest.approx(math.hypot(150, 1200))
    assert values["right_lung_height"].unit == "px" and values["right_lung_height"].sd > 0
    project.set_point(image.id, "R_apex", 500, 300)
    project.set_point(image.id, "R_costophrenic", 350, 1500)
    values = {m.name: m for m in measure_image(project.schema, project.image(image.id), project.prediction(image.id),
                                               n=300)}
    assert values["right_lung_height"].sd == pytest.approx(0.0, abs=1e-9)
