"""DICOM radiographs via pydicom (+ the pylibjpeg plugins for compressed data).

What a radiograph needs from a DICOM file, and the traps on the way:

* Pixels are decoded for the first frame only (``pixel_array(ds, index=0)``):
  multi-frame files (tomosynthesis, cine) would otherwise decode every frame.
* Modality LUT / Rescale Slope-Intercept is applied, so ``pixels`` are
  modality values and the header's window applies to them directly.
* The VOI LUT is only used to *derive* a default window; pydicom's
  ``apply_voi_lut`` output is in the LUT's output units (not 0..1), and a
  window is what the display and the models need.
* MONOCHROME1 keeps its values; ``invert_display`` is set instead.
* PixelSpacing is (row, column) = (y, x) mm; ``0\\0``, negative or NaN values
  mean "unknown". ImagerPixelSpacing (detector plane, includes the
  geometric magnification) is the fallback; ``metadata["spacing_source"]``
  says which one was used so the UI can tell the user.
* Only an allow-list of header fields is copied into ``metadata``; patient,
  study and institution identifiers never are.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, get_decoder, pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGExtended12Bit

from core.privacy import identifier_parts, identifiers_in, repeats_identifier

from . import jpeg12
from .errors import ImageLoadError, one_line, short_reason
from .radiograph import MAX_PIXELS, MetadataValue, Radiograph, Window, full_range_window, luminance
from .radiograph import robust_window, window_from_bounds

DICOM_SUFFIXES = (".dcm", ".dicom")

#: Elements larger than this stay on disk until the pixels are decoded, so the
#: size guard runs before a huge Pixel Data element is read into memory.
_DEFER_SIZE = "2 MB"

#: metadata key -> DICOM keyword. An allow-list on purpose: nothing outside it
#: (patient name/ID/birth date, accession number, institution, physicians,
#: dates) can reach ``Radiograph.metadata``.
_HEADER_FIELDS = {
    "modality": "Modality",
    "photometric_interpretation": "PhotometricInterpretation",
    "bits_allocated": "BitsAllocated",
    "bits_stored": "BitsStored",
    "pixel_representation": "PixelRepresentation",
    "samples_per_pixel": "SamplesPerPixel",
    "rows": "Rows",
    "columns": "Columns",
    "manufacturer": "Manufacturer",
    "body_part": "BodyPartExamined",
    "view_position": "ViewPosition",
    "burned_in_annotation": "BurnedInAnnotation",  # "YES": text burned into the pixels (core.privacy)
}

#: Compressed frames decoding to more than _BOMB_MIN_BYTES and more than _BOMB_RATIO
#: times the file size are refused (lossless X-ray compression is ~2–4:1, lossy ~10–50:1).
_BOMB_MIN_BYTES = 64 * 2**20
_BOMB_RATIO = 200

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def is_dicom_header(head: bytes) -> bool:
    """True when ``head`` (the file's first >= 132 bytes) has the DICOM Part 10 'DICM' marker."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def looks_like_raw_dicom(head: bytes) -> bool:
    """Heuristic for preamble-less DICOM: starts with a group 0002 or 0008 tag, little endian."""
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3] == 0


def load_dicom(path: Path) -> Radiograph:
    """Read a DICOM radiograph; raises :class:`ImageLoadError` for every failure."""
    ds = _read_dataset(path)
    n_frames = _check_geometry(ds, path)
    arr = _decode_first_frame(ds, path, n_frames)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()

    metadata = _header_metadata(ds)
    metadata["n_frames"] = n_frames
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)  # (H, W) indices -> (H, W, 3) RGB
    if arr.ndim == 3:  # colour: grey by luminance, no modality LUT / window
        pixels, invert, metadata["modality_lut"] = luminance(arr), False, "none"
        if arr.dtype == np.uint8:
            window, metadata["window_source"] = full_range_window(8), "full_range"
        else:
            window, metadata["window_source"] = robust_window(pixels), "percentiles"
    else:
        pixels, metadata["modality_lut"] = _modality_values(arr, ds)
        window, metadata["window_source"] = _default_window(ds, pixels)
        invert = photometric == "MONOCHROME1"

    if not np.all(np.isfinite(pixels)):
        raise ImageLoadError(path, "pixel data contains NaN or infinite values")
    spacing, spacing_source = _spacing(ds)
    if spacing_source is not None:
        metadata["spacing_source"] = spacing_source
    return Radiograph(pixels, window, spacing, source=path, metadata=metadata, invert_display=invert)


