#!/usr/bin/env python3
"""Install PyTorch only when this Python has none.

The project needs ``torch>=2.4`` (see pyproject.toml). Letting pip resolve that
on a machine without torch can pull a multi-gigabyte CUDA build; pinning it
unconditionally would replace a working CUDA install. So: if ``import torch``
works, leave it alone; otherwise install ``torch==2.13.0``.

Standard library only: it runs before the project's dependencies exist.

    python3 packaging/ensure_torch.py            # install when missing
    python3 packaging/ensure_torch.py --dry-run  # only say what it would do
"""

from __future__ import annotations

import subprocess
import sys

PINNED = "torch==2.13.0"


def installed_torch_version() -> str | None:
    """Version of the torch this interpreter imports, or None when the import fails.

    Imports in a child process so a broken install cannot take this script down.
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return None
    return probe.stdout.strip() or None


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    version = installed_torch_version()
    if version is not None:
        print(f"ensure_torch: torch {version} already installed; leaving it", file=sys.stderr)
        return 0
    cmd = [sys.executable, "-m", "pip", "install", PINNED]
    print(f"ensure_torch: torch not importable; {'would run' if dry_run else 'running'}: "
          + " ".join(cmd), file=sys.stderr)
    if dry_run:
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
