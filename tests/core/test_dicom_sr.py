"""The DICOM SR (TID 1500 measurement report): what real DICOM tools say of it, its uncertainty,
the import round trip and damaged reports (issue 19 item 3)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from core.exchange import ExchangeError, export_project, import_file
from core.exchange.dicom_sr import read_sr
from core.project import LandmarkState, Project

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"


def _project(path: Path, predicted: bool = False) -> Project:
    """A chest6 project holding RG1: points set by hand, or chest6's prediction (cached heatmaps)."""
    project = Project.create(path, "chest6", user="tester")
    image_id = project.add_image(RG1).id
    if predicted:
        from core.inference import Predictor

        project.store_prediction(image_id, Predictor("chest6", device="cpu").predict(RG1))
        project.set_point(image_id, "R_apex", 300.25, 200.75)  # one corrected, the rest predicted
    else:
        rng = np.random.default_rng(3)
        for name in project.schema.landmarks:
            project.set_point(image_id, name, *(rng.uniform(10, 900, 2) + 1 / 3))
        project.set_state(image_id, "L_apex", LandmarkState.VERIFIED)
    return project


@pytest.fixture(scope="module")
def predicted_sr(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sr")
    project = _project(folder / "p.anatomark", predicted=True)
    (path,) = export_project(project, "dicom-sr", folder / "out")
    yield project, path
    project.close()


def test_dciodvfy_finds_no_error(predicted_sr) -> None:
    """dicom3tools' validator: the hand-written SR had six relationship errors and two missing Type 2
    attributes; the TID 1500 report has none (warnings about our private coding scheme remain)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools' dciodvfy is not installed (Debian package dicom3tools; .ci/run installs it)")
    _project_, path = predicted_sr
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    report = out.stdout + out.stderr
    assert "ComprehensiveSR" in report
    assert [line for line in report.splitlines() if line.startswith("Error")] == [], report


def test_dsrdump_reads_the_report(predicted_sr) -> None:
    """DCMTK's SR reader: it refused the old SR ("Invalid by-value Relationship"); this one it renders,
    points on the source image and measurements with their standard deviation."""
    if shutil.which("dsrdump") is None:
        pytest.skip("DCMTK's dsrdump is not installed (Debian package dcmtk; .ci/run installs it)")
    _project_, path = predicted_sr
    out = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("E:")]
    assert '"Imaging Measurement Report"' in out.stdout
    assert out.stdout.count('SCOORD:(,,"Image Region")=(POINT') == 6
    assert '<selected from IMAGE:' in out.stdout and '"Standard Deviation"' in out.stdout


def test_measurements_carry_the_heatmaps_uncertainty(predicted_sr) -> None:
    """A measurement whose landmarks are predicted has its Monte-Carlo standard deviation in the
    report, in the measurement's unit; the values are those the measurements panel shows."""
    from core.measurements import measure_image

    project, path = predicted_sr
    image = project.images[0]
    expected = {m.name: m for m in measure_image(project.schema, image, project.prediction(image.id))
                if m.value is not None}
    back = read_sr(path)["measurements"]
    assert set(back) == set(expected)
    for name, (value, unit, sd) in back.items():
        assert value == pytest.approx(expected[name].value, rel=1e-9)
        assert sd == pytest.approx(expected[name].sd, rel=1e-9) and sd > 0
        assert unit in ("{pixel}", "1")  # RG1 has no pixel spacing


def test_report_joins_the_study_and_pseudonymises_the_patient(predicted_sr, tmp_path) -> None:
    project, path = predicted_sr
    source = pydicom.dcmread(RG1, stop_before_pixels=True)
    ds = pydicom.dcmread(path)
    assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.Modality == "SR"
    assert str(ds.PatientName) != str(source.PatientName) and ds.PatientID != source.PatientID
    assert ds.PatientID.startswith("ANON-") and "InstitutionName" not in ds
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    (named,) = export_project(project, "dicom-sr", tmp_path / "ids", include_identifiers=True)
    assert pydicom.dcmread(named).PatientID == source.PatientID


def test_import_round_trip_keeps_points_and_states(tmp_path) -> None:
    """Export → a fresh project with the same DICOM → import the folder of reports: the same points
    (SCOORD holds 32-bit floats) and review states; the image is found by its SOP Instance UID even
    when the report's file name says nothing."""
    src = _project(tmp_path / "a.anatomark")
    (path,) = export_project(src, "dicom-sr", tmp_path / "sr")
    path.rename(path.with_name("report.dcm"))
    dst = Project.create(tmp_path / "b.anatomark", "chest6", user="importer")
    dst.add_image(RG1)
    result = import_file(dst, tmp_path / "sr", "dicom-sr", state="file")
    assert result.images == 1 and result.landmarks == 6 and not result.unmatched
    np.testing.assert_allclose(dst.images[0].positions(), src.images[0].positions(), atol=1e-3)
    assert {n: r.state for n, r in dst.images[0].landmarks.items()} == \
        {n: r.state for n, r in src.images[0].landmarks.items()}


def _bad(tmp_path: Path, name: str, edit) -> Path:
    project = _project(tmp_path / f"{name}.anatomark")
    (path,) = export_project(project, "dicom-sr", tmp_path / name)
    project.close()
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path)
    return path


