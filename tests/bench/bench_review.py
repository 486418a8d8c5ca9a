"""Benchmark: does the review queue put the largest errors first? Measured against the experts.

    python3 tests/bench/bench_review.py [--threads 2] [--cache DIR] [--limit N]

Predicts ceph test1 (150 images, bundled ceph19) and chest_jsrt val (40 images, bundled
chest6) once (cached in DIR, default a temp folder) and scores every predicted point with
``core.review.queue``'s signals. For points: the share of the worst 10 % of points (by true
error against the ground truth, in mm) that the queue's top 10 % contains; for images
(score = the largest of its points', true error = its largest point error, and its mean
error): the same. A random order finds 10 % on average. Each signal alone, the combined
score with ``core.review.queue.WEIGHTS``, and a small grid of weights are reported.

Weights are *chosen on ceph test1* (the grid) and *checked on chest val*, which plays no
part in the choice. Typical distances for the priors come from the split's training
images' ground truth (what a project with reviewed images uses), and, as a second row,
from the predictions themselves (a project with nothing reviewed yet).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_cache import DEFAULT_CACHE, SplitPredictions, predict_split  # noqa: E402

from core.priors import ShapeReference, check_priors  # noqa: E402
from core.resources import shared_data_dir  # noqa: E402
from core.review.queue import SIGNALS, WEIGHTS, heatmap_spread, score_signals, stage_disagreement  # noqa: E402
from core.schema import load_schema  # noqa: E402
from core.training.datasets import load_dataset  # noqa: E402

SETS = (("ceph19", "ceph_isbi2015", "test1", "train"), ("chest6", "chest_jsrt", "val", "train"))
GRID = (0.0, 0.5, 1.0, 2.0)  # per signal: 4^4 - 1 weightings
SHARE = 0.10
BROKEN_FIRST = 1e6


def found(score: np.ndarray, error: np.ndarray, top: float = SHARE, worst: float = SHARE) -> float:
    """Share of the worst ``worst`` by ``error`` that the top ``top`` by ``score`` contains."""
    s, e = np.ravel(score), np.ravel(error)
    n_top, n_worst = (max(1, int(round(f * s.size))) for f in (top, worst))
    first = set(np.argsort(-s, kind="stable")[:n_top])
    return sum(int(i in first) for i in np.argsort(-e, kind="stable")[:n_worst]) / n_worst


def signals(schema, p: SplitPredictions, reference: ShapeReference | None) -> dict[str, np.ndarray]:
    """Raw signals (N, K) in mm for every image of a split, as ``core.review.queue.ReviewQueue`` makes them."""
    unc, dis, pri, broken, conf = [], [], [], [], []
    for i in range(len(p.ids)):
        sp = tuple(p.spacing[i])
        unc.append(heatmap_spread(p.heatmaps[i].astype(np.float32), p.heatmap_to_image[i], sp))
        dis.append(stage_disagreement(p.soft_argmax[i], p.refined[i], p.points[i], sp))
        check = check_priors(schema, p.points[i] * p.spacing[i], reference, "mm")
        pri.append(check.scores)
        broken.append(check.broken)
        conf.append(1.0 - p.confidence[i])
    return {"confidence": np.stack(conf), "spread": np.stack(unc), "disagreement": np.stack(dis),
            "priors": np.stack(pri), "broken": np.stack(broken)}


def queue_key(raw: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """(N, K) sort key equal to the queue's order: a broken rule first, then the combined score."""
    return score_signals({s: raw[s] for s in SIGNALS}, weights)[0] + BROKEN_FIRST * raw["broken"]


