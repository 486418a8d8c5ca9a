"""A project stores a prediction whole (issue 20): regions, coverage, decoder and anatomy fit read
back as they were stored; files of before open without them; damaged columns are refused."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from core.prediction import Prediction
from core.project import ImageRecord, Project, ProjectError
from project_support import CHEST6, R_APEX, make_prediction


def _png(tmp_path: Path, noise: bool = False) -> Path:
    png = tmp_path / "x.png"
    pixels = np.random.default_rng(0).integers(0, 255, (60, 50), dtype=np.uint8) if noise else np.zeros((60, 50), np.uint8)
    Image.fromarray(pixels).save(png)
    return png


def _saved_with_whole_prediction(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A saved project of one image with a :func:`_whole_prediction` stored; (path, image id)."""
    path = tmp_path / name
    with Project.create(path, CHEST6, user="alice") as p:
        image = p.add_image(_png(tmp_path))
        p.store_prediction(image.id, _whole_prediction(image))
        p.save()
    return path, image.id


def _whole_prediction(image: ImageRecord) -> Prediction:
    """A prediction with everything a model can say: regions (one unbounded), mm regions, a decoder
    other than the default, and an anatomy fit."""
    from dataclasses import replace

    from core.anatomy import AnatomyFit

    base = make_prediction(image, masks=True)
    k = len(base.landmarks)
    region = np.column_stack([np.linspace(3, 9, k), np.linspace(2, 5, k), np.linspace(-80, 80, k)])
    region[1] = [np.inf, np.inf, 0.0]  # too few calibration images for this landmark: unbounded
    return replace(base, region_px=region, coverage=0.9, region_mm=region * 0.1, decoder="local_soft_argmax",
                   anatomy=AnatomyFit("chest6@test", "chest6", 0.012, 0.01), timings_ms={"total": 12.0})


def test_a_prediction_is_stored_whole_and_reads_back_the_same(tmp_path):
    """One Prediction from the model to the file and back: regions, coverage, decoder and anatomy fit
    survive a save and reopen, so the viewer draws the regions without the model card; a summary
    (``heatmaps=False``) reads no arrays from the file."""
    path = tmp_path / "whole.anatomark"
    with Project.create(path, CHEST6, user="alice") as p:
        image = p.add_image(_png(tmp_path, noise=True))
        sent = _whole_prediction(image)
        p.store_prediction(image.id, sent)
        before = p.prediction(image.id)
        p.save()
    with Project.open(path) as q:
        got = q.prediction(image.id)
        summary = q.prediction(image.id, heatmaps=False)
    for stored in (before, got):
        assert isinstance(stored, Prediction) and stored.created and stored.timings_ms == {}
        assert (stored.model_id, stored.schema, stored.landmarks, stored.image_size) == (
            sent.model_id, sent.schema, tuple(sent.landmarks), tuple(sent.image_size))
        np.testing.assert_array_equal(stored.region_px, sent.region_px)
        np.testing.assert_array_equal(stored.region_mm, sent.region_mm)
        assert stored.coverage == 0.9 and stored.decoder == "local_soft_argmax" and stored.anatomy == sent.anatomy
        assert stored.masks is not None and stored.heatmaps is not None
    assert summary.heatmaps is None and summary.masks is None and summary.created == got.created
    np.testing.assert_array_equal(summary.points, got.points)
    assert got.to_dict()["landmarks"][1]["region_px"] is None  # the unbounded one, as before the save


def test_a_project_file_of_before_whole_predictions_still_opens(tmp_path):
    """A file written before regions, decoder and anatomy were stored opens with none of them and
    the default decoder, and writes them (empty) at the next save."""
    path, image_id = _saved_with_whole_prediction(tmp_path, "old.anatomark")
    with h5py.File(path, "r+") as f:
        for name in ("region_px", "region_mm", "coverage", "decoder", "anatomy"):
            del f["predictions"][name]
    with Project.open(path) as q:
        got = q.prediction(image_id)
        assert got.region_px is None and got.coverage is None and got.region_mm is None
        assert got.decoder == "soft_argmax" and got.anatomy is None and got.heatmaps is not None
        q.set_point(image_id, R_APEX, 10.0, 10.0)
        q.save()
    with h5py.File(path, "r") as f:
        assert np.isnan(f["predictions/coverage"][()]).all()


@pytest.mark.parametrize("damage", ["coverage_shape", "region_shape", "anatomy_garbage"])
def test_damaged_stored_regions_are_refused_or_dropped(tmp_path, damage):
    """Misshapen region arrays make the file damaged (one line, nothing changed); an anatomy fit that
    does not parse is a cache entry and is dropped."""
    path, image_id = _saved_with_whole_prediction(tmp_path, "bad.anatomark")
    with h5py.File(path, "r+") as f:
        g = f["predictions"]
        if damage == "coverage_shape":
            del g["coverage"]
            g["coverage"] = np.zeros((3,))
        elif damage == "region_shape":
            del g["region_px"]
            g["region_px"] = np.zeros((1, 2, 3))
        else:
            g["anatomy"][0] = '{"model": 3'
    before = path.read_bytes()
    if damage == "anatomy_garbage":
        with Project.open(path) as q:
            assert q.prediction(image_id).anatomy is None and q.prediction(image_id).coverage == 0.9
        return
    with pytest.raises(ProjectError, match="damaged project file") as info:
        Project.open(path)
    assert "\n" not in str(info.value) and path.read_bytes() == before
