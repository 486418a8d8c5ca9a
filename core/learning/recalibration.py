"""Uncertainty regions calibrated on the project's own reviewed points (issue 16 item 4).

The bundled 90 % regions are calibrated on the training site's held-out images; on another
site the model errs more and they hold the truth far less often. A project knows better: every
reviewed point is a calibration point for the model that predicted it (split conformal,
``core.uncertainty.conformal``, with the project's reviewed images as the calibration set).

- A point a person **moved or placed** is the truth: its score is the Mahalanobis length of the
  model's error under the heatmap covariance stored with the prediction.
- A point a person **accepted** as predicted is only known to be within the reviewer's
  tolerance r (``validation.accept_radius_px``) of where it stands; its score is that of a point
  :data:`ACCEPTED_REACH` · r further out in the covariance's narrowest direction,
  ``(|accepted − predicted| + ACCEPTED_REACH·r) / √λ_min`` (the full r is a strict upper bound
  and made the regions too large: see the constant).

Per landmark the quantile is the usual ⌈(n+1)(1−α)⌉-th score. Cheap (stored covariances, no
heatmaps read), so it is recomputed whenever reviews change; fewer than
:data:`MIN_IMAGES` reviewed images of the model leave the bundled calibration in charge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.uncertainty.conformal import ConformalCalibration, conformal_quantile, nonconformity
from core.learning.selection import accepted_points, is_reviewed, review_points
from core.learning.validation import accept_radius_px

__all__ = ["MIN_IMAGES", "ProjectCalibration", "project_calibration"]

#: Reviewed images of one model before its regions come from the project (α = 0.1 needs ≥ 9 scores).
MIN_IMAGES = 10
#: How far within the tolerance an accepted point's truth is taken to be, as a share of the radius,
#: in the covariance's narrowest direction. Chosen on ceph *train* as another unit would store it
#: (tests/bench/bench_recalibration.py --shifted --split train, 20 reviewed images): 1.0 (the
#: strict bound) covered 95.7 % of the other images' true points, 0.5 covered 90.9 % (nominal 90 %).
ACCEPTED_REACH = 0.5


@dataclass(frozen=True)
class ProjectCalibration:
    """A conformal calibration from the project's reviews, and what it rests on."""

    calibration: ConformalCalibration
    model_id: str
    n_images: int
    n_moved: int  # points a person moved or placed (exact truth)
    n_accepted: int  # points accepted as predicted (bounded)

    def describe(self) -> str:
        """One line for the app: which calibration the regions use, and on how many points."""
        return (f"{self.calibration.coverage:.0%} regions calibrated on this project: {self.n_moved + self.n_accepted} "
                f"reviewed points of {self.n_images} images ({self.n_moved} moved by a person) of {self.model_id}")


def _scores(image, prediction_points: np.ndarray, covariance: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, int, int]:
    """(K,) scores of one reviewed image (NaN where the landmark has no position), moved and accepted counts."""
    truth = review_points(image, names)
    accepted = accepted_points(image, names)
    exact = nonconformity(truth - prediction_points, covariance)  # (K,)
    radius = accept_radius_px(image.spacing, tuple(image.size))
    lam_min = np.linalg.eigvalsh(covariance)[:, 0]
    offset = np.linalg.norm(truth - prediction_points, axis=1)
    bound = (offset + ACCEPTED_REACH * radius) / np.sqrt(np.where(lam_min > 0, lam_min, np.nan))
    scores = np.where(accepted, bound, exact)
    known = np.isfinite(truth).all(axis=1)
    scores[~known] = np.nan
    return scores, int(np.sum(known & ~accepted)), int(np.sum(known & accepted))


def project_calibration(project, model_id: str, alpha: float = 0.1, min_images: int = MIN_IMAGES) -> ProjectCalibration | None:
    """Regions for ``model_id``'s predictions from the project's reviewed images it predicted; None
    with fewer than ``min_images`` such images (then the bundled calibration applies)."""
    names = tuple(project.schema.landmarks)
    rows, moved, accepted, n_images = [], 0, 0, 0
    for image in project.images:
        if not is_reviewed(image):
            continue
        cached = project.prediction(image.id, heatmaps=False)
        if cached is None or str(cached.model_id) != model_id:
            continue
        covariance = project.prediction_covariance(image.id)
        if covariance is None:
            continue
        scores, m, a = _scores(image, np.asarray(cached.points, dtype=np.float64), np.asarray(covariance, dtype=np.float64), names)
        rows.append(scores)
        moved, accepted, n_images = moved + m, accepted + a, n_images + 1
    if n_images < min_images:
        return None
    scores = np.stack(rows)
    quantiles = np.array([conformal_quantile(scores[:, k], alpha) for k in range(len(names))])
    data = f"project: {n_images} reviewed images"
    calibration = ConformalCalibration(float(alpha), n_images, names, quantiles, data)
    return ProjectCalibration(calibration, model_id, n_images, moved, accepted)
