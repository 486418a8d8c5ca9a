"""The status bar and the viewer's corner use the spacing the panels use: the project's record
of the image first (a data set import knows 0.2 mm for a ceph JPEG), then the file's own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from core.imaging import load_image
from core.project import Project


def _project_with_spacing(tmp_path, spacing):
    """A project holding one JPEG (no spacing in the file) recorded with ``spacing``."""
    jpeg = tmp_path / "ceph_like.jpg"
    Image.fromarray((np.arange(200 * 160) % 251).astype(np.uint8).reshape(200, 160)).save(jpeg, quality=95)
    radiograph = load_image(jpeg)
    assert radiograph.spacing is None
    path = tmp_path / "p.anatomark"
    with Project.create(path, "chest6") as project:
        project.add_image(jpeg, replace(radiograph, spacing=spacing))
        project.save()
    return path


def test_status_bar_and_corner_use_the_projects_spacing(make_window, tmp_path, mouse_for):
    window = make_window()
    assert window.doc.open_project(_project_with_spacing(tmp_path, (0.2, 0.2)))
    assert window.doc.spacing() == (0.2, 0.2)
    assert "0.200 × 0.200 mm/px" in window.viewer.corner.text()
    assert "spacing unknown" not in window.viewer.corner.text()
    mouse_for(window).move(mouse_for(window).at(50.0, 100.0))
    text = window.status.position.text()
    assert "mm" in text, text
    x_mm = float(text.split("(")[1].split(",")[0])
    assert abs(x_mm - 50.0 * 0.2) < 0.15  # the cursor lands within a screen pixel of (50, 100)


def test_without_any_spacing_the_corner_says_so(make_window, tmp_path, mouse_for):
    window = make_window()
    assert window.doc.open_project(_project_with_spacing(tmp_path, None))
    assert "spacing unknown" in window.viewer.corner.text()
    mouse_for(window).move(mouse_for(window).at(50.0, 100.0))
    assert "px" in window.status.position.text() and "mm" not in window.status.position.text()


def test_an_isbi_cephalogram_shows_its_reference_error_in_mm(ceph_window, shared_data):
    """Issue 17 item 4: ISBI cephalograms showed no reference error and "spacing unknown": the data
    set's table (two doctors, 0.2 mm/px) is read by the engine's own loader now."""
    from core.training.datasets import load_dataset

    window = ceph_window
    assert window.doc.spacing() == (0.2, 0.2)
    assert "0.200 × 0.200 mm/px" in window.viewer.corner.text()
    model = window.landmarks_panel.model
    truth = next(s for s in load_dataset(shared_data / "ceph_isbi2015", "test1").samples if s.id == "151")
    np.testing.assert_allclose(model.truth, truth.points)  # the two doctors' mean
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    error_column = next(c for c, h in enumerate(header) if "Error" in str(h))
    assert "mm" in str(model.data(model.index(0, error_column)))
