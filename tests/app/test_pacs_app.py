"""File ▸ Open from PACS… and File ▸ Store Landmarks to PACS… against a real local Orthanc
(issue 19 item 1), driven through the dialogs' widgets as a user would."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import Qt

from app.paths import new_project_path, user_data_dir
from core.dicomweb import Server, store_datasets
from orthanc_support import PASSWORD, USER, free_port, start_orthanc

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    orthanc = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    store_datasets(Server(orthanc.root, USER, PASSWORD), [pydicom.dcmread(RG1)])
    yield orthanc
    orthanc.stop()


def _search(qtbot, window, url: str, password: str = PASSWORD, **fields):
    dialog = window.pacs.show_open()
    dialog.server_form.url.setText(url)
    dialog.server_form.user.setText(USER)
    dialog.server_form.password.setText(password)
    for name, value in fields.items():
        getattr(dialog, name).setText(value)
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.search_button.isEnabled(), timeout=20000)
    return dialog


def test_open_a_study_from_the_pacs_then_store_its_report(make_window, qtbot, pacs, wait_for_predictions):
    window = make_window()
    assert window.new_project(new_project_path("pacs"), "chest6")
    window.actions.open_pacs.trigger()
    dialog = _search(qtbot, window, pacs.root, patient_name="compressed*")
    assert dialog.results.rowCount() == 1 and dialog.results.item(0, 1).text() == "9RG1"
    assert dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.doc.image_ids()) == 1, timeout=30000)
    wait_for_predictions(qtbot, window)
    image_id = window.doc.image_ids()[0]
    project = window.doc.project
    assert project.image_source(image_id).startswith(f"dicomweb:{pacs.root}/studies/")
    assert Path(project.image(image_id).path).read_bytes() == RG1.read_bytes()
    assert "Opened 1 image(s)" in dialog.message.text()
    model = window.images_panel.model
    tip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert f"Fetched from {pacs.root}/studies/" in tip
    assert "6 predicted" in tip and "LandmarkState" not in tip
    settings = (user_data_dir() / "pacs.ini").read_text()
    assert pacs.root in settings and USER in settings and PASSWORD not in settings
    dialog.close()

    store = window.pacs.show_store()
    assert store.server_form.password.text() == PASSWORD  # remembered for this session
    store.include_identifiers.setChecked(True)
    with qtbot.waitSignal(window.pacs.stored, timeout=30000) as stored:
        store.accept()
    assert stored.args == [1]
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    client = DICOMwebClient(pacs.root, session=create_session_from_user_pass(USER, PASSWORD))
    modalities = {s["00080060"]["Value"][0] for s in client.search_for_series(
        pydicom.dcmread(RG1, stop_before_pixels=True).StudyInstanceUID)}
    assert modalities == {"CR", "SR"}


@pytest.mark.parametrize("case", ["unreachable", "wrong-password", "bad-date"])
def test_a_failing_search_says_why_in_the_dialog_and_adds_nothing(make_window, qtbot, pacs, case):
    window = make_window()
    assert window.new_project(new_project_path("pacs"), "chest6")
    url, password, fields, expected = pacs.root, PASSWORD, {}, ""
    if case == "unreachable":
        url, expected = f"http://127.0.0.1:{free_port()}/dicom-web", "cannot connect"
    elif case == "wrong-password":
        password, expected = "wrong", "HTTP 401"
    else:
        fields, expected = {"study_date": "yesterday"}, "expected YYYYMMDD"
    dialog = _search(qtbot, window, url, password, **fields)
    assert expected in dialog.message.text() and "\n" not in dialog.message.text()
    assert dialog.results.rowCount() == 0 and not dialog.open_button.isEnabled()
    assert window.doc.image_ids() == []
    dialog.close()


def test_the_secret_field_is_a_token_without_a_user(qtbot):
    from app.pacs_dialogs import ServerForm

    form = ServerForm()
    qtbot.addWidget(form)
    form.url.setText("https://healthcare.example/v1/dicomWeb")
    form.password.setText("tok-1")
    server = form.server()
    assert server.user is None and server.password is None and server.token == "tok-1"
    form.user.setText("me")
    server = form.server()
    assert server.user == "me" and server.password == "tok-1" and server.token is None
    form.user.setText("")
    form.url.setText("https://alice@pacs.example/dicom-web")  # the user typed into the address
    server = form.server()
    assert server.user == "alice" and server.password == "tok-1" and server.token is None
