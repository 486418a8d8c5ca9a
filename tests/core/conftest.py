"""Fixtures of the project-store tests (tests/core/test_project*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.project import Project
from project_support import CHEST6


@pytest.fixture(scope="module")
def chest_png(shared_data) -> Path:
    path = shared_data / "chest_jsrt" / "images" / "JPCLN001.png"
    if not path.is_file():
        pytest.skip(f"shared data file missing: {path}")
    return path


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "study.anatomark", CHEST6, user="alice")
    yield p
    p.close()
