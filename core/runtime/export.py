"""Turn a verified model file into OpenVINO graphs (needs PyTorch and OpenVINO; run once per model).

Two graphs, each a network plus the steps after it that PyTorch would run:

- ``global``: the standardised input (1, 1, h, w) → ``prob`` (1, K, h, w), ``soft`` and ``refined``
  (1, K, 2) input px, ``confidence`` (1, K) (mass within 2 px of the refined point), ``decoded``
  (1, K, 2) (the card's global decoder on the logits; equals ``refined`` where the predictor uses
  the refined points) and, for a segmenting model, ``seg_logits``.
- ``patch``: standardised patches (N, 1, P, P) and their landmark ids (N,) → ``local`` (N, 2)
  patch px by the card's patch decoder, and ``confidence`` (N,).

The decoders are baked in, so the cache key holds them (``core.runtime.compiled``). The "blob"
decoder (connected components) has no graph form: such a model runs on PyTorch.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from core.heatmaps import confidence, decode
from core.modelfile import load_model

GRAPH_DECODERS = ("soft_argmax", "argmax", "local_soft_argmax")


class ExportError(RuntimeError):
    """A model that cannot be compiled (a decoder without a graph form, an op OpenVINO lacks)."""


class _Global(nn.Module):
    def __init__(self, net: nn.Module, decoder: str, use_decoded: bool) -> None:
        super().__init__()
        self.net, self.decoder, self.use_decoded = net, decoder, use_decoded

    def forward(self, x: torch.Tensor):
        out = self.net(x)
        decoded = decode(out["logits"], self.decoder, self.net.config.temperature) if self.use_decoded else out["refined"]
        outputs = (out["prob"], out["soft"], out["refined"], confidence(out["prob"], out["refined"], 2.0), decoded)
        return outputs + ((out["seg_logits"],) if "seg_logits" in out else ())


class _Patch(nn.Module):
    def __init__(self, net: nn.Module, decoder: str, radius: float) -> None:
        super().__init__()
        self.net, self.decoder, self.radius = net, decoder, radius

    def forward(self, patches: torch.Tensor, ids: torch.Tensor):
        logits = self.net(patches, ids)
        local = decode(logits, self.decoder, self.net.config.temperature)
        prob = torch.softmax(logits.flatten(1), dim=-1).view_as(logits)
        return local, confidence(prob, local, self.radius)


def export_model(model_path: Path, out: Path, global_decoder: str, use_decoded: bool, patch_decoder: str,
                 radius: float) -> Path:
    """Write ``out/global.xml`` (+ ``.bin``), ``out/patch.xml`` when the model has a patch stage, and
    ``out/graphs.json``; atomically (a folder renamed into place), so a crash leaves no half cache."""
    import openvino as ov

    for decoder in (global_decoder if use_decoded else "soft_argmax", patch_decoder):
        if decoder not in GRAPH_DECODERS:
            raise ExportError(f"the {decoder!r} decoder has no graph form")
    loaded = load_model(model_path, "cpu")
    net, patch = loaded.global_net.eval(), loaded.patch_net
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on Python constants: the shapes are fixed
            x = torch.zeros(1, 1, *net.config.input_size)
            graphs = {"global": ov.convert_model(_Global(net, global_decoder, use_decoded).eval(), example_input=(x,))}
            if patch is not None:
                size, k = patch.config.patch_size, patch.config.n_landmarks
                example = (torch.zeros(k, 1, size, size), torch.arange(k))
                graphs["patch"] = ov.convert_model(_Patch(patch.eval(), patch_decoder, radius), example_input=example)
        for name, graph in graphs.items():
            ov.save_model(graph, str(work / f"{name}.xml"), compress_to_fp16=False)
        (work / "graphs.json").write_text(json.dumps({"graphs": sorted(graphs), "openvino": ov.get_version()}))
        try:
            os.replace(work, out)
        except OSError:  # another process published the same graphs meanwhile: theirs are as good
            if not (out / "graphs.json").exists():
                raise
    except Exception as exc:
        if isinstance(exc, (ExportError, OSError)):
            raise
        raise ExportError(f"cannot compile the model for OpenVINO ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
