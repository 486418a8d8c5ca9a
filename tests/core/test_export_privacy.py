"""Exports carry no patient identifiers unless the user opts in (issue 6 item 4, issue 7 item 1).

The real DICOM files are copied into a folder, and under file names, that carry a fake
patient's name, as clinic archives do (``/data/DOE^JOHN/1234.dcm``). Every format is exported
anonymised and every byte written is searched for that name, the source file names, the
folder, and the identifiers the DICOM headers hold (PatientName, PatientID, birth date,
institution…). With ``--include-identifiers`` the source file names (and, in a DICOM SR, the
patient module) come back: the opt-in works and is the only way in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from core.exchange import EXPORT_FORMATS, export_project
from core.project import Project
from test_privacy import _identifiers, _leaks, _real_files

FAKE = "DOE^JOHN"
FAKE_WORDS = {"DOE^JOHN", "DOE", "JOHN", "MRN4711"}
OUT = {"csv": "lm.csv", "coco": "coco.json", "labelme": "labelme", "isbi": "isbi", "dicom-sr": "sr"}


def _written_text(path: Path) -> str:
    """Every file under ``path`` (and the file names themselves) as one text."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return "\n".join(f"{p.name}\n{p.read_bytes().decode('latin-1')}" for p in files)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A project of the real DICOM files, copied to ``…/DOE^JOHN/MRN4711/DOE^JOHN_<n>_<stem>.dcm``
    (the first as ``DOE.JOHN``: no suffix, the name's last part looks like one)."""
    root = tmp_path_factory.mktemp("privacy_export")
    folder = root / FAKE / "MRN4711"
    folder.mkdir(parents=True)
    sources = _real_files()
    copies = []
    for n, src in enumerate(sources):
        copies.append(folder / (f"{FAKE}_{n}_{src.stem}.dcm" if n else "DOE.JOHN"))
        shutil.copy(src, copies[-1])
    project = Project.create(root / "study.anatomark", "chest6", user="tester")
    for path in copies:
        image = project.add_image(path)
        h, w = image.size
        for k, name in enumerate(project.schema.landmarks):
            project.set_point(image.id, name, w * (0.2 + 0.1 * k), h * (0.3 + 0.05 * k))
    project.save()
    yield project, sources, root
    project.close()


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_anonymised_export_has_no_identifiers(tmp_path, archive, fmt):
    project, sources, root = archive
    written = export_project(project, fmt, tmp_path / OUT[fmt])
    assert len(written) == len(project.images) if fmt != "csv" and fmt != "coco" else len(written) == 1
    text = _written_text(tmp_path / OUT[fmt])
    assert not _leaks(text, FAKE_WORDS), _leaks(text, FAKE_WORDS)
    assert str(root) not in text and FAKE not in text
    assert not [s.stem for s in sources if s.stem in text], "source file names are identifiers too"
    assert not _leaks(text, _identifiers(sources)), _leaks(text, _identifiers(sources))
    assert all(image.id in text for image in project.images), "images are named by content id"


def test_opt_in_keeps_file_names_and_patient_module(tmp_path, archive):
    project, sources, _root = archive
    export_project(project, "csv", tmp_path / "ids.csv", include_identifiers=True)
    names = [Path(image.path).name for image in project.images]  # DOE.JOHN, DOE^JOHN_1_…: identifiers
    assert all(name in (tmp_path / "ids.csv").read_text() for name in names)
    sr = export_project(project, "dicom-sr", tmp_path / "sr", include_identifiers=True)
    assert all(p.name.startswith("DOE") for p in sr)  # the source names (DOE.JOHN → DOE_sr.dcm)
    patient_ids = {str(pydicom.dcmread(s, stop_before_pixels=True).PatientID) for s in sources}
    assert {str(pydicom.dcmread(p).PatientID) for p in sr} == patient_ids


def test_cli_export_is_anonymised_unless_asked(tmp_path, archive, capsys):
    from core import cli

    project, _sources, _root = archive
    copy = tmp_path / "copy.anatomark"  # the fixture's project holds its own file's lock
    shutil.copy(project.path, copy)
    assert cli.main(["export", "--project", str(copy), "--format", "coco", "--out", str(tmp_path / "a.json")]) == 0
    assert FAKE not in (tmp_path / "a.json").read_text() + capsys.readouterr().out
    assert cli.main(["export", "--project", str(copy), "--format", "coco", "--out", str(tmp_path / "b.json"),
                     "--include-identifiers"]) == 0
    assert all(Path(image.path).name in (tmp_path / "b.json").read_text() for image in project.images)
