"""Prediction off the UI thread: a worker in a ``QThread``, progress, cancel, a cached model.

The worker loads images and runs the model; it never touches the project. Results come
back to the UI thread as ``predicted(image_id, Prediction)`` and the window stores them
with ``ProjectDocument.store_prediction`` (one writer, on one thread). Cancel sets a
``threading.Event`` the worker checks between images (STYLE.md "Long-running work").
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.messages import error_line


class PredictorCache:
    """The app's loaded predictors, each reloaded when its model's weights file changes.

    ``get`` is the one predictions use (``core.runtime.open_predictor``: compiled for the CPU
    where it can be, ADR 0009: no PyTorch import, half the time); ``torch`` the PyTorch one that
    interactive re-prediction needs (it re-runs the refiner on the network's features). One model
    per kind at a time; the key is the weights path and modification time, so a retrained model
    replaces a stale one. Each kind has its own lock: warming PyTorch never delays a prediction.
    """

    def __init__(self) -> None:
        self._locks = {"predict": threading.Lock(), "torch": threading.Lock()}
        self._entries: dict[str, tuple[tuple[str, int], object]] = {}
        #: Set once a prediction job has finished its first image: background warm-ups wait for it,
        #: so on a 2-core machine the first prediction has the cores to itself.
        self.first_prediction = threading.Event()
        #: Set when the app closes: a warm-up still waiting loads nothing more.
        self.closing = threading.Event()

    @staticmethod
    def _key_of(model: str) -> tuple[str, int]:
        from core.resources import resolve_model

        path = Path(resolve_model(model))
        return (str(path), path.stat().st_mtime_ns)

    def _load(self, kind: str, model: str, make):
        key = self._key_of(model)
        with self._locks[kind]:
            entry = self._entries.get(kind)
            if entry is None or entry[0] != key:
                entry = self._entries[kind] = (key, make())
            return entry[1]

    def get(self, model: str):
        """The predictor for ``model`` (bundled name or path) that predictions use, loading it when needed."""
        from core.runtime import open_predictor

        return self._load("predict", model, lambda: open_predictor(model))

    def torch(self, model: str):
        """The PyTorch predictor for ``model`` (``core.inference.Predictor``): the prediction one when
        that is PyTorch's already, else loaded."""
        from core.inference import Predictor

        entry = self._entries.get("predict")
        if entry is not None and isinstance(entry[1], Predictor) and entry[0] == self._key_of(model):
            return entry[1]
        return self._load("torch", model, lambda: Predictor(model))

    def put(self, model: str, predictor) -> None:
        """Adopt an already loaded predictor for predictions (tests share one across the session)."""
        with self._locks["predict"]:
            self._entries["predict"] = (self._key_of(model), predictor)

    def is_loaded(self, model: str) -> bool:
        try:
            entry = self._entries.get("predict")
            return entry is not None and entry[0] == self._key_of(model)
        except Exception:
            return False


#: The process-wide cache: every job and window uses it.
predictor_cache = PredictorCache()

#: Every worker thread started, so shutdown code and tests can check none is left running.
_threads: weakref.WeakSet = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Prediction threads still running (should be none once windows are closed)."""
    return [t for t in list(_threads) if t.isRunning()]


def track_thread(thread: QThread) -> None:
    """Count another background thread (e.g. ``app.repredict``) in :func:`running_threads`."""
    _threads.add(thread)


def start_worker(worker: QObject, name: str) -> QThread:
    """Start ``worker.run`` in a new, counted thread that quits when ``worker.finished`` is emitted.

    Connect the worker's other signals before calling: they are queued to the
    receiving objects' threads.
    """
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit)
    track_thread(thread)
    thread.start()
    return thread


class PredictionWorker(QObject):
    """Predicts ``items`` [(image_id, path or decoded Radiograph, spacing or None)] in order; lives in a
    worker thread. The spacing is the document's (a data set's table may know it when the file does not).

    A ``Radiograph`` is only read here, never changed, so sharing the viewer's copy is safe.
    """

    progress = Signal(int, int, str)
    predicted = Signal(str, object)
    failed = Signal(str, str)
    finished = Signal(bool)

    def __init__(self, model: str, items: list[tuple[str, object]], cancel: threading.Event, cache: PredictorCache) -> None:
        super().__init__()
        self.model = model
        self.items = items
        self.cancel = cancel
        self.cache = cache

    @Slot()
    def run(self) -> None:
        total = len(self.items)
        try:
            if not self.cache.is_loaded(self.model):
                self.progress.emit(0, total, f"Loading model {self.model}…")
            predictor = self.cache.get(self.model)
        except Exception as exc:
            self.failed.emit("", f"Cannot load model {self.model}: {error_line(exc)}")
            self.finished.emit(False)
            return
        for done, (image_id, source, spacing) in enumerate(self.items):
            if self.cancel.is_set():
                self.finished.emit(True)
                return
            name = _name(source)
            self.progress.emit(done, total, f"Predicting {name} ({done + 1}/{total})")
            try:
                prediction = predictor.predict(source, spacing)
            except Exception as exc:  # ImageLoadError and model failures alike: one line
                self.failed.emit(image_id, f"{name}: {error_line(exc)}")
                continue
            finally:
                self.cache.first_prediction.set()
            self.predicted.emit(image_id, prediction)
        self.progress.emit(total, total, "Prediction done")
        self.finished.emit(self.cancel.is_set())


class PredictionJobs(QObject):
    """Starts at most one prediction job at a time and forwards its signals."""

    started = Signal(int)
    progress = Signal(int, int, str)
    predicted = Signal(str, object)
    failed = Signal(str, str)
    finished = Signal(bool)

    def __init__(self, parent: QObject | None = None, cache: PredictorCache | None = None) -> None:
        super().__init__(parent)
        self.cache = cache or predictor_cache
        self._thread: QThread | None = None
        self._worker: PredictionWorker | None = None
        self._cancel = threading.Event()

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, model: str, items: list[tuple[str, object]]) -> bool:
        """Predict ``items`` in the background; False when a job is already running."""
        if self._thread is not None or not items:
            return False
        self._cancel = threading.Event()
        worker = PredictionWorker(model, list(items), self._cancel, self.cache)
        worker.progress.connect(self.progress)
        worker.predicted.connect(self.predicted)
        worker.failed.connect(self.failed)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._thread = start_worker(worker, "anatomark-prediction")
        self.started.emit(len(items))
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel and wait for the worker thread (window close, tests)."""
        if self._thread is None:
            return
        self._cancel.set()
        self._thread.quit()
        self._thread.wait(timeout_ms)
        self._cleanup()

    @Slot(bool)
    def _on_finished(self, cancelled: bool) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        self._cleanup()
        self.finished.emit(cancelled)

    def _cleanup(self) -> None:
        # The thread has finished (waited for): dropping the last references deletes the
        # worker and the QThread here, on the UI thread, which is safe once it is stopped.
        self._thread = self._worker = None


def _name(source) -> str:
    """File name of a path or of a Radiograph's source."""
    path = getattr(source, "source", source)
    return Path(path).name if path is not None else "image"


class _CallWorker(QObject):
    finished = Signal(object, str)  # (result, "") or (None, one-line error)

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # ExchangeError, OSError (disk full, permission): one line
            self.finished.emit(None, error_line(exc))
            return
        self.finished.emit(result, "")


class BackgroundCall(QObject):
    """One plain function call off the UI thread (an export): ``done(result)`` or ``failed(message)``.

    The function must not touch the project the UI edits (give it a snapshot); at
    most one call runs at a time.
    """

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._thread: QThread | None = None
        self._worker: _CallWorker | None = None

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, fn) -> bool:
        """Run ``fn()`` in a worker thread; False when a call is already running."""
        if self._thread is not None:
            return False
        worker = _CallWorker(fn)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._thread = start_worker(worker, f"anatomark-{self.name}")
        return True

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Wait for a running call (window close): an export is short and is not cut off halfway."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(timeout_ms)
            self._thread = self._worker = None

    @Slot(object, str)
    def _on_finished(self, result, error: str) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        self._thread = self._worker = None
        if error:
            self.failed.emit(error)
        else:
            self.done.emit(result)
