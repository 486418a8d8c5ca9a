"""A model's metrics on the locked validation subset (before/after reports)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.metrics import DEFAULT_RADII_MM, DEFAULT_RADII_PX, evaluation_summary, point_errors
from core.training.datasets import Sample

__all__ = ["compact", "evaluate_model", "worse_images"]


def evaluate_model(model_path: Path, samples: list[Sample], names: tuple[str, ...], device: str = "cpu",
                   cancel: threading.Event | None = None) -> dict:
    """Predict ``samples`` with the model file and summarise (``core.metrics.evaluation_summary``).

    Adds ``per_image``: ``{image id: MRE px}``, and ``per_image_mm`` (None when
    a spacing is unknown): the paired differences of ``verdict.judge``.
    Empty ``samples`` → ``{"n_images": 0}``.
    """
    from core.inference import Predictor

    if not samples:
        return {"n_images": 0, "mre_px": None, "mre_mm": None, "sdr": {}, "per_landmark": [], "per_image": {},
                "per_image_mm": None}
    predictor = Predictor(model_path, device)
    preds = []
    for sample in samples:
        if cancel is not None and cancel.is_set():
            break
        preds.append(predictor.predict(sample.image_path).points)
    samples = samples[: len(preds)]
    pred = np.stack(preds)
    gt = np.stack([s.points for s in samples])
    spacings = [s.spacing for s in samples] if all(s.spacing for s in samples) else None
    card = predictor.model.card.get("evaluation", {})
    summary = evaluation_summary(pred, gt, spacings, list(names), card.get("radii_px", DEFAULT_RADII_PX),
                                 card.get("radii_mm", DEFAULT_RADII_MM))
    per_image = np.nanmean(point_errors(pred, gt), axis=1)
    summary["per_image"] = {s.id: round(float(e), 3) for s, e in zip(samples, per_image)}
    summary["per_image_mm"] = None
    if spacings is not None:
        per_image_mm = np.nanmean(point_errors(pred, gt, spacings), axis=1)
        summary["per_image_mm"] = {s.id: round(float(e), 4) for s, e in zip(samples, per_image_mm)}
    return summary


def compact(summary: dict) -> dict:
    """What the JSON ``before``/``after`` carry: mre_px, mre_mm, sdr, per_landmark, per_image(_mm)."""
    return {k: summary.get(k) for k in ("n_images", "mre_px", "mre_mm", "sdr", "sdr_unit", "per_landmark", "per_image",
                                        "per_image_mm")}


def worse_images(before: dict, after: dict, tolerance_px: float = 0.5) -> list[dict]:
    """Images whose MRE grew by more than ``tolerance_px``: ``[{id, before_px, after_px}]``, worst first."""
    b, a = before.get("per_image") or {}, after.get("per_image") or {}
    rows = [{"id": i, "before_px": b[i], "after_px": a[i]} for i in a if i in b and a[i] > b[i] + tolerance_px]
    return sorted(rows, key=lambda r: r["before_px"] - r["after_px"])
