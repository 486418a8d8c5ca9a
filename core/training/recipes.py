"""Training recipes: the architecture and training settings of the bundled models.

The epoch counts are upper bounds: with a time budget (``max_minutes``) the
loop fits the schedule to what the device can do in that time.

A recipe is data, not code: the settings sized for a 2-core CPU (see
``resources/models/README.md``): a coarse global stage at low resolution and
a local patch stage on a finer grid (coarse-to-fine, DESIGN.md 2.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.training.augment import AugmentConfig
from core.training.loop import TrainConfig


#: Peak of the regression targets of the SC recipe (Laplace) and, at the start, of the adaptive
#: one; the losses stay the papers' (× the scale², core.losses.heatmap). With peak 1 the ceph
#: U-Net's heatmaps had not formed after 2 minutes (SC: validation MRE 277 px, test1 18.0 mm);
#: with 100, 1.93 mm against the plain U-Net's 1.65 mm at the same budget (issue 21).
SC_TARGET_SCALE = 100.0

#: Where the regression recipes' targets start (σ of adaptive Gaussians, Laplace scale of SC's;
#: input px), when the recipe's own σ is smaller. An L2 head channel whose features do not yet
#: see its landmark settles at weights ≈ 0 and bias = the target's mean, and from there no
#: gradient reaches the features for that landmark again (cross-entropy has no such state: its
#: softmax ignores a constant). From the ceph recipe's σ 3, seed 2 of `sc` lost 2 of 19 landmarks
#: that way (head |w| 0.11 and 0.20 against 1.2–1.8; validation stuck at 32 px) and `adaptive` 3;
#: a wider target overlaps features that already vary with position, and from 5 all 19 formed
#: in every `sc` seed (seed 2: validation 9.4 px); 8 was as safe but slower (10.3 px at 5
#: minutes). It is not a guarantee: one `adaptive` seed of three still lost gonion from 5. Issue 21.
REGRESSION_START_SIGMA = 5.0


@dataclass
class Recipe:
    name: str
    schema: str
    input_size: tuple[int, int]  # global stage (H, W)
    width: int
    depth: int
    global_train: TrainConfig
    patch_size: int
    fine_scale: float
    patch_width: int
    patch_depth: int
    patch_train: TrainConfig
    refiner_noise: float = 0.0  # see LandmarkNetConfig.refiner_noise
    refiner_detach: bool = False  # see LandmarkNetConfig.refiner_detach
    val_holdout: int = 0  # >0: the last N training images validate instead of a val split
    use_refiner: bool = True
    structural: bool = True
    # Global network family (core.training.families.FAMILIES) and its options, e.g.
    # {"classes": [...]} for "segnet" or FARNetConfig fields for "farnet"; each family's
    # module has the recipe variant that selects it.
    model: str = "unet"
    model_options: dict = field(default_factory=dict)
    heatmap: str = "gaussian"  # global stage's targets: gaussian, laplace or adaptive (core.losses.heatmap)
    temperature: float = 1.0  # global soft-argmax temperature on the logits (regression heatmaps: ~0.05 × their peak)
    target_scale: float = 1.0  # peak of regression targets (LandmarkNetConfig.target_scale)
    inference: dict = field(default_factory=lambda: {"patch_decoder": "soft_argmax", "confidence_radius": 3.0, "patch_iterations": 2})
    evaluation: dict = field(default_factory=dict)  # radii and reference scale for reports (model card)
    notes: list[str] = field(default_factory=list)

    def ablation(self) -> "Recipe":
        """The same model without the GNN refiner and without structural losses."""
        train = replace(self.global_train, lambda_sym=0.0, lambda_ord=0.0, w_refined_l1=0.0)
        return replace(self, name=f"{self.name}-plain", use_refiner=False, structural=False, global_train=train)

    def spatial_configuration(self) -> "Recipe":
        """DESIGN.md 2.2: Laplace targets regressed with ‖H − O‖² + γ‖C − C_gt‖² (γ 1e-4, β 10).

        The paper's loss has no coordinate term, so the soft-argmax L1 is off; the
        GNN refiner (when the recipe has one) still learns from its own L1.
        """
        train = replace(self.global_train, loss="sc", sc_gamma=1e-4, sc_beta=10.0, w_soft_l1=0.0, val_decoder="blob",
                        sigma=self._regression_sigma())
        inference = dict(self.inference, global_decoder="blob")  # the paper's: threshold 0.95, largest blob
        return replace(self, name=f"{self.name}-sc", heatmap="laplace", target_scale=SC_TARGET_SCALE,
                       temperature=0.05 * SC_TARGET_SCALE, global_train=train, inference=inference)

    def _regression_sigma(self) -> tuple[float, float]:
        """The σ schedule of regression targets: from at least :data:`REGRESSION_START_SIGMA` to the recipe's end."""
        start, end = self.global_train.sigma
        return (max(start, REGRESSION_START_SIGMA), end)

    def adaptive(self) -> "Recipe":
        """DESIGN.md 2.5: adaptive Gaussian targets (learned σ and rotation), ‖H − g‖² + α Σσ1σ2 (α 5)."""
        train = replace(self.global_train, loss="l2", sigma_alpha=5.0, val_decoder="local_soft_argmax",
                        sigma=self._regression_sigma())
        inference = dict(self.inference, global_decoder="local_soft_argmax")  # landmarker's, DESIGN.md 2.5
        return replace(self, name=f"{self.name}-adaptive", heatmap="adaptive", target_scale=SC_TARGET_SCALE,
                       temperature=0.05 * SC_TARGET_SCALE, global_train=train, inference=inference)


