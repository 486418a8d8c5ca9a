#!/usr/bin/env python3
"""Make sure the system libraries Qt (PySide6) loads are there, before anything starts Qt.

A bare Debian has none of them, and Qt then aborts with a message about the "xcb" platform
plugin that tells a newcomer nothing. This script checks each library by loading it; where
some are missing it installs their Debian packages when it can (root, apt-get), else prints the
exact install line and exits with status 1, so the README's ``… && anatomark`` stops with one
message instead of Qt's abort. On macOS and Windows PySide6 brings what it needs: nothing to do.

Standard library only: it runs before the project's dependencies exist.

    python3 packaging/ensure_qt_libs.py              # the desktop app (xcb): install when missing
    python3 packaging/ensure_qt_libs.py --offscreen  # the test suite (offscreen platform only)
    python3 packaging/ensure_qt_libs.py --ci         # CI: the app's set, plus Xvfb for screenshots
    python3 packaging/ensure_qt_libs.py --test-tools # CI: Orthanc + DICOMweb, dciodvfy, dsrdump (tests skip without)
    python3 packaging/ensure_qt_libs.py --dry-run    # only say what it would do
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

#: Libraries PySide6 6.10/6.11 loads for the offscreen platform (QtGui, fonts, GL), with the
#: Debian package of each.
OFFSCREEN = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
#: And for a real window on X11 (the xcb platform plugin).
XCB = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
#: Programs CI also wants: an X server for screenshots and benchmarks of the real window, and
#: DCMTK, whose dcmdjpeg the tests use to check the advice for 12-bit JPEG DICOM files.
CI_PROGRAMS = {"Xvfb": "xvfb", "xauth": "xauth", "dcmdjpeg": "dcmtk"}
#: What the DICOMweb and DICOM SR tests run against where it can be installed (``--test-tools``; they
#: skip with the reason elsewhere): a real Orthanc with its DICOMweb plugin, and the two validators
#: every exported SR must pass. Keys starting with "/" are files, the others programs on PATH.
TEST_TOOLS = {"/usr/sbin/Orthanc": "orthanc", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so": "orthanc-dicomweb",
              "dciodvfy": "dicom3tools", "dsrdump": "dcmtk"}


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname`` (what Qt will need it to do)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_packages(libraries: dict[str, str], programs: dict[str, str],
                     load=loadable, which=shutil.which) -> dict[str, str]:
    """{library or program: Debian package} for what is not there."""
    out = {lib: pkg for lib, pkg in libraries.items() if not load(lib)}
    out.update({prog: pkg for prog, pkg in programs.items()
                if not (os.path.exists(prog) if prog.startswith("/") else which(prog) is not None)})
    return out


def install_line(packages: list[str]) -> str:
    return "sudo apt-get install -y --no-install-recommends " + " ".join(packages)


def main(argv: list[str]) -> int:
    if not sys.platform.startswith("linux"):
        return 0
    libraries = dict(OFFSCREEN) if "--offscreen" in argv else {**OFFSCREEN, **XCB}
    programs = CI_PROGRAMS if "--ci" in argv else {}
    if "--test-tools" in argv:  # only the test servers and validators, not Qt's libraries
        libraries, programs = {}, TEST_TOOLS
    missing = missing_packages(libraries, programs)
    if not missing:
        print("ensure_qt_libs: " + ("the test tools are present" if "--test-tools" in argv
                                    else "Qt's system libraries are present"), file=sys.stderr)
        return 0
    packages = sorted(set(missing.values()))
    what = ", ".join(sorted(missing))
    can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if "--dry-run" in argv or not can_install:
        verb = "would install" if "--dry-run" in argv and can_install else "install them with"
        print(f"ensure_qt_libs: Qt needs system libraries that are missing ({what}); {verb}: {install_line(packages)}",
              file=sys.stderr)
        return 0 if "--dry-run" in argv else 1
    print(f"ensure_qt_libs: installing {' '.join(packages)} (missing: {what})", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            print(f"ensure_qt_libs: '{' '.join(cmd[:2])}' failed (exit {done.returncode}); install them with: "
                  f"{install_line(packages)}", file=sys.stderr)
            return 1
    still = missing_packages(libraries, programs)
    if still:
        print(f"ensure_qt_libs: still missing after installing: {', '.join(sorted(still))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
