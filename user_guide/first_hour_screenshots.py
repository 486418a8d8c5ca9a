"""Before/after screenshots of the first hour (issue 17) at 1280×800, fit zoom, in the real app.

    xvfb-run -s "-screen 0 1280x800x24" python3 user_guide/first_hour_screenshots.py [--label after]

Three windows as a newcomer gets them: the demo (``anatomark``), a cephalogram opened as
``anatomark 151.jpg`` does, and a JSRT chest radiograph opened the same way; each predicted and
grabbed at fit zoom into ``images/first_hour_<what>_<label>.png``. Run with ``PYTHONPATH`` at an
older checkout (and ``--label before``) for the "before" pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images"


def _settle(app, window) -> None:
    wait(app, 0.3)
    while window.jobs.is_running():
        wait(app, 0.05)
    wait(app, 1.0)
    window.viewer.fit()
    wait(app, 0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from app.demo import open_demo
    from core.resources import shared_data_dir

    data = shared_data_dir()
    ceph = data / "ceph_isbi2015" / "images" / "151.jpg" if data else None
    chest = data / "chest_jsrt" / "images" / "JPCLN003.png" if data else None
    if ceph is None or not ceph.is_file() or not chest.is_file():
        print("../shared/data (ceph_isbi2015, chest_jsrt) is needed", file=sys.stderr)
        return 2
    app, window = open_window()
    window.setGeometry(0, 0, 1280, 800)
    OUT.mkdir(parents=True, exist_ok=True)
    for what, opener in (("demo", lambda: open_demo(window)), ("ceph", lambda: window.open_images([ceph])),
                         ("chest", lambda: window.open_images([chest]))):
        if window.doc.project is not None:
            window.close_project()
        opener()
        _settle(app, window)
        window.grab().save(str(OUT / f"first_hour_{what}_{args.label}.png"))
        print(what, window.doc.project.schema.name if window.doc.project else None)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
