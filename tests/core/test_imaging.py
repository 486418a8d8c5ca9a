"""Image loading: real DICOM files from ../shared/data, generated rasters and DICOMs, and failures.

The real files (pydicom's test data, MIT) are read from ``shared_data_dir()``;
tests that need them skip with the reason when the folder is absent.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from core.imaging import SUPPORTED_SUFFIXES, ImageLoadError, Radiograph, load_image
from core.resources import shared_data_dir

RG1 = ["RG1_UNCR.dcm", "RG1_J2KR.dcm", "RG1_J2KI.dcm", "RG1_JLSN.dcm"]
DECODABLE = RG1 + ["RG2_JLSL.dcm", "RG2_JPLL.dcm", "RG3_J2KR.dcm", "RG3_J2KI.dcm", "mlut_18.dcm", "vlut_04.dcm"]
IDENTIFYING = [
    "PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
    "InstitutionAddress", "ReferringPhysicianName", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "StudyID", "OperatorsName", "PerformingPhysicianName",
]


def shared_file(*parts: str) -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared research data not found (../shared/data beside the checkout, or ANATOMARK_DATA)")
    path = root.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"shared data file missing: {path}")
    return path


def load_error(path: Path, *fragments: str) -> ImageLoadError:
    """Load ``path`` expecting ImageLoadError with a one-line message containing ``fragments``."""
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    err = info.value
    msg = str(err)
    assert "\n" not in msg and "\r" not in msg
    assert msg.startswith(f"{path.name}: ")
    assert err.path == path
    for fragment in fragments:
        assert fragment in msg, msg
    return err


@pytest.fixture(scope="module")
def rg1_reference() -> Radiograph:
    return load_image(shared_file("dicom", "RG1_UNCR.dcm"))


# --- real DICOM files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", RG1)
def test_rg1_variants_decode(name: str, rg1_reference: Radiograph) -> None:
    r = load_image(shared_file("dicom", name))
    assert r.shape == (1955, 1841)  # Rows 1955 × Columns 1841
    assert (r.height, r.width) == (r.metadata["rows"], r.metadata["columns"]) == (1955, 1841)
    assert r.pixels.dtype == np.float32
    assert r.spacing is None  # PixelSpacing is 0\0
    assert "spacing_source" not in r.metadata
    assert r.invert_display and r.metadata["photometric_interpretation"] == "MONOCHROME1"
    assert r.window == (15000.0, 30000.0) and r.metadata["window_source"] == "WindowCenterWidth"
    diff = np.abs(r.pixels - rg1_reference.pixels)
    if name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        assert diff.max() == 0  # lossless
    elif name == "RG1_JLSN.dcm":
        assert diff.max() <= 10  # near-lossless: bounded error
    else:
        assert diff.mean() < 0.005 * 30000  # lossy JPEG 2000: close on average
        assert np.corrcoef(r.pixels.ravel()[::101], rg1_reference.pixels.ravel()[::101])[0, 1] > 0.999


@pytest.mark.parametrize("name", ["RG2_JLSL.dcm", "RG2_JPLL.dcm"])
def test_rg2_lossless_with_spacing(name: str) -> None:
    r = load_image(shared_file("dicom", name))
    assert r.shape == (2140, 1760)
    assert r.spacing == (0.2, 0.2)
    assert r.metadata["spacing_source"] == "PixelSpacing"
    assert not r.invert_display
    assert 0 <= r.pixels.min() and r.pixels.max() <= 1023  # 10 bits stored


def test_rg2_jpeg12_without_the_extra_names_the_install_command(monkeypatch) -> None:
    """Pillow, pydicom's GDCM plugin and pylibjpeg cannot read 12-bit JPEG Extended: without the
    jpeg12 extra the message names the transfer syntax and the command that installs a decoder."""
    from core.imaging import jpeg12

    monkeypatch.setattr(jpeg12, "available", lambda: False)
    path = shared_file("dicom", "RG2_JPLY.dcm")
    err = load_error(path, "JPEG Extended (Process 2 and 4)", "1.2.840.10008.1.2.4.51",
                     'pip install "anatomark[jpeg12]"', "dcmdjpeg IN.dcm OUT.dcm")
    assert str(err).count("RG2_JPLY.dcm") == 1  # the file is named once
    assert err.__cause__ is not None  # the decoder's own error is kept for logs


def test_rg2_jpeg12_with_the_extra_decodes_as_dcmtk_does(tmp_path) -> None:
    """With imagecodecs (``anatomark[jpeg12]``) the 12-bit file decodes to the same values as
    DCMTK's dcmdjpeg, the reference decoder."""
    import shutil
    import subprocess

    from core.imaging import jpeg12

    if not jpeg12.available():
        pytest.skip('imagecodecs is not installed (pip install "anatomark[jpeg12]"; the dev extra has it)')
    path = shared_file("dicom", "RG2_JPLY.dcm")
    r = load_image(path)
    assert r.shape == (2140, 1760) and r.spacing == (0.2, 0.2)
    assert 0 <= r.pixels.min() and r.pixels.max() <= 1023  # 10 bits stored
    if shutil.which("dcmdjpeg") is None:
        pytest.skip("DCMTK's dcmdjpeg is not installed (Debian package dcmtk; .ci/run installs it)")
    out = tmp_path / "RG2_plain.dcm"
    subprocess.run(["dcmdjpeg", str(path), str(out)], check=True, capture_output=True, timeout=120)
    np.testing.assert_array_equal(load_image(out).pixels, r.pixels)


