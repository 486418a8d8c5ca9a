"""CI runs exactly the test command the README gives people."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"


def readme_command(marker: str) -> str:
    """The one-line command in the fenced block right after ``<!-- command:MARKER -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- command:%s -->\s*```[a-z]*\n(.*?)\n```" % re.escape(marker), text, re.DOTALL
    )
    assert found, f"README.md has no fenced command after <!-- command:{marker} -->"
    command = found.group(1).strip()
    assert "\n" not in command, f"README command '{marker}' must be one line"
    return command


def test_readme_has_exactly_two_fenced_commands():
    fences = re.findall(r"^```", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(fences) == 4, "README.md should have exactly two fenced blocks"


def test_ci_runs_the_readme_test_command_verbatim():
    command = readme_command("tests")
    ci_lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert command in ci_lines, f".ci/run must contain this line verbatim:\n{command}"


def test_readme_app_command_starts_the_app():
    command = readme_command("app")
    assert command.startswith("python3 packaging/ensure_qt_libs.py && python3 packaging/ensure_torch.py && ")
    assert command.endswith("&& anatomark")


def test_readme_test_command_checks_the_offscreen_libraries_first():
    assert readme_command("tests").startswith("python3 packaging/ensure_qt_libs.py --offscreen && ")


def _ensure_qt_libs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ensure_qt_libs", ROOT / "packaging" / "ensure_qt_libs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ensure_qt_libs_names_the_packages_of_what_is_missing():
    mod = _ensure_qt_libs()
    absent = {"libxcb-cursor.so.0", "libEGL.so.1"}
    missing = mod.missing_packages({**mod.OFFSCREEN, **mod.XCB}, {"Xvfb": "xvfb", "xauth": "xauth"},
                                   load=lambda lib: lib not in absent, which=lambda prog: None if prog == "Xvfb" else "/usr/bin/x")
    assert missing == {"libxcb-cursor.so.0": "libxcb-cursor0", "libEGL.so.1": "libegl1", "Xvfb": "xvfb"}
    assert mod.install_line(sorted(set(missing.values()))) == "sudo apt-get install -y --no-install-recommends libegl1 libxcb-cursor0 xvfb"


def test_test_tools_are_checked_as_files_or_programs(tmp_path):
    """--test-tools: Orthanc's DICOMweb plugin is a file (not a program on PATH, not loadable by name)."""
    mod = _ensure_qt_libs()
    plugin = tmp_path / "libOrthancDicomWeb.so"
    tools = {str(plugin): "orthanc-dicomweb", "dciodvfy": "dicom3tools"}
    assert mod.missing_packages({}, tools, which=lambda prog: "/usr/bin/x") == {str(plugin): "orthanc-dicomweb"}
    plugin.write_bytes(b"")
    assert mod.missing_packages({}, tools, which=lambda prog: None) == {"dciodvfy": "dicom3tools"}
    assert set(mod.TEST_TOOLS.values()) == {"orthanc", "orthanc-dicomweb", "dicom3tools", "dcmtk"}
    assert "ensure_qt_libs.py --test-tools" in CI_RUN.read_text()


def test_ensure_qt_libs_passes_where_qt_runs():
    """This suite runs Qt offscreen, so the offscreen set is loadable here (a real check, no mock)."""
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "ensure_qt_libs.py"), "--offscreen", "--dry-run"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if sys.platform.startswith("linux"):
        assert "present" in result.stderr


def test_ci_script_is_valid_bash():
    if sys.platform.startswith("win"):
        pytest.skip("bash syntax check on POSIX only")
    subprocess.run(["bash", "-n", str(CI_RUN)], check=True)


def test_ensure_torch_leaves_an_installed_torch_alone():
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "ensure_torch.py"), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "already installed; leaving it" in result.stderr
