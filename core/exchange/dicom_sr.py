"""DICOM Comprehensive SR: one report per image, landmarks as SCOORD POINTs, measurements as NUMs.

The report's root is a CONTAINER "Imaging Measurement Report" (DCM 126000). It
CONTAINS, per positioned landmark, a SCOORD POINT (concept: the landmark's name
in the private coding scheme ``99ANATOMARK``, meaning its label) SELECTED FROM
an IMAGE item that references the source image's SOP Class and Instance UID,
with its review state as a TEXT property; and per defined measurement a NUM
with UCUM units (``mm``, ``deg``, ``{pixel}`` without a spacing, ``1`` for
ratios). This is TID 1500-like, not a conformant TID 1500 (which would need
DCM/SNOMED codes for each landmark). SCOORD coordinates put the origin at the
top-left corner of the top-left pixel (DICOM PS3.3 C.18.6.1.2), so they are
ours + 0.5.

Privacy: patient and institution attributes of the source are not copied
unless ``include_identifiers``; the patient module is filled with keyed
pseudonyms (``core.privacy.anonymise_metadata``, a fresh key per export, so
images of one patient share a pseudonym within an export only). The SR joins
the source's study (its StudyInstanceUID) and references the source's series
and SOP Class/Instance UIDs: without them no viewer can place the marks on the
image (they identify an image, not a person; PS3.15 would replace them, so an
SR is never a fully de-identified object). Only images that came from a DICOM file can be reported.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from core.atomic import atomic_write
from core.exchange.common import ExchangeError, ExportRow

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SCHEME = "99ANATOMARK"
UCUM = {"mm": ("mm", "millimeter"), "deg": ("deg", "degree"), "px": ("{pixel}", "pixel"), "": ("1", "no units")}
_COPIED_WITH_IDENTIFIERS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                            "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName",
                            "InstitutionName")


def _code(value: str, scheme: str, meaning: str):
    from pydicom.dataset import Dataset

    c = Dataset()
    if len(value) <= 16:
        c.CodeValue = value
    else:  # SH holds 16 characters; DICOM's Long Code Value (UC) takes the rest
        c.LongCodeValue = value
    c.CodingSchemeDesignator = scheme
    c.CodeMeaning = meaning[:64]
    return c


def _item(relationship: str, value_type: str, concept):
    from pydicom.dataset import Dataset

    d = Dataset()
    d.RelationshipType = relationship
    d.ValueType = value_type
    d.ConceptNameCodeSequence = [concept]
    return d


def _source(image):
    """The source image's DICOM header (no pixels); ExchangeError when it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(image.path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError):
        ds = None
    if ds is None or "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        raise ExchangeError(f"dicom-sr: {path.name} did not come from a DICOM file with SOP UIDs; "
                            f"a DICOM SR can only reference DICOM images (use csv, coco, labelme or isbi)")
    return ds


