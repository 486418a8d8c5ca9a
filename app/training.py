"""Retraining from the app: the engine runs as a subprocess that reports JSON lines.

The GUI never trains in its own process (STYLE.md "Long-running work"): ``TrainingRun``
starts ``anatomark train --project P … --json`` with ``QProcess`` (non-blocking), reads one
JSON object per line and re-emits them as signals; cancel asks politely (SIGTERM), then
kills after a grace period. The command line is injectable (``command_factory``) so tests
run a small fake trainer instead of the real engine.

Events (one JSON object per line on stdout)::

    {"event": "start", "device": "cuda", "reason": "cuda: NVIDIA H100"}
    {"event": "epoch", "stage": "global"|"patch", "epoch": i, "epochs": n, "train_loss": …,
     "val_mre_px": …, "best_mre_px": …, "lr": …, "seconds": …, "elapsed": …, "eta_seconds": …}
    {"event": "done", "version": "vN", "model_path": …, "before": {…}, "after": {…},
     "adoptable": bool, "worse_images": […], "verdict": {"outcome", "text", …} (core.learning.verdict)}

    {"event": "diverged", "message": "training diverged at epoch 3: …"}  (then exit status 2)

Failures: exit status 2 and one line on stderr; a diverged run's message says what happened
and that nothing was published, with the usual remedy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core.frozen import cli_command
from core.project.records import LandmarkState

KILL_AFTER_MS = 4000


@dataclass(frozen=True)
class TrainOptions:
    """What the Train panel asks for."""

    project: str
    source: str = "current"  # current | scratch | vN
    epochs: int = 20
    max_minutes: float = 10.0
    device: str = "auto"  # auto | cpu | cuda | mps
    resume: bool = False  # carry on with the project's interrupted run (its own settings)


def train_command(options: TrainOptions) -> list[str]:
    """The real engine's command line for ``options``."""
    minutes = f"{options.max_minutes:g}"
    return cli_command() + ["train", "--project", options.project, "--from", options.source, "--epochs", str(options.epochs),
                            "--max-minutes", minutes, "--device", options.device, "--json"] + (["--resume"] if options.resume else [])


class TrainingRun(QObject):
    """At most one training subprocess; its JSON lines as signals.

    ``finished(status)`` comes last, with status ``done``, ``cancelled`` or ``failed``.
    """

    started = Signal(dict)
    epoch = Signal(dict)
    done = Signal(dict)
    failed = Signal(str)
    finished = Signal(str)

    def __init__(self, parent: QObject | None = None, command_factory=train_command) -> None:
        super().__init__(parent)
        self.command_factory = command_factory
        self.process: QProcess | None = None
        self.result: dict | None = None
        self._diverged: str | None = None
        self._buffer = b""
        self._stderr = b""
        self._cancelled = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    def is_running(self) -> bool:
        return self.process is not None

    def start(self, options: TrainOptions) -> bool:
        """Start training; False when a run is already going."""
        if self.process is not None:
            return False
        command = self.command_factory(options)
        self.result, self._buffer, self._stderr, self._cancelled = None, b"", b"", False
        self._diverged = None
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")  # lines as they are printed, not in 8 kB blocks
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(Path(options.project).parent))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        process.start(command[0], command[1:])
        return True

    def cancel(self) -> None:
        """Ask the trainer to stop (SIGTERM); kill it if it is still there after a grace period."""
        if self.process is None:
            return
        self._cancelled = True
        self.process.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    def shutdown(self, timeout_ms: int = 8000) -> None:
        """Cancel and wait until the process has ended (app closing, tests)."""
        process = self.process
        if process is None:
            return
        self.cancel()
        if not process.waitForFinished(timeout_ms):
            process.kill()
            process.waitForFinished(2000)

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._handle_line(line)

    def _read_stderr(self) -> None:
        if self.process is not None:
            self._stderr += bytes(self.process.readAllStandardError())

    def _handle_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text.startswith("{"):
            return  # stray output (warnings) is not an event
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            return
        kind = event.get("event")
        if kind == "start":
            self.started.emit(event)
        elif kind == "epoch":
            self.epoch.emit(event)
        elif kind == "done":
            self.result = event
        elif kind == "diverged":
            self._diverged = str(event.get("message") or "training diverged")

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            self._finish("failed", f"Training could not start: {self.process.errorString()}")

    def _on_finished(self, code: int, status) -> None:
        self._read_stdout()
        if self._buffer:
            self._handle_line(self._buffer)
            self._buffer = b""
        self._read_stderr()
        if self._cancelled:
            self._finish("cancelled")
        elif code == 0 and status == QProcess.ExitStatus.NormalExit and self.result is not None:
            self._finish("done")
        elif self._diverged is not None:
            self._finish("failed", f"{self._diverged}. Nothing was published and the current model is unchanged; "
                                   "try a lower learning rate or train from the current version again.")
        else:
            lines = [line for line in self._stderr.decode("utf-8", "replace").splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"the trainer exited with status {code} without a result"
            self._finish("failed", reason)

    def _finish(self, status: str, message: str = "") -> None:
        self._kill_timer.stop()
        process, self.process = self.process, None
        if process is None:
            return
        process.deleteLater()
        if status == "done":
            self.done.emit(self.result)
        elif status == "failed":
            self.failed.emit(message)
        self.finished.emit(status)


def device_diagnostics() -> list[tuple[str, str, bool, str]]:
    """[(key, title, available, reason)] for auto, cpu, cuda and mps, via ``core.devices``."""
    try:
        import torch

        from core.devices import cuda_reason, select_device
    except Exception as exc:  # no PyTorch: training cannot run here at all
        reason = f"PyTorch is not usable: {' '.join(str(exc).split())}"
        return [(k, t, False, reason) for k, t in (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple MPS"))]
    rows = []
    _device, why = select_device("auto")
    rows.append(("auto", "Automatic", True, f"uses {why}"))
    rows.append(("cpu", "CPU", True, f"{os.cpu_count() or 1} cores, {torch.get_num_threads()} PyTorch threads"))
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        rows.append(("cuda", "CUDA GPU", True, names))
    else:
        rows.append(("cuda", "CUDA GPU", False, cuda_reason()))
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps) and mps.is_available()
    rows.append(("mps", "Apple MPS", mps_ok, "Apple Metal GPU" if mps_ok else "not available on this machine"))
    return rows


def training_set_size(project) -> tuple[int, int]:
    """(reviewed images, all images): images whose landmarks are all reviewed are training data."""
    if project is None:
        return 0, 0
    try:
        from core.learning import is_reviewed

        return sum(1 for image in project.images if is_reviewed(image)), len(project.images)
    except ImportError:
        pass
    reviewed = 0
    for image in project.images:
        states = {str(getattr(r.state, "value", r.state)) for r in image.landmarks.values()}
        if image.verified or (states and states <= {LandmarkState.CORRECTED, LandmarkState.VERIFIED, LandmarkState.ABSENT}):
            reviewed += 1
    return reviewed, len(project.images)
