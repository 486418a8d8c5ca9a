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
    assert len(kept) >= 4 and "BROKEN" not in report, report
    assert any("never imports the GUI or Qt" in name for name in kept)
