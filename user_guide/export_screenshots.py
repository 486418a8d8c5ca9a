"""Make the Export dialog screenshots from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/export_screenshots.py

Opens a chest6 project of the bundled sample radiograph, chooses File ▸ Export… and grabs the
dialog as it opens (anonymised, ``images/export_dialog.png``) and with "Include patient
identifiers" chosen (its warning, ``images/export_dialog_identifiers.png``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images"
SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "chest_RG1.dcm"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from core.project import Project

    project_path = home / "chest study.anatomark"
    with Project.create(project_path, "chest6") as project:
        project.add_image(SAMPLE)
        project.save()

    app, window = open_window()
    window.doc.open_project(project_path)
    wait(app, 0.5)
    window.actions.export.trigger()
    dialog = window.exchange.export_dialog
    dialog.format.setCurrentIndex(dialog.format.findData("dicom-sr"))
    wait(app, 0.5)
    OUT.mkdir(exist_ok=True)
    dialog.grab().save(str(OUT / "export_dialog.png"))
    dialog.identifiers.setChecked(True)
    wait(app, 0.3)
    dialog.adjustSize()
    wait(app, 0.3)
    dialog.grab().save(str(OUT / "export_dialog_identifiers.png"))
    dialog.reject()
    window.close()
    print(f"wrote {OUT / 'export_dialog.png'} and {OUT / 'export_dialog_identifiers.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