def _read_dataset(path: Path) -> Dataset:
    """``dcmread`` strictly first; a file without preamble/'DICM' is retried with force=True."""
    forced = False
    try:
        try:
            ds = pydicom.dcmread(path, defer_size=_DEFER_SIZE)
        except InvalidDicomError:
            forced = True
            ds = pydicom.dcmread(path, defer_size=_DEFER_SIZE, force=True)
            _fill_missing_transfer_syntax(ds)
        # Elements are parsed lazily; touch the ones we need so a corrupt
        # header fails here, with a DICOM-specific message.
        for keyword in ("Rows", "Columns", "PhotometricInterpretation"):
            ds.get(keyword)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(path, f"not a readable DICOM file ({short_reason(exc)})") from exc
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        if forced and "Rows" not in ds:
            raise ImageLoadError(path, "not a DICOM file (no 'DICM' marker and no readable DICOM image data)")
        raise ImageLoadError(path, "DICOM file contains no pixel data (not an image, or the file is truncated)")
    return ds


def _fill_missing_transfer_syntax(ds: Dataset) -> None:
    """A force-read raw data set has no file meta; infer the syntax pydicom read it with."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    )


def _check_geometry(ds: Dataset, path: Path) -> int:
    """Number of frames, after refusing empty or absurd sizes, before any decoding."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception as exc:
        raise ImageLoadError(path, f"DICOM image has no valid Rows/Columns ({short_reason(exc)})") from exc
    if rows <= 0 or cols <= 0:
        raise ImageLoadError(path, f"DICOM image has an empty size ({rows}×{cols})")
    if rows * cols > MAX_PIXELS:
        raise ImageLoadError(path, f"image is too large ({cols}×{rows} pixels; the limit is {MAX_PIXELS:,} pixels)")
    if samples not in (1, 3):
        raise ImageLoadError(path, f"unsupported Samples per Pixel: {samples} (expected 1 or 3)")
    _check_compression_ratio(ds, path, rows * cols * samples)
    return max(n_frames, 1)


def _check_compression_ratio(ds: Dataset, path: Path, values: int) -> None:
    """Refuse compressed pixel data that would decode to far more than the file could hold.

    A few kB of JPEG 2000 labelled 20000×20000 makes the decoder allocate ~800 MB
    (a decompression bomb). Uncompressed data needs no check: pydicom refuses pixel
    data shorter than declared before allocating.
    """
    uid = _transfer_syntax(ds)
    if uid is None or not uid.is_compressed:
        return
    try:
        bits = int(ds.get("BitsAllocated", 16) or 16)
        file_bytes = max(path.stat().st_size, 1)
    except Exception:
        return
    decoded = values * max(bits, 8) // 8
    if decoded > _BOMB_MIN_BYTES and decoded > _BOMB_RATIO * file_bytes:
        raise ImageLoadError(path, f"compressed pixel data would expand to {decoded / 2**20:,.0f} MB from a "
                                   f"{file_bytes / 1024:,.0f} kB file (possible decompression bomb); refused")


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(uid)) if uid else None


def _decode_first_frame(ds: Dataset, path: Path, n_frames: int) -> np.ndarray:
    """Frame 0 as (H, W) or (H, W, 3); decoder failures name the transfer syntax."""
    try:
        if _is_jpeg12(ds) and jpeg12.available():
            arr = jpeg12.decode_first_frame(ds, n_frames)
        else:
            arr = pixel_array(ds, index=0) if n_frames > 1 else pixel_array(ds)
    except MemoryError as exc:
        raise ImageLoadError(path, "not enough memory to decode the pixel data") from exc
    except Exception as exc:
        raise ImageLoadError(path, _decode_failure(ds, exc)) from exc
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ImageLoadError(path, f"decoded pixel data has an unexpected shape {arr.shape}")
    return arr


def _decode_failure(ds: Dataset, exc: Exception) -> str:
    """Why decoding failed, naming the transfer syntax and what would decode it."""
    uid = _transfer_syntax(ds)
    if uid is None:
        return f"cannot decode pixel data: the file has no Transfer Syntax UID ({short_reason(exc)})"
    what = f"cannot decode {uid.name} ({uid}) pixel data"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"{what}: no decoder exists for this transfer syntax"
    except Exception:
        decoder = None
    if _is_jpeg12(ds):
        # Pillow and pydicom's GDCM plugin refuse 12-bit JPEG Extended outright and pylibjpeg fails on
        # real files (RG2_JPLY.dcm); imagecodecs (the jpeg12 extra) and DCMTK's dcmdjpeg decode them.
        if jpeg12.available():
            return f"{what}: the 12-bit JPEG data is damaged ({short_reason(exc)})"
        return (f"{what}: 12-bit JPEG Extended needs the optional decoder: {jpeg12.INSTALL} "
                f"(or decompress the file first: dcmdjpeg IN.dcm OUT.dcm, Debian package dcmtk)")
    if decoder is not None and uid.is_compressed:
        missing = [str(m).split(" - ")[0].strip() for m in decoder.missing_dependencies]
        if "gdcm" in missing:
            return f"{what}: no installed decoder supports it (needs GDCM)"
        if not decoder.is_available:
            needs = ", ".join(missing) or "an extra decoder package"
            return f"{what}: no installed decoder supports it (needs {needs})"
    return f"{what}: {short_reason(exc)}"


