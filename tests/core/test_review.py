"""The review queue's signals and order on hand-made predictions (core.review.queue, core.priors)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.prediction import Prediction
from core.priors import VIOLATION_Z, ShapeReference, check_priors
from core.project import LandmarkState, Project
from core.review.queue import ReviewQueue, heatmap_spread, robust_z, stage_disagreement
from core.schema import load_schema

CHEST6 = load_schema("chest6")
SIZE = (200, 200)  # (H, W)
#: A plausible chest6 layout (x, y) px: R_apex, R_costophrenic, R_cardiophrenic, L_apex, L_..., L_...
TEMPLATE = np.array([[60, 40], [30, 160], [80, 150], [140, 40], [170, 160], [120, 150]], dtype=float)


def gaussians(points: np.ndarray, sigmas, shape=(50, 50), to_image: float = 4.0) -> np.ndarray:
    """(K, h, w) normalised Gaussians centred on ``points`` (image px), sigma in heatmap px."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    c = (points + 0.5) / to_image - 0.5
    s = np.broadcast_to(np.asarray(sigmas, float), (len(points),))[:, None, None]
    heat = np.exp(-((xx - c[:, :1, None]) ** 2 + (yy - c[:, 1:, None]) ** 2) / (2 * s**2))
    return (heat / heat.sum(axis=(1, 2), keepdims=True)).astype(np.float32)


def prediction(points: np.ndarray, sigmas=1.0, moved: np.ndarray | None = None, confidence=0.9) -> Prediction:
    """A model-free Prediction; ``moved`` (K, 2) shifts the refined point away from soft-argmax and final."""
    a = 4.0
    refined = points + (0.0 if moved is None else moved)
    return Prediction(
        model_id="chest6@test", schema="chest6", landmarks=CHEST6.landmarks, image_size=SIZE, spacing=None,
        points=points, soft_argmax=points.copy(), refined=refined,
        confidence=np.broadcast_to(np.asarray(confidence, float), (len(points),)).copy(),
        heatmaps=gaussians(points, sigmas), heatmap_to_image=np.array([[a, 0, a / 2 - 0.5], [0, a, a / 2 - 0.5]]),
    )


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "q.anatomark", CHEST6, user="alice")
    yield p
    p.close()


def add_images(project: Project, tmp_path, n: int) -> list[str]:
    rng = np.random.default_rng(7)
    ids = []
    for i in range(n):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, SIZE, dtype=np.uint8)).save(path)
        ids.append(project.add_image(path).id)
    return ids


def test_broad_heatmap_spreads_more_than_a_sharp_one():
    spread = heatmap_spread(gaussians(TEMPLATE[:2], [1.0, 4.0]), np.array([[4.0, 0, 1.5], [0, 4.0, 1.5]]))
    # A 2-D Gaussian's RMS radius is sigma·√2 (plus the pixel's own width), times 4 image px per heatmap px.
    assert spread[1] > 3 * spread[0]
    assert spread[1] == pytest.approx(4.0 * 4.0 * np.sqrt(2), rel=0.05)
    in_mm = heatmap_spread(gaussians(TEMPLATE[:1], 2.0), np.array([[4.0, 0, 1.5], [0, 4.0, 1.5]]), (0.5, 0.5))
    assert in_mm[0] == pytest.approx(spread[0] * 0 + 0.5 * 4.0 * np.sqrt(2 * 4.0 + 1 / 6), rel=0.02)


def test_stage_disagreement_is_the_larger_gap():
    p = np.zeros((2, 2))
    soft = np.array([[3.0, 4.0], [0.0, 0.0]])
    refined = np.array([[0.0, 0.0], [0.0, 2.0]])
    assert stage_disagreement(soft, refined, p).tolist() == [5.0, 2.0]
    assert stage_disagreement(soft, refined, p, (0.1, 0.1)) == pytest.approx([0.5, 0.2])


def test_robust_z_ignores_an_outlier_in_its_scale():
    z = robust_z(np.array([1.0, 2.0, 3.0, 2.0, 100.0]))
    assert z[1] == 0 and z[4] > 50
    assert robust_z(np.array([5.0, 5.0, 5.0, 5.001])).max() < 0.01  # no noise blown up
    assert robust_z(np.array([0.0, 0.0, 0.0, 6.0])).tolist() == [0.0, 0.0, 0.0, 6.0]


