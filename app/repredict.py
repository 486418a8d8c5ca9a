"""Re-predict the unreviewed neighbours after an edit, as a preview the person accepts.

After a drag or an accept, every reviewed landmark (corrected or verified) of the image is
pinned where the person put it and ``core.repredict`` asks the model again, off the UI
thread (the first call on an image runs the global U-Net: hundreds of ms). The proposed
positions of the still-predicted landmarks show as ghosts with arrows; "Apply
re-prediction" (Enter) moves them all in one undo step, "Discard" (Esc) changes nothing.
A newer edit, an undo, a new prediction, another image or a closed project makes a pending
answer stale: it is dropped.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from app.commands import ApplyReprediction
from app.jobs import predictor_cache, track_thread
from app.theme import PROPOSAL_COLOUR
from core.project.records import LandmarkState

#: A neighbour that would move less than this (image px) is not proposed; the same half pixel
#: as ``core.repredict.MOVED_PX`` (not imported here: that would load PyTorch at start-up).
MIN_MOVE_PX = 0.5
#: Landmarks the re-prediction pins: a person's word.
PINNED_STATES = (LandmarkState.CORRECTED, LandmarkState.VERIFIED)

_repredictors: dict[int, object] = {}
_lock = threading.Lock()


def default_engine(model: str):
    """``engine(radiograph, pinned, key, previous, previous_model) -> core.repredict.Reprediction``
    for ``model``, sharing the app's loaded predictor; runs on the worker thread. ``previous``
    (the cached prediction's points) only counts when ``previous_model`` made it."""

    def engine(radiograph, pinned, key, previous, previous_model):
        from core.repredict import Repredictor

        predictor = predictor_cache.torch(model)  # the refiner is re-run on the network's features
        with _lock:
            repredictor = _repredictors.get(id(predictor))
            if repredictor is None or repredictor.predictor is not predictor:
                _repredictors.clear()  # one model at a time, like the predictor cache
                repredictor = _repredictors[id(predictor)] = Repredictor(predictor)
        if previous_model != predictor.model_id:
            previous = None  # another model's answers: every unpinned landmark is predicted again
        return repredictor.repredict(radiograph, pinned, key=(key, predictor.model_id), previous=previous)

    return engine


class _Worker(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, serial: int, engine, args: tuple) -> None:
        super().__init__()
        self.serial, self.engine, self.args = serial, engine, args

    @Slot()
    def run(self) -> None:
        try:
            self.done.emit(self.serial, self.engine(*self.args))
        except Exception as exc:  # model missing, RepredictError: one line in the status bar
            self.failed.emit(self.serial, " ".join(str(exc).split()) or type(exc).__name__)


class ProposalBar(QFrame):
    """"N landmarks would move" with Apply / Discard buttons; hidden when nothing is proposed."""

    def __init__(self, apply: QAction, discard: QAction) -> None:
        super().__init__()
        self.setObjectName("proposal-bar")
        self.setStyleSheet(f"#proposal-bar {{ border: 1px solid {PROPOSAL_COLOUR}; border-radius: 3px; }}")
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 4, 3)
        layout.addWidget(self.label, 1)
        for action in (apply, discard):
            button = QToolButton()
            button.setDefaultAction(action)
            layout.addWidget(button)
        self.hide()


