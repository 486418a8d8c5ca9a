"""The project store (core.project): round trips, provenance, the log, locking and damaged
files (failed saves and SIGKILL: test_project_faults.py).

Images are real: the bundled RG1 chest DICOM and a JSRT chest PNG from ``../shared/data``
(tests needing it skip when it is absent). Predictions are ``core.prediction.Prediction``
objects built here with small arrays, so no model runs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest

from core.imaging import ImageLoadError
from core.prediction import Prediction
from core.project import (
    ImageRecord,
    LandmarkRecord,
    Project,
    ProjectError,
)
from core.project import predictions as prediction_cache
from core.schema import load_schema
from project_support import CHEST6, DICOM, L_APEX, R_APEX, S, file_log, make_prediction


# ---------------------------------------------------------------- records and rules


def test_landmark_record_equality_treats_nan_as_equal_and_checks_invariants():
    a = LandmarkRecord.missing("2025-01-01T00:00:00.000+00:00")
    b = LandmarkRecord(math.nan, math.nan, "missing", "", "2025-01-01T00:00:00.000+00:00")
    assert a == b and hash(a) == hash(b) and b.state is S.MISSING
    assert a != LandmarkRecord.missing("2025-01-01T00:00:00.001+00:00")
    with pytest.raises(ValueError):
        LandmarkRecord(math.nan, 1.0, S.PREDICTED, "model:m", "t")
    with pytest.raises(ValueError):
        LandmarkRecord(1.0, 2.0, S.ABSENT, "user:a", "t")


# ---------------------------------------------------------------- round trip


def test_round_trip_of_every_field(tmp_path, chest_png):
    path = tmp_path / "study.anatomark"
    with Project.create(path, "chest6", user="alice") as p:
        png = p.add_image(chest_png)
        dcm = p.add_image(DICOM)
        assert p.add_image(chest_png) is png and len(p.images) == 2  # same content: same record
        assert png.sha256 == hashlib.sha256(chest_png.read_bytes()).hexdigest() and png.id == png.sha256[:16]
        assert png.size == (1024, 1024) and dcm.size == (1955, 1841)
        assert dcm.spacing is None  # RG1's PixelSpacing is 0\0: unknown
        assert png.path == str(chest_png.absolute())
        assert png.status == "new" and png.counts()[S.MISSING] == 6

        updated = p.store_prediction(png.id, make_prediction(png, masks=True))
        assert updated == list(CHEST6.landmarks) and png.status == "predicted"
        p.store_prediction(dcm.id, make_prediction(dcm, model_id="chest6@other", seed=1))
        p.set_point(png.id, R_APEX, 100.25, 200.5)
        p.set_state(png.id, L_APEX, S.VERIFIED)
        p.set_state(png.id, "L_costophrenic", S.ABSENT)
        p.set_state(png.id, "R_costophrenic", S.MISSING)
        assert png.status == "in review"
        for name in CHEST6.landmarks:
            p.set_state(dcm.id, name, S.VERIFIED)
        p.set_verified(dcm.id, True)
        assert dcm.status == "verified" and dcm.verified_by == "alice"
        expected_images = [
            ImageRecord(im.id, im.path, im.sha256, im.size, im.spacing, im.verified, im.verified_by,
                        dict(im.landmarks)) for im in p.images
        ]
        expected_predictions = {im.id: p.prediction(im.id) for im in p.images}
        expected_log = p.log()
        p.save()
        assert not p.dirty

    with Project.open(path, user="bob") as q:
        assert q.schema == CHEST6 and q.user == "bob" and not q.read_only and not q.dirty
        assert q.images == expected_images  # order, ids, paths, hashes, sizes, spacing, every landmark field
        assert [im.status for im in q.images] == ["in review", "verified"]
        assert q.image(expected_images[1].id).verified_by == "alice"
        r = q.image(expected_images[0].id).landmarks[R_APEX]
        assert (r.x, r.y, r.state, r.source) == (100.25, 200.5, S.CORRECTED, "user:alice")
        for image_id, want in expected_predictions.items():
            got = q.prediction(image_id)
            assert isinstance(got, Prediction)
            assert (got.model_id, got.created, got.mask_classes) == (want.model_id, want.created, want.mask_classes)
            for field in ("points", "soft_argmax", "refined", "confidence", "heatmap_to_image", "heatmaps"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
            assert got.heatmaps.dtype == np.float32
            if want.masks is None:
                assert got.masks is None
            else:
                assert got.masks.dtype == bool and np.array_equal(got.masks, want.masks)
        assert q.log() == expected_log


def test_heatmaps_keep_the_model_distribution(project, chest_png):
    image = project.add_image(chest_png)
    prediction = make_prediction(image)
    project.store_prediction(image.id, prediction)
    cached = project.prediction(image.id)
    # float16 relative to each landmark's peak: 3 significant digits, tails below 6e-5 of the peak dropped
    np.testing.assert_allclose(cached.heatmaps, prediction.heatmaps, rtol=1e-3, atol=prediction.heatmaps.max() * 7e-5)
    np.testing.assert_allclose(cached.heatmaps.sum(axis=(1, 2)), 1.0, atol=2e-3)
    with pytest.raises(ValueError):
        cached.heatmaps[0, 0, 0] = 1.0  # the cache's arrays are read-only


# ---------------------------------------------------------------- provenance


def test_correction_keeps_the_original_prediction_through_later_edits(project, chest_png):
    image = project.add_image(chest_png)
    prediction = make_prediction(image)
    project.store_prediction(image.id, prediction)
    predicted = image.landmarks[R_APEX]
    assert predicted.state is S.PREDICTED and predicted.source == "model:chest6@test"
    assert predicted.confidence == pytest.approx(prediction.confidence[0])
    model_xy = (prediction.points[0, 0], prediction.points[0, 1])

    first = project.set_point(image.id, R_APEX, 10.0, 20.0)
    second = project.set_point(image.id, R_APEX, 11.0, 21.0)
    verified = project.set_state(image.id, R_APEX, S.VERIFIED)
    absent = project.set_state(image.id, R_APEX, S.ABSENT)
    for r in (first, second, verified, absent):
        assert r.original == pytest.approx(model_xy) and r.confidence == predicted.confidence
    assert (second.state, second.source, second.x, second.y) == (S.CORRECTED, "user:alice", 11.0, 21.0)
    assert (verified.x, verified.y, verified.source) == (11.0, 21.0, "user:alice")
    assert math.isnan(absent.x) and absent.source == "user:alice"

    # accepting a prediction keeps its position and model source; moving it afterwards remembers it
    accepted = project.set_state(image.id, L_APEX, S.VERIFIED)
    assert (accepted.x, accepted.y) == (prediction.points[3, 0], prediction.points[3, 1])
    assert accepted.source == "model:chest6@test" and accepted.original is None
    moved = project.set_point(image.id, L_APEX, 5.0, 6.0)
    assert moved.original == pytest.approx((prediction.points[3, 0], prediction.points[3, 1]))

    # a person placing a landmark the model never saw has no original
    project.set_state(image.id, "R_cardiophrenic", S.MISSING)
    placed = project.set_point(image.id, "R_cardiophrenic", 1.0, 2.0)
    assert placed.original is None and placed.confidence is None


def test_store_prediction_never_overwrites_a_persons_decision(project, chest_png):
    image = project.add_image(chest_png)
    project.store_prediction(image.id, make_prediction(image, seed=0))
    project.set_point(image.id, "R_apex", 10.0, 20.0)                   # CORRECTED
    project.set_state(image.id, "R_costophrenic", S.VERIFIED)           # VERIFIED
    project.set_state(image.id, "R_cardiophrenic", S.ABSENT)            # ABSENT
    project.set_state(image.id, "L_apex", S.MISSING)                    # MISSING
    before = dict(image.landmarks)

    second = make_prediction(image, model_id="chest6@v2", seed=5)
    updated = project.store_prediction(image.id, second)
    assert updated == ["L_apex", "L_costophrenic", "L_cardiophrenic"]  # MISSING and PREDICTED only
    for name in ("R_apex", "R_costophrenic", "R_cardiophrenic"):
        assert image.landmarks[name] == before[name]
    for k, name in [(3, "L_apex"), (5, "L_cardiophrenic")]:
        r = image.landmarks[name]
        assert (r.x, r.y, r.state, r.source) == (second.points[k, 0], second.points[k, 1], S.PREDICTED,
                                                 "model:chest6@v2")
    assert project.prediction(image.id).model_id == "chest6@v2"

    project.set_verified(image.id, True)
    assert project.store_prediction(image.id, make_prediction(image, model_id="chest6@v3", seed=9)) == []
    assert image.landmarks["L_apex"].source == "model:chest6@v2"  # a signed-off image keeps its landmarks
    assert project.prediction(image.id).model_id == "chest6@v3"   # but the overlays show the new output


def test_state_change_rules(project, chest_png):
    image = project.add_image(chest_png)
    with pytest.raises(ValueError, match="no position"):
        project.set_state(image.id, R_APEX, S.VERIFIED)
    project.store_prediction(image.id, make_prediction(image))
    n = len(project.log())
    assert project.set_state(image.id, R_APEX, S.PREDICTED) is image.landmarks[R_APEX]  # no-op
    assert len(project.log()) == n
    project.set_state(image.id, R_APEX, S.VERIFIED)
    assert project.set_state(image.id, R_APEX, S.PREDICTED).state is S.PREDICTED  # take back an accept
    project.set_point(image.id, L_APEX, 3.0, 4.0)
    with pytest.raises(ValueError):
        project.set_state(image.id, L_APEX, S.PREDICTED)
    project.set_state(image.id, L_APEX, S.VERIFIED)
    assert project.set_state(image.id, L_APEX, S.CORRECTED).state is S.CORRECTED  # take back a confirmation
    cleared = project.set_state(image.id, L_APEX, S.MISSING)
    assert cleared.original is None and math.isnan(cleared.x) and cleared.source == "user:alice"
    with pytest.raises(ValueError):
        project.set_point(image.id, L_APEX, math.nan, 1.0)
    with pytest.raises(KeyError):
        project.set_point(image.id, "no_such_landmark", 1.0, 1.0)
    with pytest.raises(KeyError):
        project.set_point("0000000000000000", R_APEX, 1.0, 1.0)


def test_prediction_for_another_schema_or_image_is_refused(project, chest_png):
    image = project.add_image(chest_png)
    with pytest.raises(ProjectError, match="schema"):
        project.store_prediction(image.id, make_prediction(image, schema=load_schema("ceph19")))
    wrong = make_prediction(image)
    wrong.image_size = (512, 512)
    with pytest.raises(ProjectError, match="512"):
        project.store_prediction(image.id, wrong)
    assert project.prediction(image.id) is None and image.status == "new"


# ---------------------------------------------------------------- log and undo


def test_restore_and_the_append_only_log(tmp_path, chest_png):
    path = tmp_path / "study.anatomark"
    p = Project.create(path, CHEST6, user="alice")
    image = p.add_image(chest_png)
    p.store_prediction(image.id, make_prediction(image))
    before = image.landmarks[R_APEX]
    after = p.set_point(image.id, R_APEX, 50.0, 60.0)
    p.save()
    saved_rows = file_log(path)

    assert p.restore(image.id, R_APEX, before) == before and image.landmarks[R_APEX] == before
    p.restore(image.id, R_APEX, after, action="redo")
    assert image.landmarks[R_APEX] == after
    p.set_verified(image.id, True)
    p.save()
    rows = file_log(path)
    assert len(rows) == len(saved_rows) + 3
    assert rows[: len(saved_rows)].tobytes() == saved_rows.tobytes()  # earlier rows untouched, new ones appended

    log = p.log()
    actions = [e["action"] for e in log]
    assert actions[:2] == ["add_image", "store_prediction"] and actions.count("predict") == 6
    assert actions[-4:] == ["set_point", "undo", "redo", "verify_image"]
    move = log[-4]
    assert move["user"] == "alice" and move["image"] == image.id and move["landmark"] == R_APEX
    assert move["old"] == {"x": before.x, "y": before.y, "state": "predicted"}
    assert move["new"] == {"x": 50.0, "y": 60.0, "state": "corrected"}
    assert move["time"].endswith("+00:00")
    assert log[-1]["landmark"] is None and log[-1]["old"] is None and log[-1]["note"] == "alice"
    assert p.log(image.id) == [e for e in log if e["image"] == image.id]
    p.close()


# ---------------------------------------------------------------- locking


def test_second_opener_gets_read_only_and_cannot_save(tmp_path):
    path = tmp_path / "study.anatomark"
    first = Project.create(path, CHEST6, user="alice")
    lock = path.with_name(path.name + ".lock")
    holder = json.loads(lock.read_text())
    assert {"user", "host", "pid", "since"} <= set(holder) and holder["pid"] == os.getpid()

    second = Project.open(path, user="bob")
    assert second.read_only and "alice" in second.read_only_reason
    assert second.lock_holder == {k: holder[k] for k in ("user", "host", "pid", "since")}
    image = first.add_image(DICOM)
    first.save()
    with pytest.raises(ProjectError, match="^project is read-only"):
        second.add_image(DICOM)
    with pytest.raises(ProjectError, match="^project is read-only"):
        second.save()
    second.close()
    assert lock.exists()  # a reader never removes the writer's lock

    first.close()
    assert not lock.exists()
    with Project.open(path, user="bob") as third:
        assert not third.read_only and third.lock_holder is None
        third.set_point(image.id, R_APEX, 1.0, 2.0)
        third.save()
    with Project.open(path, read_only=True) as reader:
        assert reader.read_only and reader.lock_holder is None
        with pytest.raises(ProjectError):
            reader.set_state(image.id, R_APEX, S.VERIFIED)
    assert not lock.exists()


def test_live_lock_of_another_process_or_host_is_respected(tmp_path):
    path = tmp_path / "study.anatomark"
    Project.create(path, CHEST6).close()
    lock = path.with_name(path.name + ".lock")
    for holder in ({"user": "carol", "host": socket.gethostname(), "pid": os.getppid(), "since": "t"},
                   {"user": "dave", "host": "another-host.example", "pid": 1, "since": "t"}):
        lock.write_text(json.dumps(holder))
        with Project.open(path) as p:
            assert p.read_only and p.lock_holder == holder
        assert json.loads(lock.read_text()) == holder


def test_stale_lock_is_taken_over_and_recorded(tmp_path):
    path = tmp_path / "study.anatomark"
    Project.create(path, CHEST6).close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"user": "erin", "host": socket.gethostname(), "pid": dead.pid, "since": "2025-01-01T00:00:00+00:00"}
    lock = path.with_name(path.name + ".lock")
    lock.write_text(json.dumps(stale))
    leftover = path.parent / f".{path.name}.abc123.tmp"  # what a save killed mid-write leaves
    leftover.write_bytes(b"half a file")

    with Project.open(path, user="frank") as p:
        assert not p.read_only and p.stale_lock == stale
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        assert not leftover.exists()
        entry = p.log()[-1]
        assert entry["action"] == "lock_takeover" and json.loads(entry["note"]) == stale
        assert not p.dirty
        p.save()
    with Project.open(path) as p:
        assert p.log()[-1]["action"] == "lock_takeover"


# ---------------------------------------------------------------- damaged and foreign files


def test_truncated_foreign_and_newer_files_raise_project_error(tmp_path, chest_png):
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        image = p.add_image(chest_png)
        p.store_prediction(image.id, make_prediction(image, masks=True))
        p.save()
    data = path.read_bytes()
    cuts = sorted({0, 8, 100, 1000, 4096, len(data) // 3, len(data) // 2, len(data) - 1})
    for n in cuts:
        cut = tmp_path / f"cut{n}.anatomark"
        cut.write_bytes(data[:n])
        with pytest.raises(ProjectError) as info:
            Project.open(cut)
        assert "\n" not in str(info.value) and str(info.value).startswith(cut.name)
        assert not cut.with_name(cut.name + ".lock").exists()  # a failed open leaves no lock

    with pytest.raises(ProjectError, match="not an Anatomark project"):
        Project.open(chest_png)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(ProjectError, match="not an Anatomark project"):
        Project.open(foreign)
    newer = tmp_path / "newer.anatomark"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ProjectError, match="newer Anatomark"):
        Project.open(newer)
    broken = tmp_path / "broken.anatomark"
    broken.write_bytes(data)
    with h5py.File(broken, "r+") as f:
        del f["landmarks/state"]
    with pytest.raises(ProjectError, match="damaged"):
        Project.open(broken)
    with pytest.raises(ProjectError, match="not found"):
        Project.open(tmp_path / "missing.anatomark")
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path, CHEST6)


def test_unreadable_image_raises_image_load_error(project, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    for bad in (tmp_path / "missing.dcm", fake, tmp_path):
        with pytest.raises(ImageLoadError):
            project.add_image(bad)
    assert project.images == [] and not project.dirty


def test_remove_image_drops_its_cached_prediction(tmp_path, chest_png):
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        keep, gone = p.add_image(chest_png), p.add_image(DICOM)
        for im in (keep, gone):
            p.store_prediction(im.id, make_prediction(im))
        p.save()
        assert p.remove_image(gone.id) is gone
        p.save()
        with pytest.raises(KeyError):
            p.image(gone.id)
    with h5py.File(path, "r") as f:
        assert list(f["predictions/heatmaps"]) == [keep.id]
    with Project.open(path) as p:
        assert [im.id for im in p.images] == [keep.id] and p.prediction(keep.id) is not None


def test_heatmaps_survive_saves_without_being_loaded(tmp_path, chest_png, monkeypatch):
    monkeypatch.setattr(prediction_cache, "MAX_LOADED", 1)
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        images = [p.add_image(chest_png), p.add_image(DICOM)]
        for i, im in enumerate(images):
            p.store_prediction(im.id, make_prediction(im, seed=i, masks=i == 0))
        want = {im.id: p.prediction(im.id) for im in images}
        p.save()
    with Project.open(path) as p:
        p.set_point(images[0].id, R_APEX, 1.0, 1.0)
        p.save()  # carried over from the previous file, never decoded
        p.prediction(images[1].id)
        p.prediction(images[0].id)  # evicts the other one's heatmaps (MAX_LOADED = 1)
        p.store_prediction(images[1].id, make_prediction(images[1], model_id="chest6@v2", seed=7))
        replaced = p.prediction(images[1].id)
        p.save()
        p.save()
    with Project.open(path) as p:
        got = p.prediction(images[0].id)
        np.testing.assert_array_equal(got.heatmaps, want[images[0].id].heatmaps)
        np.testing.assert_array_equal(got.masks, want[images[0].id].masks)
        again = p.prediction(images[1].id)
        assert again.model_id == "chest6@v2"
        np.testing.assert_array_equal(again.heatmaps, replaced.heatmaps)


def test_viewed_masks_are_kept_within_a_byte_budget(tmp_path, chest_png, monkeypatch):
    """Masks of a segmenting model are image-sized: what stays in memory after viewing is bounded
    in bytes, not only in count; the image being looked at stays loaded whatever its size."""
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        images = [p.add_image(chest_png), p.add_image(DICOM)]
        for i, im in enumerate(images):
            p.store_prediction(im.id, make_prediction(im, seed=i, masks=True))
        p.save()
    one = max(im.size[0] * im.size[1] for im in images) * 2  # bytes of one image's two masks, about
    monkeypatch.setattr(prediction_cache, "MAX_LOADED_BYTES", one)
    with Project.open(path) as p:
        cache = p._predictions
        assert cache.loaded_bytes() == 0
        first = p.prediction(images[0].id).masks.copy()
        p.prediction(images[1].id)
        assert cache.entries[images[0].id].masks is None and cache.entries[images[1].id].masks is not None
        assert 0 < cache.loaded_bytes() <= one + 10**6
        np.testing.assert_array_equal(p.prediction(images[0].id).masks, first)  # read again from the file


def test_a_damaged_prediction_cache_never_blocks_saving_corrections(tmp_path):
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        image = p.add_image(DICOM)
        p.store_prediction(image.id, make_prediction(image))
        p.save()
    with Project.open(path) as p:
        with h5py.File(path, "r+") as f:  # damage behind the project's back
            del f["predictions/heatmaps"]
        p.set_point(image.id, R_APEX, 9.0, 9.5)
        p.save()
        assert p.prediction(image.id) is None  # the cache is gone, the correction is not
    with Project.open(path) as p:
        assert p.image(image.id).landmarks[R_APEX].x == 9.0 and p.prediction(image.id) is None


def test_unwritable_folder_opens_read_only(tmp_path, monkeypatch):
    path = tmp_path / "study.anatomark"
    Project.create(path, CHEST6).close()
    os.chmod(path, 0o640)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr("core.project.project.ProjectLock.acquire", denied)
        with Project.open(path) as p:
            assert p.read_only and p.lock_holder is None and "permission denied" in p.read_only_reason
    with Project.open(path) as p:
        p.save()
    assert path.stat().st_mode & 0o777 == 0o640  # a save keeps the file's permissions


def test_a_calibrated_spacing_is_kept_with_its_provenance(tmp_path, chest_png):
    path = tmp_path / "cal.anatomark"
    with Project.create(path, "chest6", user="alice") as project:
        image = project.add_image(chest_png)
        assert image.spacing is None and project.spacing_source(image.id) is None
        for bad in ((0.0, 0.1), (float("nan"), 0.1), (-0.2, -0.2)):
            with pytest.raises(ValueError, match="positive mm"):
                project.set_spacing(image.id, bad, "bad")
        assert project.image(image.id).spacing is None
        project.set_spacing(image.id, (0.15, 0.15), "calibrated on a ruler: 30 mm over 200.0 px")
        project.save()
    with Project.open(path) as reopened:
        assert reopened.image(image.id).spacing == (0.15, 0.15)
        source = reopened.spacing_source(image.id)
        assert source["user"] == "alice" and source["action"] == "spacing"
        assert source["note"] == "calibrated on a ruler: 30 mm over 200.0 px (was unknown)"
