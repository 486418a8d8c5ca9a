"""Benchmark: clinical measurements from a bundled model against the experts' landmarks.

    python3 tests/bench/bench_measurements.py [--model ceph19] [--split test1] [--limit N]

For every image of the split, the schema's measurements (core.measurements) are computed from
the model's final points and from the ground truth (ceph: the mean of the two doctors), and the
mean absolute difference per measurement is printed (degrees, or mm with the data set's spacing).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from core.inference import Predictor
from core.measurements import measure

from bench_data import LAYOUTS, held_out  # noqa: E402  (tests/bench, the script's folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19", choices=sorted(LAYOUTS))
    parser.add_argument("--split", default=None, help="default: test1 for ceph19, val for chest6")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    dataset = held_out(args.model, args.split, "bench_measurements")
    if dataset is None:
        return 2
    predictor = Predictor(args.model, "cpu")
    errors: dict[str, list[float]] = {}
    units: dict[str, str] = {}
    for sample in dataset.samples[: args.limit]:
        predicted = predictor.predict(sample.image_path, sample.spacing).points
        truth = measure(predictor.schema, sample.points, sample.spacing)
        for got, want in zip(measure(predictor.schema, predicted, sample.spacing), truth):
            if got.value is not None and want.value is not None:
                errors.setdefault(want.name, []).append(abs(got.value - want.value))
                units[want.name] = want.unit
    print(f"{args.model} on {args.split or LAYOUTS[args.model][1]}: {len(dataset.samples[: args.limit])} images")
    for name, errs in errors.items():
        print(f"  {name:32s} mean absolute error {np.mean(errs):7.3f} {units[name]}  (n={len(errs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
