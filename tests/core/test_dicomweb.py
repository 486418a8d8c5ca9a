"""A PACS over DICOMweb against a real local Orthanc (issue 19 items 1 and 2): search, fetch into a
project, predict, store the landmark report, read it back from the server; and every way a
server can fail, in one line with nothing added."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from core.cli import main
from core.dicomweb import DicomWebError, Server, fetch_instance, fetch_study, search_studies, store_datasets
from core.dicomweb.server import PASSWORD_ENV
from core.exchange.dicom_sr import read_sr
from core.project import Project
from orthanc_support import PASSWORD, USER, free_port, start_orthanc

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"
RG1_STUDY = "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """Orthanc holding RG1 (a chest CR) and, in a study of its own, only a report."""
    orthanc = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    server = Server(orthanc.root, USER, PASSWORD)
    store_datasets(server, [pydicom.dcmread(RG1)])
    yield orthanc, server
    orthanc.stop()


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def test_server_parse_takes_credentials_out_of_the_url() -> None:
    s = Server.parse(f" http://{USER}:p%40ss@pacs.example:8042/dicom-web/ ")
    assert s.url == "http://pacs.example:8042/dicom-web" and s.user == USER and s.password == "p@ss"
    assert "p@ss" not in repr(s)
    assert Server.parse("https://pacs/dicom-web", "bob", "x") == Server("https://pacs/dicom-web", "bob", "x")
    for bad in ("pacs:8042", "ftp://pacs/dicom-web", "http://", "http://pacs:port/x", ""):
        with pytest.raises(DicomWebError, match="not a DICOMweb URL"):
            Server.parse(bad)
    for typed in ("ftp://me:s3cret@pacs/x", "me:s3cret@pacs:8042/dicom-web", "http://me:s3/cret@pacs:x/y",
                  "http://me:s3@cret@pacs:port/x"):
        with pytest.raises(DicomWebError) as info:
            Server.parse(typed)
        assert "s3" not in str(info.value) and "cret" not in str(info.value), str(info.value)


def test_search_by_patient_date_and_modality(pacs) -> None:
    _orthanc, server = pacs
    (study,) = search_studies(server, patient_id="9RG1")
    assert study.study_uid == RG1_STUDY and study.modalities == ("CR",) and study.n_images == 1
    assert study.patient_name == "CompressedSamples^RG1" and study.study_date == "20040826"
    assert [s.study_uid for s in search_studies(server, study_date="20040101-20041231", modality="CR")] == [RG1_STUDY]
    assert search_studies(server, patient_name="Compressed*")[0].study_uid == RG1_STUDY
    assert search_studies(server, patient_name="compressedsamples^rg1")[0].study_uid == RG1_STUDY  # as typed
    assert search_studies(server, study_date="20100101-") == []
    with pytest.raises(DicomWebError, match="expected YYYYMMDD"):
        search_studies(server, study_date="last week")


def test_end_to_end_search_fetch_predict_store_read_back(pacs, tmp_path, password, capsys) -> None:
    """The command line as a user runs it: the study's image arrives byte for byte, is predicted,
    its report is stored on the server and the report read back from the server gives the points."""
    orthanc, server = pacs
    project_path = tmp_path / "pacs.anatomark"
    url = orthanc.root.replace("http://", f"http://{USER}@")  # the user in the URL, the password from the env
    assert main(["project", "new", str(project_path), "--schema", "chest6"]) == 0
    assert main(["pacs", "search", "--dicomweb", url, "--modality", "CR", "--json"]) == 0
    found = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [s["study_uid"] for s in found] == [RG1_STUDY]
    assert main(["project", "add", str(project_path), "--dicomweb", url, "--study", RG1_STUDY]) == 0
    assert "1 image(s) added" in capsys.readouterr().out
    assert main(["predict", "--project", str(project_path)]) == 0
    holder = Project.open(project_path)  # the app has the project open: storing only reads it
    try:
        assert main(["project", "store-sr", str(project_path), "--dicomweb", url, "--include-identifiers"]) == 0
    finally:
        holder.close()
    assert "stored 1 landmark report(s)" in capsys.readouterr().out

    project = Project.open(project_path)
    try:
        (image,) = project.images
        assert Path(image.path).read_bytes() == RG1.read_bytes()  # cached as stored
        assert Path(image.path).parents[2] == tmp_path / "pacs_pacs"
        assert Path(image.path).name == "CR_CHEST_1-3.dcm"  # what the image list shows: no identifier
        source = project.image_source(image.id)
        assert source.startswith(f"dicomweb:{orthanc.root}/studies/{RG1_STUDY}/series/")
        points = image.positions()
    finally:
        project.close()
    assert PASSWORD.encode() not in project_path.read_bytes()

    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    client = DICOMwebClient(orthanc.root, session=create_session_from_user_pass(USER, PASSWORD))
    reports = [s for s in client.search_for_series(RG1_STUDY) if s["00080060"]["Value"] == ["SR"]]
    assert len(reports) == 1
    series_uid = reports[0]["0020000E"]["Value"][0]
    (instance,) = client.search_for_instances(RG1_STUDY, series_uid)
    sr = fetch_instance(server, RG1_STUDY, series_uid, instance["00080018"]["Value"][0])
    sr.save_as(tmp_path / "back.dcm", enforce_file_format=True)
    back = read_sr(tmp_path / "back.dcm")
    assert back["referenced"] == [str(pydicom.dcmread(RG1, stop_before_pixels=True).SOPInstanceUID)]
    names = ["R_apex", "R_costophrenic", "R_cardiophrenic", "L_apex", "L_costophrenic", "L_cardiophrenic"]
    got = np.array([back["points"][n][:2] for n in names])
    np.testing.assert_allclose(got, points, atol=1e-3)
    assert {state for *_xy, state in back["points"].values()} == {"predicted"}


def test_a_study_without_images_adds_nothing(pacs, tmp_path) -> None:
    """A study holding only a report: refused in one line; nothing is written to the cache."""
    from pydicom.uid import generate_uid

    _orthanc, server = pacs
    sr = pydicom.dcmread(RG1, stop_before_pixels=True)
    report = pydicom.Dataset()
    report.file_meta = sr.file_meta
    study = generate_uid()
    for key, value in (("StudyInstanceUID", study), ("SeriesInstanceUID", generate_uid()), ("Modality", "SR"),
                       ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.88.33"), ("SOPInstanceUID", generate_uid()),
                       ("PatientID", "NOIMAGES"), ("PatientName", "No^Images")):
        setattr(report, key, value)
    report.file_meta.MediaStorageSOPClassUID = report.SOPClassUID
    report.file_meta.MediaStorageSOPInstanceUID = report.SOPInstanceUID
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    store_datasets(server, [report])
    with pytest.raises(DicomWebError, match="holds no images"):
        fetch_study(server, study, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.dcm"))


@pytest.mark.parametrize("case", ["unreachable", "wrong-path", "wrong-password", "unknown-study", "no-password"])
def test_server_failures_are_one_line_and_add_nothing(pacs, tmp_path, monkeypatch, capsys, case) -> None:
    orthanc, _server = pacs
    url, study = orthanc.root, RG1_STUDY
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    if case == "unreachable":
        url, expected = f"http://127.0.0.1:{free_port()}/dicom-web", "cannot connect"
    elif case == "wrong-path":
        url, expected = orthanc.root.replace("/dicom-web", "/not-dicom-web"), "HTTP 404"
    elif case == "wrong-password":
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        expected = "HTTP 401: the server refused the user name or password"
    elif case == "unknown-study":
        study, expected = "1.2.3.4.5", "study 1.2.3.4.5 not found"
    else:
        monkeypatch.delenv(PASSWORD_ENV)
        monkeypatch.setattr("sys.stdin", open("/dev/null"))  # no terminal to ask on
        expected = f"no password for {USER}: set {PASSWORD_ENV}"
    project_path = tmp_path / "p.anatomark"
    Project.create(project_path, "chest6", user="tester").close()
    capsys.readouterr()
    code = main(["project", "add", str(project_path), "--dicomweb", url, "--user", USER, "--study", study])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err
    assert PASSWORD not in err[0] and "wrong" not in err[0].replace("wrong-", "")
    project = Project.open(project_path)
    assert project.images == []
    project.close()
    assert not list(tmp_path.rglob("*.dcm"))


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A web server that is not DICOMweb: an HTML page, JSON of another shape, or hostile UIDs."""

    body = b"<html>login</html>"
    kind = "text/html"

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", self.kind)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("body,kind,expected", [
    (b"<html>login</html>", "text/html", "not DICOMweb"),
    (b'{"studies": 3}', "application/dicom+json", "not DICOMweb"),
    (b'["a", "b"]', "application/dicom+json", "not DICOMweb"),
    (json.dumps([{"0020000D": {"vr": "UI", "Value": ["../../etc"]}}]).encode(), "application/dicom+json",
     "invalid study UID"),
    (b"\x00\xff" * 400, "application/dicom+json", "not DICOMweb"),
])
def test_a_server_that_answers_garbage_is_refused_in_one_line(tmp_path, body, kind, expected) -> None:
    handler = type("Handler", (_Garbage,), {"body": body, "kind": kind})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        server = Server.parse(f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web")
        with pytest.raises(DicomWebError) as info:
            search_studies(server)
        assert expected in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(DicomWebError):
            fetch_study(server, RG1_STUDY, tmp_path / "cache")
        assert not list(tmp_path.rglob("*.dcm"))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_failing_server_is_asked_once(tmp_path) -> None:
    """dicomweb-client retried a 503 five times with exponential back-off (30 s before the message);
    a person at a dialog gets one request and the answer at once."""
    calls = []

    class Busy(_Garbage):
        def do_GET(self):  # noqa: N802
            calls.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DicomWebError, match="HTTP 503"):
            search_studies(Server.parse(f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"))
        assert len(calls) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_cancelled_fetch_leaves_nothing(pacs, tmp_path) -> None:
    _orthanc, server = pacs
    with pytest.raises(DicomWebError, match="cancelled"):
        fetch_study(server, RG1_STUDY, tmp_path / "cache", cancelled=lambda: True)
    assert not list((tmp_path / "cache").rglob("*.dcm"))
    fetched = fetch_study(server, RG1_STUDY, tmp_path / "cache")  # and a second fetch reuses the cache
    again = fetch_study(server, RG1_STUDY, tmp_path / "cache")
    assert [f.path for f in again] == [f.path for f in fetched] and fetched[0].path.is_file()


class _JunkInstances(_Garbage):
    """QIDO-RS answers as a DICOMweb server would; WADO-RS answers a multipart body that is not DICOM."""

    def do_GET(self):  # noqa: N802
        if "/instances/" in self.path:
            body = b"--xyz\r\nContent-Type: application/dicom\r\n\r\n" + b"\x00junk" * 50 + b"\r\n--xyz--\r\n"
            kind = 'multipart/related; type="application/dicom"; boundary=xyz'
        elif "/series?" in self.path or self.path.endswith("/series"):
            body = json.dumps([{"0020000E": {"vr": "UI", "Value": ["1.2.3"]}, "00080060": {"vr": "CS", "Value": ["CR"]}}]).encode()
            kind = "application/dicom+json"
        else:
            body = json.dumps([{"00080018": {"vr": "UI", "Value": ["1.2.3.4"]}}]).encode()
            kind = "application/dicom+json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_instance_that_is_not_dicom_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch) -> None:
    """pydicom's InvalidDicomError is no ValueError: it came through as a traceback."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JunkInstances)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
        with pytest.raises(DicomWebError, match="not DICOMweb"):
            fetch_study(Server.parse(url), RG1_STUDY, tmp_path / "cache")
        assert not list(tmp_path.rglob("*.dcm")) and not (tmp_path / "cache" / RG1_STUDY).exists()
        project_path = tmp_path / "p.anatomark"
        Project.create(project_path, "chest6", user="tester").close()
        capsys.readouterr()
        assert main(["project", "add", str(project_path), "--dicomweb", url, "--study", RG1_STUDY]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not DICOMweb" in err[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


class _TokenOnly(_Garbage):
    """A cloud-style archive: answers only requests with the right OAuth bearer token."""

    def do_GET(self):  # noqa: N802
        ok = self.headers.get("Authorization") == "Bearer tok-9f3c"
        body = b"[]" if ok else b""
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_bearer_token_from_the_environment(monkeypatch, capsys) -> None:
    from core.dicomweb.server import TOKEN_ENV

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenOnly)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
        monkeypatch.delenv(TOKEN_ENV, raising=False)
        assert main(["pacs", "search", "--dicomweb", url]) == 2
        assert "HTTP 401" in capsys.readouterr().err
        monkeypatch.setenv(TOKEN_ENV, "tok-9f3c")
        assert main(["pacs", "search", "--dicomweb", url]) == 0
        assert "no study matches" in capsys.readouterr().out
        server = Server.parse(url).with_password_from_env()
        assert server.token == "tok-9f3c" and "tok-9f3c" not in repr(server)
        assert search_studies(server) == []
    finally:
        httpd.shutdown()
        httpd.server_close()
