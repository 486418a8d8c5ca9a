"""PNG, JPEG, TIFF and BMP radiographs via Pillow.

Decisions:

* Everything becomes one grey channel: palette images through their palette,
  RGB(A) by BT.601 luminance (exact when R = G = B, the usual case for
  exported X-rays), alpha dropped. 16-bit grey (PNG, TIFF) keeps its 16 bits;
  16-bit *colour* PNGs are reduced to 8 bits by Pillow (rare for X-rays).
* The default window is the full range for 8-bit images, so the model input
  ``display_normalised()`` equals ``pixels / 255`` exactly like the PNG/JPEG
  training sets; deeper images get the robust percentile window.
* Spacing is always None: DPI fields in raster files describe print or screen
  resolution (72, 96, 300 dpi), almost never the detector pixel size, and a
  wrong mm value is worse than an unknown one.
* EXIF orientation (phone photos of films, some TIFFs) is applied, so the
  image and its landmark coordinates match what every other viewer shows.
* Decompression bombs: Pillow's ``MAX_IMAGE_PIXELS`` check (error above twice
  the limit) and our own :data:`MAX_PIXELS` both become ``ImageLoadError``.
  Multi-page TIFFs use the first page and record ``n_frames``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageLoadError, short_reason
from .radiograph import MAX_PIXELS, MetadataValue, Radiograph, full_range_window, luminance, robust_window

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

#: (magic bytes at offset 0, Pillow format name).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)

_EXIF_ORIENTATION = 0x0112


def sniff_raster(head: bytes) -> str | None:
    """Pillow format name ("PNG", "JPEG", "TIFF", "BMP") from the first bytes, else None."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    return None


def load_raster(path: Path, fmt: str) -> Radiograph:
    """Read a raster image of format ``fmt`` (from :func:`sniff_raster`) as a grey radiograph."""
    try:
        with Image.open(path, formats=[fmt]) as im:
            _check_size(path, im.width, im.height, im.mode)
            n_frames = int(getattr(im, "n_frames", 1) or 1)
            im.load()
            frame, transposed = _upright(im)
            pixels, bits = _grey_pixels(frame)
            mode = im.mode
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, f"image is too large to open safely (possible decompression bomb: {exc})") from exc
    except MemoryError as exc:
        raise ImageLoadError(path, "not enough memory to decode the image") from exc
    except Exception as exc:  # OSError (truncated), SyntaxError (broken PNG), ValueError, ...
        raise ImageLoadError(path, f"cannot decode {fmt} image ({short_reason(exc)})") from exc

    if pixels.size == 0:
        raise ImageLoadError(path, "image has no pixels")
    if not np.all(np.isfinite(pixels)):
        raise ImageLoadError(path, "image contains NaN or infinite values")
    if bits in (1, 8):
        window, window_source = full_range_window(8), "full_range"
    else:
        window, window_source = robust_window(pixels), "percentiles"
    metadata: dict[str, MetadataValue] = {
        "format": fmt,
        "mode": mode,
        "bits_stored": bits,
        "rows": int(pixels.shape[0]),
        "columns": int(pixels.shape[1]),
        "n_frames": n_frames,
        "window_source": window_source,
    }
    if transposed:
        metadata["exif_orientation_applied"] = 1
    return Radiograph(pixels=pixels, window=window, spacing=None, source=path, metadata=metadata)


#: Bytes per pixel of a Pillow mode as decoded; modes not listed count as RGBA (4).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3,
               "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
_GREY_MODES = ("1", "L", "LA", "La", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
#: Peak memory a decoded raster may take (its own pixels, an RGB conversion, the float32 grey
#: copy): a 144-MP RGB image (1.4 GB) is refused before decoding, an 80-MP 16-bit film is not.
MAX_DECODED_BYTES = 1 << 30


def decoded_bytes(width: int, height: int, mode: str) -> int:
    """Estimated peak bytes of decoding a ``mode`` image to the float32 grey pixels we keep."""
    native = _MODE_BYTES.get(mode, 4)
    convert = 0 if mode in _GREY_MODES else 3  # colour goes through 8-bit RGB (_grey_pixels)
    return width * height * (native + convert + 4)


def _check_size(path: Path, width: int, height: int, mode: str = "L") -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(path, f"image has an empty size ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(path, f"image is too large ({width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels)")
    need = decoded_bytes(width, height, mode)
    if need > MAX_DECODED_BYTES:
        raise ImageLoadError(path, f"image is too large to decode safely ({width}×{height} {mode} pixels would take "
                                   f"{need / 2**30:.1f} GB; the limit is {MAX_DECODED_BYTES / 2**30:.0f} GB)")


def _upright(im: Image.Image) -> tuple[Image.Image, bool]:
    """The first frame with its EXIF orientation applied; True when it was rotated/flipped."""
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # malformed EXIF must not make a readable image unreadable
        orientation = 1
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im), True
    return im, False


def _grey_pixels(im: Image.Image) -> tuple[np.ndarray, int]:
    """``(pixels (H, W) float32, bits)`` of a Pillow image of any mode."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.float32), 1
    if mode == "L":
        return np.asarray(im, dtype=np.float32), 8
    if mode in ("LA", "La"):
        return np.asarray(im.getchannel(0), dtype=np.float32), 8
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.float32), 16
    if mode == "I":
        return np.asarray(im).astype(np.float32), 32
    if mode == "F":
        return np.asarray(im, dtype=np.float32), 32
    # P, PA, RGB, RGBA, RGBX, CMYK, YCbCr, LAB, HSV, ...: through 8-bit RGB.
    rgb = np.asarray(im.convert("RGB"))
    return luminance(rgb), 8
