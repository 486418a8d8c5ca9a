"""DICOM SR: one TID 1500 Measurement Report per image, written and validated with highdicom.

The report (Comprehensive SR, ``1.2.840.10008.5.1.4.1.1.88.33``) follows DICOM
PS3.16 TID 1500 "Measurement Report", so viewers that render measurement
reports (OHIF, 3D Slicer, dcmjs-based tools) place our points on the image:

- per positioned landmark, a TID 1410 *Planar ROI Measurements* group: its
  tracking identifier is the landmark's name (with a fresh UID), the finding
  type is the landmark (code = name, scheme ``99ANATOMARK``, meaning its label),
  the region is an SCOORD POINT on the source image (SELECTED FROM its SOP
  Instance), and its review state is a qualitative evaluation
  (``99ANATOMARK state`` = ``predicted``/``corrected``/``verified``);
- one TID 1501 *Measurements* group with the schema's measurements as NUMs
  in UCUM units (``mm``, ``deg``, ``{pixel}`` without a spacing, ``1`` for
  ratios) and, where the model's heatmaps give one (a cached prediction),
  their uncertainty: the Monte-Carlo standard deviation over the heatmaps
  (``core.measurements``) as a TID 311 statistical property (SCT 386136009),
  in the measurement's unit.

SCOORD coordinates put the origin at the top-left corner of the top-left pixel
(PS3.3 C.18.6.1.2), so they are ours + 0.5. highdicom checks the template's
structure while building; :func:`export` reads every file back and checks the
points and the reference, and the tests run DCMTK's ``dsrdump`` and
dicom3tools' ``dciodvfy`` on it where they are installed.

Privacy: the SR joins the source's study (its Study Instance UID) and
references the source image's series and SOP Class/Instance UIDs (without them
no viewer can place the marks). Patient and institution attributes are not
copied unless ``include_identifiers``: the patient module gets keyed pseudonyms
(``core.privacy.anonymise_metadata``, a fresh key per export, so images of one
patient share a pseudonym within an export only). Only images that came from a
DICOM file can be reported.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from core.atomic import atomic_write
from core.exchange.common import ExchangeError, ExportRow, ImportedImage, check_state

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SCHEME = "99ANATOMARK"
UCUM = {"mm": ("mm", "millimeter"), "deg": ("deg", "degree"), "px": ("{pixel}", "pixel"), "": ("1", "no units")}
#: Attributes the SR takes from its source only with the user's opt-in (``include_identifiers``).
_COPIED_WITH_IDENTIFIERS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                            "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName")
#: Attributes of the source never passed to highdicom's evidence without the opt-in.
_SOURCE_IDENTIFIERS = (*_COPIED_WITH_IDENTIFIERS, "InstitutionName", "InstitutionAddress", "OtherPatientIDs",
                       "PatientAge", "PatientWeight", "PatientSize", "IssuerOfPatientID")
#: The evidence attributes highdicom needs (patient, study, series, instance) and nothing else.
_EVIDENCE_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
                      *_SOURCE_IDENTIFIERS)
STATE_CONCEPT = ("state", "Review state")
#: Where every report is about a plain radiograph (SNOMED CT "Plain X-ray").
PROCEDURE = ("168537006", "SCT", "Plain X-ray")
MAX_SR_BYTES = 32 * 1024 * 1024


def _code(value: str, scheme: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning[:64])


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


def _evidence(src, image_id: str, include_identifiers: bool, key: bytes):
    """The source header highdicom copies patient and study from: pseudonymised unless opted in."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    from core.privacy import anonymise_metadata

    ev = Dataset()
    for keyword in _EVIDENCE_KEYWORDS:
        if keyword in src and (include_identifiers or keyword not in _SOURCE_IDENTIFIERS):
            setattr(ev, keyword, src.get(keyword))
    if "StudyInstanceUID" not in ev:
        ev.StudyInstanceUID = generate_uid()
    if "SeriesInstanceUID" not in ev:
        ev.SeriesInstanceUID = generate_uid()
    if not include_identifiers:
        anonymised = anonymise_metadata({k: str(src.get(k, "")) for k in ("PatientID", "PatientName")}, key)
        ev.PatientName = f"{anonymised['PatientName'] or 'ANONYMOUS'}^"  # family name only
        ev.PatientID = anonymised["PatientID"] or f"ANON-{image_id}"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "AccessionNumber", "StudyID", "ReferringPhysicianName"):
        if keyword not in ev:  # Type 2: present, may be empty
            setattr(ev, keyword, "")
    return ev


