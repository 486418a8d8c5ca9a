"""A real Orthanc with its DICOMweb plugin for the tests (Debian packages orthanc and
orthanc-dicomweb, which .ci/run installs); tests skip with the reason where it is absent.

Each server gets its own storage folder, a free port, no DICOM listener, and HTTP basic
authentication, so the tests also cover the credentials' path.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
USER, PASSWORD = "radiologist", "not-in-any-file-9f3c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plugin() -> Path | None:
    for folder in PLUGIN_DIRS:
        found = sorted(folder.glob("libOrthancDicomWeb.so*")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


@dataclass
class Orthanc:
    root: str  # the DICOMweb root, without credentials
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_orthanc(folder: Path) -> Orthanc:
    """Start Orthanc in ``folder``; pytest.skip with the reason when it cannot run here."""
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    plugin = _plugin()
    if binary is None or plugin is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (Debian packages orthanc and "
                    "orthanc-dicomweb; .ci/run installs them)")
    port = free_port()
    config = {"Name": "anatomark-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
              "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = folder / "orthanc.log"
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log.open("w"), stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}/dicom-web"
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, root, USER, PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.skip(f"Orthanc exited at start (code {process.returncode}): {log.read_text()[-300:]}")
        try:
            opener.open(f"{root}/studies", timeout=2).read()
            return Orthanc(root, process, log)
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    process.kill()
    pytest.skip(f"Orthanc did not answer within 30 s: {log.read_text()[-300:]}")
