"""How far the model's latest prediction lies from the points a person placed or accepted.

After a version is adopted every image is predicted again (issue 4, item 6):
unreviewed landmarks take the new positions, while reviewed ones (CORRECTED,
VERIFIED) keep the user's point and only the prediction is cached
(``Project.store_prediction``). The distance between the two tells the user
where the adopted model still disagrees with them; the landmark table shows it
per landmark and ``anatomark adopt --json`` per image.

Outside ``core.learning`` on purpose: it needs only the project records and
numpy, so the app's landmark table can use it without importing torch.
"""

from __future__ import annotations

import numpy as np

from core.project import ImageRecord, LandmarkState, Project

__all__ = ["image_agreement", "landmark_distances", "landmark_distances_mm", "project_agreement"]

USER_STATES = frozenset({LandmarkState.CORRECTED, LandmarkState.VERIFIED})


def landmark_distances(image: ImageRecord, prediction_points: np.ndarray) -> np.ndarray:
    """(K,) px distance from each user point (CORRECTED/VERIFIED) to the prediction; NaN elsewhere.

    ``prediction_points``: (K, 2) px (x, y) in the image's landmark order.
    """
    pred = np.asarray(prediction_points, dtype=np.float64)
    out = np.full(len(image.landmarks), np.nan)
    for k, record in enumerate(image.landmarks.values()):
        if record.state in USER_STATES:
            out[k] = float(np.hypot(record.x - pred[k, 0], record.y - pred[k, 1]))
    return out


def landmark_distances_mm(image: ImageRecord, prediction_points: np.ndarray) -> np.ndarray | None:
    """As :func:`landmark_distances` in mm (anisotropic spacing respected); None when the spacing is unknown."""
    if image.spacing is None:
        return None
    sx, sy = image.spacing
    pred = np.asarray(prediction_points, dtype=np.float64)
    user = image.positions()
    mm = np.hypot((user[:, 0] - pred[:, 0]) * sx, (user[:, 1] - pred[:, 1]) * sy)
    return np.where(np.isnan(landmark_distances(image, pred)), np.nan, mm)


def image_agreement(project: Project, image_id: str) -> dict | None:
    """``{id, model, n_points, mean_px, mean_mm}`` for one image's user points against its cached
    prediction; None without a prediction or without user points."""
    image = project.image(image_id)
    cached = project.prediction(image_id, heatmaps=False)
    if cached is None:
        return None
    px = landmark_distances(image, cached.points)
    if not np.isfinite(px).any():
        return None
    mm = landmark_distances_mm(image, cached.points)
    return {"id": image_id, "model": cached.model_id, "n_points": int(np.isfinite(px).sum()),
            "mean_px": round(float(np.nanmean(px)), 2),
            "mean_mm": None if mm is None else round(float(np.nanmean(mm)), 3)}


def project_agreement(project: Project) -> list[dict]:
    """:func:`image_agreement` of every image that has user points and a prediction, in project order."""
    rows = (image_agreement(project, image.id) for image in project.images)
    return [row for row in rows if row is not None]