def test_swapped_left_right_pair_is_flagged():
    ok = check_priors(CHEST6, TEMPLATE)
    assert ok.scores.tolist() == [0.0] * 6 and ok.reasons == (None,) * 6
    swapped = TEMPLATE.copy()
    swapped[[0, 3]] = swapped[[3, 0]]  # R_apex and L_apex exchanged
    check = check_priors(CHEST6, swapped)
    assert check.scores[0] == check.scores[3] == VIOLATION_Z
    assert check.reasons[0] == "R_apex and L_apex swapped (left/right)"
    assert check.scores[[1, 2, 4, 5]].tolist() == [0.0] * 4


def test_broken_level_order_and_atypical_distance_are_flagged():
    upside = TEMPLATE.copy()
    upside[2, 1] = 170.0  # R_cardiophrenic below R_costophrenic
    check = check_priors(CHEST6, upside)
    assert check.scores[2] == VIOLATION_Z and "level order" in check.reasons[2]
    rng = np.random.default_rng(0)
    reference = ShapeReference.from_points(CHEST6, TEMPLATE + rng.normal(0, 2.0, (30, 6, 2)))
    far = TEMPLATE.copy()
    far[4] = (195.0, 195.0)  # L_costophrenic 40 px too far out and down, still on its side and level
    check = check_priors(CHEST6, far, reference)
    assert int(np.argmax(check.scores)) == 4 and check.scores[4] > 3
    assert check.reasons[4].startswith("atypical distances")
    assert check_priors(CHEST6, TEMPLATE, reference).scores.max() < 2


def test_queue_orders_by_need_and_leaves_out_what_was_reviewed(project, tmp_path):
    ids = add_images(project, tmp_path, 3)
    sharp, broad = 1.0, np.array([1.0, 1.0, 1.0, 6.0, 1.0, 1.0])  # L_apex uncertain on image 1
    unsure = np.array([0.9, 0.2, 0.9, 0.9, 0.9, 0.9])  # R_costophrenic: low confidence on image 2
    project.store_prediction(ids[0], prediction(TEMPLATE, sharp))
    project.store_prediction(ids[1], prediction(TEMPLATE, broad))
    project.store_prediction(ids[2], prediction(TEMPLATE, sharp, confidence=unsure))
    queue = ReviewQueue()
    items = queue.update(project)
    assert {it.image_id for it in items[:2]} == {ids[1], ids[2]} and items[-1].image_id == ids[0]
    by_id = {it.image_id: it for it in items}
    assert by_id[ids[1]].landmarks[0].name == "L_apex" and "heatmap spread" in by_id[ids[1]].reason
    assert by_id[ids[2]].landmarks[0].name == "R_costophrenic" and by_id[ids[2]].reason == "low confidence 0.20"
    assert by_id[ids[0]].reason == "nothing unusual"
    assert all(it.score == it.landmarks[0].score for it in items)
    assert [m.score for m in items[0].landmarks] == sorted((m.score for m in items[0].landmarks), reverse=True)

    # A swap outranks the rest; fixing it takes the landmark out of the queue.
    swapped = TEMPLATE.copy()
    swapped[[0, 3]] = swapped[[3, 0]]
    project.store_prediction(ids[0], prediction(swapped, sharp))
    first = queue.update(project)[0]
    assert first.image_id == ids[0] and "swapped" in first.reason
    project.set_point(ids[0], first.landmarks[0].name, *TEMPLATE[CHEST6.index(first.landmarks[0].name)])
    project.set_state(ids[0], "L_apex" if first.landmarks[0].name == "R_apex" else "R_apex", LandmarkState.VERIFIED)
    after = queue.image(ids[0]) if queue.update(project) else None
    assert after is not None and {m.name for m in after.landmarks}.isdisjoint({"R_apex", "L_apex"})
    assert "swapped" not in after.reason
    project.set_verified(ids[1], True)
    assert ids[1] not in {it.image_id for it in queue.update(project)}


def test_typical_distances_come_from_reviewed_images_once_there_are_enough(project, tmp_path):
    ids = add_images(project, tmp_path, 4)
    rng = np.random.default_rng(1)
    for image_id in ids:
        project.store_prediction(image_id, prediction(TEMPLATE + rng.normal(0, 1.5, (6, 2))))
    queue = ReviewQueue(min_reference=3)
    queue.update(project)
    assert queue.reference is not None and "predicted" in queue.reference.source
    for image_id in ids[:3]:
        for name in CHEST6.landmarks:
            project.set_state(image_id, name, LandmarkState.VERIFIED)
    queue.update(project)
    assert queue.reference.source == "3 reviewed images" and [it.image_id for it in queue.items] == [ids[3]]
    assert ReviewQueue(min_reference=5).update(project) and ReviewQueue(min_reference=5).reference is None


