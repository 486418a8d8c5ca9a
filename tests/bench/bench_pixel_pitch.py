"""Benchmark: a model's error on the same radiographs stored at other pixel pitches (ADR 0006).

Run on demand (not part of the test suite):

    python3 tests/bench/bench_pixel_pitch.py [--model ceph19] [--dataset ../shared/data/ceph_isbi2015]
                                             [--split test1] [--first 20] [--count 40]

For each storage of the images (their own pitch; 2× the pixels; 0.7× the pixels; the simulated other
site of ``acquisition_shift.Shift()``) it prints the MRE in mm with the patch stage on the fixed
``fine_scale`` grid (the images' spacing withheld: as before ADR 0006) and on the physical grid (the
spacing given), and their ratio, measured in the same run on the same images.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from acquisition_shift import Shift, shift_sample  # noqa: E402  (tests/bench is the script's folder)
from core.learning.validation import evaluate_model
from core.resources import resolve_model
from core.resources import shared_data_dir
from core.training.datasets import load_dataset

PLAIN = Shift(gamma=1.0, low=0.0, high=1.0, pad=0.0, angle=0.0, scale=1.0, noise=0.0)
STORAGES = {"own pitch": None, "2x pixels": replace(PLAIN, scale=2.0), "0.7x pixels": replace(PLAIN, scale=0.7),
            "simulated other site": Shift()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ceph19")
    parser.add_argument("--dataset", type=Path, default=None, help="default: ../shared/data/ceph_isbi2015")
    parser.add_argument("--split", default="test1")
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args()
    root = args.dataset or (shared_data_dir() / "ceph_isbi2015" if shared_data_dir() else None)
    if root is None:
        sys.exit("bench_pixel_pitch: ../shared/data not found")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = load_dataset(root, args.split)
    samples = data.samples[args.first : args.first + args.count]
    if not samples or any(s.spacing is None for s in samples):
        sys.exit("bench_pixel_pitch: needs images with a known spacing")
    model, names = resolve_model(args.model), data.schema.landmarks
    print(f"{args.model} on {root.name} {args.split} images {args.first + 1}-{args.first + len(samples)}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, shift in STORAGES.items():
            stored = samples if shift is None else [shift_sample(s, shift, Path(tmp)) for s in samples]
            mm = stored[0].spacing[0]
            physical = evaluate_model(model, stored, names, "cpu")["mre_mm"]
            fixed = evaluate_model(model, [replace(s, spacing=None) for s in stored], names, "cpu")["mre_px"] * mm
            print(f"{label:>22} ({mm:.3f} mm/px): fixed fine_scale {fixed:.3f} mm, physical grid {physical:.3f} mm, "
                  f"ratio {physical / fixed:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
