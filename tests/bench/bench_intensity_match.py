"""Benchmark: does intensity standardisation per image or per site help another unit? (issue 16 item 2)

    python3 tests/bench/bench_intensity_match.py [--first 20] [--count 40]

The bundled ceph19 on ceph test1 images (``--first``, ``--count``) as the training site stores them
and as the simulated other unit stores them (``acquisition_shift.Shift()``), three ways: the images as
they are; each image's histogram matched to the training site's mean histogram (257 quantiles of the
train split 001-135, display-normalised); and one curve for the whole site, matching the site's pooled
quantiles to the same reference. Prints the MRE (mm) of each. Measured 2026-12-03 (2 threads, images
21-60, physical fine grid): own site 1.215 / 1.238 / 1.204 mm, other unit 2.438 / 11.753 / 11.072 mm
(with the fixed grid before ADR 0006: 3.027 / 12.288 / 11.248) — the wider field of view changes the
histogram, so matching it distorts the anatomy's tones.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from acquisition_shift import Shift, shift_sample  # noqa: E402  (tests/bench is the script's folder)
from core.imaging import load_image
from core.imaging import radiograph as radiograph_module
from core.learning.validation import evaluate_model
from core.resources import resolve_model
from core.resources import shared_data_dir
from core.training.datasets import load_dataset

LEVELS = np.linspace(0.0, 1.0, 257)


def _quantiles(pixels: np.ndarray) -> np.ndarray:
    step = max(1, max(pixels.shape) // 256)
    return np.quantile(pixels[::step, ::step], LEVELS)


def _curve(quantiles: np.ndarray, reference: np.ndarray):
    q = np.maximum.accumulate(quantiles + np.arange(len(quantiles)) * 1e-7)  # strictly increasing
    return lambda px: np.interp(px, q, reference).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        sys.exit("bench_intensity_match: ../shared/data not found")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    train = load_dataset(root / "ceph_isbi2015", "train").samples[:135]
    reference = np.mean([_quantiles(load_image(s.image_path).display_normalised()) for s in train], axis=0)
    test = load_dataset(root / "ceph_isbi2015", "test1")
    samples, names, model = test.samples[args.first : args.first + args.count], test.schema.landmarks, resolve_model("ceph19")
    plain = radiograph_module.Radiograph.display_normalised
    mode = {"curve": None}

    def matched(self, window=None):  # the models' input, matched when a curve is set
        pixels = plain(self, window)
        curve = mode["curve"]
        return pixels if curve is None else curve(pixels)

    radiograph_module.Radiograph.display_normalised = matched
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for site, shift in (("own site", None), ("other unit", Shift())):
                stored = samples if shift is None else [shift_sample(s, shift, Path(tmp)) for s in samples]
                pooled = np.mean([_quantiles(plain(load_image(s.image_path))) for s in stored], axis=0)
                rows = []
                for label, curve in (("as stored", None),
                                     ("per image", lambda px: _curve(_quantiles(px), reference)(px)),
                                     ("per site", _curve(pooled, reference))):
                    mode["curve"] = curve
                    rows.append(f"{label} {evaluate_model(model, stored, names, 'cpu')['mre_mm']:.3f} mm")
                print(f"{site:>10}: " + ", ".join(rows), flush=True)
    finally:
        radiograph_module.Radiograph.display_normalised = plain
    return 0


if __name__ == "__main__":
    sys.exit(main())
