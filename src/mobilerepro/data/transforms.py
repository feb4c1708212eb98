"""Train and eval transforms, every choice a parameter (torchvision's v2 transforms do the work; AutoAugment and
RandAugment are torchvision's, not ours).

Eval: resize the short side to `size / crop_pct`, center-crop `size`, scale to [0, 1], normalise. The
normalisation is part of a model's contract: timm/torchvision models expect ImageNet mean/std, TF-trained models
such as EfficientNet-Lite expect `(x - 127) / 128` on 0..255 pixels — `NORMALISATIONS` names each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torchvision.transforms import InterpolationMode, v2

from mobilerepro import MobileReproError

# name -> (mean, std) applied to pixels scaled to [0, 1].
NORMALISATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # (x - 127) / 128 on 0..255 pixels, as EfficientNet-Lite's TF preprocessing does.
    "tf_127_128": ((127 / 255,) * 3, (128 / 255,) * 3),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
INTERPOLATIONS = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                  "nearest": InterpolationMode.NEAREST}
AUGMENTATIONS = ("none", "autoaugment", "randaugment")


def _choice(kind: str, value: str, choices) -> str:
    if value not in choices:
        raise MobileReproError(f"unknown {kind} {value!r} (choose one of: {', '.join(choices)})")
    return value


def _normalise(normalisation: str) -> list:
    """uint8 image tensor -> float in [0, 1] -> normalised."""
    mean, std = NORMALISATIONS[_choice("normalisation", normalisation, NORMALISATIONS)]
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


@dataclass(frozen=True)
class EvalTransform:
    """Resize + center crop with `crop_pct` (1.0 = resize straight to `size`), interpolation, normalisation."""

    size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    normalisation: str = "imagenet"

    def build(self) -> v2.Compose:
        if not 0 < self.crop_pct <= 1:
            raise MobileReproError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        mode = INTERPOLATIONS[_choice("interpolation", self.interpolation, INTERPOLATIONS)]
        resize = int(round(self.size / self.crop_pct))
        return v2.Compose([
            v2.ToImage(),
            v2.Resize(resize, interpolation=mode, antialias=True),
            v2.CenterCrop(self.size),
            *_normalise(self.normalisation),
        ])

    def describe(self) -> str:
        return (f"resize {int(round(self.size / self.crop_pct))} ({self.interpolation}) -> center crop {self.size}, "
                f"normalisation {self.normalisation}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainTransform:
    """Random-resized crop (`scale` = area range), horizontal flip, optional AutoAugment (ImageNet policy) or
    RandAugment (`randaugment_ops` layers at `randaugment_magnitude`, on `randaugment_probability` of the images),
    normalisation."""

    size: int = 224
    scale: tuple[float, float] = (0.08, 1.0)
    interpolation: str = "bilinear"
    hflip: float = 0.5
    augmentation: str = "none"
    randaugment_ops: int = 2
    randaugment_magnitude: int = 9
    randaugment_probability: float = 1.0
    normalisation: str = "imagenet"
    crop: bool = True  # False: resize to `size` only (a distillation student's images are augmented already)

    def build(self) -> v2.Compose:
        mode = INTERPOLATIONS[_choice("interpolation", self.interpolation, INTERPOLATIONS)]
        randaugment = v2.RandAugment(self.randaugment_ops, self.randaugment_magnitude, interpolation=mode)
        if self.randaugment_probability < 1.0:
            randaugment = v2.RandomApply([randaugment], p=self.randaugment_probability)
        augment = {
            "none": [],
            "autoaugment": [v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET, interpolation=mode)],
            "randaugment": [randaugment],
        }[_choice("augmentation", self.augmentation, AUGMENTATIONS)]
        return v2.Compose([
            v2.ToImage(),
            v2.RandomResizedCrop(self.size, scale=tuple(self.scale), interpolation=mode, antialias=True) if self.crop
            else v2.Resize((self.size, self.size), interpolation=mode, antialias=True),
            v2.RandomHorizontalFlip(self.hflip),
            *augment,
            *_normalise(self.normalisation),
        ])
