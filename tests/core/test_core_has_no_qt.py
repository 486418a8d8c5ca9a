"""``core`` must never import Qt (STYLE.md: a hard line between core and views): at run time here
(every module imports with Qt blocked); the static imports, indirect ones included, are held by
the import-linter contracts (tests/core/test_import_contracts.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
