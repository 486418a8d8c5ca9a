"""Benchmark: what runs the networks, and what a command-line prediction costs (issue 22).

Run on demand (not part of the test suite), on an idle machine:

    python3 tests/bench/bench_speed.py [--model chest6] [--images 10] [--repeats 9] [--cli-runs 5] [--torch-compile]

Prints, each with its ratio to PyTorch eager measured in the same run:

1. the two networks' forward passes (global + the patch stage's K patches) on ready inputs:
   PyTorch eager (baseline), ONNX Runtime and OpenVINO fp32 where installed, OpenVINO bf16 (with
   how far its points move: the reason it is not used), ``torch.compile`` with ``--torch-compile``
   (its compile time printed too);
2. ``predict`` per image, end to end from a decoded image, over ``--images`` JSRT PNGs (1024²):
   ``core.inference.Predictor`` vs ``core.runtime.compiled.CompiledPredictor``, and the largest
   point difference between them (the bound is 0.05 px);
3. the command line in fresh processes: a one-image ``anatomark predict IMG --model M`` call, and
   the marginal cost per image of a ``--images``-image call, with ``--runtime torch`` and
   ``--runtime openvino`` (median of ``--cli-runs``; the compiled model is cached first).

The app's start-up and drag-frame figures are ``tests/bench/bench_viewer.py``'s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from core.inference import Predictor
from core.resources import shared_data_dir
from core.runtime.compiled import CompiledPredictor

sys.path.insert(0, str(Path(__file__).parent))
from bench_predict import _median_ms  # noqa: E402  the same warm-up-then-median timing


def _networks(predictor: Predictor, repeats: int, with_compile: bool) -> None:
    """Section 1: the forward passes alone, on every engine installed."""
    net, patch = predictor.model.global_net, predictor.model.patch_net
    k = predictor.schema.n_landmarks
    x = torch.randn(1, 1, *net.config.input_size)
    p = torch.randn(k, 1, patch.config.patch_size, patch.config.patch_size) if patch is not None else None

    def eager() -> None:
        with torch.inference_mode():
            net.unet(x) if hasattr(net, "unet") else net(x)
            if patch is not None:
                patch.unet(p)

    base = _median_ms(eager, repeats)
    print(f"1. networks (global + {k} patches), {torch.get_num_threads()} threads")
    print(f"   PyTorch eager        {base:7.1f} ms  1.00×  (baseline)")
    modules = [("global", net.unet if hasattr(net, "unet") else net, (x,))]
    if patch is not None:
        modules.append(("patch", patch.unet, (p,)))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, module, example in modules:
            path = Path(tmp) / f"{name}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on instance norm and constants
                torch.onnx.export(module.eval(), example, str(path), input_names=["x"], opset_version=18, dynamo=False)
            paths.append((path, example[0].numpy()))
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            sessions = [(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), a) for path, a in paths]
            t = _median_ms(lambda: [s.run(None, {"x": a}) for s, a in sessions], repeats)
            print(f"   ONNX Runtime         {t:7.1f} ms  {t / base:.2f}×")
        except ImportError:
            print("   ONNX Runtime         not installed (pip install onnxruntime)")
        import openvino as ov

        core = ov.Core()
        for precision in ("f32", "bf16"):
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision,
                      "INFERENCE_NUM_THREADS": torch.get_num_threads()}
            try:
                requests = [(core.compile_model(str(path), "CPU", config).create_infer_request(), a) for path, a in paths]
            except RuntimeError as exc:
                print(f"   OpenVINO {precision:<5}      not available here ({str(exc).splitlines()[0][:60]})")
                continue
            t = _median_ms(lambda: [r.infer([a]) for r, a in requests], repeats)
            out = requests[0][0].infer([paths[0][1]])[0]
            with torch.inference_mode():
                ref = (net.unet(x)[0] if hasattr(net, "unet") else net(x)["logits"]).numpy()
            print(f"   OpenVINO {precision:<5}       {t:7.1f} ms  {t / base:.2f}×  (global logits max |Δ| {np.abs(out - ref).max():.1e})")
    if with_compile:
        t0 = time.perf_counter()
        compiled_net = torch.compile(net.unet if hasattr(net, "unet") else net)
        compiled_patch = torch.compile(patch.unet) if patch is not None else None

        def run_compiled() -> None:
            with torch.inference_mode():
                compiled_net(x)
                if compiled_patch is not None:
                    compiled_patch(p)

        run_compiled()
        compile_s = time.perf_counter() - t0
        t = _median_ms(run_compiled, repeats)
        print(f"   torch.compile        {t:7.1f} ms  {t / base:.2f}×  (compiled in {compile_s:.0f} s, every process)")


def _pipeline(model: str, images: list[Path], repeats: int) -> None:
    """Section 2: predict end to end from a decoded image, both predictors, same images."""
    from core.imaging import load_image

    reference, compiled = Predictor(model, "cpu"), CompiledPredictor(model)
    decoded = [load_image(p) for p in images]
    worst = 0.0
    for image in decoded:
        worst = max(worst, float(np.abs(reference.predict(image).points - compiled.predict(image).points).max()))
    per = {}
    for name, predictor in (("PyTorch", reference), ("OpenVINO", compiled)):
        per[name] = statistics.median(
            _median_ms(lambda im=image: predictor.predict(im), max(3, repeats // 3)) for image in decoded)
    base = per["PyTorch"]
    print(f"2. predict per image (decoded {len(decoded)} images, median of per-image medians)")
    print(f"   core.inference.Predictor       {base:7.1f} ms  1.00×  (baseline)")
    print(f"   CompiledPredictor (OpenVINO)   {per['OpenVINO']:7.1f} ms  {per['OpenVINO'] / base:.2f}×  "
          f"largest point difference {worst:.3f} px (bound 0.05)")


def _cli(model: str, images: list[Path], runs: int) -> None:
    """Section 3: the command line in fresh processes."""
    def timed(runtime: str, paths: list[Path]) -> float:
        command = [sys.executable, "-m", "core.cli", "predict", *map(str, paths), "--model", model, "--runtime", runtime, "--json"]
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=os.environ)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(f"3. anatomark predict in a fresh process (median of {runs})")
    one, many = {}, {}
    for runtime in ("torch", "openvino"):
        one[runtime], many[runtime] = timed(runtime, images[:1]), timed(runtime, images)
    marginal = {r: (many[r] - one[r]) / max(1, len(images) - 1) * 1e3 for r in one}
    print(f"   one image   --runtime torch     {one['torch']:6.2f} s   1.00×  (baseline)")
    print(f"   one image   --runtime openvino  {one['openvino']:6.2f} s   {one['openvino'] / one['torch']:.2f}×  target ≤ 1.5 s")
    print(f"   per further image, torch        {marginal['torch']:6.0f} ms  1.00×  (baseline; {len(images)}-image call)")
    print(f"   per further image, openvino     {marginal['openvino']:6.0f} ms  {marginal['openvino'] / marginal['torch']:.2f}×  target ≤ 120 ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chest6")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile (tens of seconds to compile)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["ANATOMARK_THREADS"] = str(args.threads)
    data = shared_data_dir()
    if data is None:
        print("needs ../shared/data (JSRT PNGs)", file=sys.stderr)
        return 2
    images = sorted((data / "chest_jsrt" / "images").glob("*.png"))[-args.images:]  # the last ones: test-like
    if args.model.startswith("ceph"):
        images = sorted((data / "ceph_isbi2015" / "images").glob("*.jpg"))[-args.images:]
    print(f"model {args.model}, {os.cpu_count()} CPUs, {len(images)} images from {images[0].parent}")
    CompiledPredictor(args.model)  # compile once (cached) so no section pays for it
    _networks(Predictor(args.model, "cpu"), args.repeats, args.torch_compile)
    _pipeline(args.model, images, args.repeats)
    _cli(args.model, images, args.cli_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
