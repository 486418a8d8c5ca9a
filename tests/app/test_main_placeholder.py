"""The placeholder app entry point says honestly that the app is not built yet."""

from __future__ import annotations

from app.main import NOT_BUILT, main


def test_placeholder_prints_one_line_and_succeeds(capsys):
    assert main([]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [NOT_BUILT]
