"""The patch stage at a physical scale (docs/adr/0006-physical-fine-grid.md).

A unit with another detector pitch stores the same skull in more or fewer pixels. The patch
network learned anatomy at one size; ``geometry.fine_grid`` resamples every image's fine grid to
that size when the image's spacing is known, in training and inference alike.
"""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from core.card_checks import CardError, check_card
from core.inference import Predictor
from core.modelfile import read_card
from core.resources import resolve_model
from core.training.datasets import Sample, load_dataset
from core.geometry import MAX_PHYSICAL_RESCALE, fine_grid
from core.training.samplers import cache_images, physical_fine_mm


def test_fine_grid_is_relative_without_a_spacing_or_a_physical_model() -> None:
    assert fine_grid((1200, 968), 0.5) == (600, 484)
    assert fine_grid((1200, 968), 0.5, spacing=(0.1, 0.1)) == (600, 484)  # a model without fine_mm_per_px
    assert fine_grid((1200, 968), 0.5, spacing=None, fine_mm_per_px=0.4) == (600, 484)


def test_fine_grid_follows_the_spacing() -> None:
    # 0.2 mm/px (the training site): the same grid as the relative one.
    assert fine_grid((1200, 968), 0.5, (0.2, 0.2), 0.4) == (600, 484)
    # 0.1 mm/px (twice the pixels): the same physical grid, so the same grid size.
    assert fine_grid((2400, 1936), 0.5, (0.1, 0.1), 0.4) == (600, 484)
    # Anisotropic pixels become square millimetres: (x, y) spacing, (H, W) shape.
    assert fine_grid((1000, 1000), 0.5, (0.2, 0.4), 0.4) == (1000, 500)


def test_an_absurd_spacing_is_bounded() -> None:
    """A wrong header (1e-6 mm or 50 mm per pixel) must not make a huge or a one-pixel grid."""
    assert fine_grid((1000, 1000), 0.5, (50.0, 50.0), 0.4) == (round(1000 * 0.5 * MAX_PHYSICAL_RESCALE),) * 2
    assert fine_grid((1000, 1000), 0.5, (1e-6, 1e-6), 0.4) == (round(1000 * 0.5 / MAX_PHYSICAL_RESCALE),) * 2


def _sample(tmp_path, spacing) -> Sample:
    path = tmp_path / f"im{len(list(tmp_path.iterdir()))}.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 160), dtype=np.uint8)).save(path)
    return Sample(id=path.stem, image_path=path, points=np.array([[10.0, 20.0]]), spacing=spacing)


def test_physical_fine_mm_needs_every_spacing(tmp_path) -> None:
    assert physical_fine_mm([_sample(tmp_path, (0.2, 0.2)), _sample(tmp_path, (0.1, 0.1)), _sample(tmp_path, (0.2, 0.2))], 0.5) == pytest.approx(0.4)
    assert physical_fine_mm([_sample(tmp_path, (0.2, 0.2)), _sample(tmp_path, None)], 0.5) is None
    assert physical_fine_mm([], 0.5) is None


def test_training_caches_the_grid_inference_uses(tmp_path) -> None:
    sample = _sample(tmp_path, (0.1, 0.1))
    [item] = cache_images([sample], (32, 32), 0.5, fine_mm_per_px=0.4)
    assert tuple(item.fine.shape[-2:]) == fine_grid((200, 160), 0.5, (0.1, 0.1), 0.4) == (50, 40)
    [relative] = cache_images([sample], (32, 32), 0.5)
    assert tuple(relative.fine.shape[-2:]) == (100, 80)


def test_a_card_with_a_bad_physical_scale_is_refused() -> None:
    card = read_card(resolve_model("ceph19"))
    assert card["architecture"]["patch"]["fine_mm_per_px"] == pytest.approx(0.4)  # 0.2 mm/px images at 0.5
    card["architecture"]["patch"]["fine_mm_per_px"] = 0.0
    with pytest.raises(CardError, match="fine_mm_per_px"):
        check_card(card, 19)


@pytest.fixture(scope="module")
def ceph_predictor() -> Predictor:
    return Predictor("ceph19", "cpu")


def test_a_finer_detector_gives_the_same_points(ceph_predictor, shared_data, tmp_path) -> None:
    """The same cephalogram stored at twice the pixels (0.1 mm/px, the ISBI originals' pitch): with
    its spacing the points match the 0.2-mm image's within a fraction of a millimetre. At a fixed
    fine_scale (before) the patch stage saw the skull twice its trained size: +38 % error on test1."""
    data = load_dataset(shared_data / "ceph_isbi2015", "test1")
    errors_physical, errors_relative = [], []
    for sample in data.samples[:3]:
        image = Image.open(sample.image_path).convert("L")
        big = tmp_path / f"{sample.id}_x2.png"
        image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC).save(big)
        truth = (sample.points + 0.5) * 2 - 0.5
        physical = ceph_predictor.predict(big, spacing=(0.1, 0.1)).points
        relative = ceph_predictor.predict(big).points  # a PNG says nothing about its spacing
        errors_physical.append(np.linalg.norm(physical - truth, axis=1).mean() * 0.1)
        errors_relative.append(np.linalg.norm(relative - truth, axis=1).mean() * 0.1)
        original = ceph_predictor.predict(sample.image_path, spacing=sample.spacing).points
        assert np.median(np.linalg.norm((physical + 0.5) / 2 - 0.5 - original, axis=1)) * 0.2 < 0.3  # mm
    assert np.mean(errors_physical) < np.mean(errors_relative)


def test_a_spacing_from_the_table_wins_over_the_file(ceph_predictor, shared_data) -> None:
    sample = load_dataset(shared_data / "ceph_isbi2015", "test1").samples[0]
    prediction = ceph_predictor.predict(sample.image_path, spacing=(0.2, 0.2))
    assert prediction.spacing == (0.2, 0.2)
    assert prediction.region_mm is not None  # the regions in mm follow the spacing given
    assert ceph_predictor.predict(sample.image_path).spacing is None  # a JPEG has none


def test_cli_predict_takes_a_spacing(shared_data, capsys) -> None:
    from core.cli import main

    image = str(shared_data / "ceph_isbi2015" / "images" / "151.jpg")
    assert main(["predict", image, "--model", "ceph19", "--spacing", "0.2", "--json"]) == 0
    out = capsys.readouterr().out
    import json

    record = json.loads(out)
    record = record[0] if isinstance(record, list) else record
    assert record["spacing_mm"] == [0.2, 0.2]


@pytest.mark.parametrize("bad", ["0", "-0.1", "nan", "inf", "0.1,0.2,0.3", "abc", "1e9"])
def test_cli_predict_refuses_a_bad_spacing_in_one_line(bad, capsys) -> None:
    from core.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["predict", "x.png", "--spacing", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "is not a spacing" in err and "Traceback" not in err
