"""Benchmark: the anatomy check's confusion table on every image we have (issue 17 item 2).

    python3 tests/bench/bench_anatomy.py [--every 1] [--json rows.json]

Each image goes through ``core.anatomy.BundledChooser`` (the bundled models named after their
schema: chest6, ceph19), as ``anatomark predict`` without ``--model`` does. Groups: JSRT chest val
(40), ISBI ceph test1 (150), the same test1 as another X-ray unit would store it
(``acquisition_shift.Shift()``), the hand atlas images (9), and the DICOM samples (chest RG1, hip
RG2, extremity RG3, the LUT test files; RG2_JPLY is not decodable here and is counted as such).
Prints, per group, how many images each model was chosen for or none, and the range of each
model's fit ratio (``AnatomyFit.ratio``: 1 = as far from the anatomy's layout as the farthest
training image). None of these images trained a model; the ratios' thresholds
(``FITS_WITHIN``, ``MISFIT_BEYOND``) were set looking at this table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from acquisition_shift import Shift, shift_sample  # noqa: E402  (tests/bench is the script's folder)
from core.anatomy import BundledChooser
from core.imaging import ImageLoadError
from core.resources import shared_data_dir
from core.training.datasets import load_dataset


def groups(root: Path, tmp: Path, every: int) -> dict[str, list[tuple[Path, tuple[float, float] | None]]]:
    ceph = load_dataset(root / "ceph_isbi2015", "test1").samples[::every]
    chest = load_dataset(root / "chest_jsrt", "val").samples[::every]
    shifted = [shift_sample(s, Shift(), tmp) for s in ceph]
    return {
        "chest (JSRT val)": [(s.image_path, s.spacing) for s in chest],
        "ceph (ISBI test1)": [(s.image_path, s.spacing) for s in ceph],
        "ceph, another unit": [(s.image_path, s.spacing) for s in shifted],
        "hand (atlas)": [(p, None) for p in sorted((root / "hand_dha" / "images").glob("*.png"))],
        "DICOM samples": [(p, None) for p in sorted((root / "dicom").glob("*.dcm"))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="every n-th image of the data sets")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        sys.exit("bench_anatomy: ../shared/data not found")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    chooser = BundledChooser("cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for group, items in groups(root, Path(tmp), args.every).items():
            chosen, ratios = Counter(), {m: [] for m in chooser.candidates}
            for path, spacing in items:
                try:
                    prediction, fits = chooser.choose(path, spacing)
                except ImageLoadError:
                    chosen["not decodable here"] += 1
                    continue
                chosen[prediction.model_id.split("@")[0] if prediction is not None else "none fits"] += 1
                for fit in fits:
                    ratios[fit.model.split("@")[0]].append(fit.ratio)
                rows.append({"group": group, "image": Path(path).name, "chosen": prediction.model_id if prediction else None,
                             "fits": [f.to_dict() for f in fits]})
            spread = ", ".join(f"{m} ratio {min(r):.2f}–{max(r):.2f} (median {np.median(r):.2f})" for m, r in ratios.items() if r)
            print(f"{group:<20} n={len(items):>3}: " + ", ".join(f"{k} {v}" for k, v in sorted(chosen.items()))
                  + f"; {spread}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
