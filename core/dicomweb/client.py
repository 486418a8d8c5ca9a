"""Search, fetch and store over DICOMweb with dicomweb-client; every failure one line.

What a hostile or broken server cannot do here: put a file outside the cache folder
(UIDs are checked before they become file names), make us fetch without end (at most
:data:`MAX_INSTANCES` per study), pass an HTML page or junk off as an answer (it is
refused as "not DICOMweb"), or leave half a study behind (the files a failed fetch
wrote are removed; the caller adds images only after the whole study has arrived).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.dicomweb.server import DicomWebError, Server

#: Seconds to connect, and to wait for each answer.
TIMEOUT = (5.0, 60.0)
#: Most studies a search lists, and most images one study may bring.
MAX_RESULTS = 200
MAX_INSTANCES = 500
#: Series of these modalities hold no radiograph (reports, presentation states, segmentations, …).
NOT_IMAGES = frozenset({"SR", "PR", "KO", "SEG", "DOC", "RTSTRUCT", "REG", "AU", "ECG", "PLAN"})
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_DATE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")


@dataclass(frozen=True)
class StudySummary:
    """One study a search found (for a person to choose from: it is shown, never logged or stored)."""

    study_uid: str
    patient_name: str
    patient_id: str
    study_date: str
    description: str
    modalities: tuple[str, ...]
    n_images: int | None


@dataclass(frozen=True)
class FetchedImage:
    """An image fetched into the cache, and where it came from (``dicomweb:<root>/studies/…``)."""

    path: Path
    source: str


#: Query escapes sent literally: requests writes ``*``, ``?`` and ``^`` (DICOM's wildcards and the
#: person-name separator) as %2A, %3F and %5E, and Orthanc's DICOMweb plugin (1.7, Debian 12)
#: then matches them as text: ``PatientName=DOE*`` found nothing. ``*`` and ``?`` are legal in a query
#: (RFC 3986), and servers that decode escapes read the literal characters the same way.
_LITERAL = (("%2A", "*"), ("%3F", "?"), ("%5E", "^"))


def _adapter():
    from requests.adapters import HTTPAdapter

    class LiteralWildcards(HTTPAdapter):
        def send(self, request, *args, **kwargs):
            head, sep, query = (request.url or "").partition("?")
            for escaped, literal in _LITERAL:
                query = query.replace(escaped, literal).replace(escaped.lower(), literal)
            request.url = head + sep + query
            return super().send(request, *args, **kwargs)

    return LiteralWildcards()


def _client(server: Server):
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session, create_session_from_user_pass

    session = (create_session_from_user_pass(server.user, server.password or "") if server.user
               else create_session())
    if server.token and not server.user:
        session.headers["Authorization"] = f"Bearer {server.token}"
    adapter = _adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    client = DICOMwebClient(server.url, session=session, timeout=TIMEOUT)
    # dicomweb-client retries 5 times with exponential back-off (30 s before "cannot connect" to a
    # server that is down); a person waiting at a dialog gets one try and a clear message instead.
    client.set_http_retry_params(retry=False)
    return client


def _call(server: Server, what: str, fn):
    """Run one DICOMweb request; requests', dicomweb-client's and decoding errors become one line."""
    import requests

    try:
        return fn()
    except DicomWebError:
        raise
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        reason = {401: "the server refused the user name or password", 403: "access denied",
                  404: "not found: is this the server's DICOMweb root (often …/dicom-web)?"}.get(status, "")
        raise DicomWebError(f"{server.url}: {what} failed (HTTP {status}{': ' + reason if reason else ''})") from None
    except requests.exceptions.SSLError:
        raise DicomWebError(f"{server.url}: the secure connection failed (the server's certificate is not "
                            f"trusted, or it does not speak https)") from None
    except requests.exceptions.ConnectionError:
        raise DicomWebError(f"{server.url}: cannot connect (is the server running, and the address right?)") from None
    except requests.exceptions.Timeout:
        raise DicomWebError(f"{server.url}: no answer within {TIMEOUT[1]:.0f} s to {what}") from None
    except requests.exceptions.JSONDecodeError:
        raise DicomWebError(f"{server.url}: the answer to {what} is not DICOMweb (not JSON)") from None
    except requests.exceptions.RequestException as exc:  # a malformed address, too many redirects, …
        raise DicomWebError(f"{server.url}: {what} failed ({type(exc).__name__})") from None
    except Exception as exc:
        # JSON that is not DICOM JSON, an HTML page, a multipart body that is not DICOM (pydicom's
        # InvalidDicomError, EOFError, struct.error): whatever the parsers raise, one line
        raise DicomWebError(f"{server.url}: the answer to {what} is not DICOMweb ({type(exc).__name__})") from None


def _values(item: object, what: str) -> dict:
    if not isinstance(item, dict):
        raise DicomWebError(f"the answer to {what} is not DICOMweb (a result is not a DICOM JSON object)")
    return item


def _first(item: dict, tag: str) -> str:
    """The first value of a DICOM JSON attribute as text ('' when absent); person names by their alphabetic form."""
    entry = item.get(tag)
    values = entry.get("Value") if isinstance(entry, dict) else None
    if not isinstance(values, list) or not values:
        return ""
    value = values[0]
    if isinstance(value, dict):
        value = value.get("Alphabetic", "")
    return str(value)[:200]


def _all(item: dict, tag: str) -> tuple[str, ...]:
    entry = item.get(tag)
    values = entry.get("Value") if isinstance(entry, dict) else None
    return tuple(str(v)[:16] for v in values) if isinstance(values, list) else ()


def _uid(value: str, what: str) -> str:
    if not _UID.fullmatch(value or "") or len(value) > 64:
        raise DicomWebError(f"the server gave an invalid {what} UID {value[:70]!r}")
    return value


def check_date(text: str) -> str:
    """A DICOM date or range for a search (``20250101``, ``20250101-20251231``, ``-20251231``); '' for any."""
    text = (text or "").strip().replace(" ", "")
    if not text:
        return ""
    if not _DATE.match(text) or text == "-":
        raise DicomWebError(f"study date {text[:40]!r}: expected YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    return text


def search_studies(server: Server, patient_id: str = "", patient_name: str = "", study_date: str = "",
                   modality: str = "", limit: int = MAX_RESULTS) -> list[StudySummary]:
    """QIDO-RS ``/studies`` with the filters given (``*`` and ``?`` wildcards as DICOM allows)."""
    # urllib3 escapes "^" (not legal in a URL) and Orthanc 1.10 matches the escape as text: the
    # name separator is sent as "?", the one-character wildcard, which matches "^" everywhere.
    name = patient_name.strip().replace("^", "?")
    filters = {k: v for k, v in (("PatientID", patient_id.strip()), ("PatientName", name),
                                 ("StudyDate", check_date(study_date)),
                                 ("ModalitiesInStudy", modality.strip().upper())) if v}
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]
    found = _call(server, "the study search", lambda: _client(server).search_for_studies(
        search_filters=filters, fields=fields, limit=min(limit, MAX_RESULTS)))
    if not isinstance(found, list):
        raise DicomWebError(f"{server.url}: the answer to the study search is not DICOMweb (not a list)")
    studies = []
    for item in found[:MAX_RESULTS]:
        item = _values(item, "the study search")
        if not _first(item, "0020000D"):
            raise DicomWebError(f"{server.url}: the answer to the study search is not DICOMweb "
                                f"(a result has no Study Instance UID)")
        count = _first(item, "00201208")
        studies.append(StudySummary(
            study_uid=_uid(_first(item, "0020000D"), "study"), patient_name=_first(item, "00100010"),
            patient_id=_first(item, "00100020"), study_date=_first(item, "00080020"),
            description=_first(item, "00081030"), modalities=_all(item, "00080061"),
            n_images=int(count) if count.isascii() and count.isdigit() else None))
    return studies


def _image_instances(server: Server, study_uid: str, client) -> list[tuple[str, str]]:
    """(series UID, SOP Instance UID) of the study's instances outside report-like series."""
    series = _call(server, "the series search", lambda: client.search_for_series(study_uid, fields=["Modality"]))
    if not isinstance(series, list):
        raise DicomWebError(f"{server.url}: the answer to the series search is not DICOMweb (not a list)")
    if not series:
        raise DicomWebError(f"{server.url}: study {study_uid} not found (or it has no series)")
    out = []
    for s in series:
        s = _values(s, "the series search")
        if _first(s, "00080060").upper() in NOT_IMAGES:
            continue
        series_uid = _uid(_first(s, "0020000E"), "series")
        instances = _call(server, "the instance search", lambda su=series_uid: client.search_for_instances(
            study_uid, su, limit=MAX_INSTANCES + 1))
        if not isinstance(instances, list):
            raise DicomWebError(f"{server.url}: the answer to the instance search is not DICOMweb (not a list)")
        for i in instances:
            out.append((series_uid, _uid(_first(_values(i, "the instance search"), "00080018"), "SOP instance")))
            if len(out) > MAX_INSTANCES:
                raise DicomWebError(f"study {study_uid} has more than {MAX_INSTANCES} images; "
                                    f"Anatomark opens radiographs, not whole volumes")
    if not out:
        raise DicomWebError(f"{server.url}: study {study_uid} holds no images (only reports or other objects)")
    return out


