"""Desktop app entry point (``anatomark`` with no subcommand).

A placeholder until the desktop app lands: it opens no window, says so on
stderr, and points to the CLI.
"""

from __future__ import annotations

import os
import sys

NOT_BUILT = (
    "anatomark: the desktop app is not built yet (see issue 'The desktop app'); "
    "use the CLI: anatomark --help"
)


def _display_available() -> bool:
    """True when Qt has somewhere to draw: a platform plugin chosen, or a display server."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(v) for v in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))


def main(argv: list[str]) -> int:
    """Run the desktop app; returns the process exit code. ``argv`` excludes the program name."""
    try:
        import PySide6  # noqa: F401  (the real app will build its QApplication here)
    except ImportError as exc:
        print(f"anatomark: the desktop app needs PySide6 ({exc}); "
              "install with: python3 -m pip install -e .", file=sys.stderr)
        return 1
    if not _display_available():
        print("anatomark: no display found (set DISPLAY, or QT_QPA_PLATFORM=offscreen)",
              file=sys.stderr)
        return 1
    print(NOT_BUILT, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
