"""Which engine runs a model's networks: PyTorch (``core.inference.Predictor``, every device) or
OpenVINO on the CPU (``core.runtime.compiled.CompiledPredictor``: same outputs, about half the
time, and no PyTorch import for a command-line prediction).

:func:`open_predictor` chooses. ``runtime="auto"`` takes the compiled one for the CPU when
OpenVINO is installed and the model compiles, and PyTorch otherwise (a GPU, a decoder without a
graph form, OpenVINO missing); ``"torch"`` and ``"openvino"`` force one (``"openvino"`` fails with
the reason instead of falling back). Torch-free to import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RUNTIMES = ("auto", "torch", "openvino")


def _gpu_likely() -> bool:
    """Might ``device="auto"`` pick a GPU? Asked without importing PyTorch: an NVIDIA driver on
    Linux or Windows, Apple silicon (MPS)."""
    if sys.platform == "darwin":
        return os.uname().machine == "arm64"
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    return bool(os.environ.get("CUDA_PATH"))


def open_predictor(model: str | Path = "chest6", device: str = "auto", decoder: str | None = None,
                   runtime: str = "auto"):
    """A predictor for ``model`` (``predict(image, spacing=None) -> Prediction``, ``model_id``,
    ``device``): the compiled one where ``runtime`` and ``device`` allow, else PyTorch's."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    env = os.environ.get("ANATOMARK_RUNTIME")
    if runtime == "auto" and env in RUNTIMES:
        runtime = env
    cpu = device == "cpu" or (device == "auto" and not _gpu_likely())
    if runtime == "openvino" or (runtime == "auto" and cpu):
        from core.runtime.compiled import CompiledPredictor, RuntimeUnavailable

        if runtime == "openvino" and device not in ("auto", "cpu"):
            raise ValueError(f"the OpenVINO runtime runs on the CPU, not {device!r}")
        try:
            return CompiledPredictor(model, decoder)
        except RuntimeUnavailable:
            if runtime == "openvino":
                raise
    from core.inference import Predictor

    return Predictor(model, device, decoder)


__all__ = ["RUNTIMES", "open_predictor"]