def cache_folder(project_path: str | Path) -> Path:
    """Where a project's fetched images are kept: ``<folder>/<project stem>_pacs`` beside the project
    (the project refers to its images by path, so they must outlive any temporary folder)."""
    p = Path(project_path).expanduser().resolve()
    return p.parent / f"{p.stem}_pacs"


def source_of(server: Server, study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The address recorded as a fetched image's source: the server's URL (no credentials) and its UIDs."""
    return f"dicomweb:{server.url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"


def fetch_instance(server: Server, study_uid: str, series_uid: str, sop_uid: str, client=None):
    """One instance by WADO-RS, as a pydicom Dataset (pixels included); ``client``: a session to reuse."""
    client = client or _client(server)
    ds = _call(server, "the retrieval", lambda: client.retrieve_instance(
        _uid(study_uid, "study"), _uid(series_uid, "series"), _uid(sop_uid, "SOP instance")))
    if getattr(ds, "SOPInstanceUID", None) != sop_uid:
        raise DicomWebError(f"{server.url}: the server sent another object than instance {sop_uid}")
    return ds


def fetch_study(server: Server, study_uid: str, cache: Path | str,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> list[FetchedImage]:
    """Fetch a study's images (WADO-RS) into ``cache/<study UID>/<SOP UID>/<readable name>.dcm``.

    All or nothing: on any failure (or ``cancelled()``) the files this call wrote are removed
    and DicomWebError is raised. Files already in the cache are not fetched again.
    ``progress(done, total)`` after each image.
    """
    from core.atomic import atomic_write

    study_uid = _uid(study_uid.strip(), "study")
    client = _client(server)  # one session (and its connections) for the whole study
    instances = _image_instances(server, study_uid, client)
    folder = Path(cache) / study_uid
    written: list[Path] = []
    fetched = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for k, (series_uid, sop_uid) in enumerate(instances):
            if cancelled is not None and cancelled():
                raise DicomWebError(f"fetching study {study_uid} was cancelled")
            cached = sorted((folder / sop_uid).glob("*.dcm"))
            path = cached[0] if cached else None
            if path is None:
                ds = fetch_instance(server, study_uid, series_uid, sop_uid, client)
                if "PixelData" not in ds:
                    if progress is not None:
                        progress(k + 1, len(instances))
                    continue  # a non-image object in an image series: nothing to landmark
                path = folder / sop_uid / readable_name(ds)
                path.parent.mkdir(exist_ok=True)
                atomic_write(path, lambda fh, ds=ds: ds.save_as(fh, enforce_file_format=True))
                written.append(path)
            fetched.append(FetchedImage(path, source_of(server, study_uid, series_uid, sop_uid)))
            if progress is not None:
                progress(k + 1, len(instances))
    except OSError as exc:
        _remove(written, folder)
        raise DicomWebError(f"cannot write the fetched images to {folder} ({exc.strerror or exc})") from None
    except BaseException:
        _remove(written, folder)
        raise
    if not fetched:
        raise DicomWebError(f"{server.url}: study {study_uid} holds no images with pixel data")
    return fetched


def _remove(paths: Iterable[Path], folder: Path) -> None:
    """Undo a failed fetch: its files, their SOP UID folders, and the study folder when left empty."""
    for path in paths:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # the SOP UID folder it had alone
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (images of an earlier fetch) or never made


def readable_name(ds) -> str:
    """A file name the image list can show: modality, body part, series and instance number
    (``CR_CHEST_1-1.dcm``). Never the patient's name, ID or a date: file names travel."""
    def token(value: object) -> str:
        return "".join(c for c in str(value or "") if c.isascii() and c.isalnum())[:16]

    parts = [token(ds.get("Modality")) or "IMAGE", token(ds.get("BodyPartExamined"))]
    numbers = "-".join(t for t in (token(ds.get("SeriesNumber")), token(ds.get("InstanceNumber"))) if t)
    return "_".join(p for p in (*parts, numbers) if p) + ".dcm"


def store_datasets(server: Server, datasets: list) -> list[str]:
    """STOW-RS: store the data sets (landmark reports); returns their SOP Instance UIDs.

    DicomWebError when the server refuses any of them (its Failed SOP Sequence)."""
    if not datasets:
        return []
    answer = _call(server, "storing", lambda: _client(server).store_instances(datasets))
    failed = answer.get("FailedSOPSequence", []) if answer is not None else []
    if failed:
        reason = failed[0].get("FailureReason", "?")
        raise DicomWebError(f"{server.url}: the server refused {len(failed)} of {len(datasets)} reports "
                            f"(failure reason {reason})")
    return [str(ds.SOPInstanceUID) for ds in datasets]
