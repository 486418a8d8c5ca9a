"""The experiment command end to end on a tiny synthetic chest_jsrt-layout dataset
(segmentation-informed and FARNet), masks through augmentation and inference, and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.cli import main
from core.experiment_report import report_markdown
from core.inference import Predictor
from core.training.augment import AugmentConfig
from core.training.datasets import load_dataset
from core.training.samplers import CachedImage, cache_images, global_batch
from zoo_support import make_chest_layout

TINY = {
    "segnet": {"overrides": {"input_size": [32, 32], "width": 4, "depth": 3}},
    "adaptive": {"overrides": {"input_size": [32, 32], "width": 4, "depth": 3}},
    "segnet-gnn": {"overrides": {"input_size": [32, 32], "width": 4, "depth": 3}},
    "farnet": {
        "overrides": {
            "input_size": [64, 64],
            "model_options": {"growth": 4, "blocks": [1, 1, 1, 1], "init_features": 8, "msfa_channels": [16, 8, 8], "fr_channels": 8},
        }
    },
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_chest_layout(tmp_path_factory.mktemp("chest_layout"))


@pytest.fixture(scope="module")
def experiments(dataset, tmp_path_factory):
    """Run both tiny experiments once through the CLI; returns {kind: out folder}."""
    outs = {}
    for kind, spec in TINY.items():
        root = tmp_path_factory.mktemp(kind)
        config = root / "config.json"
        config.write_text(json.dumps({"name": f"tiny-{kind}", "configuration": kind, **spec, "train": {"epochs": 2, "batch_size": 3}}))
        assert main(["experiment", "--config", str(config), "--dataset", str(dataset), "--out", str(root / "out"), "--json"]) == 0
        outs[kind] = root / "out"
    return outs


@pytest.mark.parametrize("kind", ["segnet", "farnet", "adaptive", "segnet-gnn"])
def test_experiment_writes_a_model_and_results(experiments, kind):
    results = json.loads((experiments[kind] / "results.json").read_text())
    assert results["configuration"] == f"tiny-{kind}" and results["model_kind"] == {"adaptive": "unet", "segnet-gnn": "segnet"}.get(kind, kind)
    assert results["eval_split"] == "val" and results["n_train"] == 3 and results["n_eval"] == 1
    assert results["epochs_done"] == 2 and results["parameters"] > 0
    assert np.isfinite(results["mre_px"]) and results["predict_ms_per_image"] > 0
    assert set(results["reference"]["sdr_px"]) == {"3", "6", "9"}  # chest: the paper's radii at 512 px
    card = json.loads((experiments[kind] / "model.json").read_text())
    assert card["architecture"]["global"].get("kind", "unet") == results["model_kind"] and card["architecture"]["patch"] is None
    if kind == "adaptive":  # learned σ and rotation travel with the model
        assert card["architecture"]["global"]["heatmap"] == "adaptive"


def test_segmentation_model_predicts_full_resolution_masks_and_dice(experiments, dataset):
    results = json.loads((experiments["segnet"] / "results.json").read_text())
    classes = ["right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle"]
    assert list(results["dice"]) == classes and all(0.0 <= d <= 1.0 for d in results["dice"].values())
    prediction = Predictor(experiments["segnet"] / "model.pt", "cpu").predict(dataset / "images" / "JPC000.png")
    assert prediction.mask_classes == tuple(classes)
    assert prediction.masks.shape == (5, 64, 64) and prediction.masks.dtype == bool
    farnet = Predictor(experiments["farnet"] / "model.pt", "cpu").predict(dataset / "images" / "JPC000.png")
    assert farnet.masks is None and farnet.points.shape == (6, 2)


def test_masks_and_landmarks_stay_aligned_through_augmentation(dataset):
    """A disc of class k around landmark k must still be under landmark k after any warp."""
    item = cache_images(load_dataset(dataset).samples[:1], (64, 64), None)[0]
    ys, xs = np.mgrid[:64, :64]
    discs = np.stack([(xs - x) ** 2 + (ys - y) ** 2 <= 9 for x, y in item.sample.points])
    item = CachedImage(item.sample, item.original_size, torch.as_tensor(discs.any(0, keepdims=True), dtype=torch.float32), None,
                       torch.as_tensor(discs, dtype=torch.float32))
    strong = AugmentConfig(rotation_deg=30.0, translation=0.1, scale=(0.8, 1.2), blur_p=0.0, noise_p=0.0)
    checked = 0
    for seed in range(6):
        images, points, masks = global_batch([item], (64, 64), np.random.default_rng(seed), strong, with_masks=True)
        for k, (x, y) in enumerate(points[0].numpy()):
            if not (0 <= round(x) < 64 and 0 <= round(y) < 64):
                continue  # warped out of the frame
            assert masks[0, k, round(y), round(x)] == 1.0, (seed, k)
            assert images[0, 0, round(y), round(x)] > images[0, 0].mean()
            checked += 1
    assert checked >= 30


def test_report_tabulates_results_best_first(tmp_path):
    common = {"dataset": "ceph_isbi2015", "eval_split": "test1", "n_train": 135, "n_eval": 150, "sdr_unit": "mm",
              "train_seconds_per_epoch": 12.0, "epochs_done": 10, "predict_ms_per_image": 50.0, "device": "cpu"}
    a = dict(common, configuration="farnet", model_kind="farnet", mre_px=9.0, mre_mm=1.8, parameters=8_700_000,
             sdr={"2.0": 70.0, "2.5": 80.0, "3.0": 85.0, "4.0": 93.0})
    b = dict(common, configuration="unet", model_kind="unet", mre_px=12.5, mre_mm=2.5, parameters=1_200_000,
             sdr={"2.0": 50.0, "2.5": 60.0, "3.0": 70.0, "4.0": 85.0})
    for name, data in (("b", b), ("a", a)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(data))
    out = tmp_path / "report.md"
    assert main(["experiment-report", str(tmp_path / "b"), str(tmp_path / "a" / "results.json"), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    rows = [line for line in lines if line.startswith("| farnet") or line.startswith("| unet")]
    assert [r.split("|")[1].strip() for r in rows] == ["farnet", "unet"]  # lower MRE first
    header = next(line for line in lines if line.startswith("| configuration"))
    assert "SDR 2.0 mm" in header and "SDR 4.0 mm" in header
    assert "| 1.80 |" in rows[0] and "| 8.70 |" in rows[0] and "| 93.0 |" in rows[0]
    assert report_markdown([a]).count("\n| farnet") == 1


def test_bad_configuration_or_results_is_one_line_exit_2(dataset, tmp_path, capsys):
    assert main(["experiment", "--config", "nonsense", "--dataset", str(dataset), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anatomark: unknown configuration 'nonsense'") and "\n" not in err
    (tmp_path / "c.json").write_text(json.dumps({"configuration": "segnet", "train": {"no_such": 1}}))
    assert main(["experiment", "--config", str(tmp_path / "c.json"), "--dataset", str(dataset), "--out", str(tmp_path / "x")]) == 2
    assert "unknown setting 'no_such'" in capsys.readouterr().err
    (tmp_path / "r.json").write_text("{}")
    assert main(["experiment-report", str(tmp_path / "r.json")]) == 2
    assert "not an experiment's results.json" in capsys.readouterr().err


def test_consistency_target_mass_agrees_with_a_perfect_prediction(dataset):
    """On a landmark at a structure's border the paper's target (1) still pulls a perfect
    heatmap inwards; the target-mass option leaves it alone."""
    from core.models import SegNet, SegNetConfig
    from core.training.loop import TrainConfig
    from core.training.families.segnet import SegStage, segmentation_classes
    from core.heatmaps import target_distribution

    data = load_dataset(dataset)
    names, bits, landmark_classes = segmentation_classes(data.schema, None)
    items = cache_images(data.samples[:1], (64, 64), None, bits)
    model = SegNet(SegNetConfig(6, (64, 64), names, landmark_classes, width=4, depth=3))
    images, points, masks = global_batch(items, (64, 64), np.random.default_rng(0), None, with_masks=True)
    # A perfect prediction: the target heatmaps and (almost) the true masks.
    perfect = {"logits": torch.log(target_distribution(points, (64, 64), 2.0) + 1e-12),
               "prob": target_distribution(points, (64, 64), 2.0), "seg_logits": (masks * 2 - 1) * 30.0}
    losses = {}
    for vis in ("present", "target_mass"):
        stage = SegStage(model, data.schema, items, items, TrainConfig(sigma=(2.0, 2.0), vis_target=vis, w_soft_l1=0.0), torch.device("cpu"))
        losses[vis] = stage.losses(perfect, points, masks, 0.5)["consistency"].item()
    assert losses["target_mass"] == pytest.approx(0.0, abs=1e-4)
    assert losses["present"] > 0.5  # border landmarks: part of their mass is outside the lung


def test_segmentation_model_with_gnn_refines_and_takes_pins(experiments, dataset):
    """segnet-gnn: masks and a GNN refiner on the heatmap decoder's features; a pinned point stays
    where the person put it and the refiner runs (core.repredict), as with the structure-aware model."""
    from core.imaging import load_image
    from core.repredict import Repredictor

    card = json.loads((experiments["segnet-gnn"] / "model.json").read_text())
    assert card["architecture"]["family"] == "segnet-gnn" and card["architecture"]["global"]["use_refiner"]
    predictor = Predictor(experiments["segnet-gnn"] / "model.pt", "cpu")
    assert predictor.model.global_net.refiner is not None
    sample = load_dataset(dataset).subset("val").samples[0]
    image = load_image(sample.image_path)
    prediction = predictor.predict(image)
    assert prediction.masks is not None and prediction.refined.shape == (6, 2)
    name = predictor.schema.landmarks[0]
    pins = {name: tuple(prediction.points[0] + 3.0)}
    moved = Repredictor(predictor).repredict(image, pins)
    assert moved.pinned == (name,) and set(moved.points) == set(predictor.schema.landmarks) - {name}
    assert np.isfinite(list(moved.points.values())).all()


def test_cli_lists_every_configuration_without_importing_torch():
    """``anatomark --help`` stays fast: the parser names the configurations from a torch-free
    tuple, which must name exactly the configurations the engine knows."""
    import subprocess
    import sys

    from core.cli.experiment import CONFIGURATION_NAMES
    from core.experiments import CONFIGURATIONS

    assert CONFIGURATION_NAMES == tuple(CONFIGURATIONS)
    code = "import sys; from core.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("paper", [False, True])
def test_segnet_losses_keep_a_border_landmark_on_the_border(paper):
    """Issue 21: with the paper's weights (consistency 10 towards v = 1, KL 0.1) the differentiable
    consistency term outweighs the KL a hundredfold and pulls a landmark on its structure's border
    inside the structure (chest segnet at 5 CPU minutes: 143 px at 512). Heatmap logits optimised
    freely under each configuration's loss, with the true mask: the `segnet` weights leave the
    landmark where its target is, the paper's move it into the mask."""
    from core.heatmaps import soft_argmax
    from core.models import SegNet, SegNetConfig
    from core.training.families.segnet import PAPER_WEIGHTS, WEIGHTS, SegStage
    from core.training.loop import TrainConfig

    size = (32, 32)
    model = SegNet(SegNetConfig(1, size, ["left"], [0], width=4, depth=3))
    schema = type("S", (), {"pairs": (), "levels": ()})()
    config = TrainConfig(sigma=(2.0, 2.0), w_soft_l1=0.0, **(PAPER_WEIGHTS if paper else WEIGHTS))
    stage = SegStage(model, schema, [], [], config, torch.device("cpu"))
    point = torch.tensor([[[15.5, 16.0]]])  # on the border of the left half
    mask = torch.zeros(1, 1, *size)
    mask[..., :16] = 1.0
    logits = torch.zeros(1, 1, *size, requires_grad=True)
    optimiser = torch.optim.Adam([logits], lr=0.05)
    for _ in range(300):
        optimiser.zero_grad()
        prob = torch.softmax(logits.flatten(2), -1).view_as(logits)
        out = {"logits": logits, "prob": prob, "seg_logits": (mask * 2 - 1) * 30.0}
        sum(stage.losses(out, point, mask, 0.5).values()).backward()
        optimiser.step()
    x = soft_argmax(logits.detach())[0, 0, 0].item()
    if paper:
        assert x < 15.5 - 1.5, x  # pulled into the mask
    else:
        assert abs(x - 15.5) < 0.3, x


