"""``anatomark --smoke-test`` and the training command inside and outside a frozen bundle.

The smoke test runs in its own process, as a user (or ``packaging/smoke_test_bundle.sh``)
runs it: it starts and quits its own event loop, which must not share a QApplication
with the rest of the test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from app.training import TrainOptions, train_command
from core.resources import resources_dir


def _smoke(home, **env: str) -> tuple[int, dict]:
    """Run ``python -m app --smoke-test`` (the anatomark program); returns (exit code, its JSON line)."""
    environ = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyside6", "ANATOMARK_HOME": str(home), **env}
    done = subprocess.run([sys.executable, "-m", "app", "--smoke-test"], env=environ,
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0])


def test_smoke_test_flag_predicts_the_demo_and_prints_one_json_line(predictor, tmp_path):
    code, result = _smoke(tmp_path / "home")
    assert code == 0 and result["ok"] is True and result["frozen"] is False
    assert result["image"] == "chest_RG1.dcm" and result["landmarks"] == len(predictor.schema.landmarks)
    assert (tmp_path / "home" / "demo.anatomark").is_file()  # it used the data folder it was given


def test_training_runs_this_python_outside_a_bundle(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    command = train_command(TrainOptions(project="/p/study.anatomark", epochs=3))
    assert command[:2] == [sys.executable, "-c"] and "core.cli" in command[2]
    assert command[3:7] == ["train", "--project", "/p/study.anatomark", "--from"]


def test_training_runs_the_bundle_program_when_frozen(monkeypatch, tmp_path):
    program = str(tmp_path / "anatomark")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", program)
    command = train_command(TrainOptions(project="/p/study.anatomark", epochs=3))
    assert command[:4] == [program, "train", "--project", "/p/study.anatomark"]
    assert command[command.index("--epochs") + 1] == "3" and command[-1] == "--json"


def test_smoke_test_fails_with_the_windows_error(tmp_path):
    resources = tmp_path / "resources"
    for part in ("samples", "schemas"):
        shutil.copytree(resources_dir() / part, resources / part)
    (resources / "models").mkdir()
    code, result = _smoke(tmp_path / "home", ANATOMARK_RESOURCES=str(resources))
    assert code == 1
    assert result["ok"] is False and "chest6" in result["error"] and result["landmarks"] == 0
