"""Model families (issue 20): each is one unit with one contract, and recipes, experiments and
project retraining choose a network's training stage in one place (``make_stage``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.experiments import CONFIGURATIONS
from core.learning import ModelRegistry, RetrainSettings, retrain
from core.modelfile import combined_state_dict, load_model, save_model, schema_hash
from core.models import GLOBAL_NETS, build_global_net
from core.project import Project
from core.schema import load_schema
from core.training.families import FAMILIES, architecture_family, build_global, family_of, get_family
from core.training.families.farnet import FARNetStage, heatmap_sigma
from core.training.loop import TrainConfig
from core.training.recipes import get_recipe
from core.training.stage_runner import make_stage
from core.training.stages import GlobalStage

TINY_FARNET = dict(growth=4, blocks=(1, 1, 1, 1), init_features=8, msfa_channels=(16, 8, 8), fr_channels=8)
SIZE = (64, 64)


def _tiny(kind: str, schema_name: str = "chest6"):
    recipe = replace(get_recipe(schema_name), input_size=SIZE, width=4, depth=3)
    variant = {"unet": lambda r: r, "segnet": CONFIGURATIONS["segnet"][1], "farnet": CONFIGURATIONS["farnet"][1]}[kind](recipe)
    if kind == "farnet":
        variant = replace(variant, model_options=TINY_FARNET)
    return variant


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_every_family_builds_loads_and_names_itself(kind):
    """The contract: a recipe builds the family's network; a card's architecture rebuilds it (the
    network registry used by loading knows it); the card name starts with the family's name."""
    recipe = _tiny(kind)
    schema = load_schema(recipe.schema)
    net = build_global(recipe, schema)
    assert family_of(net) is get_family(kind) and kind in GLOBAL_NETS
    twin = build_global_net(net.config.to_dict())
    assert type(twin) is type(net)
    twin.load_state_dict(net.state_dict())  # same architecture, weight for weight
    assert architecture_family(net.config, True).startswith(kind) and architecture_family(net.config, True).endswith("-patch")
    for name, (description, variant) in get_family(kind).configurations.items():
        assert description and variant(get_recipe("ceph19")).model == kind, name


def test_experiment_configurations_come_from_the_families():
    names = [name for family in FAMILIES.values() for name in family.configurations]
    assert list(CONFIGURATIONS) == names and len(set(names)) == len(names)
    with pytest.raises(ValueError, match="unknown model kind 'resnet'; known: unet, segnet, farnet"):
        get_family("resnet")


def test_one_place_chooses_the_stage_for_recipes_and_retraining():
    """Recipes train each family with its own losses; retraining on corrected points uses the
    family's retrain stage: landmark terms only for segnet, FARNet's own EWC loss (the U-Net's
    cross-entropy on its regressed heatmaps trained a quantity its decoder does not read)."""
    schema = load_schema("chest6")
    config = TrainConfig(sigma=(3.0, 1.5), loss="ce")
    expected = {"unet": (GlobalStage, GlobalStage), "segnet": (get_family("segnet").stage, GlobalStage),
                "farnet": (FARNetStage, FARNetStage)}
    for kind, (trains, retrains) in expected.items():
        net = build_global(_tiny(kind), schema)
        assert type(make_stage(net, "global", schema, [], [], config, torch.device("cpu"))) is trains
        assert type(make_stage(net, "global", schema, [], [], config, torch.device("cpu"), retraining=True)) is retrains
    farnet = build_global(_tiny("farnet"), schema)
    stage = make_stage(farnet, "global", schema, [], [], config, torch.device("cpu"), retraining=True)
    assert stage.config.sigma == (heatmap_sigma(SIZE),) * 2 and stage.config.ewc_alpha == 40.0
    points = torch.tensor([[[20.0, 30.0]] * 6])
    out = farnet(torch.zeros(1, 1, *SIZE))
    assert set(stage.losses(out, points, 0.5)) == {"ewc"}


def _image(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(n)
    path = folder / f"img{n:02d}.png"
    Image.fromarray(rng.integers(0, 255, (80, 72), dtype=np.uint8)).save(path)
    return path


def test_retraining_a_farnet_parent_trains_with_its_own_loss(tmp_path):
    """A FARNet version in a project retrains end to end (one epoch) and stays a FARNet (the stage's
    loss is checked above); the import keeps no patch stage it never had."""
    schema = load_schema("chest6")
    net = build_global(_tiny("farnet"), schema)
    card = {"name": "tinyfar", "version": "1", "schema": {"name": schema.name, "hash": schema_hash(schema), "content": schema.to_dict()},
            "architecture": {"family": architecture_family(net.config, False), "global": net.config.to_dict(), "patch": None},
            "input_size": list(SIZE), "training": {}, "inference": {}, "evaluation": {}, "metrics": {}}
    parent = save_model(tmp_path / "tinyfar.pt", combined_state_dict(net, None), card)
    path = tmp_path / "p.anatomark"
    rng = np.random.default_rng(0)
    events = []
    with Project.create(path, "chest6") as project:
        for n in range(3):
            image = project.add_image(_image(tmp_path, n))
            for name in project.schema.landmarks:
                project.set_point(image.id, name, float(rng.uniform(5, 65)), float(rng.uniform(5, 75)))
        project.save()
        start = ModelRegistry(path, "chest6").import_model(parent)
        result = retrain(project, RetrainSettings(start=start, epochs=1, device="cpu", batch_size=1), progress=events.append)
    child = load_model(result.model_path)
    assert type(child.global_net).__name__ == "FARNet" and child.card["architecture"]["family"] == "farnet"
    losses = [e["train_loss"] for e in events if e.get("event") == "epoch" and e["stage"] == "global"]
    assert losses and all(np.isfinite(losses)) and child.patch_net is None
