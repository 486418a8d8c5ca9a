"""Benchmark: does retraining gain from the site's *unreviewed* images? (issue 16 item 2, a lever)

    python3 tests/bench/bench_pseudo_labels.py [--pseudo 0 15 40] [--min-confidence 0.5]

A simulated new site (ceph test1 as another unit stores it, ``acquisition_shift.Shift()``): the
first 20 images are corrected (the doctors' mean), images 21-60 are the site's unreviewed images and
also the measured rest (transductive, as a project holds them: their labels are never used). For
each ``--pseudo N`` the bundled model's confident points (confidence ≥ ``--min-confidence``; the
others left out, as absent points are) on N of the unreviewed images join the training images of
``core.learning.retrain`` with the fine-tuning defaults; printed: MRE on the site's rest and on the
same images unshifted (the old site), and the wall time of the retrain.

The product does not do this (``core.learning.selection``: a model never learns from its own
unreviewed output); this bench is why: measured 2026-12-03, 2 threads, N = 0 / 15 / 40 →
1.262 / 1.302 / 1.505 mm on the site, 1.165 / 1.174 / 1.159 mm on the old site, and the retrain
over the minute from N = 15 (70 s, 125 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import core.learning.finetune as finetune
from acquisition_shift import Shift, shift_sample  # noqa: E402  (tests/bench is the script's folder)
from core.inference import Predictor
from core.learning import RetrainSettings, retrain
from core.learning.selection import add_sample_image
from core.learning.validation import evaluate_model
from core.project import Project
from core.resources import shared_data_dir
from core.training.datasets import load_dataset

CORRECTED, REST_END = 20, 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pseudo", type=int, nargs="+", default=[0, 15, 40])
    parser.add_argument("--min-confidence", type=float, default=0.5)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        sys.exit("bench_pseudo_labels: ../shared/data not found")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = load_dataset(root / "ceph_isbi2015", "test1")
    names = data.schema.landmarks
    plain_split = finetune.training_split
    with tempfile.TemporaryDirectory() as shifted_dir:
        shifted = [shift_sample(s, Shift(), Path(shifted_dir)) for s in data.samples[:REST_END]]
        corrected, rest, old_site = shifted[:CORRECTED], shifted[CORRECTED:], data.samples[CORRECTED:REST_END]
        bundled = Predictor("ceph19", "cpu")
        predicted = {s.id: bundled.predict(s.image_path, s.spacing) for s in rest}
        for n in args.pseudo:
            pseudo = []
            for sample in rest[:n]:
                p = predicted[sample.id]
                points = np.where((p.confidence >= args.min_confidence)[:, None], p.points, np.nan)
                pseudo.append(replace(sample, points=points, accepted=None, observers=None))
            with tempfile.TemporaryDirectory() as tmp:
                with Project.create(Path(tmp) / "bench.anatomark", "ceph19") as project:
                    for sample in corrected:
                        image = add_sample_image(project, sample)
                        for name, (x, y) in zip(names, sample.points):
                            project.set_point(image.id, name, float(x), float(y))
                    ids = {s.id: add_sample_image(project, s).id for s in pseudo}  # unreviewed, in the project
                    project.save()
                    extra = [replace(s, id=ids[s.id]) for s in pseudo]
                    finetune.training_split = lambda proj, extra=extra: (lambda tv: (tv[0] + extra, tv[1]))(plain_split(proj))
                    try:
                        t0 = time.monotonic()
                        result = retrain(project, RetrainSettings(device="cpu"))
                        wall = time.monotonic() - t0
                    finally:
                        finetune.training_split = plain_split
                    site = evaluate_model(result.model_path, rest, names, "cpu")["mre_mm"]
                    old = evaluate_model(result.model_path, old_site, names, "cpu")["mre_mm"]
            kept = float(np.mean([np.isfinite(s.points[:, 0]).mean() for s in pseudo])) if pseudo else 0.0
            print(f"pseudo-labelled images {n:>2} (kept {kept:.0%} of their points): site {site:.3f} mm, "
                  f"old site {old:.3f} mm, retrain {wall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
