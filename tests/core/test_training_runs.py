"""Robust project trainings: a killed run resumes, dead runs' scratch is removed, one run at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.learning import ModelRegistry, RegistryError, RetrainSettings, retrain
from core.learning.interrupted import interrupted_run
from core.project import Project
from test_learning import _project


def _scratch(registry: ModelRegistry) -> list[str]:
    return sorted(p.name for p in registry.root.glob(".*-*")) if registry.root.is_dir() else []


@pytest.fixture
def dead_pid():
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_training_resumes_from_its_checkpoint_and_leaves_no_scratch(tmp_path, capsys):
    path = _project(tmp_path, n_reviewed=5, n_predicted=0)
    registry = ModelRegistry(path, "ceph19")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "train", "--project", str(path), "--epochs", "6", "--device", "cpu",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        seen = 0
        for line in proc.stdout:  # kill it, like a power cut, after two epochs of the global stage
            event = json.loads(line)
            seen += event["event"] == "epoch"
            if seen == 2:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert seen == 2
    left = _scratch(registry)
    assert len(left) == 1 and left[0].startswith(".work-") and left[0].endswith(f"-{proc.pid}")
    assert (registry.root / left[0] / "global.pt.last").exists()
    assert registry.versions() == ["v0"]
    assert (registry.root / ".training.lock").read_text().split()[1] == str(proc.pid)  # a killed run's lock, taken over below
    record = interrupted_run(registry)
    assert record is not None and record.parent == "v0" and record.settings["epochs"] == 6

    code = cli_main(["train", "--project", str(path), "--resume", "--device", "cpu", "--json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert events[0]["event"] == "start" and events[0]["resumed"] is True and events[0]["settings"]["epochs"] == 6
    first = next(e for e in events if e["event"] == "epoch" and e["stage"] == "global")
    assert first["epoch"] >= 3  # carried on after the last checkpoint, not from epoch 1
    assert events[-1]["event"] == "done" and events[-1]["version"] == "v1"
    assert _scratch(registry) == [] and interrupted_run(registry) is None
    assert not (registry.root / ".training.lock").exists()


def test_resume_without_an_interrupted_run_is_one_line(tmp_path, capsys):
    path = _project(tmp_path, n_reviewed=4, n_predicted=0)
    assert cli_main(["train", "--project", str(path), "--resume", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no interrupted training" in err and len(err.splitlines()) == 1


def test_dead_runs_scratch_is_removed_and_a_live_ones_kept(tmp_path, dead_pid):
    path = _project(tmp_path, n_reviewed=4, n_predicted=0)
    registry = ModelRegistry(path, "ceph19")
    registry.root.mkdir(parents=True)
    dead = [registry.root / f".work-20260101T000000000000000-{dead_pid}", registry.root / f".tmp-v1-{dead_pid}"]
    live = [registry.root / f".tmp-v1-{os.getppid()}", registry.root / ".work-20261203T000000000000001",  # a live process; a fresh unnamed one
            registry.root / f".work-20261203T000000000000002-hffffffff-{dead_pid}"]  # another computer's: its pid means nothing here
    for folder in dead + live:
        folder.mkdir()
    with Project.open(path) as project:
        retrain(project, RetrainSettings(epochs=1, device="cpu", stages=("global",)))
    assert all(not f.exists() for f in dead)
    assert all(f.exists() for f in live)  # another process may still be evaluating its version


def test_a_second_training_of_one_project_is_refused_while_the_first_runs(tmp_path, dead_pid):
    path = _project(tmp_path, n_reviewed=4, n_predicted=0)
    registry = ModelRegistry(path, "ceph19")
    registry.root.mkdir(parents=True)
    lock = registry.root / ".training.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(str(sleeper.pid))
        with Project.open(path) as project:
            with pytest.raises(RegistryError, match=f"another training of this project is running \\(process {sleeper.pid}\\)"):
                retrain(project, RetrainSettings(epochs=1, device="cpu", stages=("global",)))
        assert registry.versions() == ["v0"] and lock.read_text() == str(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    lock.write_text(str(dead_pid))  # a killed run's lock is taken over
    with Project.open(path) as project:
        result = retrain(project, RetrainSettings(epochs=1, device="cpu", stages=("global",)))
    assert result.version == "v1" and not lock.exists()


def test_another_computers_training_lock_is_respected(tmp_path):
    """A project on a shared drive: a lock written by another machine cannot be checked here."""
    path = _project(tmp_path, n_reviewed=4, n_predicted=0)
    registry = ModelRegistry(path, "ceph19")
    registry.root.mkdir(parents=True)
    lock = registry.root / ".training.lock"
    lock.write_text("ffffffff 1")
    with Project.open(path) as project:
        with pytest.raises(RegistryError, match="running on another computer"):
            retrain(project, RetrainSettings(epochs=1, device="cpu", stages=("global",)))
    assert lock.read_text() == "ffffffff 1" and registry.versions() == ["v0"]
