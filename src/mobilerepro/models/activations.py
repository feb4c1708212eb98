"""The activations of MobileOne Tab. 2, written from their papers.

- ReLU, GELU, SiLU: torch's.
- SE-ReLU (MobileOne §3.2): a squeeze-excite gate followed by ReLU.
- Dynamic ReLU (Chen et al., "Dynamic ReLU", ECCV 2020): y_c = max_k (a_c^k(x) x_c + b_c^k(x)), with the K = 2 pieces'
  coefficients produced from the whole input by a hyper function. DY-ReLU-A shares them over space and channels,
  DY-ReLU-B over space only (one set per channel).
- Dynamic Shift-Max (Li et al., "MicroNet", ICCV 2021): y_i = max_k sum_j a^k_{i,j}(x) x_{(i + j C/G) mod C}, J = K = 2:
  each output channel is the maximum of K input-dependent mixtures of its own channel and the channel C/G places
  further on (a circular shift by one group).

The dynamic ones need a global pooling of their input before they can compute a single output value: the
synchronisation MobileOne blames for their latency on mobile (Tab. 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models.layers import SqueezeExcite


class SEReLU(nn.Module):
    """SE-ReLU: squeeze-excite then ReLU (MobileOne §3.2, Tab. 2; used in S4)."""

    def __init__(self, channels: int, reduction: float = 1 / 16):
        super().__init__()
        self.se = SqueezeExcite(channels, reduction)

    def forward(self, x):
        return F.relu(self.se(x))


class _HyperFunction(nn.Module):
    """theta(x): global average pool -> FC (C -> C/R) -> ReLU -> FC (-> outputs): coefficient residuals of a dynamic
    activation (DY-ReLU §3.2; MicroNet §3.3)."""

    def __init__(self, channels: int, outputs: int, reduction: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, max(channels // reduction, 4))
        self.fc2 = nn.Linear(max(channels // reduction, 4), outputs)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.mean((2, 3)))))


class DynamicReLU(nn.Module):
    """Dynamic ReLU (Chen et al. 2020). Coefficients a^k = alpha^k + lambda_a * da^k and b^k = beta^k + lambda_b * db^k,
    where (da, db) = 2 sigmoid(theta(x)) - 1 in [-1, 1]; alpha = (1, 0), beta = (0, 0), lambda_a = 1.0,
    lambda_b = 0.5, K = 2 (the paper's defaults), so a zero residual gives plain ReLU.

    mode 'A': one set of 2K coefficients for the whole tensor (spatial- and channel-shared);
    mode 'B': 2K coefficients per channel (spatial-shared, channel-wise).
    """

    def __init__(self, channels: int, mode: str = "B", pieces: int = 2, reduction: int = 4,
                 lambda_a: float = 1.0, lambda_b: float = 0.5):
        super().__init__()
        if mode not in ("A", "B"):
            raise MobileReproError(f"DynamicReLU mode must be 'A' or 'B', got {mode!r}")
        self.mode, self.pieces = mode, pieces
        coefficient_sets = 1 if mode == "A" else channels
        self.hyper = _HyperFunction(channels, 2 * pieces * coefficient_sets, reduction)
        self.register_buffer("init_a", torch.tensor([1.0] + [0.0] * (pieces - 1)))
        self.register_buffer("init_b", torch.zeros(pieces))
        self.register_buffer("scales", torch.tensor([lambda_a] * pieces + [lambda_b] * pieces))

    def coefficients(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Slopes a and intercepts b, each of shape (N, 1 or C, K)."""
        residual = 2 * torch.sigmoid(self.hyper(x)) - 1
        residual = residual.view(x.shape[0], -1, 2 * self.pieces) * self.scales
        return self.init_a + residual[..., : self.pieces], self.init_b + residual[..., self.pieces :]

    def forward(self, x):
        a, b = self.coefficients(x)
        pieces = (x * a[..., k, None, None] + b[..., k, None, None] for k in range(self.pieces))
        return _elementwise_max(pieces)


def _elementwise_max(tensors):
    # A running maximum keeps every tensor at the input's rank (Core ML accepts rank <= 5 only).
    result = None
    for tensor in tensors:
        result = tensor if result is None else torch.maximum(result, tensor)
    return result


def hard_sigmoid(x):
    """MicroNet's h_sigmoid: ReLU6(x + 3) / 6."""
    return F.relu6(x + 3) / 6


class DynamicShiftMax(nn.Module):
    """Dynamic Shift-Max (MicroNet, Li et al. 2021), J = 2 channel terms and K = 2 pieces:
    y_i = max_k (a^k_{i,0}(x) x_i + a^k_{i,1}(x) x_{(i + C/G) mod C}).

    Coefficients a = init + (h_sigmoid(theta(x)) - 0.5) * 2 * act_max with init a^1_{i,0} = 1 and the rest 0 (as the
    official code initialises it), so a zero residual gives plain ReLU.
    """

    def __init__(self, channels: int, groups: int = 4, reduction: int = 4, act_max: float = 2.0):
        super().__init__()
        if channels % groups:
            raise MobileReproError(f"Dynamic Shift-Max needs channels ({channels}) divisible by groups ({groups})")
        self.shift = channels // groups
        self.act_max = act_max
        self.hyper = _HyperFunction(channels, 4 * channels, reduction)
        # (k, j) order: a^1_0, a^1_1, a^2_0, a^2_1
        self.register_buffer("init", torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def coefficients(self, x) -> torch.Tensor:
        """Coefficients of shape (N, C, K=2, J=2)."""
        residual = (hard_sigmoid(self.hyper(x)) - 0.5) * 2 * self.act_max
        return (self.init + residual.view(x.shape[0], -1, 4)).view(x.shape[0], -1, 2, 2)

    def forward(self, x):
        a = self.coefficients(x)
        shifted = torch.roll(x, shifts=-self.shift, dims=1)  # channel i holds x_{(i + C/G) mod C}
        pieces = (a[:, :, k, 0, None, None] * x + a[:, :, k, 1, None, None] * shifted for k in range(2))
        return _elementwise_max(pieces)


ACTIVATIONS = {
    "relu": lambda channels: nn.ReLU(inplace=True),
    "gelu": lambda channels: nn.GELU(),
    "se_relu": SEReLU,
    "silu": lambda channels: nn.SiLU(inplace=True),
    "dynamic_shift_max": DynamicShiftMax,
    "dynamic_relu_a": lambda channels: DynamicReLU(channels, mode="A"),
    "dynamic_relu_b": lambda channels: DynamicReLU(channels, mode="B"),
}


def make_activation(name: str, channels: int) -> nn.Module:
    if name not in ACTIVATIONS:
        raise MobileReproError(f"unknown activation {name!r} (choose one of: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name](channels)
