"""A simulated "other clinic": the same cephalograms as another site's X-ray unit would store them.

``bench_loop.py --shift`` uses it to test the issue-4 target where the bundled
model starts clearly worse than on its own test set; run as a script it writes a
split out as a data set folder (generic layout, ``core.training.datasets``) that
any command reads, e.g. ``anatomark simulate-review``:

    python3 tests/bench/acquisition_shift.py --dataset ../shared/data/ceph_isbi2015 --split test1 --out runs/ceph_shifted
 The ISBI 2015 images
(0.2 mm/px after halving) all come from one Soredex CRANEX unit; a second
site differs in four ways at once, each of a size seen between real units:

- **detector response**: a flatter, brighter tone curve (gamma 0.6 on the
  normalised intensities, output range squeezed into 0.08–0.92), as a
  different detector / default processing look gives;
- **wider field of view**: the skull occupies less of the frame (the frame is
  ``pad`` = 18 % larger on every side, filled with the unit's background);
- **positioning**: the head tilted by ``angle`` = 5° in the cephalostat;
- **resolution and noise**: stored at ``scale`` = 0.7 of the pixels (so
  0.2 / 0.7 ≈ 0.29 mm/px) with Gaussian quantum noise (σ = 3 % of full range).

Geometry is applied to the ground truth too, so errors stay comparable in mm
(rotation and padding preserve distances; the spacing follows the scale).
Coordinates follow ADR 0001: ``(x, y)`` pixels, origin at the top-left pixel
centre. Deterministic (the noise has a per-image seed).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from core.training.datasets import DatasetError, Sample, load_dataset

__all__ = ["Shift", "shift_sample", "write_shifted_dataset"]


@dataclass(frozen=True)
class Shift:
    gamma: float = 0.6
    low: float = 0.08
    high: float = 0.92
    pad: float = 0.18  # fraction of width/height added on every side
    angle: float = 5.0  # degrees, counter-clockwise on screen
    scale: float = 0.7  # output pixels per input pixel
    noise: float = 0.03  # σ on the 0..1 intensity range

    def describe(self) -> str:
        return (f"gamma {self.gamma}, range {self.low}–{self.high}, field of view +{self.pad:.0%} per side, "
                f"tilt {self.angle}°, {self.scale}× pixels, noise σ {self.noise}")


def _forward(shift: Shift, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(3, 3) affine from source pixel centres to padded+rotated pixel centres, and the padded size."""
    pw, ph = round(width * (1 + 2 * shift.pad)), round(height * (1 + 2 * shift.pad))
    c_src = np.array([(width - 1) / 2, (height - 1) / 2])
    c_dst = np.array([(pw - 1) / 2, (ph - 1) / 2])
    t = math.radians(shift.angle)
    rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])  # y down: CCW on screen
    m = np.eye(3)
    m[:2, :2] = rot
    m[:2, 2] = c_dst - rot @ c_src
    return m, (pw, ph)


def shift_sample(sample: Sample, shift: Shift, out_dir: Path) -> Sample:
    """Write the shifted image as PNG into ``out_dir``; return the sample with moved points and spacing."""
    src = Image.open(sample.image_path).convert("L")
    width, height = src.size
    m, (pw, ph) = _forward(shift, width, height)
    # PIL's affine works on continuous coordinates (pixel i spans [i, i+1)) and wants output → input.
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    inv = np.linalg.inv(half @ m @ np.linalg.inv(half))
    tone = np.asarray(src, dtype=np.float32) / 255.0
    tone = shift.low + (shift.high - shift.low) * np.power(tone, shift.gamma)
    background = float(np.percentile(tone, 2))
    toned = Image.fromarray(tone, mode="F")
    rotated = toned.transform((pw, ph), Image.Transform.AFFINE, tuple(inv[:2].ravel()),
                              resample=Image.Resampling.BILINEAR, fillcolor=background)
    ow, oh = round(pw * shift.scale), round(ph * shift.scale)
    small = np.asarray(rotated.resize((ow, oh), Image.Resampling.BOX), dtype=np.float32)
    rng = np.random.default_rng(zlib.crc32(sample.id.encode()))
    noisy = np.clip(small + rng.normal(0.0, shift.noise, small.shape), 0.0, 1.0)
    out = out_dir / f"{sample.id}_shifted.png"
    Image.fromarray(np.round(noisy * 255).astype(np.uint8), mode="L").save(out)

    pts = np.c_[sample.points, np.ones(len(sample.points))] @ m.T
    sx, sy = ow / pw, oh / ph
    points = np.c_[(pts[:, 0] + 0.5) * sx - 0.5, (pts[:, 1] + 0.5) * sy - 0.5]
    spacing = None if sample.spacing is None else (sample.spacing[0] / sx, sample.spacing[1] / sy)
    return replace(sample, image_path=out, points=points, spacing=spacing, observers=None)


def write_shifted_dataset(dataset: str | Path, split: str | None, out: Path, shift: Shift = Shift()) -> int:
    """Write ``split`` of ``dataset`` as another unit would store it: ``out/images/<id>.png`` and
    ``out/landmarks.csv`` (``id, split, mm_per_px_x, mm_per_px_y, <name>_x, <name>_y``, the
    observers' mean as ground truth). Returns the number of images written."""
    source = load_dataset(dataset, split)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = list(source.schema.landmarks)
    rows = []
    for sample in source.samples:
        moved = shift_sample(sample, shift, images)
        moved.image_path.replace(images / f"{sample.id}.png")
        sx, sy = moved.spacing if moved.spacing else ("", "")
        row = {"id": sample.id, "split": sample.split or "", "mm_per_px_x": sx, "mm_per_px_y": sy}
        for name, (x, y) in zip(names, moved.points):
            row[f"{name}_x"], row[f"{name}_y"] = ("" if not np.isfinite(x) else round(float(x), 3)), ("" if not np.isfinite(y) else round(float(y), 3))
        rows.append(row)
    with open(out / "landmarks.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a data set split as another X-ray unit would store it.")
    parser.add_argument("--dataset", required=True, help="data set folder (e.g. ../shared/data/ceph_isbi2015)")
    parser.add_argument("--split", default=None, help="split to shift (default: all images)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (images/ and landmarks.csv)")
    args = parser.parse_args(argv)
    try:
        n = write_shifted_dataset(args.dataset, args.split, args.out)
    except (DatasetError, OSError) as exc:
        print(f"acquisition_shift: {exc}", file=sys.stderr)
        return 2
    print(f"{n} images written to {args.out} ({Shift().describe()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
