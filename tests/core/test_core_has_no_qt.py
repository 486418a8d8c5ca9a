"""``core`` must never import Qt (STYLE.md: a hard line between core and views)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import core

QT_MODULES = ("PySide6", "pyqtgraph", "qtawesome", "qtpy", "shiboken6")

# Runs in a fresh interpreter: block every Qt module, then import all of core.
_IMPORT_ALL_WITHOUT_QT = textwrap.dedent(
    """
    import importlib, pkgutil, sys, traceback

    BLOCKED = {blocked!r}

    class BlockQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: core must not import Qt")
            return None

    sys.meta_path.insert(0, BlockQt())

    import core
    failures = []
    names = ["core"]
    def onerror(name):
        failures.append((name, traceback.format_exc()))
    for info in pkgutil.walk_packages(core.__path__, "core.", onerror=onerror):
        names.append(info.name)
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            failures.append((name, traceback.format_exc()))
    for name, tb in failures:
        print(f"--- {{name}}\\n{{tb}}")
    print(f"imported {{len(names) - len(failures)}} of {{len(names)}} core modules")
    sys.exit(1 if failures else 0)
    """
).format(blocked=QT_MODULES)


def test_every_core_module_imports_with_qt_blocked():
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_WITHOUT_QT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


_QT_IMPORT = re.compile(
    r"^\s*(?:import|from)\s+(?:%s)\b" % "|".join(QT_MODULES), re.MULTILINE
)


def test_no_core_source_file_imports_qt():
    assert core.__file__, "`core` imported as a namespace package: is a test folder shadowing it?"
    core_dir = Path(core.__file__).resolve().parent
    sources = sorted(core_dir.rglob("*.py"))
    assert sources, f"no Python files under {core_dir}"
    offenders = []
    for path in sources:
        for match in _QT_IMPORT.finditer(path.read_text(encoding="utf-8")):
            line = path.read_text(encoding="utf-8").count("\n", 0, match.start()) + 1
            offenders.append(f"{path.relative_to(core_dir.parent)}:{line}: {match.group().strip()}")
    assert not offenders, "core imports Qt:\n" + "\n".join(offenders)
