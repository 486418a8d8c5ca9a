"""Accepted predictions do not bias the before/after verdict (issue 16 item 1, ADR 0005)."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.learning import ModelRegistry, locked_validation, training_split
from core.learning.selection import images_to_settle
from core.learning.validation import accept_radius_px, censor, compact, evaluate_model
from core.learning.verdict import judge
from core.modelfile import load_model
from core.resources import resolve_model
from core.project import Project


def test_censor_scores_the_excess_beyond_the_radius_and_leaves_placed_points():
    truth = np.array([[10.0, 10.0], [50.0, 50.0], [0.0, 0.0]])
    pred = np.array([[13.0, 14.0], [50.0, 60.0], [9.0, 0.0]])  # 5, 10, 9 px away
    out = censor(pred, truth, np.array([True, True, False]), radius_px=6.0)
    err = np.linalg.norm(out - truth, axis=1)
    assert err.tolist() == pytest.approx([0.0, 4.0, 9.0])
    assert np.array_equal(censor(pred, truth, None, 6.0), pred)


def test_accept_radius_in_mm_or_a_share_of_the_image():
    assert accept_radius_px((0.2, 0.25), (1200, 968)) == pytest.approx(10.0)  # 2 mm at the finer 0.2 mm/px
    assert accept_radius_px(None, (1200, 968)) == pytest.approx(12.0)


def _summary(per_image: dict[str, float], informative: int | None) -> dict:
    return {"n_images": len(per_image), "mre_px": float(np.mean(list(per_image.values()))), "per_image": per_image,
            "per_image_mm": None, "n_informative": informative, "accept_radius_px": 10.0}


def test_few_informative_images_are_inconclusive_either_way_with_what_would_settle_it():
    before = {f"i{k}": 3.0 for k in range(8)}
    worse = judge(_summary(before, 8), _summary({k: v + 0.5 for k, v in before.items()}, 2), settle="correct 3 more images")
    assert worse.outcome == "inconclusive" and worse.adoptable
    assert worse.text.startswith("inconclusive: only 2 of the 8 validation images with points a person placed or moved")
    assert "correct 3 more images" in worse.text
    better = judge(_summary(before, 8), _summary({k: v - 1.0 for k, v in before.items()}, 2))
    assert better.outcome == "inconclusive"
    broken = judge(_summary(before, 8), _summary({k: v + 25.0 for k, v in before.items()}, 2))
    assert broken.outcome == "worse" and not broken.adoptable and "acceptance radius" in broken.text
    enough = judge(_summary(before, 8), _summary({k: v + 0.5 for k, v in before.items()}, 8))
    assert enough.outcome == "worse"


def test_images_to_settle_counts_until_the_subset_can_hold_five_corrected_images():
    # 4 reviewed, 1 validation image of accepted points: 5 corrected ones need a subset of 6 (20 % of 28)
    assert images_to_settle(n_reviewed=4, n_val=1, n_informative=0) == 24
    assert images_to_settle(n_reviewed=3, n_val=1, n_informative=1) == 12  # a subset of 5 from 15 reviewed
    assert images_to_settle(n_reviewed=30, n_val=6, n_informative=3) == 8  # 2 more need a subset of 8 (20 % of 38)


def test_the_validation_subset_grows_from_untrained_images_only(tmp_path):
    from test_learning import _correct_all, _image, _points

    path = tmp_path / "s.anatomark"
    with Project.create(path, "ceph19") as project:
        for n in range(4):
            _correct_all(project, project.add_image(_image(tmp_path, n)).id, _points(n))
        first = locked_validation(project)
        assert len(first) == 1
        for n in range(4, 20):
            _correct_all(project, project.add_image(_image(tmp_path, n)).id, _points(n))
        assert locked_validation(project) == first  # without a retraining run's say-so it stays
        trained = {im.id for im in project.images[:10]}
        reviewed = {im.id for im in project.images}
        grown = locked_validation(project, untrained=reviewed - trained)
        assert len(grown) == 5 and set(first) <= set(grown) and not (set(grown) - set(first)) & trained
        assert project.learning["val_ids"] == grown


@pytest.fixture(scope="module")
def ceph_images(shared_data):
    folder = shared_data / "ceph_isbi2015" / "images"
    paths = [folder / f"{n:03d}.jpg" for n in (151, 152, 153, 154)]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"shared data images missing in {folder}")
    return paths


def _perturbed_version(registry: ModelRegistry, scale: float) -> str:
    """v0's weights with a little noise: a fine-tuned version that moves points by about a pixel."""
    from core.modelfile import combined_state_dict

    loaded = load_model(resolve_model("ceph19"))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in loaded.patch_net.parameters():
            if p.numel() > 1:
                p.add_(scale * torch.randn(p.shape, generator=gen) * p.std())
    card = {k: v for k, v in loaded.card.items() if k not in ("weights_sha256", "format_version")}
    return registry.publish(combined_state_dict(loaded.global_net, loaded.patch_net), dict(card, parent_version="v0"))[0]


def test_newcomer_three_accepted_one_dragged_is_not_called_worse(tmp_path, ceph_images):
    """Four cephalograms, three verified as predicted, one point dragged: the validation image holds
    v0's own accepted points. Scored as exact truth they make any new version "worse" (the bug);
    censored, the verdict is inconclusive and says why and what would settle it."""
    from core.inference import Predictor

    path = tmp_path / "newcomer.anatomark"
    predictor = Predictor("ceph19", "cpu")
    with Project.create(path, "ceph19") as project:
        for image_path in ceph_images:
            image = project.add_image(image_path)
            project.store_prediction(image.id, predictor.predict(image_path))
        for image in project.images[:3]:
            project.set_verified(image.id, True)
        last = project.images[3]
        name = project.schema.landmarks[0]
        lm = last.landmarks[name]
        project.set_point(last.id, name, lm.x + 15.0, lm.y)
        for other in project.schema.landmarks[1:]:
            project.set_state(last.id, other, "verified")
        project.save()
        train, val = training_split(project)
        assert len(val) == 1 and len(train) == 3 and val[0].accepted.all()
        registry = ModelRegistry(path, "ceph19")
        version = _perturbed_version(registry, 0.05)
        before = compact(evaluate_model(registry.path("v0"), val, project.schema.landmarks))
        after = compact(evaluate_model(registry.path(version), val, project.schema.landmarks))
        assert before["mre_px"] == 0.0 and before["n_informative"] == 0
        biased = compact(evaluate_model(registry.path(version), [replace(val[0], accepted=None)], project.schema.landmarks))
        assert biased["mre_px"] > 0.3  # the old scoring: v0 scores 0 on its own points, v1 does not ("worse")
        assert after["mre_px"] == 0.0  # censored: v1 keeps every accepted point within the tolerance
        verdict = judge(before, after, settle="correct 24 more images and train again")
        assert verdict.outcome == "inconclusive" and verdict.adoptable
        assert "only 1 validation image" in verdict.text and "correct 24 more images" in verdict.text
        assert not os.path.exists(registry.root / ".training.lock")
