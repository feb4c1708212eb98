"""Parameter count and MACs of a model at one input size.

Convention (stated in every table of the book): **MACs = multiply-accumulates of convolutions, linear layers and
attention matmuls** at batch 1. Normalisation layers, activations, pooling, element-wise additions and softmax are
not counted. This is the convention of MobileOne's "FLOPs" column (which is in fact MACs, fvcore style) and of
MobileNetV3's published count. Other counters give more for the same model: fvcore also counts BatchNorm, thop
also counts activations.

The per-op formulas are torch's own (`torch.utils.flop_counter.flop_registry`, which counts FLOPs = 2 x MACs);
we apply them through a minimal dispatch mode (`layer_costs`, shared with the roofline model) instead of
`FlopCounterMode`, whose module tracker fails on models that pass tuples between modules (e.g. PiT), and we add
the CPU flash-attention kernel, which the registry lacks, with torch's SDPA formula.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop

FLOP_FORMULAS = dict(flop_registry)
FLOP_FORMULAS[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = sdpa_flop


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


@dataclass(frozen=True)
class LayerCost:
    """One multiplying layer (convolution, linear, attention matmul): its MACs and the elements it reads and
    writes — weights (the model's parameters among its operands) and activations (the other operands + output).
    `necessary_macs` leaves out the multiplications of convolution taps that fall on zero padding (a heavily dilated
    convolution has many): no kernel has to do them, so the roofline's floor counts only these."""

    op: str
    macs: int
    weight_elements: int
    activation_elements: int
    necessary_macs: int | None = None
    kernel_area: int = 1  # taps of a convolution's kernel (1 for 1x1 convolutions and matmuls)
    depthwise: bool = False  # a convolution with one input channel per output channel group

    def __post_init__(self):
        if self.necessary_macs is None:
            object.__setattr__(self, "necessary_macs", self.macs)

    def bytes(self, bytes_per_element: float) -> float:
        return (self.weight_elements + self.activation_elements) * bytes_per_element


class _LayerRecorder(TorchDispatchMode):
    def __init__(self, parameter_storages: set[int]):
        super().__init__()
        self.parameters = parameter_storages
        self.layers: list[LayerCost] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = FLOP_FORMULAS.get(func.overloadpacket)
        if formula is not None:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            weights = sum(t.numel() for t in tensors if _storage(t) in self.parameters)
            inputs = sum(t.numel() for t in tensors if _storage(t) not in self.parameters)
            output = out[0] if isinstance(out, tuple) else out
            macs = int(formula(*args, **kwargs, out_val=out)) // 2
            necessary, kernel_area, depthwise = macs, 1, False
            if func.overloadpacket is torch.ops.aten.convolution:
                kernel_area = math.prod(args[1].shape[2:])
                depthwise = args[8] > 1 and args[1].shape[1] == 1
                if not args[6]:  # not transposed
                    necessary = round(macs * inside_tap_fraction(args[0].shape[2:], args[1].shape[2:],
                                                                 output.shape[2:], args[3], args[4], args[5]))
            self.layers.append(LayerCost(str(func.overloadpacket), macs, weights, inputs + output.numel(), necessary,
                                         kernel_area, depthwise))
        return out


def inside_tap_fraction(in_size, kernel, out_size, stride, padding, dilation) -> float:
    """The share of a convolution's (output position, kernel tap) pairs that read the input rather than its zero
    padding, over all spatial dimensions."""
    fraction = 1.0
    for n_in, k, n_out, s, p, d in zip(in_size, kernel, out_size, stride, padding, dilation, strict=True):
        inside = sum(1 for o in range(n_out) for t in range(k) if 0 <= o * s - p + t * d < n_in)
        fraction *= inside / (n_out * k)
    return fraction


def _storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def layer_costs(model: torch.nn.Module, input_size: tuple[int, int, int] = (3, 224, 224)) -> list[LayerCost]:
    """Every multiplying layer of one eval-mode forward pass at batch 1 on a random input, in execution order."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    recorder = _LayerRecorder({_storage(p) for p in model.parameters()})
    try:
        with torch.no_grad(), recorder:
            model(torch.randn(1, *input_size, device=device))
    finally:
        model.train(was_training)
    return recorder.layers


def count_params(model: torch.nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, input_size: tuple[int, int, int] = (3, 224, 224)) -> dict[str, int]:
    """MACs of one forward pass at batch 1, per aten op."""
    by_op: Counter[str] = Counter()
    for layer in layer_costs(model, input_size):
        by_op[layer.op] += layer.macs
    return dict(by_op)


def measure_complexity(model: torch.nn.Module, input_size: tuple[int, int, int] = (3, 224, 224)) -> Complexity:
    """Params and MACs of `model` as it is: reparameterise first to count the inference form."""
    by_op = count_macs(model, input_size)
    return Complexity(
        params=count_params(model), macs=sum(by_op.values()), input_size=tuple(input_size), macs_by_op=by_op
    )