def test_disagreement_between_stages_counts_when_weighted(project, tmp_path):
    ids = add_images(project, tmp_path, 2)
    moved = np.zeros((6, 2))
    moved[1] = (12.0, 0.0)  # R_costophrenic: the GNN moved it 12 px away from soft-argmax and final
    project.store_prediction(ids[0], prediction(TEMPLATE))
    project.store_prediction(ids[1], prediction(TEMPLATE, moved=moved))
    first = ReviewQueue(weights={"disagreement": 1.0}).update(project)[0]
    assert (first.image_id, first.landmarks[0].name) == (ids[1], "R_costophrenic")
    assert first.reason == "model stages disagree by 12.0 px"
    assert first.landmarks[0].signals["disagreement"] == pytest.approx(12.0)
    # The shipped weights leave it out (the benchmark found nothing it adds to the confidence).
    assert ReviewQueue().update(project)[0].landmarks[0].reason == "nothing unusual"


def test_queue_of_a_reopened_project_reads_no_heatmaps_or_masks(tmp_path, monkeypatch):
    """Opening a project of hundreds of predicted images must not read every image's heatmaps and
    masks on the GUI thread: the spread comes from the covariance stored with the prediction."""
    import h5py

    import core.project.project as project_module
    from core.review.queue import covariance_spread

    path = tmp_path / "q.anatomark"
    with Project.create(path, CHEST6, user="alice") as p:
        ids = add_images(p, tmp_path, 4)
        for n, image_id in enumerate(ids):
            p.store_prediction(image_id, prediction(TEMPLATE + n, sigmas=1.0 + n))
        expected = {i: heatmap_spread(p.prediction(i).heatmaps, p.prediction(i).heatmap_to_image) for i in ids}
        p.save()

    def refuse(*_args):
        raise AssertionError("the review queue read heatmaps from the file")

    with Project.open(path) as p:
        monkeypatch.setattr(project_module, "read_prediction_arrays", refuse)
        items = ReviewQueue(min_reference=99).update(p)
        assert {it.image_id for it in items} == set(ids)
        for image_id in ids:
            spread = covariance_spread(p.prediction_covariance(image_id))
            assert np.allclose(spread, expected[image_id], rtol=1e-3)
        monkeypatch.undo()

    # A file written before the covariance was stored: computed once from the heatmaps, then saved.
    with h5py.File(path, "r+") as f:
        del f["predictions/covariance"]
    with Project.open(path) as p:
        assert np.allclose(covariance_spread(p.prediction_covariance(ids[2])), expected[ids[2]], rtol=1e-3)
        p.save()
    with Project.open(path) as p:  # saved with the file: no heatmaps read for ids[2]; ids[3] was never asked
        monkeypatch.setattr(project_module, "read_prediction_arrays", refuse)
        assert np.allclose(covariance_spread(p.prediction_covariance(ids[2])), expected[ids[2]], rtol=1e-3)
        with pytest.raises(AssertionError, match="read heatmaps"):
            p.prediction_covariance(ids[3])


def test_the_projects_calibration_weighs_the_spread(project, tmp_path):
    """With the project's own calibration the spread is the calibrated region's size: a landmark whose
    quantile is large (the model erred there on this project's reviews) climbs the queue."""
    from types import SimpleNamespace

    ids = add_images(project, tmp_path, 3)
    for image_id in ids:
        project.store_prediction(image_id, prediction(TEMPLATE, sigmas=2.0))
    plain = ReviewQueue(weights={"spread": 1.0}).update(project)
    plain_top = max(m.score for item in plain for m in item.landmarks)
    quantiles = np.ones(6)
    quantiles[4] = 5.0  # L_costophrenic: five times the others' region on this project
    calibrated = ReviewQueue(weights={"spread": 1.0}).update(project, lambda model_id: SimpleNamespace(quantiles=quantiles))
    assert calibrated[0].landmarks[0].name == "L_costophrenic" and calibrated[0].landmarks[0].score > plain_top + 1.0
    without = ReviewQueue(weights={"spread": 1.0}).update(project, lambda model_id: None)
    assert max(m.score for item in without for m in item.landmarks) == pytest.approx(plain_top)
