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
    """Mixed precision where it pays: bf16 (else fp16 with loss scaling) on CUDA; none on CPU
    (measured slower on this 2-core CPU) nor on MPS (fp16 there needs a GradScaler on MPS, which
    older PyTorch builds lack, and no Mac has been measured: float32 until one is)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """What a model card and the progress lines say: ``bf16``, ``fp16`` (with loss scaling) or ``fp32``."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32") if dtype is not None else "fp32"


class Autocast(torch.nn.Module):
    """Run ``module``'s forward under autocast and hand back float32 outputs.

    Only the network runs in reduced precision; the losses (soft-argmax
    coordinates in pixels, heatmap cross-entropy) stay in float32, where bf16's
    8-bit mantissa would cost whole pixels.
    """

    def __init__(self, module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.module, self.device_type, self.dtype = module, device.type, dtype

    def forward(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.module(*args, **kwargs)
        return _to_float(out)


def _to_float(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float(v) for v in out)
    return out
