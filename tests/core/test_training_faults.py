"""Training faults (issue 6): a trainer killed mid-run, or a run whose loss diverges, leaves the
project file and its current model exactly as they were and publishes no version.

The trainer is started as the app starts it (``anatomark train --project P … --json`` in a
subprocess, the app holding the project's lock), on a small synthetic ceph19 project.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from core.learning import ModelRegistry
from core.project import Project
from project_support import reviewed_ceph_project, trainer_env

TRAIN = [sys.executable, "-m", "core.cli", "train", "--device", "cpu", "--stage", "patch", "--json"]


def _snapshot(path) -> tuple[bytes, list[str], str | None]:
    """What must survive a failed run: the project's bytes, the published versions, the current one."""
    with Project.open(path, read_only=True) as project:
        current = project.learning.get("current")
    return path.read_bytes(), ModelRegistry(path, "ceph19").versions(), current


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_trainer_killed_mid_run_changes_nothing(tmp_path):
    path = reviewed_ceph_project(tmp_path)
    before = _snapshot(path)
    app = Project.open(path)  # the app keeps the project open (and locked) while the trainer runs
    try:
        child = subprocess.Popen(TRAIN + ["--project", str(path), "--epochs", "5"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=trainer_env())
        try:
            events = []
            for line in child.stdout:  # kill it once it has trained (and checkpointed) an epoch
                events.append(json.loads(line)["event"])
                if events[-1] == "epoch":
                    break
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert events == ["start", "epoch"], child.stderr.read()[-2000:]
        assert child.returncode == -signal.SIGKILL
        assert not app.dirty and app.stale_lock is None
    finally:
        app.close()
    assert _snapshot(path) == before  # same bytes, no new version visible, same current model
    registry = ModelRegistry(path, "ceph19")
    # What a kill legitimately leaves: the run's scratch folder (epoch checkpoints, resumable with
    # --resume) beside the versions, hidden and never listed as a version, and its training lock,
    # naming a process that is gone (the next run takes it over).
    left = sorted(p.name for p in registry.root.iterdir())
    assert left[0] == ".training.lock" and (registry.root / left[0]).read_text().split()[1] == str(child.pid)
    assert len(left) == 2 and left[1].startswith(".work-") and left[1].endswith(f"-{child.pid}")
    with Project.open(path) as project:  # the trainer held no lock: nothing to recover
        assert not project.read_only and project.stale_lock is None and not project.dirty


@pytest.mark.slow
def test_diverging_run_stops_with_a_message_and_publishes_nothing(tmp_path):
    """An absurd learning rate overflows the loss to NaN/inf within a few steps (a real setting)."""
    path = reviewed_ceph_project(tmp_path)
    before = _snapshot(path)
    out = subprocess.run(TRAIN + ["--project", str(path), "--epochs", "2", "--set", "lr=1e25"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=trainer_env())
    assert out.returncode == 2, out.stderr[-2000:]
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "diverged"]
    assert "diverged" in events[-1]["message"] and "nothing was published" in events[-1]["message"]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anatomark: training diverged") and "Traceback" not in out.stderr
    assert _snapshot(path) == before
    assert list(ModelRegistry(path, "ceph19").root.glob("*")) == []  # its scratch folder is removed too