def test_report_summarises_seeds_and_the_ratio_to_the_unet():
    """Issue 21's bound (a method within 1.3× of the plain U-Net) is read from the report: runs that
    differ only in their seed are averaged, and each mean is divided by the U-Net's."""
    from core.experiment_report import seed_summary

    def run(name, base, seed, mm, **train):
        return {"configuration": name, "base_configuration": base, "recipe": name, "schema": "ceph19", "input_size": [160, 128],
                "eval_split": "test1", "mre_px": mm * 5, "mre_mm": mm, "train_config": {"seed": seed, "lr": 1e-3, **train}}

    rows = [run("unet", "unet", 0, 1.6), run("unet-seed1", "unet", 1, 1.5, val_decoder=None), run("sc", "sc", 0, 2.0),
            run("sc-seed2", "sc", 2, 2.2),
            run("sc-other", "sc", 0, 9.0, lr=1e-2), run("sc-other-seed1", "sc", 1, 8.0, lr=1e-2),  # another setting
            run("adaptive", "adaptive", 0, 4.0)]  # one run: no row
    lines = seed_summary(rows)
    assert lines[0] == "| configuration | seeds | mean MRE mm | range mm | × unet |"
    body = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in lines[2:]}
    assert body == {"unet": ["0, 1", "1.55", "1.50–1.60", "1.00"], "sc": ["0, 2", "2.10", "2.00–2.20", "1.35"],
                    "sc-other": ["0, 1", "8.50", "8.00–9.00", "5.48"]}
    assert seed_summary(rows[:1] + rows[2:3]) == []  # one run each: nothing to summarise
    # Fewer training images (a hold-out) is another setting, not another seed.
    held_out = [dict(r, n_train=139 if "seed" in r["configuration"] else 159) for r in rows[:4]]
    assert seed_summary(held_out) == []
    # Two U-Net settings: no ratio, rather than one against an arbitrary baseline.
    two_baselines = rows[:4] + [run("unet-lr", "unet", 0, 1.7, lr=1e-2), run("unet-lr-seed1", "unet", 1, 1.8, lr=1e-2)]
    assert "× unet" not in seed_summary(two_baselines)[0]
    assert "Over seeds" in report_markdown([dict(r, dataset="ceph") for r in rows])
