#!/usr/bin/env python3
"""Build the standalone one-folder bundle ``dist/anatomark/`` with PyInstaller.

    python3 packaging/build_bundle.py            # build (installs PyInstaller if missing)
    python3 packaging/build_bundle.py --out DIR  # put the bundle in DIR/anatomark instead
    bash packaging/smoke_test_bundle.sh          # then prove it runs without Python

Run it with the Python that has Anatomark installed (``pip install -e .``): PyInstaller
freezes that interpreter and its packages. The same command builds on Windows and macOS
(packaging/README.md). It is not part of CI: a build takes minutes and about 1 GB of disk.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
ROOT = PACKAGING.parent
SPEC = PACKAGING / "anatomark.spec"
PYINSTALLER = "pyinstaller>=6.10"


def ensure_pyinstaller() -> None:
    """Install PyInstaller from the package index when this Python has none."""
    if importlib.util.find_spec("PyInstaller") is None:
        print(f"build_bundle: installing {PYINSTALLER}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", PYINSTALLER])


def folder_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(out: Path, work: Path) -> Path:
    """Run PyInstaller on the spec; returns the bundle folder (``out/anatomark``)."""
    ensure_pyinstaller()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(out), "--workpath", str(work), str(SPEC)]
    print("build_bundle: " + " ".join(cmd), file=sys.stderr)
    subprocess.check_call(cmd, cwd=ROOT)
    bundle = out / "anatomark"
    program = bundle / ("anatomark.exe" if sys.platform == "win32" else "anatomark")
    if not program.is_file():
        raise SystemExit(f"build_bundle: PyInstaller finished but {program} is missing")
    return bundle


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder that receives anatomark/ (default: dist)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's scratch folder, kept so an unchanged rebuild reuses its analysis")
    args = parser.parse_args(argv)
    started = time.monotonic()
    bundle = build(args.out.resolve(), args.work.resolve())
    size = folder_size(bundle)
    print(f"build_bundle: {bundle} built in {time.monotonic() - started:.0f} s, {size / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
