"""The landmark table's Model column: how far the latest prediction lies from the user's points
(issue 4, item 6: after adoption reviewed images keep the user's points and show the distance)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from app.commands import MoveLandmark
from app.panels.landmarks import DASH, MODEL_COLUMN


def test_model_column_follows_the_users_points_and_new_predictions(make_window, qtbot, jsrt_png, wait_for_predictions,
                                                                   predictor):
    window = make_window()
    window.open_images([jsrt_png])
    wait_for_predictions(qtbot, window)
    doc, model = window.doc, window.landmarks_panel.model
    image_id = doc.current_image_id
    column = [lambda r=r: model.data(model.index(r, MODEL_COLUMN)) for r in range(model.rowCount())]
    assert [cell() for cell in column] == [DASH] * 6, "predicted points are the model's own: no distance"

    cached = doc.prediction()
    x, y = cached.points[0]
    doc.push(MoveLandmark(doc, image_id, "R_apex", x + 3.0, y + 4.0))
    assert column[0]() == "5.0 px"  # this PNG has no spacing: pixels
    assert column[1]() == DASH
    tooltip = model.data(model.index(0, MODEL_COLUMN), role=3)  # ToolTipRole
    assert tooltip == f"model {cached.model_id}: 5.0 px from your point"

    # A newly adopted version predicts the image again: the user's point stays, the distance follows.
    fresh = predictor.predict(jsrt_png)
    moved = np.array(fresh.points, dtype=np.float64)
    moved[0] = (x + 3.0 - 6.0, y + 4.0 - 8.0)  # 10 px from the user's point
    doc.store_prediction(image_id, replace(fresh, model_id="chest6@v2", points=moved))
    record = doc.record(image_id, "R_apex")
    assert (record.x, record.y) == (x + 3.0, y + 4.0)
    assert column[0]() == "10.0 px"
    doc.select_landmark("R_apex")
    assert "model chest6@v2: 10.0 px from your point" in window.landmarks_panel.details.text()
    # The other rows took the new prediction (not reviewed): still no distance there.
    assert column[3]() == DASH and math.isclose(doc.record(image_id, "L_apex").x, moved[3, 0])


def test_empty_optional_columns_are_hidden_until_they_carry_information(make_window, qtbot, rg1, wait_for_predictions,
                                                                       predictor):
    """The demo DICOM has no spacing and no ground truth: mm and Error stay hidden; the Model
    column appears once the user has placed a point the prediction can be compared with."""
    from app.panels.landmarks import COLUMNS

    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    doc, table = window.doc, window.landmarks_panel.table
    hidden = lambda name: table.isColumnHidden(COLUMNS.index(name))  # noqa: E731
    assert hidden("x, y (mm)") and hidden("Error") and hidden("Model")
    assert not hidden("x, y (px)") and not hidden("Conf.")
    x, y = doc.prediction().points[0]
    doc.push(MoveLandmark(doc, doc.current_image_id, "R_apex", x + 3.0, y + 4.0))
    assert not hidden("Model")
    window.actions.undo.trigger()
    assert hidden("Model")
