"""The Train panel: where to start from, device (with why), epochs and time budget, progress
with ETA, live training-loss and training-image-MRE curves, cancel.

It only shows and asks; the window starts and cancels the run (``app.training.TrainingRun``)
and the panel follows the run's signals. Everything else in the window stays usable.
"""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from app.theme import ACCENT, BASE, MUTED, PANEL, TEXT
from app.training import TrainOptions, device_diagnostics

LOSS_COLOUR = "#ffb020"
BEST_COLOUR = "#3ddc84"
STAGE_COLOUR = "#5c626b"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def _plot(title: str, units: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=BASE)
    plot.setTitle(f"<span style='color:{MUTED};font-size:9pt'>{title}</span>")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.showGrid(x=True, y=True, alpha=0.15)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTextPen(pg.mkPen(MUTED))
        axis.setPen(pg.mkPen("#3a3f47"))
        axis.enableAutoSIPrefix(False)
    plot.setLabel("left", units, color=MUTED)
    plot.setLabel("bottom", "epoch", color=MUTED)
    plot.setMinimumHeight(130)
    return plot


class TrainPanel(QWidget):
    #: The user asked to start (the window checks the project and starts the run).
    start_requested = Signal(object)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._diagnostics: dict[str, tuple[str, bool, str]] = {}
        self.source = QComboBox()
        self.source.addItem("Current model (fine-tune)", "current")
        self.source.addItem("Scratch", "scratch")
        self.source.setToolTip("Fine-tuning keeps what the current model knows; scratch starts from random weights")
        self.device = QComboBox()
        for key, title in (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple MPS")):
            self.device.addItem(title, key)
        self.device.currentIndexChanged.connect(self._show_device_reason)
        self.device_reason = QLabel("")
        self.device_reason.setWordWrap(True)
        self.device_reason.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(20)
        self.epochs.setSuffix(" epochs")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.5, 24 * 60)
        self.minutes.setDecimals(1)
        self.minutes.setValue(10.0)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Training stops at this budget and keeps the best model so far")
        self.data_label = QLabel("")
        self.data_label.setWordWrap(True)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(5)
        form.addRow(self._muted("Training data"), self.data_label)
        form.addRow(self._muted("Start from"), self.source)
        form.addRow(self._muted("Device"), self.device)
        form.addRow("", self.device_reason)
        budget = QHBoxLayout()
        budget.addWidget(self.epochs)
        budget.addWidget(self._muted("at most"))
        budget.addWidget(self.minutes)
        form.addRow(self._muted("Budget"), budget)

        self.start_button = QPushButton("Train")
        self.start_button.setObjectName("train-start")
        self.start_button.setStyleSheet(f"QPushButton {{ background: {ACCENT}; color: white; border-radius: 4px; padding: 5px 18px; "
                                        f"font-weight: 600; }} QPushButton:disabled {{ background: #2f343b; color: #5c626b; }}")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.options("")))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setStyleSheet(f"QPushButton {{ background: {PANEL}; border: 1px solid #3a3f47; border-radius: 4px; "
                                         f"padding: 5px 14px; }} QPushButton:disabled {{ color: #5c626b; }}")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = QLabel("Idle")
        self.status.setStyleSheet(f"color: {TEXT};")
        self.eta = QLabel("")
        self.eta.setStyleSheet(f"color: {MUTED};")
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.eta)

        self.loss_plot = _plot("Training loss", "loss")
        # Fine-tuning picks its best epoch on the training images themselves (the locked validation
        # images are kept for the before/after verdict), so the curve says what it measures.
        self.mre_plot = _plot("Error on the training images (MRE)", "px")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(LOSS_COLOUR, width=2), name="train loss")
        self.mre_curve = self.mre_plot.plot([], [], pen=pg.mkPen(ACCENT, width=2), symbol="o", symbolSize=4,
                                            symbolBrush=ACCENT, symbolPen=None, name="training-image MRE")
        self.best_curve = self.mre_plot.plot([], [], pen=pg.mkPen(BEST_COLOUR, width=1, style=Qt.PenStyle.DashLine), name="best")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(status_row)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.mre_plot, 1)
        self.reset_curves()

    @staticmethod
    def _muted(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet(f"color: {MUTED};")
        return label

    # -- inputs ---------------------------------------------------------------------

    def options(self, project: str) -> TrainOptions:
        return TrainOptions(project=project, source=self.source.currentData(), epochs=self.epochs.value(),
                            max_minutes=self.minutes.value(), device=self.device.currentData())

    def set_versions(self, versions: list[str]) -> None:
        """Offer earlier versions as starting points besides current and scratch."""
        while self.source.count() > 2:
            self.source.removeItem(2)
        for version in versions:
            self.source.addItem(f"Version {version}", version)

    def set_training_data(self, reviewed: int, total: int) -> None:
        if total == 0:
            text = "no images in the project"
        else:
            text = f"{reviewed} of {total} images reviewed"
            if reviewed == 0:
                text += " — correct or verify images first"
        self.data_label.setText(text)

    def refresh_devices(self) -> None:
        """Ask PyTorch which devices work here (and why not) and grey out the others."""
        rows = device_diagnostics()
        model = self.device.model()
        for i, (key, title, available, reason) in enumerate(rows):
            self._diagnostics[key] = (title, available, reason)
            index = self.device.findData(key)
            item = model.item(index)
            item.setEnabled(available)
            item.setToolTip(reason)
            self.device.setItemText(index, title if available else f"{title} (unavailable)")
        self._show_device_reason()

    def _show_device_reason(self) -> None:
        entry = self._diagnostics.get(self.device.currentData())
        self.device_reason.setText(entry[2] if entry else "")

    # -- following a run ----------------------------------------------------------------

    def set_running(self, running: bool) -> None:
        for widget in (self.source, self.device, self.epochs, self.minutes, self.start_button):
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def reset_curves(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.mres: list[tuple[int, float]] = []
        self.bests: list[tuple[int, float]] = []
        self._stage = None
        self._started_at: float | None = None
        for plot in (self.loss_plot, self.mre_plot):
            for item in [i for i in plot.items() if isinstance(i, pg.InfiniteLine)]:
                plot.removeItem(item)
        for curve in (self.loss_curve, self.mre_curve, self.best_curve):
            curve.setData([], [])

    def on_started(self, event: dict) -> None:
        self.reset_curves()
        self.set_running(True)
        self._started_at = time.monotonic()
        self.progress.setRange(0, 0)  # busy until the first epoch ends (minutes on a CPU)
        self.status.setText(f"Training on {event.get('reason') or event.get('device') or 'the chosen device'}")
        self.eta.setText("")

    def on_epoch(self, event: dict) -> None:
        step = len(self.steps) + 1
        stage = event.get("stage", "")
        if stage != self._stage:
            if self._stage is not None:
                for plot in (self.loss_plot, self.mre_plot):
                    line = pg.InfiniteLine(step - 0.5, angle=90, pen=pg.mkPen(STAGE_COLOUR, style=Qt.PenStyle.DotLine),
                                           label=stage, labelOpts={"color": MUTED, "position": 0.9})
                    plot.addItem(line)
            self._stage = stage
        self.steps.append(step)
        self.losses.append(_number(event.get("train_loss")))
        self.loss_curve.setData(self.steps, self.losses)
        if _finite(event.get("val_mre_px")):
            self.mres.append((step, float(event["val_mre_px"])))
            self.mre_curve.setData([s for s, _ in self.mres], [v for _, v in self.mres])
        if _finite(event.get("best_mre_px")):
            self.bests.append((step, float(event["best_mre_px"])))
            self.best_curve.setData([s for s, _ in self.bests], [v for _, v in self.bests])
        elapsed, eta = event.get("elapsed"), event.get("eta_seconds")
        epoch, epochs = int(event.get("epoch", 0)), max(1, int(event.get("epochs", 1)))
        if _finite(elapsed) and _finite(eta) and elapsed + eta > 0:
            fraction = elapsed / (elapsed + eta)
        else:
            fraction = epoch / epochs
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(1000 * min(1.0, fraction)))
        self.progress.setFormat(f"{stage} {100 * fraction:.0f} %".strip())
        mre = f" · training-image MRE {event['val_mre_px']:.2f} px" if _finite(event.get("val_mre_px")) else ""
        self.status.setText(f"{stage} stage · epoch {epoch}/{epochs}{mre}".strip())
        wall = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        total = max(wall, elapsed) if _finite(elapsed) else wall
        self.eta.setText(f"elapsed {format_duration(total)} · stage ETA {format_duration(eta)}")

    def on_finished(self, status: str, message: str = "") -> None:
        self.set_running(False)
        self.progress.setRange(0, 1000)
        if status == "done":
            self.progress.setValue(1000)
            self.progress.setFormat("done")
            self.status.setText("Training done: see the report")
        elif status == "cancelled":
            self.progress.setFormat("cancelled")
            self.status.setText("Cancelled: the current model is unchanged")
        else:
            self.progress.setFormat("failed")
            self.status.setText(f"Failed: {message}" if message else "Failed")
        self.eta.setText("")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _number(value) -> float:
    return float(value) if _finite(value) else float("nan")
