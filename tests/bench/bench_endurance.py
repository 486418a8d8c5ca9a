"""Benchmark: memory stays flat over long sessions (issue 6, item 5).

Run on demand (not part of the test suite):

    QT_QPA_PLATFORM=offscreen QT_API=pyside6 python tests/bench/bench_endurance.py \
        [--cycles 1000] [--images 300] [--device cpu] [--json]

Two runs, each printing the resident set size (RSS) after a warm-up, along the
way, and at the end, and the growth in per cent (target: within 10 %):

1. **edit/undo/redo**: ``--cycles`` times, a ``MoveLandmark`` command is pushed on the
   app's ``QUndoStack`` (a real ``ProjectDocument`` on a project holding the bundled
   chest DICOM, offscreen), undone and redone; the document autosaves as in the app.
   The undo history is bounded (500 steps); the correction log grows by design (every
   edit is kept for the audit trail, a few hundred bytes each).
2. **batch prediction**: ``--images`` predictions with one ``core.inference.Predictor``,
   cycling through the real images available (the bundled DICOM, the shared DICOMs
   and JSRT PNGs when ``../shared/data`` is present).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "samples" / "chest_RG1.dcm"


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _measure() -> float:
    gc.collect()
    return rss_mb()


def bench_edits(cycles: int, warmup: int = 100) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.commands import MoveLandmark
    from app.document import ProjectDocument

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        doc = ProjectDocument(autosave_ms=50)
        assert doc.create_project(Path(tmp) / "endurance.anatomark", "chest6", user="bench")
        [image_id] = doc.add_images([SAMPLE])
        names = doc.landmark_names()
        samples: list[tuple[int, float]] = []
        start = None
        t0 = time.perf_counter()
        for i in range(warmup + cycles):
            if i == warmup:
                start = _measure()
                samples.append((0, start))
                t0 = time.perf_counter()
            name = names[i % len(names)]
            doc.undo_stack.push(MoveLandmark(doc, image_id, name, 100.0 + i % 300, 200.0 + (i * 7) % 300))
            doc.undo_stack.undo()
            doc.undo_stack.redo()
            app.processEvents()  # lets the autosave timer fire, as in the app
            done = i - warmup + 1
            if done > 0 and done % max(cycles // 10, 1) == 0:
                samples.append((done, _measure()))
        seconds = time.perf_counter() - t0
        doc.save()
        log_rows = len(doc.project.log())
        doc.close_project()
        doc.deleteLater()
        app.processEvents()
    end = samples[-1][1]
    return {"run": "edit/undo/redo", "cycles": cycles, "rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1),
            "growth_pct": round(100 * (end - start) / start, 2), "seconds": round(seconds, 1),
            "log_rows": log_rows, "samples": [(n, round(m, 1)) for n, m in samples]}


def _images(folder: Path | None = None) -> list[Path]:
    if folder is not None:  # e.g. PNG copies of the real images, for a machine without ../shared/data
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".dcm"))
    images = [SAMPLE]
    shared = ROOT.parent / "shared" / "data"
    for rel in ("dicom/RG1_UNCR.dcm", "dicom/RG2_JPLL.dcm", "dicom/RG3_J2KR.dcm",
                "chest_jsrt/images/JPCLN001.png", "chest_jsrt/images/JPCLN002.png", "chest_jsrt/images/JPCLN003.png"):
        if (shared / rel).is_file():
            images.append(shared / rel)
    return images


def bench_predict(n_images: int, device: str, warmup: int = 5, folder: Path | None = None) -> dict:
    from core.inference import Predictor

    predictor = Predictor("chest6", device=device)
    images = _images(folder)
    for i in range(warmup):
        predictor.predict(images[i % len(images)])
    start = _measure()
    samples = [(0, start)]
    t0 = time.perf_counter()
    for i in range(n_images):
        prediction = predictor.predict(images[i % len(images)])
        del prediction
        if (i + 1) % max(n_images // 10, 1) == 0:
            samples.append((i + 1, _measure()))
            print(f"  predicted {i + 1}/{n_images}, RSS {samples[-1][1]:.0f} MiB", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    end = samples[-1][1]
    return {"run": "batch prediction", "images": n_images, "distinct_images": len(images), "device": str(predictor.device) if hasattr(predictor, "device") else device,
            "rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1),
            "growth_pct": round(100 * (end - start) / start, 2), "seconds": round(seconds, 1),
            "samples": [(n, round(m, 1)) for n, m in samples]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-dir", type=Path, default=None, help="predict the images of this folder instead")
    parser.add_argument("--skip", choices=("edits", "predict"), default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    if args.skip != "edits":
        results.append(bench_edits(args.cycles))
    if args.skip != "predict":
        results.append(bench_predict(args.images, args.device, folder=args.image_dir))
    for r in results:
        if args.json:
            print(json.dumps(r))
        else:
            amount = f"{r['cycles']} cycles" if "cycles" in r else f"{r['images']} images"
            print(f"{r['run']}: {amount} in {r['seconds']} s; RSS {r['rss_start_mb']} → {r['rss_end_mb']} MiB "
                  f"({r['growth_pct']:+.1f} %)  samples {r['samples']}")
    return 0 if all(abs(r["growth_pct"]) <= 10 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
