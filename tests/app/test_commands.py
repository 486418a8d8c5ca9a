"""Edits as commands on the document, without a window: do, undo, redo give exact records."""

from __future__ import annotations

import pytest

from app.commands import AcceptLandmark, MarkAbsent, MoveLandmark, PlaceLandmark, VerifyImage
from app.document import ProjectDocument
from core.project import LandmarkState

S = LandmarkState


@pytest.fixture
def doc(qapp, tmp_path, rg1, predictor):
    """A document with one predicted image (the bundled DICOM)."""
    document = ProjectDocument(autosave_ms=60_000)
    errors = []
    document.error_raised.connect(errors.append)
    document.errors = errors
    assert document.create_project(tmp_path / "p.anatomark", predictor.schema)
    (image_id,) = document.add_images([rg1])
    document.store_prediction(image_id, predictor.predict(rg1))
    yield document
    document.close_project()


def rec(doc, name):
    return doc.record(doc.current_image_id, name)


def test_move_undo_redo_keeps_exact_records(doc, qtbot):
    image_id = doc.current_image_id
    before = rec(doc, "R_apex")
    changed = []
    doc.landmark_changed.connect(lambda i, n: changed.append((i, n)))
    doc.push(MoveLandmark(doc, image_id, "R_apex", before.x + 10, before.y - 5))
    after = rec(doc, "R_apex")
    assert (after.x, after.y, after.state) == (before.x + 10, before.y - 5, S.CORRECTED)
    assert after.original == (before.x, before.y) and after.confidence == before.confidence
    assert changed == [(image_id, "R_apex")]
    assert doc.undo_stack.undoText() == "Move R_apex"
    doc.undo_stack.undo()
    assert rec(doc, "R_apex") == before
    doc.undo_stack.redo()
    assert rec(doc, "R_apex") == after  # same timestamp and source: the record itself came back
    assert [e["action"] for e in doc.project.log(image_id)][-3:] == ["set_point", "undo", "redo"]
    assert doc.has_pending_save()


def test_accept_absent_place_and_verify(doc):
    image_id = doc.current_image_id
    r_apex, l_apex = rec(doc, "R_apex"), rec(doc, "L_apex")
    doc.push(AcceptLandmark(doc, image_id, "R_apex"))
    assert rec(doc, "R_apex").state == S.VERIFIED
    doc.push(MarkAbsent(doc, image_id, "L_apex"))
    absent = rec(doc, "L_apex")
    assert absent.state == S.ABSENT and absent.original == (l_apex.x, l_apex.y)
    doc.push(PlaceLandmark(doc, image_id, "L_apex", 1200.0, 140.0))
    placed = rec(doc, "L_apex")
    assert (placed.state, placed.x, placed.y) == (S.CORRECTED, 1200.0, 140.0)
    assert doc.undo_stack.undoText() == "Place L_apex"

    # Verify the image: the still-predicted points are accepted with it, in one undo step.
    predicted = [n for n, r in doc.image().landmarks.items() if r.state == S.PREDICTED]
    assert predicted
    doc.push(VerifyImage(doc, image_id, True))
    assert doc.image().verified and doc.image().status == "verified"
    assert all(rec(doc, n).state == S.VERIFIED for n in predicted)
    assert rec(doc, "L_apex").state == S.CORRECTED  # corrections stay corrections
    doc.undo_stack.undo()
    assert not doc.image().verified
    assert all(rec(doc, n).state == S.PREDICTED for n in predicted)
    for _ in range(3):
        doc.undo_stack.undo()
    assert rec(doc, "R_apex") == r_apex and rec(doc, "L_apex") == l_apex
    assert doc.image().status == "predicted"


def test_refused_change_never_enters_the_stack(doc):
    image_id = doc.current_image_id
    doc.push(MarkAbsent(doc, image_id, "R_apex"))
    doc.push(AcceptLandmark(doc, image_id, "R_apex"))  # an absent point cannot be accepted
    assert doc.undo_stack.count() == 1
    assert doc.errors and doc.errors[-1].startswith("Accept R_apex: cannot verify")


def test_read_only_document_refuses_edits(doc, qapp):
    doc.save()
    other = ProjectDocument()
    messages = []
    other.error_raised.connect(messages.append)
    assert other.open_project(doc.project.path)
    assert other.project.read_only
    image_id = other.current_image_id
    before = other.record(image_id, "R_apex")
    assert not other.push(MoveLandmark(other, image_id, "R_apex", 1.0, 2.0))
    assert other.record(image_id, "R_apex") == before
    assert other.undo_stack.count() == 0
    assert len(messages) == 1 and "read-only" in messages[0] and "\n" not in messages[0]
    other.close_project()


def test_stored_prediction_never_overwrites_a_correction(doc, predictor, rg1):
    image_id = doc.current_image_id
    doc.push(MoveLandmark(doc, image_id, "R_apex", 500.0, 200.0))
    corrected = rec(doc, "R_apex")
    updated = doc.store_prediction(image_id, predictor.predict(rg1))
    assert "R_apex" not in updated and len(updated) == len(doc.landmark_names()) - 1
    assert rec(doc, "R_apex") == corrected


def test_save_failure_is_one_line_and_keeps_edits(doc, monkeypatch):
    from core.project import ProjectError

    def fail():
        raise ProjectError("p.anatomark: could not save (the disk is full); the file on disk is unchanged")

    monkeypatch.setattr(doc.project, "save", fail)
    doc.push(MoveLandmark(doc, doc.current_image_id, "R_apex", 10.0, 10.0))
    assert not doc.save()
    assert doc.errors[-1].startswith("Saving failed, your edits are kept in memory: ")
    assert "\n" not in doc.errors[-1]
    assert rec(doc, "R_apex").state == S.CORRECTED