def _is_jpeg12(ds: Dataset) -> bool:
    """JPEG Extended with more than 8 bits stored: the case no pydicom decoder reads."""
    return _transfer_syntax(ds) == JPEGExtended12Bit and int(ds.get("BitsStored", 8) or 8) > 8


def _modality_values(arr: np.ndarray, ds: Dataset) -> tuple[np.ndarray, str]:
    """(pixels float32 (H, W), which modality transform was applied)."""
    if "ModalityLUTSequence" in ds:
        kind = "ModalityLUTSequence"
    elif "RescaleSlope" in ds or "RescaleIntercept" in ds:
        kind = "RescaleSlopeIntercept"
    else:
        return arr.astype(np.float32), "none"
    return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32), kind


def _default_window(ds: Dataset, pixels: np.ndarray) -> tuple[Window, str]:
    """Header window (first value), else one derived from the VOI LUT, else percentiles."""
    window = _header_window(ds)
    if window is not None:
        return window, "WindowCenterWidth"
    window = _voi_lut_window(ds)
    if window is not None:
        return window, "VOILUTSequence"
    return robust_window(pixels), "percentiles"


def _first_float(value: Any) -> float:
    """First value of a possibly multi-valued DS element (WindowCenter may hold several)."""
    return float(value[0] if isinstance(value, (list, tuple, MultiValue)) else value)


def _header_window(ds: Dataset) -> Window | None:
    try:
        center = _first_float(ds.get("WindowCenter"))
        width = _first_float(ds.get("WindowWidth"))
    except Exception:  # absent, empty or unparsable
        return None
    if math.isfinite(center) and math.isfinite(width) and width > 0:
        return (center, width)
    return None


def _voi_lut_window(ds: Dataset) -> Window | None:
    """The linear window that best matches the first VOI LUT.

    Runs the LUT's whole input domain through ``apply_voi_lut`` and takes the
    last input still at the LUT's minimum output and the first input at its
    maximum: exact for the usual clipped-linear LUT, a fair approximation for
    curved ones. Decreasing (inverting) LUTs are not handled: None.
    """
    try:
        item = ds.VOILUTSequence[0]
        n_entries, first_mapped = int(item.LUTDescriptor[0]), int(item.LUTDescriptor[1])
        n_entries = n_entries or 65536
        inputs = np.arange(first_mapped, first_mapped + n_entries, dtype=np.int64)
        outputs = np.asarray(apply_voi_lut(inputs, ds, index=0, prefer_lut=True), dtype=np.float64)
    except Exception:
        return None
    if outputs.shape != inputs.shape or outputs[-1] <= outputs[0]:
        return None
    lo_idx = int(np.argmax(outputs > outputs.min())) - 1
    hi_idx = int(np.argmax(outputs >= outputs.max()))
    return window_from_bounds(inputs[max(lo_idx, 0)], inputs[hi_idx])


def _spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """``((x, y) mm per pixel, source keyword)`` or ``(None, None)`` when unknown."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            value = ds.get(keyword)
            if value is None or isinstance(value, (str, bytes)):
                continue
            row_mm, col_mm = (float(v) for v in value)
        except Exception:  # absent, one value, unparsable
            continue
        if all(math.isfinite(v) and v > 0 for v in (row_mm, col_mm)):
            return (col_mm, row_mm), keyword  # DICOM order is (row, column) = (y, x)
    return None, None


def _header_metadata(ds: Dataset) -> dict[str, MetadataValue]:
    """Allow-listed, non-identifying header fields; empty values are left out."""
    meta: dict[str, MetadataValue] = {"format": "DICOM"}
    # An allowed field can still repeat an identifier (test phantoms from OFFIS carry
    # Manufacturer == InstitutionName "OFFIS"), or contain one ("ZZHOSPITAL Imaging"): such
    # values are left out too.
    identifying = identifier_parts(identifiers_in(ds).values())
    uid = _transfer_syntax(ds)
    if uid is not None:
        meta["transfer_syntax"] = uid.name
        meta["transfer_syntax_uid"] = str(uid)
    for key, keyword in _HEADER_FIELDS.items():
        try:
            value = ds.get(keyword)
        except Exception:
            continue
        if value is None or value == "" or repeats_identifier(str(value), identifying):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            meta[key] = int(value) if isinstance(value, int) else float(value)  # plain types, not IS/DS
        else:
            meta[key] = one_line(str(value), limit=64)
    return meta
