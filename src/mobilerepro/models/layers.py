"""Building blocks shared by several model families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilerepro import MobileReproError


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


def feature_indices(indices, count: int) -> list[int]:
    """timm's convention for `forward_intermediates`: None -> every point, an int n -> the last n, a list -> those
    (negative ones from the end)."""
    if indices is None:
        return list(range(count))
    if isinstance(indices, int):
        if not 0 < indices <= count:
            raise MobileReproError(f"indices={indices}: there are {count} feature points")
        return list(range(count - indices, count))
    if any(not -count <= i < count for i in indices):
        raise MobileReproError(f"indices {list(indices)} out of range for {count} feature points")
    return sorted(i % count for i in indices)


class MultiScaleFeatures:
    """Backbone features the timm way, for a model whose `feature_modules()` run in sequence and whose
    `feature_info` has one entry (channels, reduction, module) per module's output."""

    feature_info: list[dict]

    def feature_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def forward_intermediates(self, x, indices=None, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False):
        """The outputs at the feature points `indices` (None: all; an int n: the last n; a list: those), and unless
        `intermediates_only` the final features too, as `(final, intermediates)`. `norm` is accepted for timm
        compatibility (these backbones have no final norm)."""
        if output_fmt != "NCHW":
            raise MobileReproError(f"{type(self).__name__} gives NCHW features only, not {output_fmt}")
        modules = self.feature_modules()
        take = feature_indices(indices, len(modules))
        intermediates = []
        for index, module in enumerate(modules):
            x = module(x)
            if index in take:
                intermediates.append(x)
            if stop_early and index == max(take):
                break
        if intermediates_only:
            return intermediates
        for module in modules[index + 1:]:
            x = module(x)
        return x, intermediates
