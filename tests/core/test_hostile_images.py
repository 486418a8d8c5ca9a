"""Hostile image inputs (issue 6, item 1): a corpus generated here, from the real DICOM
files (``../shared/data/dicom`` when present, the bundled sample always) and from
images built in the test.

Every case must end in either a loaded :class:`Radiograph` (for inputs that are odd
but valid: 16-bit and palette PNGs, multi-frame, colour, MONOCHROME1 without a window,
``0\\0`` spacing) or an :class:`ImageLoadError` with a one-line message — never another
exception, never gigabytes allocated, never the input file changed.
"""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000, generate_uid

from core.imaging import ImageLoadError, Radiograph, load_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "samples" / "chest_RG1.dcm"

OK, ERROR, EITHER = "ok", "error", "either"

# Whole-suite memory budget per load: a real 2k×2k radiograph needs ~60 MB of float32
# and decoder buffers; a memory bomb must be refused long before 400 MB.
MEMORY_LIMIT = 400 * 2**20


# -- building blocks ---------------------------------------------------------------------


def _dicom_bytes(rows=64, cols=64, bits=16, photometric="MONOCHROME2", samples=1, frames=None,
                 pixel_bytes=None, syntax=ExplicitVRLittleEndian, encapsulated=False, **extra) -> bytes:
    """A small, valid (unless told otherwise) DICOM radiograph as bytes.

    ``syntax`` other than explicit VR little endian: with ``encapsulated`` the pixel
    bytes are encapsulated as that (compressed) syntax requires; without, the file is
    written as explicit VR little endian and then *labelled* ``syntax`` (mislabelled).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax if encapsulated else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.PatientName = "Hostile^Test"
    ds.PatientID = "HOSTILE-1"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, max(bits - 1, 0)
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    if frames is not None:
        ds.NumberOfFrames = frames
    for key, value in extra.items():
        setattr(ds, key, value)
    if pixel_bytes is None:
        n = rows * cols * samples * (frames or 1)
        rng = np.random.default_rng(rows * 7 + cols)
        if bits == 8:
            pixel_bytes = rng.integers(0, 255, n, dtype=np.uint8).tobytes()
        else:
            pixel_bytes = rng.integers(0, 4095, n, dtype=np.uint16).tobytes()
    if len(pixel_bytes) % 2:
        pixel_bytes += b"\0"
    ds.PixelData = encapsulate([pixel_bytes]) if encapsulated else pixel_bytes
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False, implicit_vr=False, little_endian=True)
    data = buf.getvalue()
    return data if encapsulated or syntax == ExplicitVRLittleEndian else _relabel(data, str(syntax))


def _relabel(data: bytes, uid: str) -> bytes:
    """Replace the Transfer Syntax UID of an explicit-VR file, fixing the meta group length."""
    tag = b"\x02\x00\x10\x00UI"
    at = data.index(tag)
    old_len = struct.unpack("<H", data[at + 6:at + 8])[0]
    value = uid.encode() + (b"\0" if len(uid) % 2 else b"")
    out = bytearray(data[:at + 6] + struct.pack("<H", len(value)) + value + data[at + 8 + old_len:])
    group_len = struct.unpack("<I", out[140:144])[0]  # (0002,0000) UL right after "DICM"
    out[140:144] = struct.pack("<I", group_len + len(value) - old_len)
    return bytes(out)


def _png_bytes(array: np.ndarray | None = None, image: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    (image if image is not None else Image.fromarray(array)).save(buf, format="PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(side: int) -> bytes:
    """A real decompression bomb: side×side zero pixels, 8-bit grey, a few hundred kB."""
    comp = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares a huge size and whose data is tiny (truncated stream)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")


def _flip(data: bytes, offset: int, mask: int = 0xFF) -> bytes:
    b = bytearray(data)
    b[offset % len(b)] ^= mask
    return bytes(b)


def _pixel_data_offset(data: bytes) -> int:
    """Offset of the (7FE0,0010) Pixel Data tag in an explicit-VR little-endian file."""
    return data.rfind(b"\xe0\x7f\x10\x00")


def _real_dicoms() -> list[Path]:
    found = [SAMPLE]
    shared = ROOT.parent / "shared" / "data" / "dicom"
    if shared.is_dir():
        found += sorted(p for p in shared.glob("*.dcm") if p.name != SAMPLE.name)
    return found


# -- the corpus --------------------------------------------------------------------------


def _corpus() -> list[tuple[str, str, object]]:
    """(case id, expectation, bytes or a callable returning bytes) — callables keep collection fast."""
    cases: list[tuple[str, str, object]] = []
    add = lambda name, expect, data: cases.append((name, expect, data))  # noqa: E731

    # Real files: truncated at many offsets (header, pixel element, inside the pixel data), bit-flipped headers.
    reals = _real_dicoms()
    for path in reals:
        data = path.read_bytes()
        stem = path.stem
        px = _pixel_data_offset(data)
        offsets = sorted({0, 1, 64, 128, 131, 132, 140, 200, 400, 700, max(px - 2, 1), px + 4, px + 12,
                          px + (len(data) - px) // 2, len(data) - 100, len(data) - 1} - {len(data)})
        if path != SAMPLE:
            offsets = offsets[::2] + [px + 12]
        for off in offsets:
            if 0 < off < len(data):
                add(f"{stem}-truncated-{off}", ERROR if off < px + 12 else EITHER, data[:off])
        for off in (128, 129, 130, 131, 140, 150, 170, 200, 260, 330, 420, 600):
            if off < px:
                add(f"{stem}-bitflip-{off}", EITHER, _flip(data, off))
        add(f"{stem}-zeroed-header", ERROR, b"\0" * 132 + data[132:px] + data[px:])

    base = _dicom_bytes()
    px = _pixel_data_offset(base)
    # Generated DICOM: truncations and bit flips of a clean file.
    for off in range(20, len(base), max(len(base) // 24, 1)):
        add(f"gen-truncated-{off}", ERROR if off < px + 12 else EITHER, base[:off])
    for off in range(128, px, max((px - 128) // 20, 1)):
        add(f"gen-bitflip-{off}", EITHER, _flip(base, off))
        add(f"gen-bitflip1-{off}", EITHER, _flip(base, off, 0x01))
    # Pixel data shorter / longer than declared.
    add("pixels-short-half", ERROR, lambda: _dicom_bytes(pixel_bytes=b"\1\0" * (64 * 32)))
    add("pixels-short-one-row", ERROR, lambda: _dicom_bytes(pixel_bytes=b"\1\0" * (64 * 63)))
    add("pixels-empty", ERROR, lambda: _dicom_bytes(pixel_bytes=b""))
    add("pixels-long-double", EITHER, lambda: _dicom_bytes(pixel_bytes=b"\1\0" * (64 * 128)))
    add("pixels-long-one-byte", EITHER, lambda: _dicom_bytes(pixel_bytes=b"\1\0" * (64 * 64) + b"\0\0"))
    # Memory bombs: absurd sizes must be refused before anything is allocated.
    for rows, cols in ((65535, 65535), (65535, 1), (1, 65535), (30000, 30000), (20000, 20000), (40000, 20000)):
        add(f"bomb-rows{rows}-cols{cols}", ERROR, lambda r=rows, c=cols: _dicom_bytes(r, c, pixel_bytes=b"\0" * 4096))
    for bits in (0, 1, 7, 12, 24, 32, 64, 128, 255):
        add(f"bits-allocated-{bits}", ERROR if bits in (0, 7, 12, 24, 128, 255) else EITHER,
            lambda b=bits: _dicom_bytes(bits=b, pixel_bytes=b"\0" * 4096))
    for frames in (0, -1, 2**31 - 1, 100000):
        add(f"frames-{frames}", EITHER, lambda f=frames: _dicom_bytes(frames=f, pixel_bytes=b"\1\0" * 4096))
    add("bomb-frames-huge-image", ERROR, lambda: _dicom_bytes(20000, 20000, frames=1000, pixel_bytes=b"\0" * 4096))
    add("bomb-jpeg2000-declared-huge", ERROR, lambda: _dicom_bytes(20000, 20000, syntax=JPEG2000, encapsulated=True, pixel_bytes=b"\0" * 4096))
    add("jpeg2000-garbage", ERROR, lambda: _dicom_bytes(syntax=JPEG2000, encapsulated=True, pixel_bytes=b"\xff\x4f" * 512))
    for samples in (0, 2, 4, 255):
        add(f"samples-per-pixel-{samples}", ERROR, lambda s=samples: _dicom_bytes(samples=s, pixel_bytes=b"\0" * 8192))
    add("rows-zero", ERROR, lambda: _dicom_bytes(0, 64, pixel_bytes=b""))
    add("cols-zero", ERROR, lambda: _dicom_bytes(64, 0, pixel_bytes=b""))
    # Transfer syntaxes: unknown, private, mislabelled (raw data labelled compressed and vice versa).
    for uid in ("1.2.3.4.5.6.7", "1.2.840.10008.1.2.4.999", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90",
                "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.100", "not-a-uid"):
        add(f"syntax-{uid}", EITHER, lambda u=uid: _dicom_bytes(syntax=u))
    # Valid but unusual: must load.
    add("monochrome1-no-window", OK, lambda: _dicom_bytes(photometric="MONOCHROME1"))
    add("spacing-zero", OK, lambda: _dicom_bytes(PixelSpacing=[0, 0]))
    add("spacing-negative", OK, lambda: _dicom_bytes(PixelSpacing=[-0.1, -0.1]))
    add("spacing-nan", OK, lambda: _dicom_bytes(PixelSpacing=["NaN", "NaN"]))
    add("spacing-one-value", OK, lambda: _dicom_bytes(PixelSpacing="0.2"))
    add("spacing-huge", OK, lambda: _dicom_bytes(PixelSpacing=[1e30, 1e30]))
    add("window-nan", OK, lambda: _dicom_bytes(WindowCenter="NaN", WindowWidth="NaN"))
    add("window-zero-width", OK, lambda: _dicom_bytes(WindowCenter=100, WindowWidth=0))
    add("rescale-nan", ERROR, lambda: _dicom_bytes(RescaleSlope="NaN", RescaleIntercept=0))
    add("multi-frame-3", OK, lambda: _dicom_bytes(frames=3))
    add("colour-rgb", OK, lambda: _dicom_bytes(bits=8, samples=3, photometric="RGB"))
    add("colour-mislabelled-grey", EITHER, lambda: _dicom_bytes(bits=8, samples=3, photometric="MONOCHROME2"))
    add("photometric-unknown", EITHER, lambda: _dicom_bytes(photometric="XYZ"))
    add("burned-in-annotation", OK, lambda: _dicom_bytes(BurnedInAnnotation="YES"))
    # Empty, non-images with image names, raw garbage.
    add("empty-dcm", ERROR, b"")
    add("text-as-dcm", ERROR, b"hello, this is not an image\n" * 20)
    add("html-as-dcm", ERROR, b"<html><body>404 not found</body></html>")
    add("zip-as-dcm", ERROR, b"PK\x03\x04" + b"\0" * 300)
    add("preamble-only", ERROR, b"\0" * 128 + b"DICM")
    add("random-bytes", ERROR, bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    return cases


def _raster_corpus() -> list[tuple[str, str, object]]:
    cases: list[tuple[str, str, object]] = []
    add = lambda name, expect, data: cases.append((name, expect, data))  # noqa: E731
    grey = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) % 251).astype(np.uint8)
    png = _png_bytes(grey)
    for off in (1, 8, 16, 20, 33, 40, len(png) // 2, len(png) - 12, len(png) - 1):
        add(f"png-truncated-{off}", ERROR if off < len(png) - 12 else EITHER, png[:off])
    for off in (12, 16, 19, 24, 29, 37, 45, len(png) // 2):
        add(f"png-bitflip-{off}", EITHER, _flip(png, off))
    add("png-empty", ERROR, b"")
    add("png-text", ERROR, b"not a png at all")
    add("png-dicom-inside", OK, lambda: _dicom_bytes())  # misnamed DICOM still loads: content decides
    add("png-bomb-16000", ERROR, lambda: _png_bomb(16000))
    add("png-header-30000x30000", ERROR, lambda: _png_header_only(30000, 30000))
    add("png-header-65535x1", ERROR, lambda: _png_header_only(65535, 65535))
    add("png-header-0x0", ERROR, lambda: _png_header_only(0, 0))
    add("png-16bit", OK, lambda: _png_bytes(image=Image.fromarray(grey.astype(np.uint16) * 257)))
    add("png-palette", OK, lambda: _png_bytes(image=Image.fromarray(grey).convert("P")))
    add("png-palette-rgb", OK, lambda: _png_bytes(image=Image.fromarray(np.stack([grey] * 3, -1)).convert("P", palette=Image.Palette.ADAPTIVE)))
    add("png-1bit", OK, lambda: _png_bytes(image=Image.fromarray(grey > 100)))
    add("png-la", OK, lambda: _png_bytes(image=Image.fromarray(grey).convert("LA")))
    add("png-rgba", OK, lambda: _png_bytes(image=Image.fromarray(grey).convert("RGBA")))
    add("jpeg-truncated", EITHER, lambda: _jpeg(grey)[:200])
    add("jpeg-ok", OK, lambda: _jpeg(grey))
    add("tiff-garbage", ERROR, b"II*\x00" + b"\xff" * 200)
    add("bmp-garbage", ERROR, b"BM" + b"\xff" * 200)
    return cases


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


DICOM_CASES = _corpus()
RASTER_CASES = _raster_corpus()
ALL_CASES = [(f"dcm:{n}", ".dcm", e, d) for n, e, d in DICOM_CASES] + [(f"png:{n}", ".png", e, d) for n, e, d in RASTER_CASES]


def _materialise(tmp_path: Path, name: str, suffix: str, data) -> Path:
    path = tmp_path / (name.replace(":", "_").replace("/", "_")[:80] + suffix)
    path.write_bytes(data() if callable(data) else data)
    return path


def test_corpus_is_large_enough():
    """At least 200 cases with the shared DICOMs beside the checkout; the bundled sample alone makes
    189 (the corpus grows with every real file found)."""
    assert len(ALL_CASES) >= (200 if len(_real_dicoms()) > 1 else 180), len(ALL_CASES)


@pytest.mark.parametrize(("name", "suffix", "expect", "data"), ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_hostile_image(tmp_path, name, suffix, expect, data):
    path = _materialise(tmp_path, name, suffix, data)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        try:
            result = load_image(path)
        except ImageLoadError as exc:
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < MEMORY_LIMIT, f"{name}: {peak / 2**20:.0f} MB allocated"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the input file was changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "loading wrote files"
    if isinstance(result, ImageLoadError):
        assert expect != OK, f"{name} should load: {result}"
        message = str(result)
        assert message and "\n" not in message and len(message) < 600
        assert message.startswith(path.name)
        assert "Traceback" not in message
    else:
        assert expect != ERROR, f"{name} should be refused, loaded {result.pixels.shape}"
        assert isinstance(result, Radiograph)
        assert result.pixels.ndim == 2 and result.pixels.size > 0
        assert np.isfinite(result.pixels).all()
        if result.spacing is not None:
            assert all(np.isfinite(v) and v > 0 for v in result.spacing)


def test_valid_oddities_load_as_expected(tmp_path):
    """Spot checks on what the "ok" cases produce, not only that they load."""
    cases = {n: d for n, _, d in DICOM_CASES + RASTER_CASES}
    mono1 = load_image(_materialise(tmp_path, "m1", ".dcm", cases["monochrome1-no-window"]))
    assert mono1.invert_display and mono1.window[1] > 0
    assert load_image(_materialise(tmp_path, "sp0", ".dcm", cases["spacing-zero"])).spacing is None
    assert load_image(_materialise(tmp_path, "spn", ".dcm", cases["spacing-nan"])).spacing is None
    assert load_image(_materialise(tmp_path, "mf", ".dcm", cases["multi-frame-3"])).metadata["n_frames"] == 3
    sixteen = load_image(_materialise(tmp_path, "p16", ".png", cases["png-16bit"]))
    assert sixteen.metadata["bits_stored"] == 16 and sixteen.pixels.max() > 255
    assert load_image(_materialise(tmp_path, "pal", ".png", cases["png-palette"])).pixels.shape == (48, 64)


# -- the command line on a sample of the corpus ------------------------------------------

CLI_SAMPLE = ["dcm:empty-dcm", "dcm:text-as-dcm", "dcm:bomb-rows65535-cols65535", "dcm:pixels-short-half",
              "png:png-bomb-16000", "png:png-truncated-33", f"dcm:{SAMPLE.stem}-truncated-400"]


@pytest.fixture(scope="module")
def loaded_predictor():
    from core.inference import Predictor

    return Predictor("chest6", device="cpu")


def _case(name):
    return next(c for c in ALL_CASES if c[0] == name)


@pytest.mark.parametrize("name", CLI_SAMPLE)
def test_cli_predict_refuses_with_one_line(tmp_path, capsys, monkeypatch, loaded_predictor, name):
    from core import cli

    # Load the model once for the module; the CLI constructs a Predictor per call.
    monkeypatch.setattr("core.inference.Predictor", lambda *a, **k: loaded_predictor)
    _, suffix, _, data = _case(name)
    path = _materialise(tmp_path, name, suffix, data)
    code = cli.main(["predict", str(path), "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anatomark: ") and "Traceback" not in err
    assert path.name in lines[0]


def test_cli_predict_mixed_batch_reports_each_bad_file(tmp_path, capsys, monkeypatch, loaded_predictor):
    from core import cli

    monkeypatch.setattr("core.inference.Predictor", lambda *a, **k: loaded_predictor)
    bad = [_materialise(tmp_path, n, s, d) for n, s, _, d in (_case("dcm:empty-dcm"), _case("png:png-text"))]
    code = cli.main(["predict", str(SAMPLE), *map(str, bad), "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 2 and "Traceback" not in err
    assert '"landmarks"' in out  # the good image was still predicted


@pytest.mark.parametrize("name", ["dcm:empty-dcm", "dcm:bomb-rows65535-cols65535", "png:png-bomb-16000"])
def test_cli_subprocess_exit_2_one_line(tmp_path, name):
    _, suffix, _, data = _case(name)
    path = _materialise(tmp_path, name, suffix, data)
    proc = subprocess.run([sys.executable, "-m", "core.cli", "predict", str(path), "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_colour_png_too_big_to_decode_is_refused_before_decoding(tmp_path):
    """Issue 18: a 144-MP RGB PNG passed every size check (Pillow only warns below 179 MP) and took
    gigabytes to decode. Its header alone now says it is too large."""
    from core.imaging import ImageLoadError, load_image
    from core.imaging.raster import MAX_DECODED_BYTES, decoded_bytes

    ihdr = struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0, 0, 0)  # 8-bit RGB
    path = tmp_path / "huge-rgb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b""))
    with pytest.raises(ImageLoadError, match="too large to decode safely .*12000×12000 RGB"):
        load_image(path)
    assert decoded_bytes(12000, 12000, "RGB") > MAX_DECODED_BYTES
    assert decoded_bytes(9000, 9000, "I;16") < MAX_DECODED_BYTES  # an 81-MP 16-bit film still opens