_CHEST = Recipe(
    name="chest6",
    schema="chest6",
    input_size=(256, 256),
    width=24,
    depth=5,
    refiner_noise=1.0,
    refiner_detach=True,
    global_train=TrainConfig(epochs=600, batch_size=8, lr=1e-3, sigma=(4.0, 2.0), max_minutes=90),
    patch_size=96,
    fine_scale=0.5,
    # Width 16, not 24: 44 ms instead of 110 ms for the six patches on 2 CPU
    # threads (oneDNN pads 24 channels to 32), the difference between meeting
    # and missing 250 ms per image (tests/bench/bench_predict.py).
    patch_width=16,
    patch_depth=4,
    patch_train=TrainConfig(
        epochs=400,
        batch_size=4,
        lr=1e-3,
        sigma=(2.5, 2.0),
        jitter=10.0,
        max_minutes=60,
        augment=AugmentConfig(rotation_deg=15.0, translation=0.0),
    ),
    # The paper reports chest errors in pixels of 512×512 images at 3/6/9 px;
    # the stored images are 1024², where the same radii are 6/12/18 px.
    evaluation={"reference_long_side": 512, "reference_radii_px": [3, 6, 9], "radii_px": [6, 12, 18], "radii_mm": [2, 4, 6]},
    # One patch pass: a second one cost 90 ms per image on 2 CPU threads and
    # did not help on val (12.30 px with two, 12.16 px with one).
    inference={"patch_decoder": "soft_argmax", "confidence_radius": 3.0, "patch_iterations": 1},
)

_CEPH = Recipe(
    name="ceph19",
    schema="ceph19",
    input_size=(160, 128),
    width=16,
    depth=5,
    global_train=TrainConfig(epochs=80, lr=1e-3, sigma=(3.0, 1.5), max_minutes=45, augment=AugmentConfig(rotation_deg=10.0)),
    patch_size=64,
    fine_scale=0.5,
    patch_width=16,
    patch_depth=4,
    patch_train=TrainConfig(
        epochs=40,
        lr=1e-3,
        sigma=(2.5, 1.5),
        jitter=8.0,
        landmarks_per_step=10,
        max_minutes=45,
        augment=AugmentConfig(rotation_deg=10.0, translation=0.0),
    ),
    # The ISBI split has no validation set and test1 must stay unseen: select on
    # the last 15 training cephalograms (136-150) and train on 001-135.
    val_holdout=15,
    evaluation={"radii_mm": [2.0, 2.5, 3.0, 4.0], "radii_px": [10, 12.5, 15, 20]},
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (_CHEST, _CEPH)}


#: Recipe name suffixes and the configuration each selects; they combine in order
#: (``chest6-plain-sc``: no refiner, no structural losses, SC loss).
VARIANTS = {"plain": Recipe.ablation, "sc": Recipe.spatial_configuration, "adaptive": Recipe.adaptive}


def get_recipe(name: str) -> Recipe:
    base, *suffixes = name.split("-")
    if base not in RECIPES or any(s not in VARIANTS for s in suffixes):
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}, each optionally with -{', -'.join(VARIANTS)}")
    recipe = RECIPES[base]
    for suffix in suffixes:
        recipe = VARIANTS[suffix](recipe)
    return recipe
