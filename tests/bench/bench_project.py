"""Benchmark: how long the project store takes to save, open and load heatmaps at 300 images.

Run on demand (not part of the test suite):

    python tests/bench/bench_project.py [--images 300] [--repeats 15] [--model chest6|ceph19|synthetic]

Builds a project of N small generated PNGs (distinct content), stores a
prediction with heatmaps for every image, then prints median wall times of:

- ``save`` right after storing all predictions (every heatmap compressed and written);
- ``save`` after one ``set_point`` (the common autosave: heatmaps carried over from
  the previous file with a raw HDF5 copy, landmarks and log rewritten);
- ``save`` of the same project without any cached predictions;
- ``Project.open`` and the first ``prediction()`` of an image (lazy heatmap read);
- the review queue built right after opening, from the stored heatmap covariances, and from a
  copy of the file without them (as written before 2026-11-23: every heatmap is read).

With ``--model`` the heatmaps are a real model's output (needs torch) on the
bundled chest DICOM, or for ``ceph19`` on an ISBI cephalogram from
``../shared/data`` when present, reused for every image; ``synthetic`` makes Gaussian
ones. Target: an autosave well under 100 ms at 300 images.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from core.project import Project
from core.review.queue import ReviewQueue


class FakePrediction:
    """Duck-typed ``core.prediction.Prediction`` (the store reads attributes only)."""

    def __init__(self, model_id: str, schema, size: tuple[int, int], heatmaps: np.ndarray, rng) -> None:
        k = schema.n_landmarks
        self.model_id, self.schema, self.landmarks = model_id, schema.name, schema.landmarks
        self.image_size = size
        self.points = rng.uniform(5, min(size) - 5, (k, 2))
        self.soft_argmax = self.points + rng.normal(0, 1, (k, 2))
        self.refined = self.points + rng.normal(0, 0.5, (k, 2))
        self.confidence = rng.uniform(0.5, 1.0, k)
        self.heatmaps = heatmaps
        self.heatmap_to_image = np.array([[4.0, 0, 1.5], [0, 4.0, 1.5]])
        self.masks, self.mask_classes = None, ()


def heatmaps_for(model: str, schema_name: str) -> tuple[np.ndarray, str]:
    if model == "synthetic":
        k = 6 if schema_name == "chest6" else 19
        yy, xx = np.mgrid[0:128, 0:128]
        maps = [np.exp(-((xx - 20 - 15 * i) ** 2 + (yy - 64) ** 2) / 18.0) for i in range(k)]
        h = np.stack(maps).astype(np.float32)
        return h / h.sum(axis=(1, 2), keepdims=True), "synthetic"
    from core.inference import Predictor
    from core.resources import samples_dir, shared_data_dir

    image = samples_dir() / "chest_RG1.dcm"
    data = shared_data_dir()
    if model == "ceph19" and data is not None and (data / "ceph_isbi2015/images/001.jpg").is_file():
        image = data / "ceph_isbi2015/images/001.jpg"  # a cephalogram: heatmaps as peaked as in use
    predictor = Predictor(model, device="cpu")
    prediction = predictor.predict(image)
    return prediction.heatmaps, prediction.model_id


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--model", default="chest6", help="chest6, ceph19 or synthetic")
    args = parser.parse_args()
    schema_name = "ceph19" if args.model == "ceph19" else "chest6"
    heatmaps, model_id = heatmaps_for(args.model, schema_name)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for i in range(args.images):
            p = folder / f"img{i:04d}.png"
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(p)
            paths.append(p)
        path = folder / "bench.anatomark"
        project = Project.create(path, schema_name, user="bench")
        ids = [project.add_image(p).id for p in paths]
        project.save()
        bare_ms = median_ms(lambda: (project.set_point(ids[0], project.schema.landmarks[0], 1.0, 2.0),
                                     project.save()), args.repeats)
        for image_id in ids:
            project.store_prediction(image_id, FakePrediction(model_id, project.schema, (64, 64), heatmaps, rng))
        t0 = time.perf_counter()
        project.save()
        first_ms = (time.perf_counter() - t0) * 1e3
        n = iter(range(10**9))
        edit_ms = median_ms(lambda: (project.set_point(ids[next(n) % len(ids)], project.schema.landmarks[0],
                                                       3.0, 4.0), project.save()), args.repeats)
        set_point_us = median_ms(lambda: project.set_point(ids[1], project.schema.landmarks[1], 5.0, 6.0),
                                 args.repeats) * 1e3
        project.save()
        size_mb = path.stat().st_size / 1e6
        project.close()
        open_ms = median_ms(lambda: Project.open(path, read_only=True), args.repeats)
        reader = Project.open(path, read_only=True)
        load_ms = median_ms(lambda: Project.open(path, read_only=True).prediction(ids[7]), args.repeats) - open_ms
        reader.close()
        queue_ms = median_ms(lambda: ReviewQueue().update(Project.open(path, read_only=True)), 5) - open_ms
        legacy = folder / "legacy.anatomark"  # a file of before the covariance was stored
        shutil.copy(path, legacy)
        with h5py.File(legacy, "r+") as f:
            del f["predictions/covariance"]
        legacy_ms = median_ms(lambda: ReviewQueue().update(Project.open(legacy, read_only=True)), 3) - open_ms
    print(f"{args.images} images, schema {schema_name}, heatmaps {heatmaps.shape} from {model_id}; "
          f"file {size_mb:.1f} MB")
    print(f"  set_point (in memory)                    {set_point_us:8.1f} µs")
    print(f"  save, no cached predictions               {bare_ms:8.1f} ms")
    print(f"  save right after {args.images} new predictions    {first_ms:8.1f} ms")
    print(f"  save after one correction (autosave)      {edit_ms:8.1f} ms")
    print(f"  open (read-only)                          {open_ms:8.1f} ms")
    print(f"  first prediction() of an image            {load_ms:8.1f} ms")
    print(f"  review queue after open                   {queue_ms:8.1f} ms")
    print(f"  review queue after open, pre-covariance file {legacy_ms:5.1f} ms  ({legacy_ms / max(queue_ms, 1e-3):.0f}x)")


if __name__ == "__main__":
    main()
