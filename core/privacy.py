"""Patient privacy: which DICOM attributes identify a person, and anonymised metadata.

Anatomark never copies identifying attributes into ``Radiograph.metadata``
(``core.imaging.dicom`` keeps an allow-list), project files, command-line
output or logs. Exports that need to refer to a patient or study (an
anonymised training set, say) use :func:`anonymise_metadata`: every
identifying value is replaced by a pseudonym that is a keyed hash
(HMAC-SHA-256) of the value, so the same patient gets the same pseudonym
everywhere the same key is used (one key per project: :func:`new_key`), and
the pseudonym cannot be reversed or recomputed without the key.

Burned-in text (names printed into the pixels) cannot be removed from the
metadata: :func:`has_burned_in_text` reports the DICOM ``BurnedInAnnotation``
flag so exporters can warn or skip the image.

Public API (used by ``core.exchange`` for exports)::

    IDENTIFYING_TAGS                      # DICOM keywords, tuple[str, ...]
    anonymise_metadata(meta, key) -> dict
    has_burned_in_text(ds_or_meta) -> bool
    identifiers_in(ds) -> dict[str, str]  # the identifying values a data set holds
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "IDENTIFYING_TAGS",
    "PSEUDONYMISED_TAGS",
    "anonymise_metadata",
    "has_burned_in_text",
    "identifiers_in",
    "new_key",
    "pseudonym",
]

#: DICOM keywords whose values identify a patient, a study, a person or a place
#: (after DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile,
#: restricted to what a radiograph header usually carries).
IDENTIFYING_TAGS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "MedicalRecordLocator",
    "AccessionNumber",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
    "RequestAttributesSequence",
    "StudyDescription",
    "AdditionalPatientHistory",
    "PatientComments",
    "ImageComments",
)

#: Identifying tags an anonymised export keeps as a pseudonym (so images of one
#: patient or study stay grouped); every other identifying tag is dropped.
PSEUDONYMISED_TAGS: tuple[str, ...] = (
    "PatientID",
    "PatientName",
    "OtherPatientIDs",
    "AccessionNumber",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)

_BURNED_IN_KEYS = ("BurnedInAnnotation", "burned_in_annotation")


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", keyword).lower()


#: snake_case spelling (``patient_id``) -> DICOM keyword, for metadata dicts.
_ALIASES: dict[str, str] = {_snake(k): k for k in IDENTIFYING_TAGS}
_ALIASES.update({"patient_id": "PatientID", "study_id": "StudyID", "other_patient_ids": "OtherPatientIDs"})


def _keyword(name: str) -> str | None:
    """The DICOM keyword ``name`` spells (either spelling), when it is an identifying one."""
    if name in IDENTIFYING_TAGS:
        return name
    return _ALIASES.get(name) or _ALIASES.get(name.lower())


def new_key() -> bytes:
    """A fresh random pseudonym key (32 bytes); keep one per project, never export it."""
    return os.urandom(32)


def pseudonym(value: Any, key: bytes | str, tag: str = "PatientID") -> str:
    """Keyed, stable pseudonym of ``value`` for ``tag``: ``ANON-<12 hex>``.

    Same (key, tag, value) → same pseudonym; values are compared after
    stripping surrounding whitespace. Different tags give different
    pseudonyms, so a PatientID cannot be matched to a StudyID of the same text.
    """
    secret = key.encode() if isinstance(key, str) else bytes(key)
    if not secret:
        raise ValueError("pseudonym key must not be empty")
    text = f"{tag}\x00{str(value).strip()}".encode()
    return "ANON-" + hmac.new(secret, text, hashlib.sha256).hexdigest()[:12].upper()


#: Identifier parts shorter than this are not searched for inside other values ("M", "01").
_MIN_INSIDE = 3


def identifier_parts(values) -> set[str]:
    """Upper-case identifiers to look for in other fields: each value, and each part of a person
    name (``DOE^JOHN`` → ``DOE``, ``JOHN``) of at least three characters."""
    parts = set()
    for value in values:
        text = str(value).strip().upper()
        if len(text) >= _MIN_INSIDE:
            parts.add(text)
        parts.update(p for p in re.split(r"[\^=]", text) if len(p.strip()) >= _MIN_INSIDE)
    return {p.strip() for p in parts}


def repeats_identifier(value: Any, parts: set[str]) -> bool:
    """True when text ``value`` is, or contains as a whole word, one of the identifier ``parts``
    (Manufacturer "ZZHOSPITAL Imaging" when the institution is "ZZHOSPITAL")."""
    if not isinstance(value, str) or not parts:
        return False
    text = value.strip().upper()
    return any(text == p or re.search(r"(?<![A-Z0-9])" + re.escape(p) + r"(?![A-Z0-9])", text) for p in parts)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, bytes)) and not str(value).strip())


def anonymise_metadata(meta: Mapping[str, Any], key: bytes | str) -> dict:
    """A copy of ``meta`` without identifying values.

    ``meta`` maps DICOM keywords (``PatientID``) or their snake_case spelling
    (``patient_id``) to values. Tags in :data:`PSEUDONYMISED_TAGS` become
    keyed pseudonyms (empty values stay empty); every other tag in
    :data:`IDENTIFYING_TAGS` is removed, and so is any other text value that equals or
    contains an identifying one (:func:`repeats_identifier`); everything else is kept.
    ``burned_in_annotation`` is always present in the result (True/False), so
    an export can warn about text burned into the pixels.
    """
    out: dict = {}
    identifying = identifier_parts(v for n, v in meta.items() if _keyword(str(n)) and not _is_empty(v))
    for name, value in meta.items():
        keyword = _keyword(str(name))
        if keyword is None:
            # A harmless field repeating or containing an identifier ("ZZHOSPITAL Imaging") goes too.
            if name not in _BURNED_IN_KEYS and not repeats_identifier(value, identifying):
                out[name] = value
            continue
        if keyword in PSEUDONYMISED_TAGS:
            out[name] = value if _is_empty(value) else pseudonym(value, key, keyword)
    out["burned_in_annotation"] = has_burned_in_text(meta)
    return out


def has_burned_in_text(ds_or_meta: Any) -> bool:
    """True when a pydicom Dataset or a metadata dict says BurnedInAnnotation is YES.

    Absent or "NO" gives False: DICOM has no way to prove the pixels are clean,
    so callers exporting images from unknown sources should still warn.
    """
    value: Any = None
    for name in _BURNED_IN_KEYS:
        try:
            value = ds_or_meta.get(name) if hasattr(ds_or_meta, "get") else getattr(ds_or_meta, name, None)
        except Exception:  # a corrupt element: treat as unknown
            value = None
        if value is not None:
            break
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in ("YES", "Y", "TRUE", "1") if value is not None else False


def identifiers_in(ds: Any) -> dict[str, str]:
    """Non-empty identifying values of a pydicom Dataset, as text (keyword → value)."""
    found: dict[str, str] = {}
    for keyword in IDENTIFYING_TAGS:
        try:
            value = ds.get(keyword)
        except Exception:
            continue
        if value is None or keyword.endswith("Sequence"):
            continue
        text = str(value).strip()
        if text:
            found[keyword] = text
    return found
