"""12-bit JPEG Extended (DICOM transfer syntax 1.2.840.10008.1.2.4.51) through imagecodecs.

None of pydicom's decoders reads real 12-bit lossy JPEG radiographs: Pillow and
pydicom's GDCM plugin refuse the precision ("Unsupported JPEG data precision 12",
python-gdcm 3.0 checked on RG2_JPLY.dcm) and pylibjpeg fails on the SOS header.
libjpeg-turbo 3 decodes 12-bit lossy JPEG, and imagecodecs ships it: the optional
extra ``pip install "anatomark[jpeg12]"`` installs it (26 MB wheel, so not a
default dependency). Output is identical to DCMTK's ``dcmdjpeg`` on RG2_JPLY.dcm.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragmented_frames

#: What to run to get the decoder; the load error quotes it verbatim.
INSTALL = 'pip install "anatomark[jpeg12]"'


def available() -> bool:
    """Whether imagecodecs (with its JPEG 8/12-bit codec) can be imported here."""
    try:
        import imagecodecs
    except ImportError:
        return False
    return hasattr(imagecodecs, "jpeg8_decode")


def decode_first_frame(ds: Dataset, n_frames: int) -> np.ndarray:
    """Frame 0 of a JPEG Extended data set as (H, W) integers.

    Raises ImportError without imagecodecs, ValueError when the decoded frame does
    not match Rows × Columns (a truncated or mislabelled file), and imagecodecs'
    own errors for corrupt JPEG data.
    """
    import imagecodecs

    fragments = next(generate_fragmented_frames(ds.PixelData, number_of_frames=max(n_frames, 1)))
    data = b"".join(fragments)
    if not data.rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
        # libjpeg-turbo fills a cut-off frame with grey and only warns: refuse it here instead
        raise ValueError("the JPEG frame is truncated (no end-of-image marker)")
    arr = np.asarray(imagecodecs.jpeg8_decode(data))
    rows, cols = int(ds.Rows), int(ds.Columns)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.shape[:2] != (rows, cols):
        raise ValueError(f"the JPEG frame is {arr.shape[1]}×{arr.shape[0]}, the header says {cols}×{rows}")
    return arr
