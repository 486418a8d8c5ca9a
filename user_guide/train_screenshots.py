"""Make the retraining screenshots from the real app and a real CPU fine-tune (run under Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 user_guide/train_screenshots.py [--images 12] [--epochs 3]

Builds a small cephalogram project in a scratch folder (``anatomark project import``: the first
``--images`` ISBI 2015 test1 images with the doctors' mean as corrections, plus two images left
to the model), opens it, starts a real fine-tune of the bundled ``ceph19`` from the Train panel
(``--epochs`` per stage, on the CPU), grabs the window once the patch stage has begun
(``images/train_panel.png``) and the before/after report with its verdict when the run ends
(``images/before_after_report.png``). Needs ``../shared/data``; takes a few minutes on a
2-core CPU. Research data: the pictures show research images, not clinical use.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images"


def make_project(folder: Path, n_images: int) -> Path:
    """``n_images`` reviewed test1 cephalograms and two unreviewed ones, through the CLI a user would run."""
    from core.resources import shared_data_dir

    data = shared_data_dir()
    if data is None:
        sys.exit("train_screenshots: ../shared/data not found")
    dataset = data / "ceph_isbi2015"
    path = folder / "ceph.anatomark"
    cli = [sys.executable, "-m", "core.cli"]
    subprocess.run(cli + ["project", "new", str(path), "--schema", "ceph19"], check=True)
    subprocess.run(cli + ["project", "import", str(path), "--dataset", str(dataset), "--split", "test1",
                          "--limit", str(n_images)], check=True)
    extra = sorted((dataset / "images").glob("*.jpg"))[200:202]  # test1 images 201-202: not reviewed
    subprocess.run(cli + ["project", "add", str(path), *map(str, extra)], check=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=60.0, help="the run's time budget (both stages)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    path = make_project(home, args.images)

    app, window = open_window()
    window.doc.open_project(path)
    wait(app, 1.0)
    training = window.training
    window.show_train_panel()
    panel = training.panel
    panel.refresh_devices()
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    panel.epochs.setValue(args.epochs)
    panel.minutes.setValue(args.minutes)
    wait(app, 0.5)
    panel.start_button.click()
    while training.is_running() and len(panel.steps) < args.epochs + 1:  # into the patch stage
        wait(app, 0.2)
    wait(app, 0.3)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "train_panel.png"))
    while training.is_running():
        wait(app, 0.2)
    wait(app, 1.0)
    if training.report is None:
        print(f"no report: {panel.status.text()}")
        return 1
    training.report.grab().save(str(OUT / "before_after_report.png"))
    print(f"verdict: {training.report.verdict.text()}")
    print(f"wrote {OUT / 'train_panel.png'} and {OUT / 'before_after_report.png'}")
    training.report.done(0)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
