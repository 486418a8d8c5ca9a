"""Garbled project files (issue 18): each copy is refused unchanged, or opens with every record
readable — none is accepted and then fails when its history is read or it is saved again."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.project import Project, ProjectError
from project_support import CHEST6, DICOM, make_prediction

N_GARBLED = 200


@pytest.fixture(scope="module")
def long_log_project(tmp_path_factory) -> Path:
    """A project with a cached prediction and a history of ~2,500 rows (several log chunks)."""
    path = tmp_path_factory.mktemp("garbled") / "long.anatomark"
    with Project.create(path, CHEST6, user="alice") as project:
        image = project.add_image(DICOM)
        project.store_prediction(image.id, make_prediction(image))
        rng = np.random.default_rng(0)
        for _ in range(400):
            for name in CHEST6.landmarks:
                project.set_point(image.id, name, float(rng.uniform(10, 500)), float(rng.uniform(10, 500)))
        project.set_state(image.id, CHEST6.landmarks[0], "absent")
        project.set_verified(image.id, True)
        project.save()
    return path


def _log_byte_ranges(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of every chunk of the history and of the strings table in the file."""
    ranges = []
    with h5py.File(path, "r") as f:
        for name in ("log", "strings"):
            dset = f[name]
            if dset.chunks is None:
                offset = dset.id.get_offset()
                if offset is not None:
                    ranges.append((offset, dset.id.get_storage_size()))
                continue
            for i in range(dset.id.get_num_chunks()):
                info = dset.id.get_chunk_info(i)
                ranges.append((info.byte_offset, info.size))
    return ranges


def _every_record(project: Project) -> None:
    """Read what the app and the exports read: history, images, landmarks, predictions, learning."""
    project.log()
    for image in project.images:
        project.log(image.id)
        for record in image.landmarks.values():
            _ = (record.x, record.y, record.state, record.source, record.original)
    _ = project.learning


def test_garbled_copies_are_refused_unchanged_or_fully_readable(tmp_path, long_log_project):
    data = long_log_project.read_bytes()
    ranges = _log_byte_ranges(long_log_project)
    assert ranges, "the test project has a history on disk"
    rng = np.random.default_rng(18)
    outcomes = {"refused": 0, "opened": 0}
    for n in range(N_GARBLED):
        garbled = bytearray(data)
        if n % 4 == 3:  # a quarter anywhere in the file
            offsets = rng.integers(0, len(data), size=int(rng.integers(1, 4)))
        else:  # most in the history and the strings table, where damage used to be saved again
            offset, size = ranges[int(rng.integers(len(ranges)))]
            offsets = offset + rng.integers(0, max(size, 1), size=int(rng.integers(1, 4)))
        for at in offsets:
            garbled[int(at)] ^= int(rng.integers(1, 256))
        path = tmp_path / f"g{n}.anatomark"
        path.write_bytes(bytes(garbled))
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        try:
            project = Project.open(path)
        except ProjectError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 400
            assert hashlib.sha256(path.read_bytes()).hexdigest() == before, f"copy {n}: a refused file was changed"
            outcomes["refused"] += 1
            continue
        try:
            _every_record(project)  # must not raise: an accepted file is a readable file
            project.save()
        finally:
            project.close()
        with Project.open(path, read_only=True) as again:
            _every_record(again)
        outcomes["opened"] += 1
        path.unlink()
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == N_GARBLED


def test_a_time_with_one_byte_changed_is_refused(tmp_path, long_log_project):
    """The reported case: one byte of a log row's time changed (0xFF is not text)."""
    path = tmp_path / "t.anatomark"
    shutil.copy(long_log_project, path)
    with h5py.File(path, "r+") as f:
        row = f["log"][5]
        row["time"] = b"\xff" + bytes(row["time"])[1:]
        f["log"][5] = row
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ProjectError, match="history row 6 .* is garbled"):
        Project.open(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_refused_project_is_recovered_into_a_new_file(tmp_path, long_log_project, capsys):
    """The recovery path: the damaged file stays as it is; the new one holds the images, their
    landmarks and every sound history row, and says what it dropped."""
    from core.cli import main

    path = tmp_path / "d.anatomark"
    shutil.copy(long_log_project, path)
    with h5py.File(path, "r+") as f:
        for i in (3, 700, 1500):
            row = f["log"][i]
            row["user"] = 10**6  # a string code nobody gave out
            f["log"][i] = row
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ProjectError, match="project recover"):
        Project.open(path)
    with Project.open(long_log_project, read_only=True) as original:
        n_rows = len(original.log())
        points = {im.id: im.positions().copy() for im in original.images}
        states = {im.id: [lm.state for lm in im.landmarks.values()] for im in original.images}
    out = tmp_path / "recovered.anatomark"
    assert main(["project", "recover", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recovered 1 images" in text and f"{n_rows - 3} rows kept, 3 garbled rows dropped" in text
    assert "1 cached predictions dropped" in text
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # only read
    with Project.open(out) as recovered:
        _every_record(recovered)
        assert len(recovered.log()) == n_rows - 3
        for image in recovered.images:
            np.testing.assert_array_equal(image.positions(), points[image.id])
            assert [lm.state for lm in image.landmarks.values()] == states[image.id]
    assert main(["project", "recover", str(path), "--out", str(out)]) == 2  # never over an existing file
    assert "already exists" in capsys.readouterr().err
