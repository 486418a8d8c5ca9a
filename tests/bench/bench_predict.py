"""Benchmark: end-to-end predict time per image vs the bare network forward, same run.

Run on demand (not part of the test suite):

    python tests/bench/bench_predict.py [--model chest6] [--repeats 15] [--threads N]

Prints, for a 1024² chest PNG and the RG1 chest DICOM, the median wall time of
``Predictor.predict(path)`` (file on disk → refined points: decode, window,
resize, global U-Net + GNN, local patch stage) and the median time of the bare
networks' forward passes on pre-made tensors, with their ratio. Target: ≤ 250 ms
per image on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from core.inference import Predictor
from core.resources import samples_dir, shared_data_dir


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, decoder plugins)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bare_forward_ms(predictor: Predictor, repeats: int) -> float:
    """Global network + patch network on ready tensors: the floor the pipeline sits on."""
    net = predictor.model.global_net
    patch = predictor.model.patch_net
    x = torch.randn(1, 1, *net.config.input_size)
    k = predictor.schema.n_landmarks

    @torch.inference_mode()
    def run() -> None:
        net(x)
        if patch is not None:
            p = patch.config.patch_size
            patch(torch.randn(k, 1, p, p), torch.arange(k))

    return _median_ms(run, repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chest6")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = shared_data_dir()
    images = []
    if data is not None:
        images.append(("1024² PNG (JSRT)", data / "chest_jsrt" / "images" / "JPCLN001.png"))
        images.append(("RG1 DICOM, uncompressed", data / "dicom" / "RG1_UNCR.dcm"))
    images.append(("RG1 DICOM, JPEG 2000 (bundled sample)", samples_dir() / "chest_RG1.dcm"))
    predictor = Predictor(args.model, "cpu")
    print(f"model {predictor.model_id}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    forward = bare_forward_ms(predictor, args.repeats)
    print(f"bare network forward (global + {predictor.schema.n_landmarks} patches): {forward:7.1f} ms")
    for label, path in images:
        if not Path(path).exists():
            print(f"{label}: {path} not found, skipped")
            continue
        total = _median_ms(lambda: predictor.predict(path), args.repeats)
        parts = predictor.predict(path).timings_ms
        detail = ", ".join(f"{k} {v:.0f}" for k, v in parts.items() if k != "total")
        verdict = "meets" if total <= 250 else "misses"
        print(f"{label:<40} end-to-end {total:7.1f} ms  ({detail} ms)  ratio to bare forward {total / forward:4.2f}×  [{verdict} 250 ms]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
