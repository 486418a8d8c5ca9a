"""The project store under faults: a full disk or failing write during save, and SIGKILL
while saving (split from test_project.py)."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from core.project import Project, ProjectError
from project_support import CHEST6, DICOM, R_APEX, S, make_prediction, temp_leftovers


# ---------------------------------------------------------------- failed saves


class _FullDisk:
    """A file object that writes half of what it is given, then fails with ENOSPC."""

    def __init__(self, fh) -> None:
        self._fh = fh

    def write(self, data) -> int:
        self._fh.write(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_disk_full_during_save_keeps_the_previous_file(project, chest_png, monkeypatch, failing):
    image = project.add_image(chest_png)
    project.store_prediction(image.id, make_prediction(image))
    project.save()
    before = project.path.read_bytes()
    project.set_point(image.id, R_APEX, 7.0, 8.0)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ProjectError, match="disk is full") as info:
        project.save()
    assert "unchanged" in str(info.value) and "\n" not in str(info.value)
    monkeypatch.undo()
    assert project.path.read_bytes() == before
    assert temp_leftovers(project.path) == [] and project.dirty
    project.save()
    assert not project.dirty
    with Project.open(project.path, read_only=True) as reread:
        assert reread.image(image.id).landmarks[R_APEX].x == 7.0


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_write_failure_inside_hdf5_keeps_the_previous_file(tmp_path):
    """A real failed write in the HDF5 library (file size limit → EFBIG), in a child process."""
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        image = p.add_image(DICOM)
        p.store_prediction(image.id, make_prediction(image))
        p.save()
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        from core.project import Project, ProjectError
        p = Project.open({str(path)!r})
        p.set_point({image.id!r}, "R_apex", 3.0, 4.0)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            p.save()
        except ProjectError as e:
            print("ERROR", e)
            sys.exit(0)
        print("SAVED")
        """
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ERROR study.anatomark: could not save"), out.stdout + out.stderr
    assert path.read_bytes() == before and temp_leftovers(path) == []
    with Project.open(path) as p:
        assert p.image(image.id).landmarks[R_APEX].state is S.PREDICTED


# ---------------------------------------------------------------- SIGKILL while saving

_SAVE_LOOP = textwrap.dedent(
    """
    import sys
    from core.project import Project
    path, image_id, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    p = Project.open(path, user="killed")
    assert not p.read_only, p.read_only_reason
    names = p.schema.landmarks
    print("ready", flush=True)
    i = start
    while True:
        p.set_point(image_id, names[i % len(names)], i + 0.25, 2 * i + 0.5)
        p.save()
        print("saved", i, flush=True)
        i += 1
    """
)


def _corrections(project: Project) -> list[dict]:
    return [e for e in project.log() if e["action"] == "set_point"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_during_saves_never_loses_a_saved_correction(tmp_path):
    """A child loops set_point + save and acknowledges each save; it is SIGKILLed at random
    moments. Every acknowledged correction must be in the file afterwards, and the file must
    open (taking over the dead child's lock). ANATOMARK_SIGKILL_ROUNDS sets the rounds (100)."""
    rounds = int(os.environ.get("ANATOMARK_SIGKILL_ROUNDS", "100"))
    path = tmp_path / "study.anatomark"
    with Project.create(path, CHEST6) as p:
        image = p.add_image(DICOM)
        prediction = make_prediction(image, masks=True)
        # noise does not compress: ~1.7 MB of heatmaps to write and fsync per save, so many kills
        # land while the temp file is being written, synced or renamed
        noise = np.random.default_rng(0).random((6, 384, 384)).astype(np.float32)
        prediction.heatmaps = noise / noise.sum(axis=(1, 2), keepdims=True)
        p.store_prediction(image.id, prediction)
        p.save()
    names = CHEST6.landmarks
    rng = random.Random(1234)
    acknowledged = -1
    killed_mid_write = 0
    for _ in range(rounds):
        with Project.open(path) as p:
            start = len(_corrections(p))
        child = subprocess.Popen([sys.executable, "-c", _SAVE_LOOP, str(path), image.id, str(start)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err
        complete = out.split("\n")[:-1]  # the kill may cut the last line short: not an acknowledgement
        acks = [int(line.split()[1]) for line in complete if line.startswith("saved")]
        if acks:
            assert acks == list(range(start, acks[-1] + 1))
        # A round killed before its first acknowledgement may still have landed one save;
        # the next round starts from what the file holds, so count from there (not from the
        # last acknowledgement of an earlier round, which let such saves add up under load).
        acknowledged = acks[-1] if acks else start - 1
        killed_mid_write += bool(temp_leftovers(path))

        with Project.open(path) as p:  # the child's lock is stale now: taken over
            assert not p.read_only, p.read_only_reason
            assert p.stale_lock is not None and p.stale_lock["pid"] == child.pid
            done = _corrections(p)
            n = len(done)
            assert acknowledged + 1 <= n <= acknowledged + 2  # at most one save landed unacknowledged
            for i, entry in enumerate(done):
                assert (entry["landmark"], entry["new"]["x"], entry["new"]["y"]) == (names[i % 6], i + 0.25, 2 * i + 0.5)
            for k, name in enumerate(names):
                last = max((i for i in range(n) if i % 6 == k), default=None)
                r = p.image(image.id).landmarks[name]
                if last is not None:
                    assert (r.x, r.y, r.state) == (last + 0.25, 2 * last + 0.5, S.CORRECTED)
            assert p.prediction(image.id).heatmaps.shape == (6, 384, 384)
            p.save()  # records the takeover
        assert temp_leftovers(path) == []  # the takeover removed the killed save's temp file
    assert acknowledged >= rounds  # the children really saved, many times
    print(f"{rounds} SIGKILLs, {acknowledged + 1} acknowledged saves, {killed_mid_write} killed mid-write")
