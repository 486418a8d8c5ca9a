"""Re-predicting the unreviewed neighbours after an edit (app.repredict), driven as a user does:
drag a point with real mouse events, see the proposal, apply it with Enter (one undo step),
undo, discard with Esc, switch the feature off."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from core.project import LandmarkState
from core.repredict import Reprediction

SHIFT = np.array([6.0, -4.0])


def _shifting_engine(calls):
    """A stand-in model: every unpinned landmark moves by SHIFT from the model's previous answer."""

    def factory(model):
        def engine(radiograph, pinned, key, previous, previous_model):
            calls.append(dict(pinned))
            names = ("R_apex", "R_costophrenic", "R_cardiophrenic", "L_apex", "L_costophrenic", "L_cardiophrenic")
            points = {n: tuple(previous[k] + SHIFT) for k, n in enumerate(names) if n not in pinned}
            return Reprediction(points, tuple(pinned), {"total": 1.0})

        return engine

    return factory


def _drag(window, mouse_for, marker_pos, name, dx, dy):
    k = window.doc.landmark_names().index(name)
    record = window.doc.record(window.doc.current_image_id, name)
    end = window.viewer.image_to_viewport(record.x + dx, record.y + dy)
    mouse_for(window).drag(marker_pos(window, k), end)


def _records(window):
    return dict(window.doc.image().landmarks)


def test_drag_shows_a_preview_apply_is_one_undo_step_discard_changes_nothing(
    make_window, qtbot, rg1, mouse_for, marker_pos, wait_for_predictions
):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    calls = []
    window.repredict.engine_factory = _shifting_engine(calls)
    doc, controller = window.doc, window.repredict
    assert controller.enabled_action.isChecked(), "on by default"
    assert not controller.bar.isVisible() and not window.viewer.proposal.is_shown()

    with qtbot.waitSignal(controller.proposal_shown, timeout=30000) as shown:
        _drag(window, mouse_for, marker_pos, "R_apex", 30.0, 20.0)
    moved = doc.record(doc.current_image_id, "R_apex")
    assert moved.state == LandmarkState.CORRECTED
    assert calls[-1] == {"R_apex": (moved.x, moved.y)}, "the person's point is pinned"
    assert shown.args == [5]
    assert controller.bar.isVisible() and window.viewer.proposal.is_shown()
    before = _records(window)
    assert {r.state for n, r in before.items() if n != "R_apex"} == {LandmarkState.PREDICTED}, "the preview is not an edit"

    depth = doc.undo_stack.count()
    qtbot.keyClick(window, Qt.Key.Key_Return)
    after = _records(window)
    assert doc.undo_stack.count() == depth + 1 and window.actions.undo.text() == "Undo Re-predict 5 landmarks"
    assert after["R_apex"] == before["R_apex"]
    for name, record in after.items():
        if name != "R_apex":
            assert record.state == LandmarkState.PREDICTED and record.source.startswith("model:")
            np.testing.assert_allclose((record.x, record.y), np.array((before[name].x, before[name].y)) + SHIFT, atol=1e-6)
    assert not controller.bar.isVisible() and not window.viewer.proposal.is_shown()
    k = doc.landmark_names().index("L_apex")
    np.testing.assert_allclose(window.viewer.frame.points[k], (after["L_apex"].x, after["L_apex"].y))

    window.actions.undo.trigger()  # one undo restores every landmark the re-prediction moved
    assert _records(window) == before

    # Accepting a landmark pins it too; Esc discards the proposal and changes nothing.
    doc.select_landmark("L_apex")
    with qtbot.waitSignal(controller.proposal_shown, timeout=30000):
        qtbot.keyClick(window, Qt.Key.Key_A)
    assert set(calls[-1]) == {"R_apex", "L_apex"}
    kept, depth = _records(window), doc.undo_stack.count()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not controller.bar.isVisible() and not window.viewer.proposal.is_shown()
    assert _records(window) == kept and doc.undo_stack.count() == depth
    qtbot.keyClick(window, Qt.Key.Key_Return)  # nothing proposed: Enter does nothing
    assert doc.undo_stack.count() == depth

    # Switched off in the Edit menu: a drag asks nothing.
    controller.enabled_action.setChecked(False)
    n_calls = len(calls)
    _drag(window, mouse_for, marker_pos, "R_costophrenic", -15.0, 10.0)
    qtbot.wait(200)
    assert len(calls) == n_calls and not controller.bar.isVisible()


def test_a_proposal_goes_stale_when_the_person_edits_again(make_window, qtbot, rg1, mouse_for, marker_pos, wait_for_predictions):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    window.repredict.engine_factory = _shifting_engine([])
    with qtbot.waitSignal(window.repredict.proposal_shown, timeout=30000):
        _drag(window, mouse_for, marker_pos, "R_apex", 30.0, 20.0)
    window.actions.undo.trigger()  # undoing the move the proposal was built on
    assert window.repredict.proposal is None and not window.repredict.bar.isVisible()


def test_the_bundled_model_answers_off_the_ui_thread(make_window, qtbot, rg1, mouse_for, marker_pos, wait_for_predictions):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    messages = []
    window.repredict.message.connect(messages.append)
    _drag(window, mouse_for, marker_pos, "R_apex", 30.0, 20.0)
    assert messages[:1] == ["Re-predicting the unreviewed landmarks…"]
    qtbot.waitUntil(lambda: len(messages) > 1, timeout=60000)
    assert messages[1].startswith(("Re-prediction: no unreviewed landmark moves", "Re-prediction ready")), messages


def test_starting_a_prediction_drops_the_preview_so_esc_cancels_it(
    make_window, qtbot, rg1, mouse_for, marker_pos, wait_for_predictions
):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    window.repredict.engine_factory = _shifting_engine([])
    with qtbot.waitSignal(window.repredict.proposal_shown, timeout=30000):
        _drag(window, mouse_for, marker_pos, "R_apex", 30.0, 20.0)
    assert window.repredict.discard_action.isEnabled()
    window.actions.predict.trigger()
    assert window.jobs.is_running()
    assert not window.repredict.discard_action.isEnabled() and not window.repredict.bar.isVisible(), \
        "Esc must not be ambiguous between Discard and Cancel Prediction"
    assert window.actions.cancel.isEnabled()
    wait_for_predictions(qtbot, window)
