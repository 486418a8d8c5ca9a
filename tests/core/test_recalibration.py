"""Uncertainty regions calibrated on the project's own reviews (core.learning.recalibration)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.uncertainty.conformal import nonconformity
from core.learning.recalibration import ACCEPTED_REACH, MIN_IMAGES, project_calibration
from core.learning.validation import accept_radius_px
from core.project import Project
from project_support import CHEST6, make_prediction


def _project(tmp_path, n_images: int, moved_px: float = 12.0) -> Project:
    """``n_images`` chest6 images, each predicted; on each, R_apex moved by ``moved_px`` and the rest accepted."""
    project = Project.create(tmp_path / "r.anatomark", CHEST6, user="tester")
    for n in range(n_images):
        path = tmp_path / f"i{n}.png"
        Image.fromarray(np.random.default_rng(n).integers(0, 255, (240, 200), dtype=np.uint8)).save(path)
        image = project.add_image(path)
        project.store_prediction(image.id, make_prediction(image, seed=n))
        x, y = project.image(image.id).landmarks["R_apex"].position
        project.set_point(image.id, "R_apex", x + moved_px, y)
        project.set_verified(image.id, True)
    return project


def test_too_few_reviewed_images_leave_the_bundled_calibration(tmp_path):
    project = _project(tmp_path, MIN_IMAGES - 1)
    assert project_calibration(project, "chest6@test") is None
    project.close()


def test_moved_points_score_their_error_and_accepted_ones_a_bounded_reach(tmp_path):
    project = _project(tmp_path, MIN_IMAGES + 2)
    got = project_calibration(project, "chest6@test")
    assert got.n_images == MIN_IMAGES + 2 and got.n_moved == MIN_IMAGES + 2 and got.n_accepted == 5 * (MIN_IMAGES + 2)
    assert project_calibration(project, "another@1") is None  # only the model that predicted them
    # R_apex: every image moved by 12 px, so its quantile is the largest of those exact scores
    scores = []
    for image in project.images:
        cov = project.prediction_covariance(image.id)
        error = np.array(image.landmarks["R_apex"].position) - project.prediction(image.id).points[0]
        scores.append(float(nonconformity(error[None], cov[:1])[0]))
    assert got.calibration.quantiles[0] == pytest.approx(max(scores))  # ⌈13 × 0.9⌉ = 12th of 12
    # an accepted landmark (index 1): the score of a point ACCEPTED_REACH · r out in the narrowest direction
    reaches = []
    for image in project.images:
        lam_min = np.linalg.eigvalsh(project.prediction_covariance(image.id))[1, 0]
        reaches.append(ACCEPTED_REACH * accept_radius_px(image.spacing, image.size) / np.sqrt(lam_min))
    assert got.calibration.quantiles[1] == pytest.approx(max(reaches))
    assert np.isfinite(got.calibration.quantiles).all()
    assert "calibrated on this project" in got.describe() and f"{MIN_IMAGES + 2} images" in got.describe()
    project.close()
