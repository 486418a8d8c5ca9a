"""Training from the GUI, with a fake trainer subprocess in place of the engine: the window
stays editable while it trains, the curves follow the JSON lines, cancel ends the process
and leaves the project and the current model alone; the report adopts only when asked."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from PySide6.QtCore import Qt

from core.project import LandmarkState

FAKE_TRAINER = textwrap.dedent('''
    """A stand-in for `anatomark train --project P --json`: realistic JSON lines, SIGTERM honoured."""
    import json, os, signal, sys, time
    args = sys.argv[1:]
    project, epochs, delay = args[0], int(args[1]), float(args[2])
    def stop(*_):
        sys.stderr.write("stopped by request\\n")
        os._exit(143)
    signal.signal(signal.SIGTERM, stop)
    def say(**event):
        print(json.dumps(event), flush=True)
    say(event="start", device="cpu", reason="cpu: fake trainer (2 threads)")
    start = time.time()
    step = 0
    for stage in ("global", "patch"):
        for epoch in range(1, epochs + 1):
            time.sleep(delay)
            step += 1
            elapsed = time.time() - start
            say(event="epoch", stage=stage, epoch=epoch, epochs=epochs, train_loss=1.0 / step, val_mre_px=9.0 - 0.3 * step,
                best_mre_px=9.0 - 0.3 * step, lr=1e-4, seconds=delay, elapsed=elapsed,
                eta_seconds=delay * (2 * epochs - step))
    versions = os.path.join(os.path.dirname(project), "versions")
    os.makedirs(versions, exist_ok=True)
    path = os.path.join(versions, "v2.pt")
    with open(path + ".tmp", "wb") as f:
        f.write(b"weights")
    os.replace(path + ".tmp", path)
    per = lambda base: [{"name": n, "mre_px": base + i} for i, n in enumerate(["R_apex", "L_apex"])]
    say(event="done", version="v2", model_path=path,
        before={"mre_px": 9.0, "mre_mm": None, "sdr": {"6": 60.0}, "sdr_unit": "px", "per_landmark": per(9.0)},
        after={"mre_px": 7.5, "mre_mm": None, "sdr": {"6": 70.0}, "sdr_unit": "px", "per_landmark": per(7.5)},
        adoptable=os.environ.get("FAKE_ADOPTABLE", "1") == "1", worse_images=["JPCLN001.png"])
''')


def _fake(tmp_path: Path, epochs: int, delay: float):
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    return lambda options: [sys.executable, str(script), options.project, str(epochs), str(delay)]


def _png_window(make_window, qtbot, jsrt_png, wait_for_predictions):
    window = make_window()
    window.open_images([jsrt_png])
    wait_for_predictions(qtbot, window)
    qtbot.waitUntil(lambda: window.viewer.frame is not None and window.viewer.frame.prediction is not None)
    return window


def test_train_while_editing_then_cancel(make_window, qtbot, jsrt_png, tmp_path, mouse_for, marker_pos, wait_for_predictions):
    window = _png_window(make_window, qtbot, jsrt_png, wait_for_predictions)
    doc, panel, training = window.doc, window.training.panel, window.training
    training.run.command_factory = _fake(tmp_path, epochs=50, delay=0.08)
    project_dir = Path(doc.project.path).parent
    model_before = window.model_name()
    image_id = doc.current_image_id

    window.actions.train.trigger()
    assert window.train_dock.isVisible()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert training.is_running()
    assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not window.actions.train.isEnabled()
    qtbot.waitUntil(lambda: len(panel.steps) >= 2, timeout=10000)
    assert "fake trainer" in panel.status.text() or "epoch" in panel.status.text()

    # Keep correcting points with the mouse while it trains; the curves keep growing.
    mouse = mouse_for(window)
    for name, (dx, dy) in (("R_apex", (30.0, 20.0)), ("L_apex", (-25.0, 15.0))):
        k = doc.landmark_names().index(name)
        before = doc.record(image_id, name)
        seen = len(panel.steps)
        mouse.drag(marker_pos(window, k), window.viewer.image_to_viewport(before.x + dx, before.y + dy))
        after = doc.record(image_id, name)
        assert after.state == LandmarkState.CORRECTED and after.original == (before.x, before.y)
        qtbot.waitUntil(lambda s=seen: len(panel.steps) > s, timeout=5000)
    xs, ys = panel.loss_curve.getData()
    assert len(xs) == len(panel.steps) >= 3 and ys[-1] < ys[0]
    assert len(panel.mre_curve.getData()[0]) == len(panel.steps)
    # The curve is the error on the training images (the locked validation images are for the verdict).
    assert "training images" in panel.mre_plot.getPlotItem().titleLabel.text
    assert panel.progress.value() > 0 and "ETA" in panel.eta.text()
    assert training.is_running(), "the fake run takes 8 s: still going"
    edits = {n: doc.record(image_id, n) for n in ("R_apex", "L_apex")}

    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not training.is_running(), timeout=8000)
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert "Cancelled" in panel.status.text()
    assert window.actions.train.isEnabled()
    # Untouched: no version published, the same model predicts, the edits are all there.
    assert not (project_dir / "versions").exists()
    assert window.model_name() == model_before and training.active.path is None
    assert training.report is None
    qtbot.waitUntil(lambda: not doc.project.dirty, timeout=5000)
    for name, record in edits.items():
        assert doc.record(image_id, name) == record
    assert window.errors.history == []
    # Undo still works on the edits made during training.
    window.actions.undo.trigger()
    assert doc.record(image_id, "L_apex").state == LandmarkState.PREDICTED


def test_finished_run_shows_report_and_adopts_on_request(make_window, qtbot, jsrt_png, tmp_path, wait_for_predictions, monkeypatch):
    window = _png_window(make_window, qtbot, jsrt_png, wait_for_predictions)
    training = window.training
    training.run.command_factory = _fake(tmp_path, epochs=2, delay=0.02)
    calls = []
    model_path = Path(window.doc.project.path).parent / "versions" / "v2.pt"
    training.adopt_fn = lambda project, version, force: calls.append((version, force)) or {"model_path": str(model_path)}
    training.list_fn = lambda project: []
    repredicted = []
    monkeypatch.setattr(window, "predict_ids", repredicted.append)
    monkeypatch.setenv("FAKE_ADOPTABLE", "0")  # the run is worse: adopting needs an explicit "anyway"
    qtbot.mouseClick(training.panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.report is not None and training.report.isVisible(), timeout=10000)
    report = training.report
    assert len(training.panel.steps) == 4
    assert report.summary.item(0, 1).text() == "9.00" and report.summary.item(0, 2).text() == "7.50"
    assert report.landmarks.rowCount() == 2 and report.worse.item(0).text() == "JPCLN001.png"
    assert not report.adopt_button.isEnabled() and "Disabled" in report.adopt_button.toolTip()
    assert calls == []
    report.force.setChecked(True)
    assert report.adopt_button.isEnabled()
    qtbot.mouseClick(report.adopt_button, Qt.MouseButton.LeftButton)
    assert calls == [("v2", True)]
    assert window.model_name() == str(model_path)  # new predictions use the adopted model
    assert repredicted == [window.doc.image_ids()], "unreviewed images are re-predicted with it"


def test_versions_dialog_restores_an_earlier_version(make_window, qtbot, tmp_path):
    window = make_window()
    window.new_project(tmp_path / "p.anatomark", "chest6")
    listing = [  # as `anatomark models --project P --json` lists them
        {"version": "v1", "current": False, "parent": "v0", "date": "2026-11-20T10:00:00", "path": str(tmp_path / "v1.pt"), "val_mre_px": 8.0},
        {"version": "v2", "current": True, "parent": "v1", "date": "2026-11-22T10:00:00", "path": str(tmp_path / "v2.pt"), "val_mre_px": 7.0},
    ]
    (tmp_path / "v1.pt").write_bytes(b"w")
    calls = []
    window.training.list_fn = lambda project: listing
    window.training.adopt_fn = lambda project, version, force: calls.append((version, force)) or {}
    dialog = window.training.show_versions()
    assert dialog.table.rowCount() == 2 and dialog.table.item(1, 1).text() == "current"
    assert not dialog.restore_button.isEnabled()
    dialog.table.selectRow(1)
    assert not dialog.restore_button.isEnabled(), "the current version cannot be restored"
    dialog.table.selectRow(0)
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert calls == [("v1", True)], "restoring an earlier version is an explicit, forced adoption"
    assert window.active_model.path == str(tmp_path / "v1.pt")


def test_closing_while_training_asks_first(make_window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    window.new_project(tmp_path / "p.anatomark", "chest6")
    training = window.training
    training.run.command_factory = _fake(tmp_path, epochs=100, delay=0.1)
    assert training.start(training.panel.options(""))
    qtbot.waitUntil(lambda: len(training.panel.steps) >= 1, timeout=10000)
    answers = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    answers.append(QMessageBox.StandardButton.No)
    window.close()
    assert window.isVisible() and training.is_running(), "No: the window stays and training goes on"
    answers.append(QMessageBox.StandardButton.Yes)
    window.close()
    assert not window.isVisible() and not training.is_running()
    assert training.run.process is None, "the trainer was stopped and waited for"
    assert not (tmp_path / "versions").exists()


def test_report_shows_the_verdict_with_its_uncertainty(qtbot):
    """core.learning.verdict in the report: an inconclusive version may be adopted but says why it is
    uncertain; a worse one needs "adopt anyway"."""
    from app.training_dialogs import ReportDialog
    from core.learning.verdict import judge

    def summary(per_image):
        return {"n_images": len(per_image), "mre_px": sum(per_image) / len(per_image), "mre_mm": None,
                "per_image": {f"i{k}": v for k, v in enumerate(per_image)}, "per_landmark": []}

    cases = (([10.0, 12.0, 9.0, 11.0], [9.8, 11.9, 9.1, 10.8], "inconclusive", True),  # 4 images: never worse or better
             ([10.0, 12.0, 9.0, 11.0, 10.0, 13.0], [11.0, 13.0, 10.0, 12.0, 11.0, 14.0], "worse", False))
    for before_images, after, outcome, enabled in cases:
        before = summary(before_images)
        verdict = judge(before, summary(after)).to_dict()
        assert verdict["outcome"] == outcome
        dialog = ReportDialog({"version": "v3", "before": before, "after": summary(after), "adoptable": verdict["adoptable"],
                               "verdict": verdict})
        qtbot.addWidget(dialog)
        text = dialog.verdict.text()
        assert verdict["text"].split(": ", 1)[1] in text and "95 % interval" in text
        assert ("Inconclusive" in text and "only 4 validation images" in text) if enabled else "Not adopted automatically" in text
        assert dialog.adopt_button.isEnabled() == enabled


DIVERGING_TRAINER = textwrap.dedent('''
    import json, sys
    print(json.dumps({"event": "start", "device": "cpu", "reason": "cpu: fake trainer"}), flush=True)
    print(json.dumps({"event": "diverged", "message": "training diverged at epoch 2: loss is nan"}), flush=True)
    sys.stderr.write("anatomark: training diverged at epoch 2: loss is nan\\n")
    sys.exit(2)
''')


def test_diverged_run_says_so_and_that_nothing_changed(make_window, qtbot, jsrt_png, tmp_path, wait_for_predictions):
    window = _png_window(make_window, qtbot, jsrt_png, wait_for_predictions)
    script = tmp_path / "diverging.py"
    script.write_text(DIVERGING_TRAINER)
    training, panel = window.training, window.training.panel
    training.run.command_factory = lambda options: [sys.executable, str(script)]
    model_before = window.model_name()
    shown = []
    window.show_error = shown.append
    window.actions.train.trigger()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not training.is_running(), timeout=10000)
    assert len(shown) == 1
    assert "diverged at epoch 2" in shown[0] and "Nothing was published" in shown[0] and "lower learning rate" in shown[0]
    assert window.model_name() == model_before and training.report is None
    assert panel.start_button.isEnabled()


def test_model_menu_switches_to_the_segmenting_bundled_model_and_back(make_window, qtbot, jsrt_png, wait_for_predictions):
    """Model ▸ Use Bundled Model lists the installed models of the schema; choosing chest6-seg
    predicts every image again with it (masks appear, the Mask layer is enabled), and choosing
    chest6 goes back to v0."""
    window = _png_window(make_window, qtbot, jsrt_png, wait_for_predictions)
    doc, training = window.doc, window.training
    image_id = doc.current_image_id
    assert doc.project.prediction(image_id).masks is None
    window.bundled_menu.aboutToShow.emit()
    entries = {a.text().split(" — ")[0]: a for a in window.bundled_menu.actions()}
    assert {"chest6", "chest6-seg"} <= set(entries) and entries["chest6"].isChecked()
    assert list(entries)[0] == "chest6", "the schema's default model comes first"
    assert "draws masks" in entries["chest6-seg"].text() and not entries["chest6-seg"].isChecked()
    entries["chest6-seg"].trigger()
    wait_for_predictions(qtbot, window)
    prediction = doc.project.prediction(image_id)
    from core.modelfile import read_card
    from core.resources import resolve_model

    seg_id = f"chest6-seg@{read_card(resolve_model('chest6-seg'))['version']}"
    assert prediction.masks is not None and prediction.model_id == seg_id  # the installed model's id
    assert window.layers_panel.checks["uncertainty"].isEnabled(), "its calibration comes along"
    assert window.layers_panel.checks["masks"].isEnabled()
    dialog = training.show_versions()
    origins = {dialog.table.item(r, 0).text(): dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())}
    bundled = read_card(resolve_model("chest6"))
    assert origins == {"v0": f"installed chest6@{bundled['version']}", "v1": f"installed {seg_id}"}, "the Versions dialog says which installed models these are"
    dialog.done(0)
    window.bundled_menu.aboutToShow.emit()
    entries = {a.text().split(" — ")[0]: a for a in window.bundled_menu.actions()}
    assert entries["chest6-seg"].isChecked() and not entries["chest6"].isChecked()
    entries["chest6"].trigger()
    wait_for_predictions(qtbot, window)
    assert doc.project.prediction(image_id).masks is None and Path(training.active.path).name == "chest6.pt"
    window.bundled_menu.aboutToShow.emit()
    assert [a.text().split(" — ")[0] for a in window.bundled_menu.actions() if a.isChecked()] == ["chest6"]


def test_train_offers_to_resume_an_interrupted_run(make_window, qtbot, tmp_path):
    """Issue 16 item 5: a training killed outright left its checkpoints; Train asks whether to carry on."""
    import subprocess

    from core.learning import ModelRegistry
    from core.learning.interrupted import RunRecord
    from project_support import reviewed_ceph_project

    path = reviewed_ceph_project(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registry = ModelRegistry(path, "ceph19")
    work = registry.root / f".work-20261203T000000000000000-{dead.pid}"
    work.mkdir(parents=True)
    window = make_window()
    assert window.doc.open_project(path)
    from core.learning import training_split

    train_ids = [s.id for s in training_split(window.doc.project)[0]]
    RunRecord("v0", {"epochs": 3}, ["not", "these"], ["global"], "2026-12-03T09:00:00+00:00").save(work)
    training = window.training
    asked = []
    training.ask_resume = lambda text: asked.append(text) or True
    assert training._offer_resume() is False and asked == []  # other training images: nothing to offer
    RunRecord("v0", {"epochs": 3}, train_ids, ["global"], "2026-12-03T09:00:00+00:00").save(work)
    training = window.training
    asked, started = [], []
    training.ask_resume = lambda text: asked.append(text) or True
    training.run.start = lambda options: started.append(options) or False  # look, do not run
    training.start(training.panel.options(""))
    assert len(asked) == 1 and "interrupted" in asked[0] and "stages finished: global" in asked[0]
    assert started and started[0].resume is True
    asked.clear(), started.clear()
    training.ask_resume = lambda text: False  # "No": a new run (which deletes the leftovers)
    training.start(training.panel.options(""))
    assert started[0].resume is False
