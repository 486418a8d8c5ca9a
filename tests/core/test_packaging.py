"""The standalone bundle (packaging/): how a frozen program finds its files and runs its CLI.

The fast tests run always; building the bundle takes minutes and ~1 GB, so
``test_bundle_builds_and_runs_without_python`` runs only with ``ANATOMARK_BUILD_BUNDLE=1``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import app
import core
from core.frozen import bundle_dir, cli_command, is_frozen
from core.resources import models_dir, resources_dir, samples_dir, schemas_dir

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def bundle_config():
    spec = importlib.util.spec_from_file_location("bundle_config", PACKAGING / "bundle_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    """This process as PyInstaller's bootloader leaves it: ``sys.frozen`` and ``sys._MEIPASS``."""
    program = tmp_path / "anatomark"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    monkeypatch.setattr(sys, "executable", str(program))
    monkeypatch.delenv("ANATOMARK_RESOURCES", raising=False)
    return tmp_path


def test_not_frozen_in_a_python_install(monkeypatch):
    monkeypatch.delenv("ANATOMARK_RESOURCES", raising=False)
    assert not is_frozen() and bundle_dir() is None
    assert (schemas_dir() / "chest6.json").is_file() and (models_dir() / "chest6.pt").is_file()


def test_frozen_program_finds_resources_in_its_data_folder(frozen):
    assert is_frozen()
    assert bundle_dir() == frozen / "_internal"
    assert resources_dir() == frozen / "_internal" / "resources"
    assert samples_dir() == frozen / "_internal" / "resources" / "samples"


def test_resources_override_wins_over_the_bundle(frozen, monkeypatch, tmp_path):
    monkeypatch.setenv("ANATOMARK_RESOURCES", str(tmp_path / "mine"))
    assert resources_dir() == tmp_path / "mine"


def test_frozen_cli_command_is_the_bundle_program_itself(frozen):
    assert cli_command() == [str(frozen / "anatomark")]
    assert cli_command(frozen=False, executable="/usr/bin/python3")[:2] == ["/usr/bin/python3", "-c"]


def test_cli_command_outside_a_bundle_runs_the_installed_cli(tmp_path):
    command = cli_command()
    assert command[0] == sys.executable
    done = subprocess.run(command + ["models", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "chest6" in {card["name"] for card in json.loads(done.stdout)}


def _imported_packages(package) -> set[str]:
    """Every module name ``package``'s source imports (top level and inside functions)."""
    names = set()
    for path in Path(package.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def test_bundle_excludes_nothing_the_product_imports():
    cfg = bundle_config()
    imported = _imported_packages(core) | _imported_packages(app)
    excluded = set(cfg.EXCLUDES) | set(cfg.EXCLUDE_SUBMODULES)
    clashes = sorted(n for n in imported if any(n == e or n.startswith(e + ".") for e in excluded))
    assert not clashes, f"packaging/bundle_config.py excludes modules the product imports: {clashes}"


def test_bundle_hidden_imports_and_metadata_exist():
    cfg = bundle_config()
    assert [m for m in cfg.HIDDEN_IMPORTS if importlib.util.find_spec(m) is None] == []
    for dist in cfg.METADATA:
        importlib.metadata.distribution(dist)  # raises PackageNotFoundError when missing


@pytest.mark.skipif(os.environ.get("ANATOMARK_BUILD_BUNDLE") != "1",
                    reason="builds the PyInstaller bundle (minutes, ~1 GB): set ANATOMARK_BUILD_BUNDLE=1")
def test_bundle_builds_and_runs_without_python(tmp_path):
    build = subprocess.run([sys.executable, str(PACKAGING / "build_bundle.py"), "--out", str(tmp_path / "dist"),
                            "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stderr[-4000:]
    bundle = tmp_path / "dist" / "anatomark"
    plugins = bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms"
    assert {f"libq{name}.so" for name in bundle_config().QT_PLATFORMS} <= {p.name for p in plugins.iterdir()}
    smoke = subprocess.run(["bash", str(PACKAGING / "smoke_test_bundle.sh"), str(bundle)],
                           capture_output=True, text=True, timeout=900)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke: all checks passed" in smoke.stdout
