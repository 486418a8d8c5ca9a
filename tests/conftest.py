"""Shared test set-up: Qt offscreen, qtpy pinned to PySide6, the shared data folder."""

from __future__ import annotations

import os

# Before anything imports Qt: draw offscreen unless the caller chose a platform,
# and make qtawesome (via qtpy) use PySide6 whatever else is installed.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _compiled_model_cache(tmp_path_factory):
    """Models compiled for OpenVINO (core.runtime) go to a folder of this run, never the user's cache."""
    os.environ["ANATOMARK_CACHE"] = str(tmp_path_factory.mktemp("anatomark-cache"))
    yield


@pytest.fixture(scope="session")
def shared_data():
    """Path of ``../shared/data`` (or ``ANATOMARK_DATA``); skips the test when absent."""
    from core.resources import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data not found: real-data tests need the shared data folder "
                    "beside the project")
    return path
