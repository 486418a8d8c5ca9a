"""Where the benchmarks find each bundled model's held-out images in ``../shared/data``.

Shared by the benchmarks that score a bundled model against the experts (conformal coverage,
measurements, pinned re-prediction): one table of data set folder and default split per model.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.resources import shared_data_dir
from core.training.datasets import LandmarkDataset, load_dataset

#: model → (folder in ../shared/data, split it is scored on)
LAYOUTS = {"ceph19": ("ceph_isbi2015", "test1"), "chest6": ("chest_jsrt", "val"), "chest6-seg": ("chest_jsrt", "val")}
#: data set folder → the reviewer's tolerance (mm) of DESIGN.md 1, for the reviewer-effort benchmarks
TOLERANCE_MM = {"ceph_isbi2015": 2.0, "chest_jsrt": 3.0}


def dataset_folder(model: str, caller: str) -> Path | None:
    """The model's data set folder; None (with a message on stderr naming ``caller``) when absent."""
    root = shared_data_dir()
    folder = LAYOUTS[model][0]
    if root is None or not (root / folder).is_dir():
        print(f"{caller}: ../shared/data/{folder} is needed", file=sys.stderr)
        return None
    return root / folder


def held_out(model: str, split: str | None, caller: str) -> LandmarkDataset | None:
    """The images ``model`` is scored on (``split``, else its default); None when the data are absent."""
    folder = dataset_folder(model, caller)
    return None if folder is None else load_dataset(folder, split or LAYOUTS[model][1])
