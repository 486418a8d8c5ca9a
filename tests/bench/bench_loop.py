"""Benchmark: the learning loop on real cephalograms (issue 4, "Done means").

Run on demand (not part of the test suite):

    python tests/bench/bench_loop.py [--n 5 10 20] [--rest 40] [--epochs E] [--threads 2]

The bundled ``ceph19`` was trained on ISBI 2015 ``train`` (001-135), so the
``test1`` images are ones it was not trained on. For each N: a fresh project
holds the first N test1 images with their ground truth (mean of the two
doctors) as corrections; ``core.learning.retrain`` fine-tunes the current
model (``v0`` = bundled) on the CPU with the default settings (the locked
validation subset takes 20 % of the N images); the new version and the
bundled model are then measured on the same ``--rest`` test1 images that no
run trained on. Prints MRE (mm and px) before and after, the drop, and the
wall time of each retraining.

The issue's target (MRE on the rest drops by ≥ 25 % with 20 images) applies
where the bundled model starts ≥ 1.5× worse than on its own test set; on
test1 it does not (1.15 mm is its own test set), so this measures how much
the loop helps or harms an already good model, and the retraining time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.learning import RetrainSettings, retrain
from core.learning.validation import evaluate_model
from core.modelfile import resolve_model
from core.project import Project
from core.resources import shared_data_dir
from core.training.datasets import load_dataset


def _show(event: dict) -> None:
    if event["event"] == "epoch":
        print(f"  [{event['stage']}] epoch {event['epoch']}/{event['epochs']} loss {event['train_loss']:.3f} "
              f"train MRE {event['val_mre_px']:.2f} px, {event['seconds']:.0f} s", file=sys.stderr, flush=True)


def run(n_values: list[int], n_rest: int, epochs: int | None, stages: tuple[str, ...]) -> list[dict]:
    data_root = shared_data_dir()
    if data_root is None:
        sys.exit("bench_loop: ../shared/data not found")
    data = load_dataset(data_root / "ceph_isbi2015", "test1")
    names = data.schema.landmarks
    pool = data.samples[: max(n_values)]
    rest = data.samples[max(n_values) : max(n_values) + n_rest]
    bundled = evaluate_model(resolve_model("ceph19"), rest, names, "cpu")
    print(f"bundled ceph19 on {len(rest)} held-out test1 images: MRE {bundled['mre_mm']:.3f} mm "
          f"({bundled['mre_px']:.2f} px)", flush=True)
    rows = []
    for n in n_values:
        with tempfile.TemporaryDirectory() as tmp:
            with Project.create(Path(tmp) / "bench.anatomark", "ceph19") as project:
                for sample in pool[:n]:
                    image = project.add_image(sample.image_path)
                    for name, (x, y) in zip(names, sample.points):
                        project.set_point(image.id, name, float(x), float(y))
                project.save()
                t0 = time.monotonic()
                result = retrain(project, RetrainSettings(epochs=epochs, stages=stages, device="cpu"), _show)
                wall = time.monotonic() - t0
                after = evaluate_model(result.model_path, rest, names, "cpu")
        drop = 100.0 * (bundled["mre_mm"] - after["mre_mm"]) / bundled["mre_mm"]
        row = {"n_corrected": n, "n_train": n - result.after["n_images"],
               "rest": len(rest), "before_mm": bundled["mre_mm"], "after_mm": after["mre_mm"],
               "before_px": bundled["mre_px"], "after_px": after["mre_px"], "drop_pct": drop,
               "retrain_s": wall, "val_before_px": result.before.get("mre_px"), "val_after_px": result.after["mre_px"],
               "adoptable": result.adoptable}
        rows.append(row)
        print(f"N={n:>2} (train {row['n_train']}): MRE on rest {after['mre_mm']:.3f} mm ({after['mre_px']:.2f} px), "
              f"change {-drop:+.1f} %, retrain {wall:.0f} s, locked-val {row['val_before_px']:.2f} → "
              f"{row['val_after_px']:.2f} px, adoptable {result.adoptable}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--rest", type=int, default=40, help="held-out test1 images measured")
    parser.add_argument("--epochs", type=int, default=None, help="per stage (default: the fine-tuning defaults)")
    parser.add_argument("--stages", default="global,patch")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}", flush=True)
    rows = run(args.n, args.rest, args.epochs, tuple(args.stages.split(",")))
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
