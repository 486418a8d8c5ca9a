"""Benchmark: how well the conformal uncertainty regions hold on held-out images, over many splits.

    python3 tests/bench/bench_conformal.py [--model ceph19] [--split test1] [--alpha 0.1] [--splits 500] [--cache F.npz]

Predicts every image of the split once (``core.uncertainty.calibrate.collect``: final points, truths and
heatmap covariances; ``--cache`` keeps them for a rerun), then calibrates on one half and counts
the true points inside their regions on the other half: for the two fixed halves (first half
calibrates, as the bundled cards do, and the reverse) and for ``--splits`` random halvings
(mean, 5th and 95th percentile of the observed coverage). Split conformal promises a mean
≥ 1 − α; single splits scatter around it, more with fewer images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.uncertainty.calibrate import collect
from core.uncertainty.conformal import calibrate, covered
from core.inference import Predictor

from bench_data import LAYOUTS, held_out  # noqa: E402  (tests/bench, the script's folder)


def _coverage(points, truth, cov, cal_idx, test_idx, alpha) -> float:
    cal = calibrate(points[cal_idx], truth[cal_idx], cov[cal_idx], alpha, ("",) * points.shape[1])
    inside = covered(points[test_idx], truth[test_idx], cov[test_idx], cal.quantiles)
    known = np.isfinite(truth[test_idx]).all(axis=-1)
    return float(inside[known].mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--split", default=None, help="default: test1 for ceph19, val for chest6")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--cache", type=Path, default=None, help="npz file: reused when present, written otherwise")
    args = parser.parse_args(argv)
    if args.cache is not None and args.cache.is_file():
        data = np.load(args.cache)
        points, truth, cov = data["points"], data["truth"], data["cov"]
    else:
        dataset = held_out(args.model, args.split, "bench_conformal")
        if dataset is None:
            return 2
        got = collect(Predictor(args.model, "cpu"), dataset)
        points, truth, cov = got.points, got.truth, got.covariances
        if args.cache is not None:
            np.savez(args.cache, points=points, truth=truth, cov=cov)
    n = len(points)
    half = n // 2
    first, second = np.arange(half), np.arange(half, n)
    print(f"{args.model}: {n} images, α = {args.alpha} (nominal {1 - args.alpha:.0%})")
    print(f"  calibrate on the first {half}, test the rest:  {_coverage(points, truth, cov, first, second, args.alpha):.1%}")
    print(f"  calibrate on the rest, test the first {half}:  {_coverage(points, truth, cov, second, first, args.alpha):.1%}")
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(args.splits):
        order = rng.permutation(n)
        rates.append(_coverage(points, truth, cov, order[:half], order[half:], args.alpha))
    low, high = np.percentile(rates, [5, 95])
    print(f"  {args.splits} random halvings: mean {np.mean(rates):.1%}, 5–95 % of splits {low:.1%}–{high:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
