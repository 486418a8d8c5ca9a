"""Patient privacy (issue 6, item 4): ``core.privacy`` and the proof, on the real DICOM
files, that no identifier reaches ``Radiograph.metadata``, project files, CLI JSON or logs.

The identifiers are read from the files themselves with pydicom, then searched for
(as whole words, case-insensitive) in everything Anatomark writes or prints.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import h5py
import numpy as np
import pydicom
import pytest

from core.privacy import IDENTIFYING_TAGS, anonymise_metadata, has_burned_in_text, identifiers_in, pseudonym

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "samples" / "chest_RG1.dcm"
# One file per distinct patient in ../shared/data/dicom (the others repeat these headers).
SHARED_PICK = ("RG1_UNCR.dcm", "RG2_JPLL.dcm", "RG3_J2KR.dcm", "mlut_18.dcm", "vlut_04.dcm")


def _real_files() -> list[Path]:
    files = [SAMPLE]
    shared = ROOT.parent / "shared" / "data" / "dicom"
    files += [shared / name for name in SHARED_PICK if (shared / name).is_file()]
    return files


#: What identifies a person or a place; dates other than the birth date, descriptions and
#: comments are also dropped by anonymise_metadata, but their values ("Modality", a study
#: date that equals the file's creation date) are not identifiers to search for.
PERSONAL = ("PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientAddress", "AccessionNumber",
            "StudyID", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName",
            "PerformingPhysicianName", "OperatorsName", "StationName", "DeviceSerialNumber")


_PHANTOM_WORDS = {"modality", "test", "voi", "lut"}


def _identifiers(files: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword, value in identifiers_in(ds).items():
            if keyword not in PERSONAL:
                continue  # UIDs are checked separately below (they are long and never words)
            for part in {value, *value.split("^")}:
                part = part.strip()
                # Name parts of the DICOM test phantoms ("Modality^LUT^Test") that are ordinary
                # words are searched as the whole name only.
                if len(part) >= 4 and (part == value or part.lower() not in _PHANTOM_WORDS):
                    found.add(part)
    return found


def _leaks(text: str, identifiers: set[str]) -> list[str]:
    return sorted(i for i in identifiers if re.search(r"(?<![\w])" + re.escape(i) + r"(?![\w])", text, re.IGNORECASE))


@pytest.fixture(scope="module")
def real_files() -> list[Path]:
    files = _real_files()
    return files  # the bundled sample always; the shared files when ../shared/data/dicom exists


@pytest.fixture(scope="module")
def identifiers(real_files) -> set[str]:
    ids = _identifiers(real_files)
    assert {"CompressedSamples", "9RG1", "19400305"} <= ids  # the sample's, read from the file
    return ids


# -- core.privacy --------------------------------------------------------------------------


def test_identifying_tags_cover_the_required_attributes():
    required = {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
                "InstitutionAddress", "ReferringPhysicianName", "OperatorsName", "StudyID", "OtherPatientIDs"}
    assert required <= set(IDENTIFYING_TAGS)


def test_anonymise_metadata_is_consistent_and_keyed():
    meta = {"PatientID": "9RG1", "patient_name": "Doe^Jane", "PatientBirthDate": "19400305",
            "InstitutionName": "General Hospital", "AccessionNumber": "A1", "rows": 10, "modality": "CR"}
    a = anonymise_metadata(meta, b"project-key")
    again = anonymise_metadata(dict(meta), b"project-key")
    other = anonymise_metadata(meta, b"another-key")
    assert a == again  # same input, same key: same pseudonyms
    assert a["PatientID"] != other["PatientID"]  # the key matters
    assert a["PatientID"].startswith("ANON-") and a["patient_name"].startswith("ANON-")
    assert "PatientBirthDate" not in a and "InstitutionName" not in a
    assert a["rows"] == 10 and a["modality"] == "CR" and a["burned_in_annotation"] is False
    assert not _leaks(json.dumps(a), {"9RG1", "Doe", "Jane", "19400305", "General Hospital"})
    # a PatientID and a StudyID with the same text do not share a pseudonym
    assert pseudonym("X1", b"k", "PatientID") != pseudonym("X1", b"k", "StudyID")
    with pytest.raises(ValueError):
        pseudonym("X1", b"")


def test_anonymise_real_headers(real_files, identifiers):
    for path in real_files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        meta = {el.keyword: str(el.value) for el in ds if el.keyword and el.VR not in ("SQ", "OB", "OW", "UN")}
        out = anonymise_metadata(meta, b"k")
        assert not _leaks(json.dumps(out), identifiers), path.name
        assert anonymise_metadata(meta, b"k")["PatientID"] == out["PatientID"]


def test_burned_in_annotation_is_flagged(tmp_path):
    from core.imaging import load_image

    ds = pydicom.dcmread(SAMPLE)
    assert has_burned_in_text(ds) is False
    ds.BurnedInAnnotation = "YES"
    assert has_burned_in_text(ds) is True
    path = tmp_path / "burned.dcm"
    ds.save_as(path)
    meta = load_image(path).metadata
    assert meta["burned_in_annotation"] == "YES" and has_burned_in_text(meta)
    assert anonymise_metadata(meta, b"k")["burned_in_annotation"] is True
    assert has_burned_in_text({"burned_in_annotation": "NO"}) is False


# -- nothing Anatomark writes carries an identifier ----------------------------------------------


@pytest.fixture(scope="module")
def outputs(real_files, tmp_path_factory):
    """Metadata, project file, CLI JSON and log lines produced from the real files."""
    from core import cli
    from core.imaging import load_image
    from core.inference import Predictor
    from core.project import Project

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        radiographs = {p: load_image(p) for p in real_files}
        predictor = Predictor("chest6", device="cpu")
        folder = tmp_path_factory.mktemp("privacy")
        project_path = folder / "privacy.anatomark"
        with Project.create(project_path, "chest6", user="tester") as project:
            for path, radiograph in radiographs.items():
                record = project.add_image(path, radiograph=radiograph)
                if path == SAMPLE:  # one prediction is enough: it carries no header data (CPU time)
                    project.store_prediction(record.id, predictor.predict(radiograph))
                    project.set_point(record.id, project.schema.landmarks[0], 100.0, 120.0)
            project.save()
            correction_log = json.dumps(project.log(), default=str)
        import contextlib
        from unittest import mock

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                mock.patch("core.inference.Predictor", lambda *a, **k: predictor):
            code = cli.main(["predict", str(SAMPLE), "--json", "--device", "cpu"])
        assert code == 0, err.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    logs = "\n".join(f"{r.name} {r.getMessage()}" for r in records)
    return {"radiographs": radiographs, "project": project_path, "cli": out.getvalue() + err.getvalue(),
            "logs": logs, "correction_log": correction_log}


def test_radiograph_metadata_has_no_identifiers(outputs, identifiers):
    for path, radiograph in outputs["radiographs"].items():
        text = json.dumps(radiograph.metadata, default=str)
        assert not _leaks(text, identifiers), (path.name, _leaks(text, identifiers))
        assert not set(radiograph.metadata) & {k.lower() for k in IDENTIFYING_TAGS}


def _hdf5_text(path: Path) -> str:
    """Every attribute and every string/bytes dataset of the file, as text (compression-proof)."""
    parts: list[str] = []

    def visit(name, obj):
        parts.append(name)
        for key, value in obj.attrs.items():
            parts.append(f"{key}={value!r}")
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if isinstance(data, (bytes, str)):
                parts.append(data.decode(errors="replace") if isinstance(data, bytes) else data)
            elif isinstance(data, np.ndarray) and data.dtype.kind in "OSUV":
                parts.append(repr(data.tolist()))

    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            parts.append(f"{key}={value!r}")
        f.visititems(visit)
    return "\n".join(parts)


def test_project_file_has_no_identifiers(outputs, identifiers):
    path = outputs["project"]
    raw = path.read_bytes().decode("latin-1")
    assert not _leaks(raw, identifiers)
    text = _hdf5_text(path)
    assert "chest_RG1" in text  # the walk does see the stored strings (image names)
    assert not _leaks(text, identifiers), _leaks(text, identifiers)
    assert not _leaks(outputs["correction_log"], identifiers)


def test_cli_json_and_logs_have_no_identifiers(outputs, identifiers):
    assert '"landmarks"' in outputs["cli"]
    assert not _leaks(outputs["cli"], identifiers), _leaks(outputs["cli"], identifiers)
    assert not _leaks(outputs["logs"], identifiers), _leaks(outputs["logs"], identifiers)


def test_uids_do_not_leak(outputs, real_files):
    uids = set()
    for path in real_files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {v for k, v in identifiers_in(ds).items() if k.endswith("UID")}
    text = outputs["cli"] + outputs["logs"] + _hdf5_text(outputs["project"])
    text += json.dumps([r.metadata for r in outputs["radiographs"].values()], default=str)
    assert uids and not [u for u in uids if u in text]


def test_an_identifier_inside_a_longer_value_is_left_out(tmp_path):
    """Issue 18: "ZZHOSPITAL Imaging" reached the image information when the institution is "ZZHOSPITAL"."""
    from core.imaging import load_image

    def manufacturer(value: str) -> str | None:
        ds = pydicom.dcmread(SAMPLE)
        ds.InstitutionName = "ZZHOSPITAL"
        ds.PatientName = "DOEJOHNSON^JANE"
        ds.Manufacturer = value
        path = tmp_path / "inside.dcm"
        ds.save_as(path)
        return load_image(path).metadata.get("manufacturer")

    assert manufacturer("ZZHOSPITAL Imaging") is None
    assert manufacturer("Doejohnson Medical") is None  # a part of the patient's name
    assert manufacturer("ZZHOSPITALITY Corp") == "ZZHOSPITALITY Corp"  # another word: kept
    anonymised = anonymise_metadata({"InstitutionName": "ZZHOSPITAL", "manufacturer": "ZZHOSPITAL Imaging",
                                     "station": "Room 3"}, b"k")
    assert "manufacturer" not in anonymised and anonymised["station"] == "Room 3"
