"""Training recipes: presets read from `paper/recipes.yaml`, and the per-step schedules they imply.

- LR: linear warm-up to `lr * batch / reference_batch` (the linear scaling rule; the reference batch is the
  paper's), then cosine decay to `cosine_alpha` x that peak (MobileOne §4: to zero; MobileNetV4 Tab. 10: its
  "cosine decay alpha", 0.001 for Hybrid-L).
- Weight decay: annealed from `weight_decay` to `final_weight_decay` on *the same cosine* as the LR (MobileOne §4,
  Tab. 8: 1e-4 -> 1e-5); constant when `final_weight_decay` is None. Never applied to norm parameters and biases
  when `no_decay_on_norm_and_bias`.
- Progressive resolution: `resolution_stages` are (start epoch, size) pairs of the paper's run length; a shorter or
  longer run switches at the same fractions of its length (mmpretrain's 160/192/224 at epochs 37/112 of 300).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch

from mobilerepro import MobileReproError, paper

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """A training recipe. Defaults are for what the papers leave open; the presets set everything they publish."""

    name: str = "custom"
    description: str = ""
    optimizer: str = "sgd"
    epochs: int = 300
    batch_size: int = 256  # the paper's batch: the reference of the linear LR scaling rule
    lr: float = 0.1
    momentum: float = 0.9  # SGD; not stated by MobileOne
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW (MobileNetV4 Tab. 10 states them per model)
    eps: float = 1e-8  # AdamW; torch's default where a recipe states none
    warmup_epochs: float = 0.0
    cosine_alpha: float = 0.0  # the cosine ends at this fraction of the peak LR
    weight_decay: float = 1e-4
    final_weight_decay: float | None = None
    no_decay_on_norm_and_bias: bool = True
    l2_regularization: float = 0.0  # an L2 penalty on the decaying weights added to the loss (MNv4 Conv-S)
    label_smoothing: float = 0.1
    ema_decay: float | None = None
    # timm's EMA warm-up: decay min(ema_decay, 1 - (1 + t)^(-2/3)) at update t. Neither paper states one; it reaches
    # MobileOne's 0.9995 after ~89k of its ~1.5M steps, and gives a run of a few hundred steps a horizon that grows
    # with the run instead of one longer than the run.
    ema_warmup: bool = False
    augmentation: str = "none"
    randaugment_magnitude: int = 9
    randaugment_probability: float = 1.0  # applied to this share of the images
    mixup_probability: float = 0.0  # Mixup or CutMix on this share of the batches (timm's Mixup)
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    mixup_switch_probability: float = 0.5  # CutMix instead of Mixup on this share of the mixed batches
    dropout: float | None = None
    drop_path: float | None = None
    resolution_stages: tuple[tuple[int, int], ...] = ((0, 224),)
    eval_size: int = 224

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise MobileReproError(f"unknown optimizer {self.optimizer!r} (choose one of: {', '.join(OPTIMIZERS)})")
        if self.epochs < 1:
            raise MobileReproError(f"a recipe needs at least one epoch, got {self.epochs}")
        if not self.resolution_stages or self.resolution_stages[0][0] != 0:
            raise MobileReproError("resolution_stages must start at epoch 0")
        for name in ("cosine_alpha", "randaugment_probability", "mixup_probability", "mixup_switch_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise MobileReproError(f"recipe setting {name} must lie in [0, 1], got {getattr(self, name)}")

    def with_overrides(self, **overrides) -> Recipe:
        unknown = sorted(set(overrides) - {f.name for f in fields(self)})
        if unknown:
            raise MobileReproError(f"recipes have no setting {', '.join(map(repr, unknown))}")
        if "resolution_stages" in overrides:
            overrides["resolution_stages"] = tuple(tuple(stage) for stage in overrides["resolution_stages"])
        return replace(self, **overrides)

    def as_dict(self) -> dict:
        return asdict(self)


def _presets() -> dict[str, dict]:
    flat = {}
    for family in paper.load("recipes").values():
        flat.update(family["presets"])
    return flat


def preset_names() -> list[str]:
    return list(_presets())


def preset(name: str) -> Recipe:
    """The named preset, its `inherits` chain resolved, values stripped of their provenance tags."""
    presets = _presets()
    if name not in presets:
        raise MobileReproError(f"unknown recipe {name!r} (choose one of: {', '.join(presets)})")
    chain, entry = [], presets[name]
    while True:
        chain.append(entry)
        if "inherits" not in entry:
            break
        entry = presets[entry["inherits"]]
    settings = {"name": name}
    for entry in reversed(chain):
        settings.update({k: v["value"] if isinstance(v, dict) else v for k, v in entry.items() if k != "inherits"})
    settings["resolution_stages"] = tuple(tuple(stage) for stage in settings.get("resolution_stages", [[0, 224]]))
    if "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    return Recipe(**settings)


def cosine_fraction(step: int, start: int, end: int) -> float:
    """1 at `start`, 0 at `end`, on a half cosine between (clamped outside)."""
    if end <= start:
        return 0.0
    t = min(max((step - start) / (end - start), 0.0), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class Schedule:
    """A recipe laid out over one run: `epochs` x `steps_per_epoch` optimizer steps at batch `batch_size`."""

    recipe: Recipe
    epochs: int
    steps_per_epoch: int
    batch_size: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def peak_lr(self) -> float:
        return self.recipe.lr * self.batch_size / self.recipe.batch_size

    @property
    def warmup_steps(self) -> int:
        """The recipe's warm-up, as the same fraction of this run as of the paper's."""
        return round(self.recipe.warmup_epochs / self.recipe.epochs * self.total_steps)

    def lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        alpha = self.recipe.cosine_alpha
        return self.peak_lr * (alpha + (1 - alpha) * cosine_fraction(step, self.warmup_steps, self.total_steps))

    def weight_decay(self, step: int) -> float:
        start, final = self.recipe.weight_decay, self.recipe.final_weight_decay
        if final is None:
            return start
        return final + (start - final) * cosine_fraction(step, self.warmup_steps, self.total_steps)

    def resolution(self, epoch: int) -> int:
        """The training resolution of `epoch` (0-based): the paper's switch epochs scaled to this run's length."""
        size = self.recipe.resolution_stages[0][1]
        for start, stage_size in self.recipe.resolution_stages:
            if epoch >= round(start / self.recipe.epochs * self.epochs):
                size = stage_size
        return size

    def switch_epochs(self) -> list[tuple[int, int]]:
        return [(round(start / self.recipe.epochs * self.epochs), size)
                for start, size in self.recipe.resolution_stages]

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Set the LR of every group and the weight decay of the groups that decay."""
        lr, decay = self.lr(step), self.weight_decay(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
            group["weight_decay"] = decay if group["decays"] else 0.0


def parameter_groups(model: torch.nn.Module, recipe: Recipe) -> list[dict]:
    """Two groups: parameters that decay, and (when the recipe says so) norm parameters and biases — every tensor
    with fewer than two dimensions — that never do."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if recipe.no_decay_on_norm_and_bias and parameter.ndim <= 1 else decay).append(parameter)
    return [group for group in ({"params": decay, "decays": True}, {"params": no_decay, "decays": False})
            if group["params"]]


def build_optimizer(model: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    recipe = schedule.recipe
    groups = parameter_groups(model, recipe)
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=schedule.peak_lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    else:
        optimizer = torch.optim.AdamW(groups, lr=schedule.peak_lr, betas=tuple(recipe.betas), eps=recipe.eps)
    schedule.apply(optimizer, 0)
    return optimizer