def swap_test(schema, p: SplitPredictions, reference: ShapeReference, weights: dict[str, float],
              seed: int = 0) -> tuple[int, int, list[int]]:
    """Exchange one left/right pair (every stage and heatmap) in 10 % of the images, as a model
    confusing the sides would: (how many, how many the queue's top 10 % of images holds, their ranks)."""
    rng = np.random.default_rng(seed)
    n = len(p.ids)
    chosen = rng.choice(n, max(1, n // 10), replace=False)
    q = SplitPredictions(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(p).items()})
    for i in chosen:
        r, l = schema.pairs[rng.integers(len(schema.pairs))]
        for arr in (q.points, q.soft_argmax, q.refined, q.confidence, q.heatmaps):
            arr[i, [r, l]] = arr[i, [l, r]]
    image_key = queue_key(signals(schema, q, reference), weights).max(axis=1)
    order = list(np.argsort(-image_key, kind="stable"))
    ranks = sorted(order.index(i) + 1 for i in chosen)
    return len(chosen), sum(r <= len(chosen) for r in ranks), ranks


def rates(score: np.ndarray, err: np.ndarray) -> tuple[float, float, float]:
    """(points, images by max error, images by mean error) shares found."""
    return found(score, err), found(score.max(axis=1), err.max(axis=1)), found(score.max(axis=1), err.mean(axis=1))


def row(label: str, r: tuple[float, float, float]) -> str:
    return f"  {label:52s} {r[0] * 100:6.1f} % {r[1] * 100:8.1f} % {r[2] * 100:8.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is needed", file=sys.stderr)
        return 2
    best = None
    for model, layout, split, ref_split in SETS:
        t0 = time.perf_counter()
        schema = load_schema(model)
        p = predict_split(model, load_dataset(data / layout, split), args.cache, args.limit)
        train = load_dataset(data / layout, ref_split)
        truth_ref = ShapeReference.from_points(
            schema, np.stack([s.points * np.asarray(s.spacing or (1.0, 1.0)) for s in train.samples]))
        pred_ref = ShapeReference.from_points(schema, p.points * p.spacing[:, None, :])
        err = np.linalg.norm((p.points - p.truth) * p.spacing[:, None, :], axis=-1)
        raw = signals(schema, p, truth_ref)
        n, k = err.shape
        print(f"\n{model} on {split}: {n} images, {n * k} points, MRE {np.nanmean(err):.2f} mm "
              f"(signals in {time.perf_counter() - t0:.0f} s incl. any prediction)")
        print(f"  worst 10 %: {int(round(SHARE * n * k))} points, {int(round(SHARE * n))} images")
        print(f"  {'top 10 % of the queue finds … of the worst 10 %':52s} {'points':>8s} {'img(max)':>10s} {'img(mean)':>10s}")
        rng = np.random.default_rng(0)
        rand = np.mean([rates(rng.random(err.shape), err) for _ in range(200)], axis=0)
        print(row("random order (mean of 200)", rand))
        for s in SIGNALS:
            print(row(f"{s} only", rates(raw[s], err)))
        print(f"  left/right or level rule broken: {int(raw['broken'].sum())} points")
        equal = dict.fromkeys(SIGNALS, 1.0)
        print(row("combined, equal weights", rates(queue_key(raw, equal), err)))
        print(row(f"combined, core.review.queue.WEIGHTS {tuple(WEIGHTS.values())}", rates(queue_key(raw, WEIGHTS), err)))
        fallback = signals(schema, p, pred_ref)
        print(row("  the same, typical distances from predictions", rates(queue_key(fallback, WEIGHTS), err)))
        key = queue_key(raw, WEIGHTS)
        wider = [found(key, err, 0.2, SHARE), found(key.max(axis=1), err.max(axis=1), 0.2, SHARE)]
        print(f"  {'  the same, top 20 % of the queue':52s} {wider[0] * 100:6.1f} % {wider[1] * 100:8.1f} %")
        grid = []
        for w in itertools.product(GRID, repeat=len(SIGNALS)):
            if any(w):
                grid.append((rates(queue_key(raw, dict(zip(SIGNALS, w))), err), w))
        if best is None:  # chosen on the first set (ceph test1): mean of the point and image rates
            best = max(grid, key=lambda g: (g[0][0] + g[0][1]) / 2)[1]
            same = "the same as" if best == tuple(WEIGHTS.values()) else "NOT the same as"
            print(f"  grid {GRID} per signal on this set: best (mean of points and img(max)) {best}, "
                  f"{same} core.review.queue.WEIGHTS")
        if schema.pairs:
            n_swap, top, ranks = swap_test(schema, p, truth_ref, WEIGHTS)
            print(f"  one left/right pair swapped in {n_swap} images: {top} of them in the queue's top {n_swap} "
                  f"(ranks {ranks} of {n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