def build(project, image, points, states, include_identifiers: bool = False, key: bytes | None = None):
    """The SR dataset for one image (see the module docstring); ``key``: the pseudonym key."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from pydicom.valuerep import DSfloat

    import core
    from core.measurements import measure
    from core.privacy import anonymise_metadata, new_key

    src = _source(image)
    schema = project.schema
    now = datetime.now(timezone.utc)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.Modality = "SR"
    ds.Manufacturer = "Anatomark"
    ds.SoftwareVersions = core.__version__
    ds.StudyInstanceUID = str(src.get("StudyInstanceUID") or generate_uid())
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 999
    ds.InstanceNumber = 1
    ds.ContentDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.ContentTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    anonymised = anonymise_metadata({k: str(src.get(k, "")) for k in ("PatientID", "PatientName")},
                                    key or new_key())
    ds.PatientName = anonymised["PatientName"] or "ANONYMOUS"
    ds.PatientID = anonymised["PatientID"] or f"ANON-{image.id}"
    ds.PatientBirthDate = ds.PatientSex = ds.StudyDate = ds.StudyTime = ""
    ds.AccessionNumber = ds.StudyID = ds.ReferringPhysicianName = ""
    if include_identifiers:
        for keyword in _COPIED_WITH_IDENTIFIERS:
            if keyword in src:
                setattr(ds, keyword, src.get(keyword))
    ds.SeriesDescription = f"Anatomark landmarks ({schema.name})"
    ds.CompletionFlag = "PARTIAL"
    ds.VerificationFlag = "UNVERIFIED"

    ref = Dataset()
    ref.ReferencedSOPClassUID = src.SOPClassUID
    ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = str(src.get("SeriesInstanceUID") or generate_uid())
    series.ReferencedSOPSequence = [ref]
    evidence = Dataset()
    evidence.StudyInstanceUID = ds.StudyInstanceUID
    evidence.ReferencedSeriesSequence = [series]
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]

    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("126000", "DCM", "Imaging Measurement Report")]
    ds.ContinuityOfContent = "SEPARATE"
    content = []
    for name, label, (x, y), state in zip(schema.landmarks, schema.labels, points, states):
        if not math.isfinite(x):
            continue
        point = _item("CONTAINS", "SCOORD", _code(name, SCHEME, label))
        point.GraphicType = "POINT"
        point.GraphicData = [float(x) + 0.5, float(y) + 0.5]
        img = _item("SELECTED FROM", "IMAGE", _code("111030", "DCM", "Image Region"))
        img.ReferencedSOPSequence = [ref]
        prop = _item("HAS PROPERTIES", "TEXT", _code("state", SCHEME, "Review state"))
        prop.TextValue = state
        point.ContentSequence = [img, prop]
        content.append(point)
    for m in measure(schema, points, image.spacing):
        if m.value is None:
            continue
        num = _item("CONTAINS", "NUM", _code(m.name, SCHEME, m.label))
        value = Dataset()
        value.NumericValue = DSfloat(m.value, auto_format=True)
        value.FloatingPointValue = float(m.value)
        value.MeasurementUnitsCodeSequence = [_code(UCUM[m.unit][0], "UCUM", UCUM[m.unit][1])]
        num.MeasuredValueSequence = [value]
        content.append(num)
    ds.ContentSequence = content
    return ds


def read_sr(path: Path | str) -> dict:
    """What an SR written by :func:`export` says: ``{"referenced": SOP Instance UID, "sop_class": ...,
    "points": {name: (x, y, state)} in our pixels, "measurements": {name: (value, ucum)}, "patient_id"}``."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        points, values, refs = {}, {}, set()
        for item in ds.ContentSequence:
            concept = item.ConceptNameCodeSequence[0]
            name = str(concept.get("CodeValue") or concept.LongCodeValue)
            if item.ValueType == "SCOORD":
                x, y = (float(v) - 0.5 for v in item.GraphicData)
                state = None
                for child in item.get("ContentSequence", []):
                    if child.ValueType == "IMAGE":
                        refs.add(child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
                    elif child.ValueType == "TEXT":
                        state = str(child.TextValue)
                points[name] = (x, y, state)
            elif item.ValueType == "NUM":
                mv = item.MeasuredValueSequence[0]
                values[name] = (float(mv.NumericValue), mv.MeasurementUnitsCodeSequence[0].CodeValue)
        return {"sop_class": str(ds.SOPClassUID), "referenced": sorted(refs), "points": points,
                "measurements": values, "patient_id": str(ds.get("PatientID", ""))}
    except Exception as exc:
        raise ExchangeError(f"{Path(path).name}: not a readable Anatomark SR ({type(exc).__name__}: {exc})") from None


def export(project, out: Path, rows: list[ExportRow], include_identifiers: bool = False) -> list[Path]:
    """One ``<export name stem>_sr.dcm`` per image in folder ``out``; each is read back and checked."""
    for image, *_ in rows:
        _source(image)  # refuse before writing anything
    out.mkdir(parents=True, exist_ok=True)
    from core.privacy import new_key

    key = new_key()  # one export: one patient keeps one pseudonym; not stored, so not reversible
    written = []
    for image, file_name, points, states in rows:
        ds = build(project, image, points, states, include_identifiers, key)
        path = out / f"{Path(file_name).stem}_sr.dcm"
        atomic_write(path, lambda fh, ds=ds: ds.save_as(fh, enforce_file_format=True))
        back = read_sr(path)
        expected = {n: (float(x), float(y)) for n, (x, y) in zip(project.schema.landmarks, points) if math.isfinite(x)}
        got = {n: p[:2] for n, p in back["points"].items()}
        if set(got) != set(expected) or any(max(abs(a - b) for a, b in zip(got[n], expected[n])) > 1e-3 for n in got):
            raise ExchangeError(f"{path.name}: the written SR does not read back the same points")
        if expected and back["referenced"] != [str(ds.CurrentRequestedProcedureEvidenceSequence[0]
                                                  .ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
                                                  .ReferencedSOPInstanceUID)]:
            raise ExchangeError(f"{path.name}: the written SR does not reference the source image")
        written.append(path)
    return written
