"""The typed model card (``core.model_card``): parsed once, torch-free, malformed optional fields
read as their defaults (the card checks that matter ran before)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.metrics import DEFAULT_RADII_MM, DEFAULT_RADII_PX
from core.model_card import ModelCard, bundled_card


def test_bundled_cards_read_typed():
    chest = bundled_card("chest6")
    assert chest is not None and chest.model_id == "chest6@2" and chest.schema_name == "chest6"
    assert chest.inference.decoder == "soft_argmax" and chest.inference.uncertainty_scale > 0
    assert chest.evaluation.reference_long_side == 512 and chest.landmarks[0] == "R_apex"
    assert chest.anatomy is not None and chest.conformal is not None and chest.mask_classes == ()
    seg = bundled_card("chest6-seg")
    assert seg.family.startswith("segnet") and "heart" in seg.mask_classes
    assert bundled_card("no-such-model") is None


@pytest.mark.parametrize("field,value", [
    ("inference", {"decoder": ["x"], "uncertainty_scale": "big"}),
    ("inference", {"uncertainty_scale": -2}),
    ("inference", "soft_argmax"),
    ("evaluation", {"radii_px": ["2", 4], "radii_mm": [], "reference_long_side": True}),
    ("evaluation", {"radii_px": [0, 3], "radii_mm": None}),
    ("architecture", {"global": {"mask_classes": "heart"}}),
    ("metrics", [1, 2]),
])
def test_malformed_optional_fields_read_as_defaults(field, value):
    card = ModelCard.parse({"name": "m", "version": 3, field: value})
    assert card.model_id == "m@3" and card.inference.uncertainty_scale == 1.0 and card.inference.decoder is None
    assert card.evaluation.radii_px == tuple(DEFAULT_RADII_PX) and card.evaluation.radii_mm == tuple(DEFAULT_RADII_MM)
    assert card.evaluation.reference_long_side is None and card.mask_classes == () and card.validation == {}


def test_radii_keep_the_values_the_card_wrote():
    """Results are keyed by the radii: 3 stays 3 (a "3.0" key would change every report)."""
    card = ModelCard.parse({"evaluation": {"radii_px": [3, 6, 9], "radii_mm": [2, 2.5]}})
    assert card.evaluation.radii_px == (3, 6, 9) and card.evaluation.radii_mm == (2, 2.5)


def test_a_version_copying_an_installed_model_keeps_its_id():
    copied = {"name": "chest6", "version": "5", "weights_sha256": "abc",
              "imported_from": {"model": "chest6-seg@2", "weights_sha256": "abc"}}
    assert ModelCard.parse(copied).model_id == "chest6-seg@2"
    retrained = dict(copied, weights_sha256="def")  # trained further: its own id
    assert ModelCard.parse(retrained).model_id == "chest6@5"


def test_reading_a_card_does_not_load_torch():
    code = "import sys; from core.model_card import bundled_card; bundled_card('chest6'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_a_card_rewritten_in_place_or_another_resources_folder_is_seen(tmp_path, monkeypatch):
    """The cache is per file and modification time: ``calibrate --out`` onto an installed model, or
    tests and users pointing ANATOMARK_RESOURCES elsewhere, see the card as it now is."""
    import json
    import os
    import shutil

    from core.resources import resources_dir

    before = bundled_card("chest6")
    copy = tmp_path / "resources"
    shutil.copytree(resources_dir(), copy)
    monkeypatch.setenv("ANATOMARK_RESOURCES", str(copy))
    card_file = copy / "models" / "chest6.json"
    card = json.loads(card_file.read_text())
    card["title"] = "recalibrated here"
    card_file.write_text(json.dumps(card))
    os.utime(card_file, ns=(1, 2))
    assert bundled_card("chest6").title == "recalibrated here" != before.title
    card["title"] = "and again"
    card_file.write_text(json.dumps(card))
    os.utime(card_file, ns=(3, 4))
    assert bundled_card("chest6").title == "and again"


def test_a_zero_confidence_radius_is_kept_and_cards_copy():
    """card_checks allows confidence_radius 0 (the old predictor used it as given)."""
    import copy
    import pickle

    card = ModelCard.parse({"name": "m", "inference": {"confidence_radius": 0}})
    assert card.inference.confidence_radius == 0.0
    assert pickle.loads(pickle.dumps(card)) == card and copy.deepcopy(card) == card