def _groups(ds):
    return ds.ContentSequence[-1].ContentSequence


@pytest.mark.parametrize("case", ["garbage", "truncated", "an-image", "no-content", "point-outside",
                                  "unknown-landmark", "other-image", "no-coordinates"])
def test_damaged_reports_are_refused_in_one_line_and_change_nothing(tmp_path, case) -> None:
    if case == "garbage":
        path = tmp_path / "g.dcm"
        path.write_bytes(b"\x00garbage" * 100)
    elif case == "truncated":
        path = _bad(tmp_path, case, lambda ds: None)
        path.write_bytes(path.read_bytes()[:900])
    elif case == "an-image":
        path = tmp_path / "image.dcm"
        shutil.copy(RG1, path)
    elif case == "no-content":
        path = _bad(tmp_path, case, lambda ds: delattr(ds, "ContentSequence"))
    elif case == "point-outside":
        def far(ds):
            region = next(c for c in _groups(ds)[0].ContentSequence if c.ValueType == "SCOORD")
            region.GraphicData = [1e6, 5.0]
        path = _bad(tmp_path, case, far)
    elif case == "unknown-landmark":
        def rename(ds):
            finding = next(c for c in _groups(ds)[0].ContentSequence if c.ValueType == "CODE")
            finding.ConceptCodeSequence[0].CodeValue = "Sella"
        path = _bad(tmp_path, case, rename)
    elif case == "other-image":
        def elsewhere(ds):
            for group in _groups(ds):
                for item in group.get("ContentSequence", []):
                    for child in item.get("ContentSequence", []):
                        if child.ValueType == "IMAGE":
                            child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
        path = _bad(tmp_path, case, elsewhere)
    else:
        def strip(ds):
            region = next(c for c in _groups(ds)[0].ContentSequence if c.ValueType == "SCOORD")
            del region.GraphicData
        path = _bad(tmp_path, case, strip)
    project = Project.create(tmp_path / "target.anatomark", "chest6", user="importer")
    project.add_image(RG1)
    before = project.images[0].positions().copy()
    with pytest.raises(ExchangeError) as info:
        import_file(project, path, "dicom-sr")
    message = str(info.value)
    assert "\n" not in message and message, case
    assert np.isnan(before).all() and np.isnan(project.images[0].positions()).all()


def test_codes_past_16_characters_read_back(tmp_path) -> None:
    """highdicom writes a code of more than 16 characters (a long landmark name) as LongCodeValue;
    the reader took CodeValue only."""
    def long_code(ds):
        finding = next(c for c in _groups(ds)[0].ContentSequence if c.ValueType == "CODE")
        code = finding.ConceptCodeSequence[0]
        code.LongCodeValue = str(code.CodeValue)
        del code.CodeValue
    path = _bad(tmp_path, "long", long_code)
    project = Project.create(tmp_path / "t.anatomark", "chest6", user="importer")
    project.add_image(RG1)
    result = import_file(project, path, "dicom-sr")
    assert result.landmarks == 6 and np.isfinite(project.images[0].positions()).all()
    project.close()


def test_a_dataset_folder_is_not_read_as_dicom_sr(tmp_path) -> None:
    from core.exchange.dataset import import_dataset

    project = Project.create(tmp_path / "p.anatomark", "chest6", user="importer")
    with pytest.raises(ExchangeError, match="import their reports as a file"):
        import_dataset(project, tmp_path, "dicom-sr")
    assert math.isfinite(len(project.images)) and project.images == []


@pytest.mark.parametrize("include_identifiers", [False, True])
def test_every_sample_dicom_gets_a_report_both_validators_accept(shared_data, tmp_path, include_identifiers) -> None:
    """The shared DICOM samples (CR from three sites, MONOCHROME1, LUT test files, every transfer
    syntax): the SR of each passes dciodvfy without error and dsrdump reads it."""
    if shutil.which("dciodvfy") is None or shutil.which("dsrdump") is None:
        pytest.skip("dciodvfy (dicom3tools) and dsrdump (dcmtk) are needed; .ci/run installs them")
    project = Project.create(tmp_path / "all.anatomark", "chest6", user="tester")
    for path in sorted((shared_data / "dicom").glob("*.dcm")):
        try:
            image_id = project.add_image(path).id
        except Exception:  # RG2_JPLY without the jpeg12 extra
            continue
        h, w = project.image(image_id).size
        for k, name in enumerate(project.schema.landmarks):
            project.set_point(image_id, name, w * (k + 1) / 8, h * (k + 1) / 9)
    written = export_project(project, "dicom-sr", tmp_path / "sr", include_identifiers=include_identifiers)
    assert len(written) == len(project.images) >= 10
    for path in written:
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        assert not [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")], path.name
        dump = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0 and not [line for line in dump.stderr.splitlines() if line.startswith("E:")]
    project.close()
