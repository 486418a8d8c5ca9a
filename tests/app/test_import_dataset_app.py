"""File ▸ Import Dataset… (issue 19 item 5): a folder of images with labelme annotations into the open
project, read off the UI thread, landmarks as one undo step; a folder that cannot be imported is one
line and changes nothing."""

from __future__ import annotations

import shutil

from app import dialogs
from app.paths import new_project_path
from core.exchange import export_project
from core.project import LandmarkState, Project


def _labelme_folder(tmp_path, shared_data):
    images = [shared_data / "ceph_isbi2015" / "images" / f"{n}.jpg" for n in (151, 152)]
    with Project.create(tmp_path / "src.anatomark", "ceph19") as src:
        for path in images:
            image = src.add_image(path)
            for k, name in enumerate(src.schema.landmarks):
                src.set_point(image.id, name, 100.0 + 20 * k, 200.0 + 10 * k)
        folder = tmp_path / "dataset"
        export_project(src, "labelme", folder, include_identifiers=True)  # named by the source files
    for path in images:
        shutil.copy(path, folder / path.name)
    return folder


def test_import_a_labelme_folder_into_the_project(make_window, qtbot, shared_data, tmp_path, monkeypatch):
    folder = _labelme_folder(tmp_path, shared_data)
    window = make_window()
    assert window.new_project(new_project_path("ds"), "ceph19")
    monkeypatch.setattr(dialogs, "ask_dataset", lambda parent: (folder, "labelme"))
    window.actions.import_dataset.trigger()
    qtbot.waitUntil(lambda: len(window.doc.image_ids()) == 2, timeout=30000)
    qtbot.waitUntil(lambda: "image(s) added" in window.status.currentMessage(), timeout=30000)
    doc = window.doc
    for image_id in doc.image_ids():
        assert {r.state for r in doc.image(image_id).landmarks.values()} == {LandmarkState.CORRECTED}
    window.actions.undo.trigger()  # the landmarks go back; the images stay, as after Open Images
    assert {r.state for r in doc.image(doc.image_ids()[0]).landmarks.values()} == {LandmarkState.MISSING}


def test_a_bad_folder_is_one_line_and_changes_nothing(make_window, qtbot, shared_data, tmp_path, monkeypatch):
    folder = _labelme_folder(tmp_path, shared_data)
    (folder / "151.jpg").unlink()
    window = make_window()
    assert window.new_project(new_project_path("ds"), "ceph19")
    monkeypatch.setattr(dialogs, "ask_dataset", lambda parent: (folder, "labelme"))
    window.actions.import_dataset.trigger()
    qtbot.waitUntil(lambda: bool(window.errors.history), timeout=30000)
    message = window.errors.history[-1]
    assert "not in the folder" in message and "151" in message and "\n" not in message
    assert window.doc.image_ids() == []
