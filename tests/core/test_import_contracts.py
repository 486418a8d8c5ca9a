"""The architecture's layers as import-linter contracts (pyproject.toml ``[tool.importlinter]``):
core never imports the GUI or Qt, the engine never imports the command line, models never import
projects or training, inference never imports training. Indirect imports count."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept():
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra: pip install -e '.[dev]'")
    program = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([program, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    kept = re.findall(r"^(.+) KEPT", report, re.MULTILINE)
    assert len(kept) >= 5 and "BROKEN" not in report, report
    assert any("never imports the GUI or Qt" in name for name in kept)


def test_asking_which_model_a_project_uses_does_not_load_torch(tmp_path):
    """Issue 20: the answer used to live in the trainer's module (core.learning.finetune), so the app
    imported PyTorch to ask it while starting."""
    code = ("import sys; from core.project import Project; from core.learning import active_model\n"
            f"p = Project.create({str(tmp_path / 'p.anatomark')!r}, 'chest6', user='t')\n"
            "m = active_model(p); print(m.version, m.path is not None, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["v0", "True", "False"]


def test_the_prediction_type_loads_no_torch():
    """``core.prediction.Prediction`` is the type the store, the app and the exporters name: importing it
    must not cost a PyTorch import (it lived in core.inference, a torch module)."""
    code = "import sys; from core.prediction import Prediction; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
