"""Building blocks shared by several model families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite (Hu et al. 2018) as MobileOne uses it for SE-ReLU (§3.2, Tab. 2; S4 in Tab. 7): global
    average pool, 1x1 reduce to `reduction` of the channels, ReLU, 1x1 expand, sigmoid gate on every channel."""

    def __init__(self, channels: int, reduction: float = 1 / 16):
        super().__init__()
        reduced = max(int(channels * reduction), 1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))

    def forward(self, x):
        return x * self.gate(x)
