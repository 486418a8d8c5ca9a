"""Evaluate a model on a dataset split: final points and every intermediate stage."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from core.uncertainty.calibrate import Collected, coverage
from core.uncertainty.conformal import heatmap_covariance
from core.inference import Predictor
from core.metrics import evaluation_summary, point_errors
from core.training.datasets import LandmarkDataset
from core.training.masks import prediction_dice


def _stage_summary(pred: np.ndarray, gt: np.ndarray, spacings: list | None) -> dict:
    errors = point_errors(pred, gt)
    out = {"mre_px": float(np.nanmean(errors))}
    if spacings is not None:
        out["mre_mm"] = float(np.nanmean(point_errors(pred, gt, np.array(spacings))))
    return out


def evaluate_predictor(
    predictor: Predictor,
    dataset: LandmarkDataset,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Predict every image of ``dataset`` and summarise the errors (see :func:`evaluation_summary`).

    Adds ``stages`` (MRE of the soft-argmax, GNN-refined and final points),
    ``model``, ``dataset``, the median predict time, and, when the model card
    names a reference image size (e.g. chest results at 512×512 as in the
    paper), ``reference`` with MRE and SDR rescaled to it; when the model card
    has a conformal calibration, ``conformal`` with the regions' observed
    coverage (:func:`core.uncertainty.calibrate.coverage`); when the model segments and the
    dataset has masks, ``dice`` (class name → mean Dice).
    """
    if dataset.schema.landmarks != predictor.schema.landmarks:
        raise ValueError(f"model {predictor.model_id} is for schema {predictor.schema.name}, the dataset is {dataset.schema.name}")
    finals, softs, refineds, times, sizes, covs, dices = [], [], [], [], [], [], []
    for i, sample in enumerate(dataset.samples):
        if cancel is not None and cancel.is_set():
            break
        pred = predictor.predict(sample.image_path, sample.spacing)
        finals.append(pred.points)
        softs.append(pred.soft_argmax)
        refineds.append(pred.refined)
        times.append(pred.timings_ms["total"])
        sizes.append(pred.image_size)
        if pred.masks is not None and sample.mask_path is not None:
            dices.append(prediction_dice(pred.masks, pred.mask_classes, sample.mask_path, dataset.schema))
        if predictor.conformal is not None:
            covs.append(heatmap_covariance(pred.heatmaps, pred.heatmap_to_image))
        if progress is not None:
            progress(i + 1, len(dataset))
    n = len(finals)
    gt = dataset.points()[:n]
    samples = dataset.samples[:n]
    spacings = [s.spacing for s in samples] if all(s.spacing for s in samples) else None
    settings = predictor.info.evaluation
    radii_px, radii_mm = settings.radii_px, settings.radii_mm
    final = np.stack(finals)
    summary = evaluation_summary(final, gt, spacings, list(dataset.schema.landmarks), radii_px, radii_mm)
    summary["stages"] = {
        "soft_argmax": _stage_summary(np.stack(softs), gt, spacings),
        "refined": _stage_summary(np.stack(refineds), gt, spacings),
        "final": _stage_summary(final, gt, spacings),
    }
    reference = settings.reference_long_side
    if reference:
        scale = np.array([reference / max(size) for size in sizes])[:, None]
        errors = point_errors(final, gt) * scale
        ref_radii = settings.reference_radii_px
        valid = errors[np.isfinite(errors)]
        summary["reference"] = {
            "long_side_px": reference,
            "mre_px": float(valid.mean()),
            "sdr_px": {str(r): float((valid <= r).mean() * 100.0) for r in ref_radii},
        }
    if covs:
        summary["conformal"] = coverage(predictor, Collected(final, gt, np.stack(covs), None))
    summary["decoder"] = predictor.final_decoder
    if dices:  # mean Dice per class over the images that have a mask file
        summary["dice"] = {name: float(np.mean([d[name] for d in dices])) for name in dices[0]}
    summary["model"] = predictor.model_id
    summary["dataset"] = str(dataset.root)
    summary["median_predict_ms"] = float(np.median(times)) if times else None
    return summary
