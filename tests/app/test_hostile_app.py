"""Hostile files in the app (issue 6, item 1): opening them shows an error dialog with one
line per file, no traceback, and the app stays usable (a good image still opens and
is predicted, edits still undo)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox


@pytest.fixture
def captured_boxes(monkeypatch):
    """Every QMessageBox the app opens, recorded instead of shown."""
    shown: list[str] = []

    def record(box: QMessageBox) -> None:
        shown.append(box.text())

    monkeypatch.setattr(QMessageBox, "open", record)
    return shown


def _png_bomb_header(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_hostile_files_show_a_dialog_and_the_app_stays_usable(tmp_path, make_window, qtbot, captured_boxes):
    rg1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"
    hostile = {
        "empty.dcm": b"",
        "notes.png": b"this is not an image\n",
        "truncated.dcm": rg1.read_bytes()[:400],
        "bomb.png": _png_bomb_header(30000),
    }
    paths = []
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    damaged_project = tmp_path / "damaged.anatomark"
    damaged_project.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 300)

    window = make_window()
    doc = window.doc

    # A project first, then the hostile images into it: one dialog naming every bad file.
    window.open_images([rg1])
    qtbot.waitUntil(lambda: not window.jobs.is_running(), timeout=60000)
    assert len(doc.image_ids()) == 1
    window.open_images(paths)
    qtbot.waitUntil(lambda: bool(captured_boxes), timeout=5000)
    message = captured_boxes[-1]
    for name in hostile:
        assert name in message
    lines = message.splitlines()
    assert len(lines) == 1 + len(hostile) and "Traceback" not in message
    assert len(doc.image_ids()) == 1  # nothing half-added

    # A damaged project file: a dialog, and the open project stays open.
    before = len(captured_boxes)
    assert not doc.open_project(damaged_project)
    qtbot.waitUntil(lambda: len(captured_boxes) > before, timeout=5000)
    assert "damaged.anatomark" in captured_boxes[-1] and "\n" not in captured_boxes[-1]
    assert doc.project is not None and len(doc.image_ids()) == 1

    # Still usable: predictions are there, an edit is made and undone.
    image_id = doc.image_ids()[0]
    qtbot.waitUntil(lambda: doc.prediction(image_id) is not None, timeout=60000)
    from app.commands import MoveLandmark

    name = doc.landmark_names()[0]
    before_record = doc.record(image_id, name)
    doc.undo_stack.push(MoveLandmark(doc, image_id, name, before_record.x + 10, before_record.y + 5))
    assert doc.record(image_id, name).x == pytest.approx(before_record.x + 10)
    doc.undo_stack.undo()
    assert doc.record(image_id, name).x == pytest.approx(before_record.x)
