"""Benchmark: can pins move the other landmarks at all? How the bundled models' errors hang together.

    python3 tests/bench/bench_error_structure.py [--model ceph19|chest6|chest6-seg] [--fit-split S] [--split S] [--shifted] [--cache DIR]

A correction can only help its neighbours through what it says about *their* errors. This
script predicts the fitting split (default: train) and the scored split (ceph19: test1,
chest6: val; ``--shifted``: both as another X-ray unit would store them,
``acquisition_shift.py``) and prints:

- how much of the error an oracle shared motion removes: each image's points moved by the
  translation, or the similarity transform, that best fits *all* its true points;
- the strongest correlations between landmarks' errors on the scored split;
- corrections per image (``core.review.effort``, 2 mm ceph / 3 mm chest) when re-prediction moves
  the free landmarks by the Gaussian conditional of the errors given the pinned ones
  (E[e_u | e_p] = Σ_up Σ_pp⁻¹ e_p, errors scaled by the shape's size), with Σ fitted on the
  fitting split, keeping all couplings or only those with |correlation| ≥ 0.5, against
  manual review in the same run.

If an oracle motion removes little and the coupled re-prediction needs more corrections than
manual review, pins carry no usable information about the other points' errors for this model.
``--cache DIR`` keeps the predictions (npz) for reruns.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.review.effort import Tolerance, review_image
from core.inference import Predictor
from core.training.datasets import Sample, load_dataset

from bench_data import LAYOUTS, TOLERANCE_MM, dataset_folder  # noqa: E402  (tests/bench, the script's folder)

RIDGE = 1e-6


def predictions(model: str, folder: Path, split: str, cache: Path | None) -> tuple[np.ndarray, list[Sample], tuple[str, ...]]:
    """The model's final points (N, K, 2) for ``split``, its samples and the landmark names."""
    dataset = load_dataset(folder, split)
    names = tuple(dataset.schema.landmarks)
    path = cache / f"{model}_{folder.name}_{split}.npz" if cache else None
    if path is not None and path.is_file():
        return np.load(path)["points"], dataset.samples, names
    predictor = Predictor(model, "cpu")
    points = []
    for i, s in enumerate(dataset.samples):
        points.append(predictor.predict(s.image_path, s.spacing).points)
        print(f"\r{folder.name} {split}: {i + 1}/{len(dataset)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, points=np.array(points))
    return np.array(points), dataset.samples, names


def shape_size(points: np.ndarray) -> float:
    """Root-mean-square distance of the points from their centroid (px): errors in these units
    compare across images of other sizes and fields of view."""
    centred = points - np.nanmean(points, axis=0)
    return float(np.sqrt(np.nanmean(np.sum(centred**2, axis=1))))


def fit_similarity(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``points`` moved by the least-squares similarity transform onto ``truth``."""
    p, t = points - points.mean(0), truth - truth.mean(0)
    a = (p * t).sum() / (p**2).sum()
    b = (p[:, 0] * t[:, 1] - p[:, 1] * t[:, 0]).sum() / (p**2).sum()
    return p @ np.array([[a, -b], [b, a]]).T + truth.mean(0)


def error_moment(points: np.ndarray, samples: list[Sample]) -> np.ndarray:
    rows = [((p - s.points) / shape_size(p)).reshape(-1) for p, s in zip(points, samples) if np.isfinite(s.points).all()]
    e = np.array(rows)
    return e.T @ e / len(e)


def coupled(points: np.ndarray, sigma: np.ndarray):
    """Re-prediction that moves the free points by the conditional mean of their errors."""

    def repredict(pinned, previous):
        obs = np.zeros(len(points), dtype=bool)
        obs[list(pinned)] = True
        o = np.repeat(obs, 2)
        residual = np.concatenate([pinned[k] - points[k] for k in sorted(pinned)])
        cov = sigma * shape_size(points) ** 2
        shift = cov[np.ix_(~o, o)] @ np.linalg.solve(cov[np.ix_(o, o)] + RIDGE * np.eye(o.sum()), residual)
        out = points.reshape(-1).copy()
        out[~o] += shift
        return out.reshape(-1, 2)

    return repredict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--fit-split", default="train")
    parser.add_argument("--split", default=None)
    parser.add_argument("--shifted", action="store_true")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    folder = dataset_folder(args.model, "bench_error_structure")
    if folder is None:
        return 2
    split = args.split or LAYOUTS[args.model][1]
    with tempfile.TemporaryDirectory(prefix="anatomark-shift-") as tmp:
        folders = {args.fit_split: folder, split: folder}
        if args.shifted:
            from acquisition_shift import write_shifted_dataset  # noqa: E402  (tests/bench)

            for s in (args.fit_split, split):
                folders[s] = Path(tmp) / s
                write_shifted_dataset(folder, s, folders[s])
        cache = args.cache / ("shifted" if args.shifted else "plain") if args.cache else None
        fit_pts, fit_samples, _ = predictions(args.model, folders[args.fit_split], args.fit_split, cache)
        pts, samples, landmarks = predictions(args.model, folders[split], split, cache)
    mm = np.array([s.spacing[0] if s.spacing else np.nan for s in samples])[:, None]
    err = np.linalg.norm(pts - np.stack([s.points for s in samples]), axis=2) * mm
    moved = {
        "translation": [p + np.nanmean(s.points - p, axis=0) for p, s in zip(pts, samples)],
        "similarity": [fit_similarity(p, s.points) for p, s in zip(pts, samples)],
    }
    print(f"{args.model} on {folder.name} {split}{' (shifted)' if args.shifted else ''}: {len(samples)} images, MRE {np.nanmean(err):.3f} mm")
    for name, points in moved.items():
        e = np.linalg.norm(np.array(points) - np.stack([s.points for s in samples]), axis=2) * mm
        print(f"  after the oracle {name:<11} of each image: MRE {np.nanmean(e):.3f} mm ({np.nanmean(e) / np.nanmean(err) - 1:+.1%})")
    sigma_test = error_moment(pts, samples)
    sd = np.sqrt(np.diag(sigma_test))
    corr = sigma_test / np.outer(sd, sd)
    names = [f"{n}.{a}" for n in landmarks for a in "xy"]
    pairs = sorted(((abs(corr[i, j]), corr[i, j], names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names)) if i // 2 != j // 2), reverse=True)
    print("  strongest error correlations between landmarks: " + ", ".join(f"{a}~{b} {c:+.2f}" for _, c, a, b in pairs[:6]))
    tolerance = Tolerance(TOLERANCE_MM[folder.name], "mm")
    sigma = error_moment(fit_pts, fit_samples)
    sd = np.sqrt(np.diag(sigma))
    strong = (np.abs(sigma / np.outer(sd, sd)) >= 0.5) | np.kron(np.eye(len(sd) // 2, dtype=bool), np.ones((2, 2), dtype=bool))
    w, v = np.linalg.eigh(np.where(strong, sigma, 0.0))
    sparse = (v * np.clip(w, 1e-12, None)) @ v.T
    manual = sum(review_image(s, p, tolerance, None).corrections for p, s in zip(pts, samples))
    print(f"  corrections per image at {tolerance}: manual {manual / len(samples):.2f}")
    for label, sig in (("all couplings", sigma), ("|corr| ≥ 0.5", sparse)):
        reviews = [review_image(s, p, tolerance, coupled(p, sig)) for p, s in zip(pts, samples)]
        n = sum(r.corrections for r in reviews)
        print(f"  Gaussian error coupling ({label}, Σ from {args.fit_split}): {n / len(samples):.2f} "
              f"(ratio {n / max(manual, 1):.3f}), {sum(r.pushed_out for r in reviews)} pushed out of tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