def _measurement(m):
    """A TID 300 measurement for one schema measurement (``core.measurements.MeasurementValue``)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    unit = _code(*UCUM[m.unit][:1], "UCUM", UCUM[m.unit][1])
    properties = None
    if m.sd is not None and m.low is not None and m.high is not None:
        sd = hd.sr.NumContentItem(name=codes.SCT.StandardDeviation, value=float(m.sd), unit=unit,
                                  relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES)
        properties = hd.sr.MeasurementProperties(
            measurement_statistical_properties=hd.sr.MeasurementStatisticalProperties(
                values=[sd], description="Monte-Carlo samples of the model heatmaps"))
        # not TID 300's upper/lower measurement uncertainty: highdicom writes them without units
    return hd.sr.Measurement(name=_code(m.name, SCHEME, m.label), value=float(m.value), unit=unit,
                             properties=properties)


def _measurements(project, image, points):
    """The schema's measurements at ``points``, with the cached prediction's uncertainty where there is one."""
    from core.measurements import DEFAULT_SAMPLES, heatmap_offsets, measure, uncertainty_scale
    from core.project.records import LandmarkState

    offsets = None
    try:
        prediction = project.prediction(image.id) if hasattr(project, "prediction") else None
        if prediction is not None and prediction.heatmaps is not None:
            offsets = heatmap_offsets(prediction.heatmaps, prediction.heatmap_to_image, DEFAULT_SAMPLES, 0,
                                      uncertainty_scale(prediction.model_id))
    except (KeyError, OSError, ValueError):
        offsets = None  # no usable cached heatmaps: values without uncertainty
    uncertain = np.array([image.landmarks[n].state == LandmarkState.PREDICTED for n in project.schema.landmarks])
    return measure(project.schema, points, image.spacing, offsets, uncertain)


def build(project, image, points, states, include_identifiers: bool = False, key: bytes | None = None):
    """The TID 1500 SR (a highdicom ``ComprehensiveSR``) for one image; ``key``: the pseudonym key."""
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    import core
    from core.privacy import new_key

    src = _source(image)
    schema = project.schema
    source_ref = hd.sr.SourceImageForRegion(referenced_sop_class_uid=str(src.SOPClassUID),
                                            referenced_sop_instance_uid=str(src.SOPInstanceUID))
    groups = []
    for name, label, (x, y), state in zip(schema.landmarks, schema.labels, points, states):
        if not math.isfinite(x):
            continue
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POINT,
                                   graphic_data=np.array([[float(x) + 0.5, float(y) + 0.5]]),
                                   source_image=source_ref)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=name[:64]),
            referenced_region=region,
            finding_type=_code(name, SCHEME, label),
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=_code(*STATE_CONCEPT[:1], SCHEME, STATE_CONCEPT[1]), value=_code(state, SCHEME, state))]))
    values = [_measurement(m) for m in _measurements(project, image, np.asarray(points, float))
              if m.value is not None and math.isfinite(m.value)]
    if values:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Measurements"),
            measurements=values,
            source_images=[hd.sr.SourceImageForMeasurementGroup(str(src.SOPClassUID), str(src.SOPInstanceUID))]))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="Anatomark", manufacturer_name="Anatomark",
            model_name=f"{schema.name} landmarks"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=_code(*PROCEDURE), imaging_measurements=groups,
        title=codes.cid7021.ImagingMeasurementReport)
    sr = hd.sr.ComprehensiveSR(
        evidence=[_evidence(src, image.id, include_identifiers, key or new_key())], content=report[0],
        series_instance_uid=generate_uid(), series_number=999, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="Anatomark", is_complete=False, is_verified=False,
        institution_name=str(src.InstitutionName) if include_identifiers and src.get("InstitutionName") else None,
        series_description=f"Anatomark landmarks ({schema.name})"[:64],
        performed_procedure_codes=[_code(*PROCEDURE)])
    sr.SoftwareVersions = core.__version__
    scheme = Dataset()  # declares the private coding scheme (PS3.3 C.12.1.1.5)
    scheme.CodingSchemeDesignator = SCHEME
    scheme.CodingSchemeName = "Anatomark landmark schemas"
    scheme.CodingSchemeResponsibleOrganization = "Anatomark"
    sr.CodingSchemeIdentificationSequence = [scheme]
    sr.SpecificCharacterSet = "ISO_IR 192"
    return sr


def _value(code) -> str:
    """A code's value: ``CodeValue``, or ``LongCodeValue`` past 16 characters (a long landmark name)."""
    return str(code.get("CodeValue") or code.get("LongCodeValue") or "")


