"""Shared by the project-store tests: constants, a model-free ``Prediction`` and file probes."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from core.atomic import temp_name_pattern
from core.prediction import Prediction
from core.project import ImageRecord, LandmarkState
from core.resources import samples_dir
from core.schema import load_schema

S = LandmarkState
DICOM = samples_dir() / "chest_RG1.dcm"
CHEST6 = load_schema("chest6")
R_APEX, L_APEX = "R_apex", "L_apex"


def make_prediction(image: ImageRecord, model_id: str = "chest6@test", seed: int = 0,
                    masks: bool = False, schema=CHEST6) -> Prediction:
    """A Prediction with small, peaked heatmaps (K, 24, 20) and optional full-size masks."""
    rng = np.random.default_rng(seed)
    k = schema.n_landmarks
    h, w = image.size
    points = np.column_stack([rng.uniform(0, w - 1, k), rng.uniform(0, h - 1, k)])
    yy, xx = np.mgrid[0:24, 0:20]
    centres = rng.uniform(3, 17, (k, 2))
    heat = np.exp(-((xx - centres[:, :1, None]) ** 2 + (yy - centres[:, 1:, None]) ** 2) / 4.0)
    heat = (heat / heat.sum(axis=(1, 2), keepdims=True)).astype(np.float32)
    mask_arr = None
    classes: tuple[str, ...] = ()
    if masks:
        classes = ("right_lung", "left_lung")
        mask_arr = np.zeros((2, h, w), bool)
        mask_arr[0, h // 4: h // 2, w // 8: w // 2] = True
        mask_arr[1, h // 4: h // 2, w // 2: w - w // 8] = True
    return Prediction(
        model_id=model_id, schema=schema.name, landmarks=schema.landmarks, image_size=image.size, spacing=None,
        points=points, soft_argmax=points + 1.5, refined=points + 0.5, confidence=rng.uniform(0.3, 1.0, k),
        heatmaps=heat, heatmap_to_image=np.array([[w / 20, 0, w / 40 - 0.5], [0, h / 24, h / 48 - 0.5]]),
        masks=mask_arr, mask_classes=classes,
    )


def file_log(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["log"][()]


def temp_leftovers(path: Path) -> list[Path]:
    return sorted(path.parent.glob(temp_name_pattern(path)))


def reviewed_ceph_project(folder: Path, n_images: int = 6, size: tuple[int, int] = (120, 100)) -> Path:
    """A saved ceph19 project of small noise images whose 19 landmarks are all CORRECTED (training
    data), with its locked validation subset already recorded (as the app does before training)."""
    from PIL import Image

    from core.learning import locked_validation
    from core.project import Project

    path = folder / "study.anatomark"
    with Project.create(path, "ceph19") as project:
        for n in range(n_images):
            rng = np.random.default_rng(n)
            image_path = folder / f"img{n:02d}.png"
            Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(image_path)
            image = project.add_image(image_path)
            xs, ys = rng.uniform(10, size[1] - 10, 19), rng.uniform(10, size[0] - 10, 19)
            for name, x, y in zip(project.schema.landmarks, xs, ys):
                project.set_point(image.id, name, float(x), float(y))
        locked_validation(project)
        project.save()
    return path


def trainer_env() -> dict[str, str]:
    """The environment for a training subprocess: one OpenMP thread per process (2 shared cores)."""
    import os

    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
