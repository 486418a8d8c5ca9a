"""The review queue panel: order, the "Next to review" key, and reviewed landmarks leaving the queue."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.prediction import Prediction


def swapped_copy(doc, image_id: str, a: str, b: str) -> Prediction:
    """The image's cached prediction with landmarks ``a`` and ``b`` exchanged (a left/right swap)."""
    cached = doc.project.prediction(image_id)
    schema, image = doc.project.schema, doc.image(image_id)
    i, j = schema.index(a), schema.index(b)
    arrays = {k: np.array(getattr(cached, k)) for k in ("points", "soft_argmax", "refined", "confidence", "heatmaps")}
    for arr in arrays.values():
        arr[[i, j]] = arr[[j, i]]
    return Prediction(model_id=cached.model_id, schema=schema.name, landmarks=schema.landmarks,
                      image_size=image.size, spacing=image.spacing, heatmap_to_image=cached.heatmap_to_image,
                      **arrays)


def _chest_window(make_window, qtbot, shared_data, wait_for_predictions, numbers):
    """A window with the JSRT images JPCLN00<n>.png opened and predicted."""
    paths = [shared_data / "chest_jsrt" / "images" / f"JPCLN00{i}.png" for i in numbers]
    if not all(p.is_file() for p in paths):
        pytest.skip("the JSRT chest images of ../shared/data are needed for this test")
    window = make_window()
    window.open_images(paths)
    wait_for_predictions(qtbot, window)
    return window


def test_queue_orders_images_jumps_with_q_and_drops_what_was_verified(make_window, qtbot, shared_data,
                                                                       wait_for_predictions):
    window = _chest_window(make_window, qtbot, shared_data, wait_for_predictions, (1, 2, 3))
    doc, panel = window.doc, window.review_panel
    qtbot.waitUntil(lambda: len(panel.queue.items) == 3 and panel.tree.topLevelItemCount() == 3)
    last = doc.image_ids()[-1]
    with qtbot.waitSignal(panel.updated, timeout=5000):
        doc.store_prediction(last, swapped_copy(doc, last, "R_apex", "L_apex"))

    items = panel.queue.items
    assert [it.rank for it in items] == sorted((it.rank for it in items), reverse=True)
    top = panel.tree.topLevelItem(0)
    assert top.data(0, Qt.ItemDataRole.UserRole) == last and "R_apex and L_apex swapped" in top.text(2)
    assert top.childCount() == 6 and top.child(0).text(0) in ("R_apex", "L_apex")

    # Q jumps to the top item: its image and landmark are selected and highlighted in the viewer.
    first = items[0].landmarks[0]
    assert doc.current_image_id != last
    qtbot.keyClick(window, Qt.Key.Key_Q)
    assert (doc.current_image_id, doc.current_landmark) == (last, first.name)
    assert window.viewer.frame.selected == doc.project.schema.index(first.name)
    assert panel.tree.currentItem().data(0, Qt.ItemDataRole.UserRole + 1) == first.name
    # The whole reason of the current row is spelled out under the tree (the column is elided).
    assert not panel.detail.isHidden() and first.name in panel.detail.text() and first.reason in panel.detail.text()
    # Q again on a landmark left as it was skips to the next one.
    qtbot.keyClick(window, Qt.Key.Key_Q)
    assert (doc.current_image_id, doc.current_landmark) == (last, items[0].landmarks[1].name)

    # Verifying a landmark (A) takes it out of the queue; Q then goes to what is most urgent now.
    doc.select_landmark(first.name)
    qtbot.keyClick(window, Qt.Key.Key_A)
    qtbot.keyClick(window, Qt.Key.Key_Q)
    remaining = panel.queue.image(last)
    assert first.name not in {m.name for m in remaining.landmarks}
    assert (doc.current_image_id, doc.current_landmark) == (panel.queue.items[0].image_id,
                                                            panel.queue.items[0].landmarks[0].name)
    with qtbot.waitSignal(panel.updated, timeout=5000):
        window.actions.verify.trigger()  # sign the current image off: it leaves the queue
    assert doc.current_image_id not in {it.image_id for it in panel.queue.items}


def test_the_panel_says_which_suspects_are_left_on_the_image_in_view(make_window, qtbot, shared_data, wait_for_predictions):
    window = _chest_window(make_window, qtbot, shared_data, wait_for_predictions, (1, 2))
    doc, panel = window.doc, window.review_panel
    image_id = doc.image_ids()[0]
    with qtbot.waitSignal(panel.updated, timeout=5000):
        doc.store_prediction(image_id, swapped_copy(doc, image_id, "R_apex", "L_apex"))
    doc.select_image(image_id)
    suspects = [m.name for m in panel.queue.image(image_id).suspects]
    assert {"R_apex", "L_apex"} <= set(suspects)  # a left/right swap is always suspect
    text = panel.image_line.text()
    assert f"{len(suspects)} suspect" in text and "R_apex" in text and "L_apex" in text and "of 6 unreviewed" in text
    for name in ("R_apex", "L_apex"):  # accepting each takes it off the line
        doc.select_landmark(name)
        with qtbot.waitSignal(panel.updated, timeout=5000):
            qtbot.keyClick(window, Qt.Key.Key_A)
    assert "R_apex" not in panel.image_line.text() and "of 4 unreviewed" in panel.image_line.text()
    with qtbot.waitSignal(panel.updated, timeout=5000):
        window.actions.verify.trigger()
    assert panel.image_line.text() == "This image: nothing left to review."
