"""Benchmark: reviewer effort (corrections per image) of the bundled models, and re-prediction latency.

    python3 tests/bench/bench_effort.py [--model ceph19|chest6|chest6-seg] [--split S] [--limit N] [--shifted] [--latency N]

For the model's held-out data (ceph19: test1, chest6: val; ``bench_data.LAYOUTS``) it runs
``core.review.effort.simulate_review``, the function behind ``anatomark simulate-review``, at the
tolerance of DESIGN.md 1 (2 mm ceph, 3 mm chest), and prints corrections per image of manual
and assisted review, their ratio (the baseline, manual review, is measured in the same run),
the MRE after 0…5 corrections, and the mean change of the other landmarks' error per
correction (a correction must never make them worse on average). ``--shifted`` scores the
same images as another X-ray unit would store them (``acquisition_shift.py``, written to a
temporary folder). ``--latency N`` times, on N images, release → the neighbours' new
positions (``Repredictor.repredict`` with one pin, global stage cached as in the app, and
cold), against a plain prediction of the same image in the same run (the interactive target
is ≤ 300 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.review.effort import PredictorReviewModel, Tolerance, simulate_review
from core.imaging import load_image
from core.inference import Predictor
from core.repredict import Repredictor
from core.training.datasets import load_dataset

from bench_data import LAYOUTS, TOLERANCE_MM, dataset_folder, held_out  # noqa: E402  (tests/bench, the script's folder)



def latency(predictor: Predictor, samples: list, repeats: int = 5) -> None:
    """Median wall ms of a prediction and of a one-pin re-prediction (cached and cold global stage)."""
    repredictor = Repredictor(predictor)
    rows: dict[str, list[float]] = {"predict": [], "re-predict, global stage cached": [], "re-predict, cold": []}
    for sample in samples:
        radiograph = load_image(sample.image_path)
        before = predictor.predict(radiograph).points
        worst = int(np.nanargmax(np.linalg.norm(before - sample.points, axis=1)))
        pin = {predictor.schema.landmarks[worst]: tuple(sample.points[worst])}
        repredictor.global_state(radiograph, key=sample.id)
        for _ in range(repeats):
            t0 = time.perf_counter()
            predictor.predict(radiograph)
            rows["predict"].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            repredictor.repredict(radiograph, pin, key=sample.id, previous=before)
            rows["re-predict, global stage cached"].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            repredictor.repredict(radiograph, pin, key=None, previous=before)
            rows["re-predict, cold"].append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(rows["predict"])
    print(f"{predictor.model_id}: median wall ms over {len(samples)} images × {repeats} (ratio to a prediction of the same image)")
    for label, values in rows.items():
        m = statistics.median(values)
        print(f"  {label:34s} {m:8.1f} ms  ({m / base:.2f}×)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--split", default=None, help="default: test1 for ceph19, val for chest6")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--shifted", action="store_true", help="score the images as another X-ray unit would store them")
    parser.add_argument("--latency", type=int, metavar="N", help="only time re-prediction on N images")
    args = parser.parse_args(argv)
    dataset = held_out(args.model, args.split, "bench_effort")
    if dataset is None:
        return 2
    predictor = Predictor(args.model, "cpu")
    if args.latency:
        latency(predictor, dataset.samples[: args.latency])
        return 0
    split = args.split or LAYOUTS[args.model][1]
    with tempfile.TemporaryDirectory(prefix="anatomark-shift-") as tmp:
        label = f"{dataset.name} {split}"
        if args.shifted:
            from acquisition_shift import Shift, write_shifted_dataset  # noqa: E402  (tests/bench)

            write_shifted_dataset(dataset_folder(args.model, "bench_effort"), split, Path(tmp))
            dataset = load_dataset(tmp, split)
            label += f", shifted ({Shift().describe()})"
        tolerance = Tolerance(TOLERANCE_MM[LAYOUTS[args.model][0]], "mm")
        result = simulate_review(PredictorReviewModel(predictor), dataset.samples[: args.limit], tolerance,
                                 lambda done, total: print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    print(f"{predictor.model_id} on {label}: {result['n_images']} images, tolerance {tolerance}")
    for mode in ("manual", "assisted"):
        r = result[mode]
        print(f"  {mode:<8} {r['corrections_per_image']:5.2f} corrections/image; MRE after 0…5 corrections: "
              + " → ".join(f"{v:.2f}" for v in r["curve"]))
    a = result["assisted"]
    print(f"  ratio assisted / manual: {result['ratio']}; other landmarks' error per correction {a['neighbour_change']:+.3f} mm "
          f"(negative = closer), {a['pushed_out']} pushed out of tolerance; re-prediction median {result['repredict_ms_median']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
