"""Parameter count and MACs of a model at one input size.

Convention (stated in every table of the book): **MACs = multiply-accumulates of convolutions, linear layers and
attention matmuls** at batch 1. Normalisation layers, activations, pooling, element-wise additions and softmax are
not counted. This is the convention of MobileOne's "FLOPs" column (which is in fact MACs, fvcore style) and of
MobileNetV3's 217 M. Other counters disagree: fvcore also counts BN (226 M for MobileNetV3-L), thop counts
activations (234.8 M).

The per-op formulas are torch's own (`torch.utils.flop_counter.flop_registry`, which counts FLOPs = 2 x MACs);
we apply them through a minimal dispatch mode instead of `FlopCounterMode` because the latter's module tracker
fails on models that pass tuples between modules (e.g. PiT), and we add the CPU flash-attention kernel, which the
registry lacks, with torch's SDPA formula.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop

_FLOP_FORMULAS = dict(flop_registry)
_FLOP_FORMULAS[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = sdpa_flop


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    input_size: tuple[int, int, int]
    macs_by_op: dict[str, int] = field(default_factory=dict)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def macs_m(self) -> float:
        return self.macs / 1e6


class _FlopCountingMode(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.flops_by_op: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = _FLOP_FORMULAS.get(func.overloadpacket)
        if formula is not None:
            self.flops_by_op[str(func.overloadpacket)] += int(formula(*args, **kwargs, out_val=out))
        return out


def count_params(model: torch.nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, input_size: tuple[int, int, int] = (3, 224, 224)) -> dict[str, int]:
    """MACs of one forward pass at batch 1, per aten op. The model is run in eval mode on a random input."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    mode = _FlopCountingMode()
    try:
        with torch.no_grad(), mode:
            model(torch.randn(1, *input_size, device=device))
    finally:
        model.train(was_training)
    return {op: flops // 2 for op, flops in mode.flops_by_op.items()}


def measure_complexity(model: torch.nn.Module, input_size: tuple[int, int, int] = (3, 224, 224)) -> Complexity:
    """Params and MACs of `model` as it is: reparameterise first to count the inference form."""
    by_op = count_macs(model, input_size)
    return Complexity(
        params=count_params(model), macs=sum(by_op.values()), input_size=tuple(input_size), macs_by_op=by_op
    )
