"""The bundled models: their files pass the safety checks and they work on real radiographs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.inference import Predictor
from core.model_card import list_models
from core.modelfile import load_model
from core.resources import resolve_model
from core.resources import samples_dir
from core.schema import load_schema
from core.training.datasets import load_dataset

BUNDLED = ("chest6", "ceph19", "chest6-seg")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_card_says_what_it_is(name: str) -> None:
    loaded = load_model(resolve_model(name), expected_schema=load_schema(name.split("-")[0]))
    card = loaded.card
    assert card["intended_use"] == "research use, not for clinical decisions"
    assert card["training"]["global"]["data"]["n_train"] > 100
    assert card["metrics"], "bundled models carry their measured metrics"
    assert loaded.patch_net is not None


@pytest.fixture(scope="module")
def chest_predictor() -> Predictor:
    return Predictor("chest6", "cpu")


def test_chest_model_on_held_out_radiographs(chest_predictor: Predictor, shared_data) -> None:
    """A handful of validation images: the model must land near the experts' points."""
    dataset = load_dataset(shared_data / "chest_jsrt", "val")
    samples = dataset.samples[:4]
    errors = [np.linalg.norm(chest_predictor.predict(s.image_path).points - s.points, axis=-1) for s in samples]
    assert float(np.mean(errors)) < 20.0  # px in the 1024² images; the full val MRE is in the model card


def test_segmenting_chest_model_draws_lungs_and_heart(shared_data) -> None:
    """chest6-seg segments: lung and heart masks at image size that overlap the experts' outlines
    (the full-split Dice is in the model card)."""
    from core.training.masks import prediction_dice

    chest_predictor = Predictor("chest6-seg", "cpu")
    dataset = load_dataset(shared_data / "chest_jsrt", "val")
    dice = []
    for sample in dataset.samples[:3]:
        prediction = chest_predictor.predict(sample.image_path)
        assert prediction.masks is not None and prediction.masks.shape[1:] == prediction.image_size
        dice.append(prediction_dice(prediction.masks, prediction.mask_classes, sample.mask_path, chest_predictor.schema))
    for name, floor in (("right_lung", 0.9), ("left_lung", 0.9), ("heart", 0.85)):
        assert float(np.mean([d[name] for d in dice])) > floor, name


def test_ceph_model_on_held_out_cephalograms(shared_data) -> None:
    predictor = Predictor("ceph19", "cpu")
    dataset = load_dataset(shared_data / "ceph_isbi2015", "test1")
    samples = dataset.samples[:3]
    errors = [np.linalg.norm(predictor.predict(s.image_path).points - s.points, axis=-1) * 0.2 for s in samples]
    assert float(np.mean(errors)) < 3.0  # mm; the full test1 figures are in the model card


def test_bundled_sample_dicom_is_predicted(chest_predictor: Predictor) -> None:
    prediction = chest_predictor.predict(samples_dir() / "chest_RG1.dcm")
    h, w = prediction.image_size
    assert (h, w) == (1955, 1841)
    assert np.all((prediction.points >= 0) & (prediction.points < [w, h]))
    names = prediction.landmarks
    right_apex, left_apex = prediction.points[names.index("R_apex")], prediction.points[names.index("L_apex")]
    assert right_apex[0] < left_apex[0], "the patient's right lung is on the image's left"
    right_base = prediction.points[names.index("R_costophrenic")]
    assert right_base[1] > right_apex[1] + h / 3


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_cards_carry_a_checked_conformal_calibration(name: str) -> None:
    """90 % regions calibrated on held-out images, with the coverage measured on other images."""
    loaded = load_model(resolve_model(name))
    conf = loaded.card["uncertainty"]["conformal"]
    assert conf["alpha"] == 0.1 and conf["n"] >= 20 and None not in conf["quantiles"]
    check = loaded.card["uncertainty"]["coverage_check"]
    assert check["nominal"] == 0.9 and 0.8 <= check["observed"] <= 1.0


def test_bundled_prediction_has_regions(chest_predictor: Predictor) -> None:
    prediction = chest_predictor.predict(samples_dir() / "chest_RG1.dcm")
    assert prediction.coverage == pytest.approx(0.9)
    assert prediction.region_px.shape == (6, 3) and np.isfinite(prediction.region_px).all()
    assert (prediction.region_px[:, 1] > 0).all() and (prediction.region_px[:, 0] < 300).all()  # px, 1955×1841 image


def test_models_command_lists_both(capsys) -> None:
    assert main(["models", "--json"]) == 0
    listed = {c["name"] for c in json.loads(capsys.readouterr().out)}
    assert set(BUNDLED) <= listed
    assert all("error" not in c for c in list_models())


def _undecodable() -> set[str]:
    """The sample DICOMs no decoder here reads: the 12-bit JPEG without the jpeg12 extra."""
    from core.imaging import jpeg12

    return set() if jpeg12.available() else {"RG2_JPLY.dcm"}


def test_predict_every_real_dicom(shared_data, capsys) -> None:
    """Points for each decodable file with ``--model chest6`` (the hips and extremities with a
    warning that they may not be chests); without the jpeg12 extra JPEG extended 12-bit is refused
    by name, exit 2; with it (the dev extra installs it) every file is predicted."""
    files = sorted((shared_data / "dicom").glob("RG*.dcm"))
    assert files
    code = main(["predict", *map(str, files), "--model", "chest6", "--json"])
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    decoded = {r["image"].rsplit("/", 1)[-1] for r in results}
    assert decoded == {f.name for f in files} - _undecodable()
    assert all(len(r["landmarks"]) == 6 for r in results)
    errors = [line for line in captured.err.splitlines() if "warning:" not in line]
    if _undecodable():
        assert code == 2 and len(errors) == 1 and "1.2.840.10008.1.2.4.51" in errors[0]
    else:
        assert code == 0 and errors == []
    warned = {r["image"].rsplit("/", 1)[-1] for r in results if r["warnings"]}
    assert warned == {f.name for f in files if f.name.startswith(("RG2", "RG3"))} - _undecodable()


def test_predict_without_a_model_takes_the_chests_and_refuses_the_rest(shared_data, capsys) -> None:
    files = sorted((shared_data / "dicom").glob("RG*.dcm"))
    code = main(["predict", *map(str, files), "--json"])
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert {r["image"].rsplit("/", 1)[-1] for r in results} == {f.name for f in files if f.name.startswith("RG1")}
    assert all(r["model"].startswith("chest6@") for r in results)
    assert code == 2
    refused = [line for line in captured.err.splitlines() if "no bundled model fits this image" in line]
    # the hips and extremities (RG2_JPLY, a hip, only where the jpeg12 extra decodes it)
    assert len(refused) == 5 - len(_undecodable())
