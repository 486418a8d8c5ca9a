"""Make the PACS screenshots from the real app against a real Orthanc (run under a real X server).

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 user_guide/pacs_screenshots.py

Starts a private Orthanc with its DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb),
stores the bundled chest DICOM in it, then in the app: File ▸ Open from PACS…, searches by
modality and grabs the dialog with the study found (``images/pacs_search.png``); opens the study
and grabs the window with the predicted image (``images/pacs_opened.png``); stores the landmark
report back and prints the status line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "images"
sys.path.insert(0, str(ROOT / "tests" / "core"))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    import pydicom
    import pytest

    from orthanc_support import PASSWORD, USER, start_orthanc

    try:
        orthanc = start_orthanc(home)
    except pytest.skip.Exception as exc:
        print(f"cannot start Orthanc: {exc}", file=sys.stderr)
        return 2
    try:
        from core.dicomweb import Server, store_datasets

        store_datasets(Server(orthanc.root, USER, PASSWORD), [pydicom.dcmread(ROOT / "resources" / "samples" / "chest_RG1.dcm")])
        app, window = open_window()
        from app.paths import new_project_path

        window.new_project(new_project_path("ward-round"), "chest6")
        dialog = window.pacs.show_open()
        dialog.server_form.url.setText(orthanc.root)
        dialog.server_form.user.setText(USER)
        dialog.server_form.password.setText(PASSWORD)
        dialog.modality.setCurrentText("CR")
        dialog.search_button.click()
        while not dialog.search_button.isEnabled():
            wait(app, 0.05)
        wait(app, 0.5)
        OUT.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(OUT / "pacs_search.png"))
        print(dialog.message.text())
        dialog.open_button.click()
        while not window.doc.image_ids() or window.jobs.is_running() or window.pacs.fetch_call.is_running():
            wait(app, 0.05)
        wait(app, 1.0)
        print(dialog.message.text())
        dialog.close()
        wait(app, 0.5)
        window.grab().save(str(OUT / "pacs_opened.png"))
        store = window.pacs.show_store()
        store.accept()
        while window.pacs.store_call.is_running():
            wait(app, 0.05)
        wait(app, 0.3)
        print(window.status.currentMessage())
        window.close()
        return 0
    finally:
        orthanc.stop()


if __name__ == "__main__":
    sys.exit(main())
