"""The reviewer-effort simulator (core.review.effort) and ``anatomark simulate-review``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.review.effort import EffortError, Tolerance, correction_curve, review_image, simulate_review
from core.training.datasets import Sample

TRUTH = np.array([[10.0, 10.0], [50.0, 10.0], [30.0, 40.0], [70.0, 60.0]])


def sample(offsets, spacing=(0.5, 0.5), truth=TRUTH, sid="a") -> tuple[Sample, np.ndarray]:
    """A sample and a prediction ``truth + offsets`` (offsets (K, 2) px)."""
    return Sample(sid, Path(f"{sid}.png"), truth.copy(), spacing), truth + np.asarray(offsets, dtype=float)


class FixedModel:
    """Predicts a fixed answer per image; ``follow`` says how re-prediction treats pins."""

    def __init__(self, answers: dict[str, np.ndarray], follow: str = "ignore") -> None:
        self.answers, self.follow, self.calls = answers, follow, 0

    def predict(self, s: Sample) -> np.ndarray:
        return self.answers[s.id].copy()

    def repredict(self, s: Sample, pinned, previous):
        self.calls += 1
        base = self.answers[s.id]
        out = base.copy()
        if self.follow == "translate":  # the whole shape is off by one shift: one pin says it all
            k = next(iter(pinned))
            out = base + (pinned[k] - base[k])
        elif self.follow == "push":  # every re-prediction moves the free points 3 px to the right
            out = np.array(previous, dtype=float) + [3.0, 0.0]
        for k, xy in pinned.items():
            out[k] = xy
        return out


def test_manual_review_corrects_each_landmark_beyond_tolerance_once():
    s, pred = sample([[6, 0], [0, 0], [0, 3], [8, 0]])  # 3, 0, 1.5, 4 mm
    review = review_image(s, pred, Tolerance(2.0, "mm"), None)
    assert review.corrections == 2
    assert review.order == [3, 0]  # the largest error first


def test_a_model_that_ignores_pins_needs_as_many_corrections_as_manual_review():
    answers = {sid: sample(off, sid=sid)[1] for sid, off in (("a", [[6, 0], [0, 0], [0, 8], [8, 0]]), ("b", [[0, 0], [0, 0], [0, 0], [1, 1]]))}
    samples = [sample([[0, 0]] * 4, sid=sid)[0] for sid in answers]
    result = simulate_review(FixedModel(answers), samples, Tolerance(2.0, "mm"))
    assert result["manual"]["corrections"] == result["assisted"]["corrections"] == 3
    assert result["ratio"] == 1.0
    assert result["manual"]["images_without_corrections"] == 1
    assert result["manual"]["corrections_per_image"] == 1.5
    assert result["assisted"]["neighbour_change"] == 0.0
    assert [r["manual"] for r in result["per_image"]] == [3, 0]


def test_a_model_that_moves_neighbours_with_the_pin_needs_one_correction():
    shift = [[9.0, -7.0]] * 4  # one error shared by every landmark
    s, pred = sample(shift)
    result = simulate_review(FixedModel({"a": pred}, follow="translate"), [s], Tolerance(2.0, "mm"))
    assert result["manual"]["corrections"] == 4
    assert result["assisted"]["corrections"] == 1
    assert result["ratio"] == 0.25
    assert result["assisted"]["neighbour_change"] < 0
    assert result["assisted"]["curve"][1] == pytest.approx(0.0)
    assert result["manual"]["curve"][1] == pytest.approx(np.hypot(9, 7) * 0.5 * 3 / 4, abs=1e-3)


def test_landmarks_pushed_out_of_tolerance_cost_corrections():
    s, pred = sample([[6, 0], [0, 0], [0, 0], [0, 0]])  # only landmark 0 beyond 2 mm
    model = FixedModel({"a": pred}, "push")
    review = review_image(s, pred, Tolerance(2.0, "mm"), lambda pinned, prev: model.repredict(s, pinned, prev))
    # after correcting 0, the others move 3 px = 1.5 mm (still inside); after that nothing is beyond
    assert review.corrections == 1
    review = review_image(s, pred, Tolerance(1.0, "mm"), lambda pinned, prev: model.repredict(s, pinned, prev))
    # 1 mm: each re-prediction pushes the free landmarks 1.5 mm further, so every one needs correcting
    assert review.corrections == 4
    assert review.pushed_out == 3


def test_the_curve_corrects_the_worst_landmark_whatever_the_tolerance():
    s, pred = sample([[10, 0], [0, 6], [0, 0], [2, 0]], spacing=None)  # 10, 6, 0, 2 px
    curve = correction_curve(s, pred, "px", None, steps=5)
    assert curve.tolist() == pytest.approx([4.5, 2.0, 0.5, 0.0, 0.0, 0.0])


def test_missing_truth_is_left_out_of_counts_and_curve():
    truth = TRUTH.copy()
    truth[1] = np.nan
    s, pred = sample([[6, 0], [50, 50], [0, 0], [0, 0]], truth=truth)
    pred[1] = [1.0, 1.0]
    assert review_image(s, pred, Tolerance(2.0, "mm"), None).corrections == 1
    assert correction_curve(s, pred, "mm", None, steps=1).tolist() == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_tolerance_must_be_positive(value):
    with pytest.raises(EffortError, match="positive"):
        Tolerance(value, "mm")


def test_mm_needs_spacing_and_images_need_ground_truth():
    s, pred = sample([[0, 0]] * 4, spacing=None)
    with pytest.raises(EffortError, match="spacing"):
        simulate_review(FixedModel({"a": pred}), [s], Tolerance(2.0, "mm"))
    empty = Sample("a", Path("a.png"), np.full_like(TRUTH, np.nan), (0.5, 0.5))
    with pytest.raises(EffortError, match="no ground truth"):
        simulate_review(FixedModel({"a": pred}), [empty], Tolerance(2.0, "mm"))


def _generic_dataset(root: Path, with_truth: bool) -> Path:
    """A two-image chest6 data set in the generic layout (landmarks.csv + images/)."""
    from core.schema import load_schema

    names = load_schema("chest6").landmarks
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["id,split,mm_per_px," + ",".join(f"{n}_x,{n}_y" for n in names)]
    for sid in ("c1", "c2"):
        Image.fromarray(rng.integers(0, 255, (128, 128), dtype=np.uint8)).save(root / "images" / f"{sid}.png")
        coords = ",".join(f"{20 + 15 * k},{30 + 10 * k}" if with_truth else "," for k in range(len(names)))
        lines.append(f"{sid},val,1.0,{coords}")
    (root / "landmarks.csv").write_text("\n".join(lines) + "\n")
    return root


def test_cli_prints_one_json_object_for_a_model_file(tmp_path, capsys):
    folder = _generic_dataset(tmp_path / "set", with_truth=True)
    args = ["simulate-review", "--model", "chest6", "--dataset", str(folder), "--split", "val", "--tolerance-mm", "3", "--device", "cpu", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 2
    assert result["tolerance"] == {"value": 3.0, "unit": "mm"}
    for mode in ("manual", "assisted"):
        assert len(result[mode]["curve"]) == 6
        assert 0 <= result[mode]["corrections_per_image"] <= 6
    assert result["manual"]["corrections"] == sum(r["manual"] for r in result["per_image"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--split", "val", "--tolerance-mm", "0"], "positive"),
        (["--split", "val", "--tolerance-px", "-3"], "positive"),
        (["--split", "nope", "--tolerance-mm", "3"], "no split 'nope'"),
        (["--split", "val", "--tolerance-mm", "3", "--skip", "5"], "no images left"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    folder = _generic_dataset(tmp_path / "set", with_truth=True)
    assert main(["simulate-review", "--model", "chest6", "--dataset", str(folder), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_a_data_set_without_ground_truth_is_one_line(tmp_path, capsys):
    folder = _generic_dataset(tmp_path / "set", with_truth=False)
    assert main(["simulate-review", "--model", "chest6", "--dataset", str(folder), "--tolerance-px", "5", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no ground truth" in err and len(err.splitlines()) == 1


def test_real_ceph_images_with_the_bundled_model(shared_data, capsys):
    folder = shared_data / "ceph_isbi2015"
    if not folder.is_dir():
        pytest.skip(f"shared data folder missing: {folder}")
    assert main(["simulate-review", "--model", "ceph19", "--dataset", str(folder), "--split", "test1", "--limit", "2",
                 "--tolerance-mm", "2", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 2 and result["model"].startswith("ceph19")
    assert result["manual"]["curve"][0] == pytest.approx(result["assisted"]["curve"][0])
    assert result["manual"]["curve"][-1] < result["manual"]["curve"][0]


def test_a_session_retrains_every_n_images_through_the_project_loop(tmp_path):
    """Four generated cephalograms, retraining after two: two blocks, one retrain with its verdict,
    the starting model's count on the same images, nothing left behind."""
    from core.learning import RetrainSettings
    from core.review.session import simulate_session
    from test_learning import _image, _points

    samples = [Sample(f"s{n}", _image(tmp_path, n), _points(n), (0.1, 0.1)) for n in range(4)]
    messages = []
    from core.inference import Predictor

    result = simulate_session(Predictor("ceph19", "cpu"), samples, Tolerance(2.0, "mm"), 2,
                              RetrainSettings(epochs=1, device="cpu"), messages.append, device="cpu")
    assert [b["images"] for b in result["blocks"]] == ["1–2", "3–4"] and result["n_images"] == 4
    first = result["blocks"][0]
    assert first["model"] == "v0" and first["corrections_per_image"] == first["baseline_corrections_per_image"]
    (retrain,) = result["retrains"]
    assert retrain["after_images"] == 2 and retrain["version"] == "v1" and retrain["verdict"]
    assert retrain["adopted"] == (retrain["outcome"] == "better")
    assert result["blocks"][1]["model"] == ("v1" if retrain["adopted"] else "v0")
    assert len(messages) == 3 and result["training_seconds"] > 0


def test_cli_session_bad_input_is_one_line(tmp_path, capsys):
    folder = _generic_dataset(tmp_path / "set", with_truth=True)
    assert main(["simulate-review", "--model", "chest6", "--dataset", str(folder), "--tolerance-px", "5", "--retrain-every", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "at least 1" in err and len(err.splitlines()) == 1