def _text(item) -> str:
    return _value(item.ConceptNameCodeSequence[0])


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def read_sr(path: Path | str) -> dict:
    """What a TID 1500 SR says: ``{"referenced": [SOP Instance UIDs], "sop_class": ..., "points":
    {name: (x, y, state)} in our pixels, "measurements": {name: (value, ucum, sd or None)},
    "patient_id"}``. Reads any TID 1500 report whose landmark groups carry a finding type
    (ours use the ``99ANATOMARK`` scheme); ExchangeError for anything else."""
    import pydicom

    p = Path(path)
    try:
        if p.stat().st_size > MAX_SR_BYTES:
            raise ExchangeError(f"{p.name}: {p.stat().st_size / 2**20:.0f} MB is too large for an SR")
        ds = pydicom.dcmread(p)
        if _text(ds) != "126000":
            raise ValueError("not a TID 1500 Imaging Measurement Report")
        points, values, refs = {}, {}, set()
        for group in _walk(ds.ContentSequence):
            if group.ValueType != "CONTAINER" or _text(group) != "125007":  # Measurement Group
                continue
            children = list(group.get("ContentSequence", []))
            finding = next((c for c in children if c.ValueType == "CODE" and _text(c) == "121071"), None)
            region = next((c for c in children if c.ValueType == "SCOORD"), None)
            if finding is not None and region is not None:
                name = _value(finding.ConceptCodeSequence[0])
                x, y = (float(v) - 0.5 for v in region.GraphicData[:2])
                for child in region.get("ContentSequence", []):
                    if child.ValueType == "IMAGE":
                        refs.add(str(child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
                state = next((_value(c.ConceptCodeSequence[0]) for c in children
                              if c.ValueType == "CODE" and _text(c) == STATE_CONCEPT[0]), None)
                points[name] = (x, y, state)
            for num in (c for c in children if c.ValueType == "NUM"):
                mv = num.MeasuredValueSequence[0]
                sd = next((float(s.MeasuredValueSequence[0].NumericValue) for s in _walk(num.get("ContentSequence", []))
                           if s.ValueType == "NUM" and _text(s) == "386136009"), None)
                values[_text(num)] = (float(mv.NumericValue), _value(mv.MeasurementUnitsCodeSequence[0]), sd)
        return {"sop_class": str(ds.SOPClassUID), "referenced": sorted(refs), "points": points,
                "measurements": values, "patient_id": str(ds.get("PatientID", ""))}
    except ExchangeError:
        raise
    except Exception as exc:
        raise ExchangeError(f"{p.name}: not a readable landmark SR ({type(exc).__name__}: {exc})") from None


def read(path: Path, schema) -> list[ImportedImage]:
    """Import: an SR file, or a folder of them (``*.dcm``), as images keyed by the SOP Instance UID
    they reference (``image_keys`` gives the project's side of that match)."""
    files = sorted(path.glob("*.dcm")) if path.is_dir() else [path]
    if not files:
        raise ExchangeError(f"{path.name}: no .dcm files in the folder")
    out = []
    for f in files:
        back = read_sr(f)
        if len(back["referenced"]) != 1:
            raise ExchangeError(f"{f.name}: the SR references {len(back['referenced'])} images; one is needed")
        points = {n: (x, y, check_state(s, f"{f.name}: {n}")) for n, (x, y, s) in back["points"].items()}
        out.append(ImportedImage(key=back["referenced"][0], points=points))
    return out


def reports(project, include_identifiers: bool = False, reviewed_only: bool = False) -> tuple[list, list[str]]:
    """SRs (highdicom data sets) of the project's DICOM images with a placed landmark, to store
    on a server; and the names of the images left out because they are not DICOM."""
    from core.exchange.common import export_rows
    from core.privacy import new_key

    key = new_key()
    built, skipped = [], []
    for image, file_name, points, states in export_rows(project, include_identifiers, reviewed_only):
        if not np.isfinite(np.asarray(points, float)).any():
            continue
        try:
            built.append(build(project, image, points, states, include_identifiers, key))
        except ExchangeError:
            skipped.append(file_name)
    return built, skipped


def image_keys(project) -> dict[str, str]:
    """SOP Instance UID (lower case) → project image id, for the project's DICOM images."""
    import pydicom

    keys = {}
    for image in project.images:
        try:
            ds = pydicom.dcmread(image.path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            keys[str(ds.SOPInstanceUID).lower()] = image.id
        except Exception:
            continue  # not DICOM (or gone): it cannot be the image an SR references
    return keys


def export(project, out: Path, rows: list[ExportRow], include_identifiers: bool = False) -> list[Path]:
    """One ``<export name stem>_sr.dcm`` per image in folder ``out``; each is read back and checked."""
    for image, *_ in rows:
        _source(image)  # refuse before writing anything
    out.mkdir(parents=True, exist_ok=True)
    from core.privacy import new_key

    key = new_key()  # one export: one patient keeps one pseudonym; not stored, so not reversible
    written = []
    for image, file_name, points, states in rows:
        sr = build(project, image, points, states, include_identifiers, key)
        path = out / f"{Path(file_name).stem}_sr.dcm"
        atomic_write(path, lambda fh, sr=sr: sr.save_as(fh, enforce_file_format=True))
        check_written(path, project.schema.landmarks, points, str(sr.CurrentRequestedProcedureEvidenceSequence[0]
                                                                   .ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
                                                                   .ReferencedSOPInstanceUID))
        written.append(path)
    return written


def check_written(path: Path, names, points, referenced: str) -> None:
    """Read a written SR back: the same points (1e-3 px) on the same image, else ExchangeError."""
    back = read_sr(path)
    expected = {n: (float(x), float(y)) for n, (x, y) in zip(names, points) if math.isfinite(x)}
    got = {n: p[:2] for n, p in back["points"].items()}
    if set(got) != set(expected) or any(max(abs(a - b) for a, b in zip(got[n], expected[n])) > 1e-3 for n in got):
        raise ExchangeError(f"{path.name}: the written SR does not read back the same points")
    if expected and back["referenced"] != [referenced]:
        raise ExchangeError(f"{path.name}: the written SR does not reference the source image")
