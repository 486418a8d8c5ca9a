"""The command line's front door: a mistyped command is an error, --help lists every command."""

from __future__ import annotations

import pytest

from core.cli import COMMAND_SUMMARY, SUBCOMMANDS, main


def test_a_mistyped_command_is_one_line_naming_the_closest_command(capsys):
    assert main(["simulat-review", "--model", "ceph19", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown command 'simulat-review'" in err and "did you mean 'simulate-review'?" in err and "predict" in err


def test_files_still_open_the_app(tmp_path, monkeypatch):
    """The anatomark program (app.launch) gives files, no argument and the app's flags to the app and
    subcommands to the command line; the command line alone refuses them in one line."""
    from app.launch import main as program

    opened, commands = [], []
    monkeypatch.setattr("app.main.main", lambda argv: opened.append(argv) or 0)
    monkeypatch.setattr("core.cli.commands.main", lambda argv: commands.append(argv) or 0)
    image = tmp_path / "scan"  # an existing file without extension (a DICOM, say)
    image.write_bytes(b"x")
    for argv in ([str(image)], ["missing.png"], [str(tmp_path / "sub" / "x")], [], ["--smoke-test"]):
        assert program(argv) == 0
    assert len(opened) == 5 and commands == []
    for argv in (["models"], ["--help"], ["simulat-review"]):
        assert program(argv) == 0
    assert commands == [["models"], ["--help"], ["simulat-review"]]


def test_the_command_line_alone_does_not_start_the_app(tmp_path, capsys):
    image = tmp_path / "scan.png"
    image.write_bytes(b"x")
    assert main([str(image)]) == 2
    assert "no command given" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    assert set(COMMAND_SUMMARY) == set(SUBCOMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in out


def test_an_os_error_names_the_file_only_without_errno(tmp_path, capsys):
    """Issue 18: messages showed "[Errno 2] … '/full/folder/path'"; the guarantees say file names only."""
    from core.messages import error_line

    assert error_line(OSError(28, "No space left on device", str(tmp_path / "deep" / "v3.pt"))) == "v3.pt: No space left on device"
    assert error_line(OSError(28, "No space left on device")) == "No space left on device"
    work = tmp_path / "secret-patient-folder" / "nope"
    (tmp_path / "secret-patient-folder").write_text("a file, not a folder")
    assert main(["train", "--recipe", "chest6", "--dataset", str(tmp_path), "--work", str(work), "--stage", "global"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Errno" not in err and str(tmp_path) not in err, err
