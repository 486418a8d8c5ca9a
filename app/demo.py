"""The demo project ``anatomark`` opens with no arguments: the bundled chest DICOM and model.

It lives in the user data folder (``app.paths.demo_project_path``). A damaged demo file
is moved aside and made again; the sample is predicted in the background when the
project has no prediction for it yet, so the first start shows a predicted image ready
to correct.
"""

from __future__ import annotations

import time
from pathlib import Path

from app.paths import demo_project_path
from core.resources import samples_dir

DEMO_SAMPLE = "chest_RG1.dcm"
DEMO_SCHEMA = "chest6"


def demo_sample() -> Path:
    return samples_dir() / DEMO_SAMPLE


def demo_needs_model(path: Path | None = None) -> bool:
    """Cheap guess, before Qt starts, whether opening the demo will run the model."""
    return not (path or demo_project_path()).exists()


def open_demo(window) -> bool:
    """Open (or create) the demo project in ``window`` and predict it if needed."""
    path = demo_project_path()
    doc = window.doc
    if path.exists() and not doc.open_project(path, report=False):
        aside = path.with_name(f"{path.stem}.damaged-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
        try:
            path.replace(aside)
        except OSError as exc:
            window.show_error(f"The demo project cannot be opened or replaced: {exc.strerror or exc}")
            return False
        window.status.showMessage(f"The demo project was damaged; it was kept as {aside.name} and made again", 8000)
    if doc.project is None and not window.new_project(path, DEMO_SCHEMA, [demo_sample()]):
        return False
    if not doc.image_ids() and doc.is_editable():
        doc.add_images([demo_sample()])
    if doc.is_editable():
        unpredicted = [i for i in doc.image_ids() if doc.prediction(i) is None]
        if unpredicted:
            window.predict_ids(unpredicted)
    return True
