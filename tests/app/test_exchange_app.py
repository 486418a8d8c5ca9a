"""File ▸ Export… and File ▸ Import Landmarks… driven through their dialogs' widgets (file dialogs
patched): an export → import round trip, the privacy opt-in (off by default), reviewed-only
exports, one undo step per import, and a broken file that shows a one-line dialog and changes
nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMessageBox

from core.project import LandmarkState, Project

OK = QDialogButtonBox.StandardButton.Ok


@pytest.fixture
def boxes(monkeypatch) -> list[str]:
    """Texts of the message boxes the app opens (recorded, not shown)."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    return shown


@pytest.fixture
def window(qtbot):
    from app.main_window import MainWindow

    w = MainWindow(autosave_ms=100)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
    w.deleteLater()


def _images(folder: Path) -> list[Path]:
    """Two small PNGs whose names stand for identifying file names."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(2):
        pixels = (np.arange(120 * 160).reshape(120, 160) * (k + 3) % 253).astype(np.uint8)
        paths.append(folder / f"DOE^JOHN_{k}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def _project(path: Path, images: list[Path], placed: bool) -> Path:
    """A saved chest6 project; ``placed``: image 0 fully corrected (reviewed), image 1 one point."""
    with Project.create(path, "chest6", user="tester") as project:
        ids = [project.add_image(p).id for p in images]
        if placed:
            for k, name in enumerate(project.schema.landmarks):
                project.set_point(ids[0], name, 10.25 + 20 * k, 15.5 + 10 * k)
            project.set_point(ids[1], project.schema.landmarks[0], 40.0, 41.0)
            project.set_state(ids[0], project.schema.landmarks[1], LandmarkState.VERIFIED)
        project.save()
    return path


def _rows(images) -> list:
    """Every landmark as (x, y, state), None for no position (NaN never equals itself)."""
    return [[(r.position, r.state.value) for r in im.landmarks.values()] for im in images]


def _points(doc) -> list:
    return _rows(doc.project.image(i) for i in doc.image_ids())


def _export(qtbot, window, fmt: str, out: Path, monkeypatch, **choices) -> list[Path]:
    """Export through the dialog: pick the format, browse to ``out``, set the choices, click Export."""
    window.actions.export.trigger()
    dialog = window.exchange.export_dialog
    assert dialog.isVisible()
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    if fmt in ("csv", "coco"):
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    else:
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    dialog.browse.click()
    assert dialog.destination.text() == str(out)
    for name, on in choices.items():
        getattr(dialog, name).setChecked(on)
    with qtbot.waitSignal(window.exchange.exported, timeout=20000) as signal:
        dialog.buttons.button(OK).click()
    assert not dialog.isVisible() and not window.exchange.is_exporting()
    return signal.args[0]


def _import(window, path: Path, fmt: str, state: str, monkeypatch) -> None:
    window.actions.import_landmarks.trigger()
    dialog = window.exchange.import_dialog
    assert dialog.isVisible()
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    if path.is_dir():
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(path))
        dialog.browse_folder.click()
    else:
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
        dialog.browse.click()
    dialog.state.setCurrentIndex(dialog.state.findData(state))
    dialog.buttons.button(OK).click()
    assert not dialog.isVisible()


@pytest.mark.parametrize("fmt,out", [("coco", "x.json"), ("labelme", "lm")])
def test_export_then_import_round_trip_through_the_dialogs(tmp_path, qtbot, window, monkeypatch, boxes, fmt, out):
    images = _images(tmp_path / "DOE^JOHN")
    doc = window.doc
    assert doc.open_project(_project(tmp_path / "src.anatomark", images, placed=True))
    exported = _points(doc)
    written = _export(qtbot, window, fmt, tmp_path / out, monkeypatch)
    assert written and all("DOE" not in p.name and "DOE" not in p.read_text() for p in written), "anonymised"

    assert doc.open_project(_project(tmp_path / "dst.anatomark", images, placed=False))
    before, depth = _points(doc), doc.undo_stack.count()
    _import(window, tmp_path / out, fmt, "file", monkeypatch)
    assert not boxes, boxes
    assert _points(doc) == exported  # positions to the bit, states kept
    assert doc.undo_stack.count() == depth + 1, "one import, one undo step"
    doc.undo_stack.undo()
    assert _points(doc) == before
    doc.undo_stack.redo()
    assert _points(doc) == exported
    qtbot.waitUntil(lambda: doc.undo_stack.isClean(), timeout=5000)  # autosaved like any edit
    with Project.open(tmp_path / "dst.anatomark", read_only=True) as saved:
        assert _rows(saved.images) == exported
        assert any(row["action"] == "import" for row in saved.log())


def test_privacy_opt_in_is_off_by_default_and_warns(tmp_path, qtbot, window, monkeypatch):
    images = _images(tmp_path / "DOE^JOHN")
    assert window.doc.open_project(_project(tmp_path / "src.anatomark", images, placed=True))
    window.actions.export.trigger()
    dialog = window.exchange.export_dialog
    assert dialog.anonymise.isChecked() and not dialog.identifiers.isChecked()
    assert dialog.all_images.isChecked() and not dialog.request().include_identifiers
    assert dialog.warning.isHidden() and not dialog.anonymised_note.isHidden()
    dialog.identifiers.setChecked(True)
    assert not dialog.warning.isHidden() and "patient identifiers" in dialog.warning.text()
    dialog.reject()

    # Opted in: the original file names are written; reviewed only: image 1 (one point) is left out.
    written = _export(qtbot, window, "csv", tmp_path / "ids.csv", monkeypatch, identifiers=True, reviewed_only=True)
    rows = written[0].read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [images[0].name]
    # The choice is not remembered: the next export is anonymised again.
    window.actions.export.trigger()
    assert window.exchange.export_dialog.anonymise.isChecked()
    window.exchange.export_dialog.reject()


def test_broken_file_shows_a_dialog_and_changes_nothing(tmp_path, qtbot, window, monkeypatch, boxes):
    images = _images(tmp_path / "img")
    doc = window.doc
    assert doc.open_project(_project(tmp_path / "p.anatomark", images, placed=True))
    before, depth = _points(doc), doc.undo_stack.count()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,R_apex_x,R_apex_y\n" + f"{images[0].name},1,2\n" + f"{images[1].name},-400,2\n")
    _import(window, bad, "csv", "corrected", monkeypatch)
    assert len(boxes) == 1 and "\n" not in boxes[0] and "bad.csv" in boxes[0] and "outside" in boxes[0]
    assert _points(doc) == before and doc.undo_stack.count() == depth and not doc.project.dirty

    # A file naming one image the project lacks: the rest is imported, the skip is reported.
    part = tmp_path / "part.csv"
    part.write_text("id,R_apex_x,R_apex_y\n" + f"{images[1].name},5,6\n" + "nosuch.png,1,2\n")
    _import(window, part, "csv", "corrected", monkeypatch)
    assert "skipped 1 not in the project: nosuch.png" in boxes[-1]
    assert doc.record(doc.image_ids()[1], "R_apex").position == (5.0, 6.0)
