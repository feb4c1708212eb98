"""The probe network of MobileOne Tabs. 2 and 3: one convolutional network timed with different activations (Tab. 2)
and with squeeze-excite or skip connections added (Tab. 3).

The paper only says "a 30-layer convolutional neural network"; its widths, kernels and input size are not given.
Our choice, documented in the chapters: a MobileNet-V1-like network (Howard et al. 2017), because MobileOne's
own blocks are depthwise-separable and because its layer count maps cleanly onto "30 layers":

    stem 3x3 conv, stride 2, 32 channels                                   1 layer
    14 depthwise-separable blocks (3x3 depthwise + 1x1 pointwise), each
      conv -> BN -> activation; widths/strides of MobileNet-V1 with one
      extra 512-channel block (64, 128/2, 128, 256/2, 256, 512/2, 6 x 512,
      1024/2, 1024)                                                         28 layers
    global average pool -> linear classifier                                1 layer

`depth` changes the number of 512-channel blocks (30 -> 14 blocks, each 2 more layers -> one more block), `width`
scales every channel count, `input_size` is the image side. Tab. 3's variants add a squeeze-excite gate before
every pointwise activation (`se=True`) or an identity shortcut around every block whose input and output shapes
agree (`skip=True`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models.activations import make_activation
from mobilerepro.models.layers import SqueezeExcite

# (output channels, stride) of the blocks around the repeated 512-channel stage, as in MobileNet-V1.
_HEAD_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))
_TAIL_BLOCKS = ((1024, 2), (1024, 1))
_FIXED_LAYERS = 2  # the stem conv and the classifier


@dataclass(frozen=True)
class ProbeConfig:
    activation: str = "relu"
    depth: int = 30
    width: float = 1.0
    input_size: int = 224
    se: bool = False
    skip: bool = False

    def blocks(self) -> list[tuple[int, int]]:
        repeated = (self.depth - _FIXED_LAYERS) // 2 - len(_HEAD_BLOCKS) - len(_TAIL_BLOCKS)
        if (self.depth - _FIXED_LAYERS) % 2 or repeated < 0:
            minimum = _FIXED_LAYERS + 2 * (len(_HEAD_BLOCKS) + len(_TAIL_BLOCKS))
            raise MobileReproError(f"probe depth must be even and at least {minimum}, got {self.depth}")
        return [*_HEAD_BLOCKS, *[(512, 1)] * repeated, *_TAIL_BLOCKS]

    def channels(self, base: int) -> int:
        return max(8, int(round(base * self.width / 8)) * 8)


class ConvBNAct(nn.Sequential):
    def __init__(self, in_channels, out_channels, kernel_size, stride, groups, activation: nn.Module | None):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            *([activation] if activation is not None else []),
        )


class ProbeBlock(nn.Module):
    """Depthwise 3x3 -> BN -> act, pointwise 1x1 -> BN -> (SE) -> act, (+ identity shortcut when shapes agree)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, config: ProbeConfig):
        super().__init__()
        self.depthwise = ConvBNAct(in_channels, in_channels, 3, stride, in_channels,
                                   make_activation(config.activation, in_channels))
        self.pointwise = ConvBNAct(in_channels, out_channels, 1, 1, 1, None)
        self.se = SqueezeExcite(out_channels) if config.se else nn.Identity()
        self.act = make_activation(config.activation, out_channels)
        self.residual = config.skip and in_channels == out_channels and stride == 1

    def forward(self, x):
        out = self.act(self.se(self.pointwise(self.depthwise(x))))
        return out + x if self.residual else out


class ProbeNetwork(nn.Module):
    def __init__(self, config: ProbeConfig = ProbeConfig(), num_classes: int = 1000):
        super().__init__()
        self.config = config
        channels = config.channels(32)
        self.stem = ConvBNAct(3, channels, 3, 2, 1, make_activation(config.activation, channels))
        blocks = []
        for base, stride in config.blocks():
            out_channels = config.channels(base)
            blocks.append(ProbeBlock(channels, out_channels, stride, config))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (3, self.config.input_size, self.config.input_size)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def count_layers(model: ProbeNetwork) -> int:
    """Weight layers (convolutions and linear) — the paper's notion of depth."""
    return sum(isinstance(m, nn.Conv2d | nn.Linear) and not _inside_gate(model, m) for m in model.modules())


def _inside_gate(model: nn.Module, layer: nn.Module) -> bool:
    gates = [m for m in model.modules() if isinstance(m, SqueezeExcite) or hasattr(m, "hyper")]
    return any(layer is inner for gate in gates for inner in gate.modules())
