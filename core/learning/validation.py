"""A model's metrics on the locked validation subset (before/after reports), unbiased by accepted points.

A point a person accepted as the model placed it is not exact truth: the reviewer judged it
close enough, and the true point lies somewhere within their tolerance of it. Scored as exact
truth it gives the model that placed it an error of 0 and any other model a positive one, so
every new version looked worse than the current one (issue 16: 0.00 px before, 0.51 px after).
Accepted points are therefore *censored* (docs/adr/0005-unbiased-validation.md): a model's
point within ``accept_radius_px`` of an accepted one scores 0, one beyond it scores the excess
distance — the same rule for every model. Points a person placed or moved score as usual.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.metrics import evaluation_summary, point_errors
from core.training.datasets import Sample

__all__ = ["ACCEPT_RADIUS_MM", "accept_radius_px", "censor", "compact", "evaluate_model", "worse_images"]

#: How far an accepted point may be from the truth (mm): the tolerance a careful reviewer uses
#: before correcting (DESIGN.md 1: 2 mm ceph, 3 mm chest; the smaller for every anatomy).
ACCEPT_RADIUS_MM = 2.0
#: Without a pixel spacing: this share of the image's longer side (1200 px ceph: 12 px = 2.4 mm).
ACCEPT_RADIUS_FRACTION = 0.01


def accept_radius_px(spacing: tuple[float, float] | None, image_size: tuple[int, int]) -> float:
    """The acceptance radius in image px: ``ACCEPT_RADIUS_MM`` over the finer spacing, else a share of the image."""
    if spacing:
        return ACCEPT_RADIUS_MM / min(spacing)
    return ACCEPT_RADIUS_FRACTION * max(image_size)


def censor(pred: np.ndarray, truth: np.ndarray, accepted: np.ndarray | None, radius_px: float) -> np.ndarray:
    """``pred`` (K, 2) with each accepted landmark's point moved ``radius_px`` towards its accepted
    position (onto it when closer), so its error is max(0, d − radius); other rows unchanged."""
    out = np.array(pred, dtype=np.float64)
    if accepted is None or not np.any(accepted):
        return out
    delta = np.asarray(truth, dtype=np.float64) - out
    dist = np.linalg.norm(delta, axis=1)
    rows = np.asarray(accepted, dtype=bool) & np.isfinite(dist)
    step = np.where(dist > radius_px, radius_px / np.maximum(dist, 1e-12), 1.0)
    out[rows] += delta[rows] * step[rows, None]
    return out


def informative(sample: Sample) -> bool:
    """True when a person placed or moved at least one of the sample's points (exact truth to score)."""
    placed = np.isfinite(sample.points).all(axis=1)
    if sample.accepted is not None:
        placed &= ~np.asarray(sample.accepted, dtype=bool)
    return bool(placed.any())


def evaluate_model(model_path: Path, samples: list[Sample], names: tuple[str, ...], device: str = "cpu",
                   cancel: threading.Event | None = None) -> dict:
    """Predict ``samples`` with the model file and summarise (``core.metrics.evaluation_summary``),
    accepted points censored (:func:`censor`).

    Adds ``per_image``: ``{image id: MRE px}``, and ``per_image_mm`` (None when
    a spacing is unknown): the paired differences of ``verdict.judge``; and
    ``n_informative``: the images with a point a person placed or moved.
    Empty ``samples`` → ``{"n_images": 0}``.
    """
    from core.inference import Predictor

    if not samples:
        return {"n_images": 0, "mre_px": None, "mre_mm": None, "sdr": {}, "per_landmark": [], "per_image": {},
                "per_image_mm": None, "n_informative": 0, "accept_radius_px": None}
    predictor = Predictor(model_path, device)
    preds, radii = [], []
    for sample in samples:
        if cancel is not None and cancel.is_set():
            break
        prediction = predictor.predict(sample.image_path, sample.spacing)
        radius = accept_radius_px(sample.spacing, prediction.image_size)
        radii.append(radius)
        preds.append(censor(prediction.points, sample.points, sample.accepted, radius))
    if not preds:  # cancelled before the first image
        from core.training.loop import TrainingCancelled

        raise TrainingCancelled("cancelled while measuring the validation images; nothing was published")
    samples = samples[: len(preds)]
    pred = np.stack(preds)
    gt = np.stack([s.points for s in samples])
    spacings = [s.spacing for s in samples] if all(s.spacing for s in samples) else None
    settings = predictor.model.info.evaluation
    summary = evaluation_summary(pred, gt, spacings, list(names), settings.radii_px, settings.radii_mm)
    per_image = np.nanmean(point_errors(pred, gt), axis=1)
    summary["per_image"] = {s.id: round(float(e), 3) for s, e in zip(samples, per_image)}
    summary["per_image_mm"] = None
    if spacings is not None:
        per_image_mm = np.nanmean(point_errors(pred, gt, spacings), axis=1)
        summary["per_image_mm"] = {s.id: round(float(e), 4) for s, e in zip(samples, per_image_mm)}
    summary["n_informative"] = sum(informative(s) for s in samples)
    summary["accept_radius_px"] = round(float(np.mean(radii)), 3)
    return summary


def compact(summary: dict) -> dict:
    """What the JSON ``before``/``after`` carry: mre_px, mre_mm, sdr, per_landmark, per_image(_mm), n_informative."""
    return {k: summary.get(k) for k in ("n_images", "mre_px", "mre_mm", "sdr", "sdr_unit", "per_landmark", "per_image",
                                        "per_image_mm", "n_informative", "accept_radius_px")}


def worse_images(before: dict, after: dict, tolerance_px: float = 0.5) -> list[dict]:
    """Images whose MRE grew by more than ``tolerance_px``: ``[{id, before_px, after_px}]``, worst first."""
    b, a = before.get("per_image") or {}, after.get("per_image") or {}
    rows = [{"id": i, "before_px": b[i], "after_px": a[i]} for i in a if i in b and a[i] > b[i] + tolerance_px]
    return sorted(rows, key=lambda r: r["before_px"] - r["after_px"])
