"""Prediction in the background: progress, cancel, failures reported in one line, UI stays usable."""

from __future__ import annotations

import time

import pytest
from PySide6.QtWidgets import QApplication

from app.jobs import predictor_cache
from app.paths import new_project_path
from core.project import LandmarkState


class SlowPredictor:
    """The real model, a little slower, so a cancel lands between images."""

    def __init__(self, real, delay: float = 0.25) -> None:
        self.real, self.delay = real, delay

    def predict(self, path, spacing=None):
        time.sleep(self.delay)
        return self.real.predict(path, spacing)


@pytest.fixture
def slow_model(predictor):
    predictor_cache.put("chest6", SlowPredictor(predictor))
    yield
    predictor_cache.put("chest6", predictor)


@pytest.fixture
def jsrt_images(shared_data):
    paths = sorted((shared_data / "chest_jsrt" / "images").glob("JPC*.png"))[:5]
    if len(paths) < 5:
        pytest.skip("needs five JSRT chest images in ../shared/data/chest_jsrt/images")
    return paths


def test_predict_all_shows_progress_and_cancels(make_window, qtbot, slow_model, jsrt_images, wait_for_predictions):
    window = make_window()
    assert window.new_project(new_project_path("jobs"), "chest6", jsrt_images)
    progress = []
    window.jobs.progress.connect(lambda done, total, text: progress.append((done, total)))
    predicted = []
    window.jobs.predicted.connect(lambda image_id, _p: predicted.append(image_id))
    window.predict_all()
    assert window.jobs.is_running() and window.actions.cancel.isEnabled()
    assert window.status.progress.isVisible()
    qtbot.waitUntil(lambda: len(predicted) >= 1, timeout=10000)
    with qtbot.waitSignal(window.jobs.finished, timeout=10000) as finished:
        window.actions.cancel.trigger()
    assert finished.args == [True]
    assert 1 <= len(predicted) < len(jsrt_images)
    assert progress[-1][1] == len(jsrt_images)
    assert not window.status.progress.isVisible() and not window.actions.cancel.isEnabled()
    QApplication.processEvents()
    done = [i for i in window.doc.image_ids() if window.doc.prediction(i) is not None]
    assert sorted(done) == sorted(predicted)
    untouched = set(window.doc.image_ids()) - set(done)
    for image_id in untouched:
        assert {r.state for r in window.doc.image(image_id).landmarks.values()} == {LandmarkState.MISSING}


def test_corrupt_image_is_one_line_and_the_app_stays_usable(make_window, qtbot, rg1, tmp_path, wait_for_predictions):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")
    window = make_window()
    window.open_images([broken, rg1])
    wait_for_predictions(qtbot, window)
    assert len(window.doc.image_ids()) == 1
    message = window.errors.history[0]
    assert message.splitlines()[0] == "Some images could not be added:"
    assert message.splitlines()[1].startswith("broken.dcm: ")
    assert "Traceback" not in message
    assert window.viewer.radiograph is not None and window.viewer.frame.prediction is not None


def test_schema_without_model_says_so(make_window, rg1):
    window = make_window()
    assert window.new_project(new_project_path("hand"), "hand37", [rg1])
    window.predict_current()
    assert window.errors.history[-1].startswith("No model for the 'hand37' schema")
    assert not window.jobs.is_running()


def test_the_app_predicts_compiled_and_re_predicts_with_pytorch(predictor):
    """Issue 22: a fresh cache gives the jobs the compiled predictor (no PyTorch on the first
    prediction's path) and interactive re-prediction PyTorch's, loaded once; a PyTorch predictor
    put in for predictions (the tests' shared one) serves both."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed: the app predicts with PyTorch")
    from app.jobs import PredictorCache
    from core.inference import Predictor
    from core.runtime.compiled import CompiledPredictor

    cache = PredictorCache()
    assert not cache.is_loaded("chest6")
    compiled = cache.get("chest6")
    assert isinstance(compiled, CompiledPredictor) and cache.is_loaded("chest6") and cache.get("chest6") is compiled
    reference = cache.torch("chest6")
    assert isinstance(reference, Predictor) and cache.torch("chest6") is reference and cache.get("chest6") is compiled
    assert compiled.model_id == reference.model_id
    shared = PredictorCache()
    shared.put("chest6", predictor)
    assert shared.get("chest6") is predictor and shared.torch("chest6") is predictor