def test_damaged_jpeg12_data_is_one_line(tmp_path) -> None:
    """A 12-bit JPEG frame cut short says the data is damaged (with the extra) instead of crashing."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_fragmented_frames

    from core.imaging import jpeg12

    if not jpeg12.available():
        pytest.skip('imagecodecs is not installed (pip install "anatomark[jpeg12]")')
    ds = pydicom.dcmread(shared_file("dicom", "RG2_JPLY.dcm"))
    frame = b"".join(next(generate_fragmented_frames(ds.PixelData, number_of_frames=1)))
    for name, data in (("cut.dcm", frame[: len(frame) // 2]),  # lenient decoders fill this with grey
                       ("garbled.dcm", frame[:2] + bytes(200) + frame[202:])):
        ds.PixelData = encapsulate([data + b"\x00" * (len(data) % 2)])
        ds.save_as(tmp_path / name)
        load_error(tmp_path / name, "1.2.840.10008.1.2.4.51", "damaged")


def test_rg3_monochrome1_without_spacing() -> None:
    r = load_image(shared_file("dicom", "RG3_J2KR.dcm"))
    assert r.shape == (1760, 1760) and r.spacing is None and r.invert_display


def test_monochrome1_display_has_bones_bright(rg1_reference: Radiograph) -> None:
    r = rg1_reference
    shown = r.display_normalised()
    assert shown.dtype == np.float32 and shown.shape == r.shape
    assert 0.0 <= shown.min() and shown.max() <= 1.0 and 0.0 < shown.mean() < 1.0
    h, w = r.shape
    band = slice(int(0.35 * h), int(0.55 * h))

    def lungs_and_spine(img: np.ndarray) -> tuple[float, float]:
        lungs = (img[band, int(0.2 * w) : int(0.35 * w)].mean() + img[band, int(0.65 * w) : int(0.8 * w)].mean()) / 2
        return float(lungs), float(img[band, int(0.45 * w) : int(0.55 * w)].mean())

    lungs, spine = lungs_and_spine(shown)
    assert lungs < spine  # lungs dark, spine/mediastinum bright
    raw = Radiograph(pixels=r.pixels, window=r.window, invert_display=False).display_normalised()
    np.testing.assert_allclose(raw, 1.0 - shown, atol=1e-6)  # the inversion is exactly a flip
    raw_lungs, raw_spine = lungs_and_spine(raw)
    assert raw_lungs > raw_spine


def test_modality_lut_is_applied() -> None:
    path = shared_file("dicom", "mlut_18.dcm")
    r = load_image(path)
    stored = pydicom.dcmread(path).pixel_array
    assert r.metadata["modality_lut"] == "ModalityLUTSequence"
    assert not np.array_equal(r.pixels, stored.astype(np.float32))
    assert r.pixels.min() >= 0 and r.pixels.max() > 4095  # LUT output is 16-bit, stored is 12-bit signed


def test_voi_lut_gives_window() -> None:
    r = load_image(shared_file("dicom", "vlut_04.dcm"))
    assert r.metadata["window_source"] == "VOILUTSequence"
    assert r.window == (127.5, 255.0)  # linear LUT over 0..255
    shown = r.display_normalised()
    assert shown.min() == 0.0 and shown.max() == 1.0


@pytest.mark.parametrize("name", DECODABLE + ["RG2_JPLY.dcm"])
def test_no_patient_identifiers_leak(name: str) -> None:
    path = shared_file("dicom", name)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    try:
        r = load_image(path)
        text = repr(r.metadata)
        keys = " ".join(r.metadata).lower()
        for word in ("patient", "birth", "accession", "institution", "physician", "date", "operator"):
            assert word not in keys
    except ImageLoadError as exc:  # RG2_JPLY: the message must not leak either
        assert name == "RG2_JPLY.dcm"
        text = str(exc)
    allowed = {str(ds.get("Manufacturer", ""))}  # mlut/vlut: manufacturer == institution "OFFIS"
    for keyword in IDENTIFYING:
        value = str(ds.get(keyword, "") or "").strip()
        if len(value) >= 3 and value not in allowed:
            assert value not in text, f"{keyword} leaked"
    assert "CompressedSamples" not in text and "^" not in text


def test_chest_png_from_shared_data() -> None:
    r = load_image(shared_file("chest_jsrt", "images", "JPCLN001.png"))
    assert r.shape == (1024, 1024) and r.spacing is None and not r.invert_display
    np.testing.assert_array_equal(r.display_normalised(), r.pixels / 255.0)


# --- generated DICOM ------------------------------------------------------------------------


def make_dicom(arr: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 16, **tags: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Secret^Person"
    ds.set_pixel_data(arr, photometric, bits)
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def test_generated_dicom_rescale_spacing_order(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = tmp_path / "a.dcm"
    make_dicom(arr, RescaleSlope=2, RescaleIntercept=-5, ImagerPixelSpacing=[0.1, 0.3]).save_as(path)
    r = load_image(path)
    np.testing.assert_array_equal(r.pixels, arr * 2.0 - 5.0)
    assert r.spacing == (0.3, 0.1)  # (row, col) in DICOM -> (x, y) here
    assert r.metadata["spacing_source"] == "ImagerPixelSpacing"
    assert r.metadata["modality_lut"] == "RescaleSlopeIntercept"
    assert "Secret" not in repr(r.metadata)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
@pytest.mark.parametrize("spacing", [[0, 0], [-0.1, 0.1], ["nan", "0.1"], [0.2]])
def test_invalid_pixel_spacing_is_unknown(tmp_path: Path, spacing: list) -> None:
    path = tmp_path / "s.dcm"
    make_dicom(np.zeros((2, 2), np.uint16), PixelSpacing=spacing).save_as(path)
    assert load_image(path).spacing is None


def test_multiframe_uses_first_frame(tmp_path: Path) -> None:
    frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = tmp_path / "mf.dcm"
    make_dicom(frames, bits=12).save_as(path)
    r = load_image(path)
    np.testing.assert_array_equal(r.pixels, frames[0])
    assert r.metadata["n_frames"] == 3


def test_rgb_dicom_becomes_grey(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 200, 50
    path = tmp_path / "rgb.dcm"
    make_dicom(rgb, "RGB", 8).save_as(path)
    r = load_image(path)
    np.testing.assert_allclose(r.pixels, 0.299 * 100 + 0.587 * 200 + 0.114 * 50, rtol=1e-5)
    assert r.window == (127.5, 255.0)


@pytest.mark.parametrize("name", ["raw.dcm", "raw_no_suffix"])
def test_dicom_without_preamble(tmp_path: Path, name: str) -> None:
    arr = np.arange(20, dtype=np.uint16).reshape(4, 5)
    ds = make_dicom(arr)
    del ds.file_meta
    ds.preamble = None
    path = tmp_path / name
    pydicom.dcmwrite(path, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    np.testing.assert_array_equal(load_image(path).pixels, arr)


def test_absurd_dicom_size_refused_before_decoding(tmp_path: Path) -> None:
    ds = make_dicom(np.zeros((2, 2), np.uint16))
    ds.Rows = ds.Columns = 30000
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    load_error(path, "too large", "30000×30000")


def test_dicom_without_pixels(tmp_path: Path) -> None:
    ds = make_dicom(np.zeros((2, 2), np.uint16))
    del ds.PixelData
    path = tmp_path / "nopix.dcm"
    ds.save_as(path)
    load_error(path, "no pixel data")


# --- rasters --------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (37, 53), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (37, 53), dtype=np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_grey8_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"g8{suffix}"
    Image.fromarray(GREY8).save(path)
    r = load_image(path)
    np.testing.assert_array_equal(r.pixels, GREY8)
    assert r.spacing is None and r.window == (127.5, 255.0)
    np.testing.assert_array_equal(r.display_normalised(), GREY8 / np.float32(255))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_grey16_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"g16{suffix}"
    Image.fromarray(GREY16).save(path)
    r = load_image(path)
    np.testing.assert_array_equal(r.pixels, GREY16)
    assert r.metadata["bits_stored"] == 16 and r.metadata["window_source"] == "percentiles"
    shown = r.display_normalised()
    assert shown.min() == 0.0 and shown.max() == 1.0


def test_palette_png(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    im = Image.fromarray(GREY8 // 4).convert("P")  # grey palette
    im.putpalette([v for g in range(256) for v in (g, g, g)])
    im.save(path)
    np.testing.assert_array_equal(load_image(path).pixels, GREY8 // 4)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_png_is_luminance(tmp_path: Path, mode: str) -> None:
    rgb = RNG.integers(0, 256, (37, 53, len(mode)), dtype=np.uint8)
    path = tmp_path / "c.png"
    Image.fromarray(rgb, mode).save(path)
    expected = np.asarray(Image.fromarray(rgb, mode).convert("L"), dtype=np.float32)
    np.testing.assert_allclose(load_image(path).pixels, expected, atol=1.0)  # Pillow rounds


def test_grey_stored_as_rgb_stays_exact(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    Image.fromarray(np.stack([GREY8] * 3, axis=-1)).save(path)
    np.testing.assert_array_equal(load_image(path).pixels, GREY8)


def test_jpeg_round_trip(tmp_path: Path) -> None:
    smooth = np.add.outer(np.arange(64), np.arange(80)).astype(np.uint8)
    path = tmp_path / "j.jpg"
    Image.fromarray(smooth).save(path, quality=95)
    r = load_image(path)
    assert r.shape == (64, 80) and r.metadata["format"] == "JPEG"
    assert np.abs(r.pixels - smooth).mean() < 2.0


def test_jpeg_exif_orientation_applied(tmp_path: Path) -> None:
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(path, exif=exif.tobytes())
    r = load_image(path)
    assert r.shape == (30, 20) and r.metadata["exif_orientation_applied"] == 1


def test_multipage_tiff_first_page(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    pages = [Image.fromarray(GREY8), Image.fromarray(255 - GREY8)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    r = load_image(path)
    np.testing.assert_array_equal(r.pixels, GREY8)
    assert r.metadata["n_frames"] == 2


def test_misnamed_files_load_by_content(tmp_path: Path) -> None:
    png_named_dcm = tmp_path / "really_png.dcm"
    Image.fromarray(GREY8).save(png_named_dcm, format="PNG")
    assert load_image(png_named_dcm).metadata["format"] == "PNG"
    dcm_named_png = tmp_path / "really_dicom.png"
    dcm_named_png.write_bytes(shared_file("dicom", "vlut_04.dcm").read_bytes())
    assert load_image(dcm_named_png).metadata["format"] == "DICOM"


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.png", "empty.dcm", "empty"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    load_error(path, "empty")


@pytest.mark.parametrize("name", ["notes.png", "notes.dcm", "notes.tif", "notes.txt"])
def test_text_file_is_not_an_image(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is not an image\nsecond line\n" * 20)
    load_error(path)


@pytest.mark.parametrize("n_bytes", [1000, 2_000_000])
def test_truncated_dicom(tmp_path: Path, n_bytes: int) -> None:
    path = tmp_path / "truncated.dcm"
    path.write_bytes(shared_file("dicom", "RG1_UNCR.dcm").read_bytes()[:n_bytes])
    load_error(path)


def test_corrupt_png(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    Image.fromarray(GREY8).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:60] + bytes(200))
    load_error(path, "PNG")


def test_decompression_bomb_png(tmp_path: Path) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)  # 1.6 G pixels, 8-bit grey
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    load_error(path, "too large")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    load_error(tmp_path / "nope.png", "not found")
    load_error(tmp_path, "folder")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow/pydicom complain about the junk
@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_only_raise_image_load_error(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    body = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    heads = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"BM", bytes(128) + b"DICM"]
    path = tmp_path / f"junk{SUPPORTED_SUFFIXES[seed % len(SUPPORTED_SUFFIXES)]}"
    path.write_bytes(heads[seed] + body)
    load_error(path)


# --- the data class and the error type ------------------------------------------------------


def test_from_array_and_properties() -> None:
    r = Radiograph.from_array(GREY8, spacing=(0.1, 0.2), source="x.png")
    assert (r.height, r.width, r.shape) == (37, 53, (37, 53))
    assert r.spacing == (0.1, 0.2) and r.source == Path("x.png")
    np.testing.assert_array_equal(r.display_normalised(), GREY8 / np.float32(255))
    f = Radiograph.from_array(np.linspace(-1000, 3000, 37 * 53).reshape(37, 53))
    assert f.pixels.dtype == np.float32 and f.window[1] > 0 and not f.invert_display
    flat = Radiograph.from_array(np.full((4, 4), 7.0))
    assert np.all(flat.display_normalised() == 0.5)
    with pytest.raises(ValueError):
        Radiograph.from_array(np.zeros((3, 3)), spacing=(0.0, 0.1))
    with pytest.raises(ValueError):
        Radiograph.from_array(np.zeros((2, 3, 4, 5)))


def test_image_load_error_is_one_line_and_picklable() -> None:
    err = ImageLoadError("/some/where/x.dcm", "first line\nsecond\tline")
    assert str(err) == "x.dcm: first line second line"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == err.path


def test_supported_suffixes() -> None:
    assert {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"} <= set(SUPPORTED_SUFFIXES)
