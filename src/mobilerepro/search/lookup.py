"""A network's latency-predictor features from a lookup table of its parts.

The predictor (`measure.predictor`) reads a network's layer list: its MACs by kind of layer, the bytes its layers
move and its layer count. Every one of those is a sum over layers, so it is a sum over the network's parts — the
stem, each block where it stands (input channels, resolution, stride), the head. Each distinct part is costed once
(`measure.complexity.layer_costs` on that part alone) and kept, as FBNet's and ProxylessNAS's latency lookup tables
keep one latency per block: a search that evaluates thousands of networks builds each part only the first time it
meets it. `features(spec)` equals `predictor.features` of the whole network (tested).
"""

from __future__ import annotations

import functools

from torch import nn

from mobilerepro.measure import predictor as lp
from mobilerepro.measure.complexity import layer_costs
from mobilerepro.models.mobilenetv4 import ConvBN, MobileNetV4Spec, block_layout, build_block

ADDITIVE = ("dense_conv_gmacs", "pointwise_gmacs", "depthwise_gmacs", "matmul_gmacs", "weight_mbytes",
            "activation_mbytes", "layers", "gmacs")
LISTS = ("layer_macs", "layer_bytes")


def _spec_of(stem: int, activation: str, layer_scale: float | None) -> MobileNetV4Spec:
    return MobileNetV4Spec("part", stem, (), activation, layer_scale)


@functools.cache
def _part(kind: str, key: tuple) -> dict:
    if kind == "stem":
        channels, size, activation = key
        return lp.features(layer_costs(ConvBN(3, channels, 3, 2, activation=activation), (3, size, size)))
    if kind == "block":
        block, size, activation, layer_scale = key
        return lp.features(layer_costs(build_block(_spec_of(0, activation, layer_scale), block),
                                       (block.in_channels, size, size)))
    channels, size, head_channels, classes, activation = key
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBN(channels, head_channels, 1, activation=activation),
                         nn.Flatten(1), nn.Linear(head_channels, classes))
    return lp.features(layer_costs(head, (channels, size, size)))


def _size_after(size: int, stride: int) -> int:
    return -(-size // stride)  # 'same' padding: ceil


def features(spec: MobileNetV4Spec, num_classes: int = 1000) -> dict:
    """`predictor.features` of `MobileNetV4(spec)` at its input size, from the parts' table."""
    size = _size_after(spec.input_size, 2)
    parts = [_part("stem", (spec.stem_channels, spec.input_size, spec.activation))]
    channels = spec.stem_channels
    for stage in block_layout(spec):
        for block in stage:
            parts.append(_part("block", (block, size, spec.activation, spec.layer_scale)))
            size, channels = _size_after(size, block.stride), block.row.channels
    parts.append(_part("head", (channels, size, spec.head_channels, num_classes, spec.activation)))
    total = {name: sum(part[name] for part in parts) for name in ADDITIVE}
    return {**total, **{name: [v for part in parts for v in part[name]] for name in LISTS}}


def cached_parts() -> int:
    """How many distinct parts the table holds."""
    return _part.cache_info().currsize
