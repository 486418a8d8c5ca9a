"""Benchmark: does re-predicting with pinned landmarks move the other landmarks closer to the truth?

    python3 tests/bench/bench_pinned.py [--model ceph19|chest6] [--split S] [--limit N] [--seed 0] [--no-prior]
    python3 tests/bench/bench_pinned.py --model ceph19 --latency 5     # time the steps only

For every image of the split (ceph19: test1, chest6: val) the bundled model predicts as usual
("before"); then landmarks are pinned at their ground truth, as a person correcting them would,
and ``core.repredict`` re-predicts the others ("after"). Scenarios: the landmark with the
largest error pinned, and 1, 2 and 3 random landmarks pinned. For the landmarks NOT pinned the
script prints the mean error before and after, and the share that improved or worsened by more
than 0.5 px. Variants: the GNN refiner re-run with the pins followed by the patch stage
(``refiner``) and the same with the shape prior conditioning the heatmaps on the pins
(``prior``, ``core.shape_prior`` fitted on the training split's ground truth).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from core.imaging import load_image
from core.inference import Predictor
from core.repredict import Repredictor
from core.training.datasets import load_dataset

from bench_data import LAYOUTS, dataset_folder, held_out  # noqa: E402  (tests/bench, the script's folder)

CHANGED_PX = 0.5


def scenarios(errors: np.ndarray, rng: np.random.Generator) -> dict[str, list[int]]:
    """Which landmark indices each scenario pins on one image (errors: (K,) before)."""
    k = len(errors)
    out = {"worst": [int(np.nanargmax(errors))]}
    for n in (1, 2, 3):
        out[f"random{n}"] = [int(i) for i in rng.choice(k, size=n, replace=False)]
    return out


def time_steps(predictor: Predictor, samples: list) -> int:
    """Median wall and CPU time (ms) of a prediction and of a re-prediction with one pin:
    cold (global U-Net run), cached (refiner only), cached with the patch stage re-run for all."""
    repredictor = Repredictor(predictor)
    rows: dict[str, list[tuple[float, float]]] = {}

    def timed(label, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        rows.setdefault(label, []).append(((time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3))
        return out

    for sample in samples:
        radiograph = load_image(sample.image_path)
        before = timed("predict", lambda: predictor.predict(radiograph)).points
        pin = {predictor.schema.landmarks[0]: tuple(sample.points[0])}
        timed("re-predict, U-Net run", lambda: repredictor.repredict(radiograph, pin, key=None, previous=before))
        repredictor.global_state(radiograph, key=sample.id)
        timed("re-predict, cached", lambda: repredictor.repredict(radiograph, pin, key=sample.id, previous=before))
        timed("re-predict, cached + patch stage", lambda: repredictor.repredict(radiograph, pin, key=sample.id))
    print(f"{predictor.model_id}: median over {len(samples)} images (wall ms / CPU ms, torch threads {torch.get_num_threads()})")
    for label, values in rows.items():
        wall, cpu = np.median(np.array(values), axis=0)
        print(f"  {label:34s} {wall:8.1f} / {cpu:8.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--split", default=None, help="default: test1 for ceph19, val for chest6")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-prior", action="store_true", help="skip the shape-prior variant")
    parser.add_argument("--latency", type=int, metavar="N", help="only time the steps on N images (wall and CPU ms)")
    args = parser.parse_args(argv)
    dataset = held_out(args.model, args.split, "bench_pinned")
    if dataset is None:
        return 2
    predictor = Predictor(args.model, "cpu")
    if args.latency:
        return time_steps(predictor, dataset.samples[: args.latency])
    variants = {"refiner": Repredictor(predictor)}
    if not args.no_prior:
        from core.shape_prior import fit_shape_prior

        train = load_dataset(dataset_folder(args.model, "bench_pinned"), "train")
        prior = fit_shape_prior(train.points(), [load_image(s.image_path).shape for s in train.samples[:1]][0])
        variants["prior"] = Repredictor(predictor, shape_prior=prior)
    rng = np.random.default_rng(args.seed)
    # results[variant][scenario] = list of (before, after) error pairs of unpinned landmarks
    results: dict[str, dict[str, list[tuple[float, float]]]] = {v: {} for v in variants}
    moved: dict[str, list[float]] = {v: [] for v in variants}
    latency: dict[str, list[float]] = {"predict": [], "cold": [], "cached": []}
    samples = dataset.samples[: args.limit]
    for i, sample in enumerate(samples):
        radiograph = load_image(sample.image_path)
        t0 = time.perf_counter()
        before = predictor.predict(radiograph).points
        latency["predict"].append((time.perf_counter() - t0) * 1e3)
        err_before = np.linalg.norm(before - sample.points, axis=1)
        pins = scenarios(err_before, rng)
        for vname, repredictor in variants.items():
            first = True
            for sname, idx in pins.items():
                pinned = {predictor.schema.landmarks[k]: tuple(sample.points[k]) for k in idx}
                r = repredictor.repredict(radiograph, pinned, key=sample.id, previous=before)
                latency["cold" if first else "cached"].append(r.timings_ms["total"])
                first = False
                for k, name in enumerate(predictor.schema.landmarks):
                    if k in idx or not np.isfinite(err_before[k]):
                        continue
                    after = np.linalg.norm(np.asarray(r.points[name]) - sample.points[k])
                    results[vname].setdefault(sname, []).append((float(err_before[k]), float(after)))
                    moved[vname].append(float(np.linalg.norm(np.asarray(r.points[name]) - before[k])))
        print(f"\r{i + 1}/{len(samples)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    spacing = samples[0].spacing[0] if samples and samples[0].spacing else None
    unit = f" (px; × {spacing} mm/px)" if spacing else " (px)"
    print(f"{args.model} on {args.split or LAYOUTS[args.model][1]}: {len(samples)} images; errors of the unpinned landmarks{unit}")
    for vname in variants:
        print(f"  variant {vname}: mean displacement of unpinned points {np.mean(moved[vname]):.2f} px")
        for sname, pairs in results[vname].items():
            b, a = np.array(pairs).T
            better = np.mean(a < b - CHANGED_PX) * 100
            worse = np.mean(a > b + CHANGED_PX) * 100
            print(
                f"    pin {sname:8s} before {b.mean():6.2f}  after {a.mean():6.2f}  "
                f"improved {better:5.1f}%  worsened {worse:5.1f}%  (n={len(pairs)})"
            )
    print(
        "  latency ms: predict {:.0f}, re-predict with U-Net {:.0f}, with cached U-Net outputs {:.0f}".format(
            np.median(latency["predict"]), np.median(latency["cold"]), np.median(latency["cached"]) if latency["cached"] else float("nan")
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
