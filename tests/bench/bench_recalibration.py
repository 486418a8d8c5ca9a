"""Benchmark: do the 90 % regions hold on a new site once the project has recalibrated them?

    python3 tests/bench/bench_recalibration.py [--model ceph19] [--n 20] [--shifted] [--tolerance-mm 2]

Predicts the model's held-out split (ceph19: test1; ``--shifted``: as another X-ray unit would
store it, ``acquisition_shift.py``). The first ``--n`` images are reviewed by the careful reviewer
of ``core.review.effort`` in a scratch project, exactly as the app stores a review (landmarks beyond the
tolerance moved to the truth, the others accepted, the image signed off); then
``core.learning.recalibration.project_calibration`` calibrates the regions on them. Prints the
share of true points inside their regions on the *other* images with the bundled calibration and
with the project's, and the median region radius of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.uncertainty.conformal import covered, ellipses, heatmap_covariance
from core.review.effort import Tolerance, review_image
from core.inference import Predictor
from core.learning.recalibration import project_calibration
from core.learning.selection import add_sample_image
from core.project import Project
from core.training.datasets import load_dataset

from bench_data import LAYOUTS, dataset_folder, held_out  # noqa: E402  (tests/bench, the script's folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--n", type=int, default=20, help="reviewed images the project calibrates on")
    parser.add_argument("--shifted", action="store_true")
    parser.add_argument("--tolerance-mm", type=float, default=2.0)
    parser.add_argument("--split", default=None, help="default: the model's held-out split (test1, val)")
    args = parser.parse_args(argv)
    dataset = held_out(args.model, args.split, "bench_recalibration")
    if dataset is None:
        return 2
    predictor = Predictor(args.model, "cpu")
    with tempfile.TemporaryDirectory(prefix="anatomark-recal-") as tmp:
        split = args.split or LAYOUTS[args.model][1]
        if args.shifted:
            from acquisition_shift import write_shifted_dataset  # noqa: E402  (tests/bench)

            write_shifted_dataset(dataset_folder(args.model, "bench_recalibration"), split, Path(tmp) / "data")
            dataset = load_dataset(Path(tmp) / "data", split)
        samples = dataset.samples
        project = Project.create(Path(tmp) / "p.anatomark", predictor.schema.name, user="bench")
        points, truth, covs, confidence = [], [], [], []
        for i, sample in enumerate(samples):
            prediction = predictor.predict(sample.image_path, sample.spacing)
            points.append(prediction.points)
            truth.append(sample.points)
            covs.append(heatmap_covariance(prediction.heatmaps, prediction.heatmap_to_image))
            confidence.append(prediction.confidence)
            if i < args.n:  # the reviewer's part of the session
                image = add_sample_image(project, sample)
                project.store_prediction(image.id, prediction)
                for k in review_image(sample, prediction.points, Tolerance(args.tolerance_mm, "mm"), None).order:
                    project.set_point(image.id, predictor.schema.landmarks[k], *map(float, sample.points[k]))
                project.set_verified(image.id, True)
            print(f"\r{i + 1}/{len(samples)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        recal = project_calibration(project, predictor.model_id)
        project.close()
    points, truth, covs = np.array(points[args.n:]), np.array(truth[args.n:]), np.array(covs[args.n:])
    confidence = np.array(confidence[args.n:])
    known = np.isfinite(truth).all(axis=-1)
    label = f"{predictor.model_id} on {dataset.name} {split}{' (shifted)' if args.shifted else ''}"
    print(f"{label}: calibrate on {args.n} reviewed images, measure on the other {len(points)}")
    rows = [("bundled", predictor.conformal.quantiles if predictor.conformal is not None else None)]
    rows.append(("project", recal.calibration.quantiles if recal is not None else None))
    for name, quantiles in rows:
        if quantiles is None:
            print(f"  {name:<8} no calibration")
            continue
        inside = covered(points, truth, covs, quantiles)
        radius = np.sqrt(np.prod(ellipses(covs, quantiles)[..., :2], axis=-1))
        print(f"  {name:<8} {inside[known].mean():.1%} of true points inside the 90 % regions; median radius "
              f"{np.nanmedian(radius):.1f} px")
    if recal is not None:
        print(f"  ({recal.describe()})")
        queue_order(points, truth, covs, confidence, recal.calibration.quantiles)
    return 0


def queue_order(points, truth, covs, confidence, quantiles) -> None:
    """Does the review queue find the worst points sooner with the project's calibration? The queue's
    confidence and spread signals (core.review.queue.WEIGHTS; the priors alike in both rows and left out),
    with the spread as is and scaled by each landmark's project quantile (``core.review.queue``'s
    calibrated spread); the share of the other images' worst 10 % of points (true error) that the
    top 10 % of the queue holds (bench_review.found; a random order finds 10 %)."""
    from bench_review import found  # noqa: E402  (tests/bench)

    from core.review.queue import WEIGHTS, covariance_spread, score_signals

    error = np.linalg.norm(points - truth, axis=-1)
    known = np.isfinite(error)
    spread = np.stack([covariance_spread(c) for c in covs])
    weights = {"confidence": WEIGHTS["confidence"], "spread": WEIGHTS["spread"]}
    for label, s in (("spread as predicted", spread), ("spread × project quantile", spread * quantiles[None, :])):
        score, _ = score_signals({"confidence": 1.0 - confidence, "spread": s}, weights)
        print(f"  queue, {label:<26} finds {found(score[known], error[known]):.1%} of the worst 10 % of points in its top 10 %")


if __name__ == "__main__":
    sys.exit(main())
