"""Calibrate a model's uncertainty regions on a dataset split and store them in its card.

    anatomark calibrate --model M --dataset DIR --split S [--skip N] [--limit N] [--alpha 0.1] --out M2

The calibration images must be exchangeable with the images the regions will
be used on, and must not have been used to train or select the model
(e.g. ceph19: test1 images 151–225; chest6: half of val). The method is
``core.uncertainty.conformal``; this module runs the model over the images and writes the
card (``uncertainty.conformal``) with :func:`core.modelfile.republish`, so the
weights and their checksum are unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.uncertainty.conformal import ConformalCalibration, calibrate, heatmap_covariance
from core.inference import Predictor
from core.modelfile import read_card, republish
from core.resources import resolve_model
from core.training.datasets import LandmarkDataset


@dataclass
class Collected:
    """Final points, truths and heatmap covariances of n images: (n, K, 2), (n, K, 2), (n, K, 2, 2)."""

    points: np.ndarray
    truth: np.ndarray
    covariances: np.ndarray
    spacings: np.ndarray | None  # (n, 2) mm/px when every sample has one


def collect(predictor: Predictor, dataset: LandmarkDataset, progress: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> Collected:
    """Predict every image of ``dataset`` and keep what calibration and coverage need."""
    if dataset.schema.landmarks != predictor.schema.landmarks:
        raise ValueError(f"model {predictor.model_id} is for schema {predictor.schema.name}, the dataset is {dataset.schema.name}")
    points, covs = [], []
    for i, sample in enumerate(dataset.samples):
        if cancel is not None and cancel.is_set():
            break
        pred = predictor.predict(sample.image_path, sample.spacing)
        points.append(pred.points)
        covs.append(heatmap_covariance(pred.heatmaps, pred.heatmap_to_image))
        if progress is not None:
            progress(i + 1, len(dataset))
    n = len(points)
    samples = dataset.samples[:n]
    spacings = np.array([s.spacing for s in samples], dtype=np.float64) if n and all(s.spacing for s in samples) else None
    return Collected(np.stack(points), dataset.points()[:n], np.stack(covs), spacings)


def calibrate_model(model: str | Path, dataset: LandmarkDataset, alpha: float, out: str | Path, device: str = "auto",
                    data_label: str = "", progress: Callable[[int, int], None] | None = None) -> tuple[Path, ConformalCalibration]:
    """Calibrate ``model`` on ``dataset`` and write ``out`` (the same weights, card with ``uncertainty.conformal``)."""
    if len(dataset) == 0:
        raise ValueError("no calibration images (check --split, --skip and --limit)")
    predictor = Predictor(model, device)
    got = collect(predictor, dataset, progress)
    calibration = calibrate(got.points, got.truth, got.covariances, alpha, tuple(predictor.schema.landmarks),
                            data_label, got.spacings)
    src = resolve_model(model)
    card = read_card(src)
    card["uncertainty"] = dict(card.get("uncertainty") or {}, conformal=calibration.card())
    return republish(src, out, card), calibration


def coverage(predictor: Predictor, got: Collected) -> dict | None:
    """Empirical coverage of ``predictor``'s regions on collected images (None without a calibration)."""
    from core.uncertainty.conformal import covered

    if predictor.conformal is None:
        return None
    inside = covered(got.points, got.truth, got.covariances, predictor.conformal.quantiles)
    known = np.isfinite(got.truth).all(axis=-1)
    per = [float(inside[known[:, k], k].mean()) if known[:, k].any() else None for k in range(inside.shape[1])]
    return {
        "nominal": predictor.conformal.coverage,
        "calibration_n": predictor.conformal.n,
        "n_images": int(inside.shape[0]),
        "observed": float(inside[known].mean()),
        "per_landmark": dict(zip(predictor.schema.landmarks, per)),
    }