class RepredictController(QObject):
    """Owns the toggle, the pending proposal and the worker; the window calls :meth:`request`."""

    proposal_shown = Signal(int)  # number of landmarks proposed
    proposal_closed = Signal(bool)  # applied?
    message = Signal(str)

    def __init__(self, window, engine_factory=default_engine) -> None:
        super().__init__(window)
        self.window, self.doc, self.viewer = window, window.doc, window.viewer
        self.engine_factory = engine_factory
        self.enabled_action = QAction("Re-predict Neighbours After Edits", window, checkable=True, checked=True)
        self.enabled_action.setToolTip("After a drag or an accept, propose new positions for the unreviewed landmarks")
        self.enabled_action.toggled.connect(lambda on: None if on else self.discard())
        # Menus show ``text``, the proposal bar's buttons ``iconText`` (with the key to press).
        self.apply_action = QAction("Apply Re-prediction", window, enabled=False, iconText="Apply re-prediction (Enter)")
        self.apply_action.setShortcuts(["Return", "Enter"])
        self.discard_action = QAction("Discard Re-prediction", window, shortcut="Esc", enabled=False, iconText="Discard (Esc)")
        for action in (self.apply_action, self.discard_action):
            window.addAction(action)
        self.apply_action.triggered.connect(self.apply)
        self.discard_action.triggered.connect(self.discard)
        self.bar = ProposalBar(self.apply_action, self.discard_action)
        self._serial = 0
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._queued: tuple | None = None
        self._context: dict[int, tuple[str, dict]] = {}
        self.proposal: tuple[str, dict[str, tuple[float, float]]] | None = None
        self.doc.current_image_changed.connect(lambda _id: self.invalidate())
        self.doc.project_closed.connect(self.invalidate)
        self.doc.prediction_stored.connect(lambda _id: self.invalidate())  # new model points: stale
        self.doc.undo_stack.indexChanged.connect(lambda _i: self._on_stack_changed())

    # -- asking ------------------------------------------------------------------------

    def request(self) -> None:
        """Re-predict the current image's unreviewed landmarks with its reviewed ones pinned."""
        self.invalidate()
        image, radiograph = self.doc.image(), self.doc.radiograph
        model = self.window.model_name(quiet=True) if self.doc.project is not None else None
        if not self.enabled_action.isChecked() or image is None or radiograph is None or model is None:
            return
        if image.verified or not self.doc.is_editable():
            return
        states = {name: rec.state for name, rec in image.landmarks.items()}
        pinned = {n: (rec.x, rec.y) for n, rec in image.landmarks.items() if states[n] in PINNED_STATES}
        free = [n for n, s in states.items() if s is LandmarkState.PREDICTED]
        if not pinned or not free:
            return
        prediction = self.doc.prediction(image.id)
        previous = np.array(prediction.points, dtype=np.float64) if prediction is not None else None
        previous_model = prediction.model_id if prediction is not None else None
        self._serial += 1
        self._context[self._serial] = (image.id, {n: (image.landmarks[n].x, image.landmarks[n].y) for n in free})
        self._start(self._serial, self.engine_factory(model), (radiograph, pinned, image.id, previous, previous_model))

    def _start(self, serial: int, engine, args: tuple) -> None:
        if self._thread is not None:  # one at a time: the newest request waits, older ones are dropped
            self._queued = (serial, engine, args)
            return
        thread = QThread()
        thread.setObjectName("anatomark-repredict")
        worker = _Worker(serial, engine, args)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.done.connect(thread.quit)
        worker.failed.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        track_thread(thread)
        self.message.emit("Re-predicting the unreviewed landmarks…")
        thread.start()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is not None:
            self._thread.wait()
        self._thread = self._worker = None
        if self._queued is not None:
            queued, self._queued = self._queued, None
            self._start(*queued)

    @Slot(int, str)
    def _on_failed(self, serial: int, message: str) -> None:
        if self._context.pop(serial, None) is not None and serial == self._serial:
            self.message.emit(f"Re-prediction failed: {message}")

    @Slot(int, object)
    def _on_done(self, serial: int, result) -> None:
        context = self._context.pop(serial, None)
        if context is None or serial != self._serial:
            return  # stale: the image or the landmarks changed since it was asked
        image_id, current = context
        proposed = {
            n: tuple(result.points[n]) for n, xy in current.items()
            if n in result.points and float(np.hypot(*(np.subtract(result.points[n], xy)))) >= MIN_MOVE_PX
        }
        ms = result.timings_ms.get("total", float("nan"))
        if not proposed:
            self.message.emit(f"Re-prediction: no unreviewed landmark moves ({ms:.0f} ms)")
            return
        self.proposal = (image_id, proposed)
        names = list(proposed)
        self.viewer.proposal.show(np.array([current[n] for n in names]), np.array([proposed[n] for n in names]))
        far = max(float(np.hypot(*np.subtract(proposed[n], current[n]))) for n in names)
        plural = "s" if len(names) != 1 else ""
        self.bar.label.setText(f"Re-prediction: {len(names)} unreviewed landmark{plural} would move (up to {far:.1f} px)")
        self.bar.label.setToolTip(", ".join(names))
        self.message.emit(f"Re-prediction ready ({ms:.0f} ms): Enter applies it, Esc discards it")
        self.bar.show()
        self.apply_action.setEnabled(True)
        self.discard_action.setEnabled(True)
        self.proposal_shown.emit(len(names))

    # -- answering ---------------------------------------------------------------------

    def apply(self) -> None:
        """Move every proposed landmark, as one undo step."""
        if self.proposal is None:
            return
        image_id, proposed = self.proposal
        model = self.window.model_name(quiet=True) or "model"
        self._close(applied=False, announce=False)
        if self.doc.push(ApplyReprediction(self.doc, image_id, proposed, model_id=_model_id(model))):
            self.proposal_closed.emit(True)

    def discard(self) -> None:
        if self.proposal is not None:
            self._close(applied=False)

    def invalidate(self) -> None:
        """Forget a pending request or proposal (image changed, new edit, project closed)."""
        self._serial += 1
        self._context.clear()
        self._queued = None
        if self.proposal is not None:
            self._close(applied=False)

    def _on_stack_changed(self) -> None:
        # Any edit, undo or redo makes a pending answer or a shown proposal stale; a new
        # edit asks again right after (``request``), and applying closes the proposal first.
        self.invalidate()

    def _close(self, applied: bool, announce: bool = True) -> None:
        self.proposal = None
        self.viewer.proposal.clear()
        self.bar.hide()
        self.apply_action.setEnabled(False)
        self.discard_action.setEnabled(False)
        if announce:
            self.proposal_closed.emit(applied)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Wait for a running re-prediction (window close, tests); its answer is dropped."""
        self.invalidate()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(timeout_ms)
            self._thread = self._worker = None


def _model_id(model: str) -> str:
    """The loaded model's id (``name@version``) when it is in the cache, else the name given."""
    try:
        if predictor_cache.is_loaded(model):
            return predictor_cache.get(model).model_id
    except Exception:
        pass
    return str(model)
