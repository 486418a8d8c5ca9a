"""Pick the compute device at run time and say why (CUDA, Apple MPS or CPU)."""

from __future__ import annotations

import torch


class DeviceError(RuntimeError):
    """The requested device is not usable here; one-line message."""


def select_device(preference: str = "auto") -> tuple[torch.device, str]:
    """Return the device and a human reason, e.g. 'cuda: NVIDIA H100 (80 GB)'.

    ``preference`` is ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``) or ``mps``. An
    explicit GPU that is not available is an error rather than a silent CPU run.
    """
    preference = (preference or "auto").lower()
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference.startswith("cuda"):
        if not cuda_ok:
            raise DeviceError(f"{preference} requested but {cuda_reason()}")
        device = torch.device(preference)
        return device, f"cuda: {torch.cuda.get_device_name(device)}"
    if preference == "mps":
        if not mps_ok:
            raise DeviceError("mps requested but Apple Metal (MPS) is not available in this PyTorch build or machine")
        return torch.device("mps"), "mps: Apple Metal GPU"
    if preference == "cpu":
        return torch.device("cpu"), f"cpu: chosen explicitly ({torch.get_num_threads()} threads)"
    if preference != "auto":
        raise DeviceError(f"unknown device {preference!r}; use auto, cpu, cuda or mps")
    if cuda_ok:
        return torch.device("cuda"), f"cuda: {torch.cuda.get_device_name(0)}"
    if mps_ok:
        return torch.device("mps"), "mps: Apple Metal GPU"
    return torch.device("cpu"), f"cpu: {cuda_reason()}; {torch.get_num_threads()} threads"


def cuda_reason() -> str:
    """Why CUDA is not used: no CUDA build of PyTorch, or no GPU/driver found."""
    if torch.version.cuda is None:
        return "this PyTorch build has no CUDA support (CPU-only wheel)"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} has CUDA {torch.version.cuda} but finds no usable NVIDIA GPU/driver"
    return "CUDA is available"


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision where it pays: bf16/fp16 on GPUs, none on CPU (slower here)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None
