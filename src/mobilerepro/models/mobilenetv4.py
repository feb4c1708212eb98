"""MobileNetV4 (Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem", ECCV 2024, arXiv 2404.10518v2).

Read alongside the paper:
- §3.2, Fig. 3 — the Universal Inverted Bottleneck (UIB): optional start depthwise -> 1x1 expansion -> optional
  middle depthwise -> 1x1 projection (+ residual when shapes allow). Its instantiations: IB (middle only),
  ConvNext-like (start only), ExtraDW (both), FFN (neither). The expansion applies to the block's input channels;
  with a middle depthwise the stride is in it, else in the start depthwise; the start depthwise has BN and no
  activation.
- FusedIB — a k x k full convolution that expands, then a 1x1 projection.
- §4, Fig. 4 — Mobile MQA: queries at full resolution with h heads, one key head and one value head shared by all
  query heads, each downsampled by its own stride-2 3x3 depthwise conv + BN when `kv_stride = 2`; pre-norm BN,
  layer scale, residual.
- Appendix Tabs. 11, 12, 14, 15 — the models Conv-S, Conv-M, Conv-L, Hybrid-M, Hybrid-L, written below as data in
  the tables' row order (block type, kernels, expansion, output channels, stride). The layer lists agree block by
  block with timm 1.0.31's `_gen_mobilenet_v4` and with the official TF code; `hybrid_m` is the *code's* Hybrid-M,
  the one timm and the official weights use. The paper's Tab. 13 prints a different Hybrid-M; it is offered as
  `hybrid_m_tab13` (its MQA rows print only their width, so their heads, key dimension and KV stride are the
  code's).
- Head for all models: 1x1 conv to 960 (last stage) -> global average pool -> 1x1 conv 1280 + BN + act -> linear.
  Hybrid models use layer scale (init 1e-5) in UIB and MQA blocks; Hybrid-L uses GELU, the others ReLU.

Multi-scale features, the timm way: `feature_info` lists the stem and the end of every stage (channels, reduction),
`forward_intermediates(x, indices=...)` returns their outputs, and `output_stride=16` or `8` keeps the later stages
at that stride by dilating their depthwise (and plain) convolutions instead of striding them; a block whose stride
is removed keeps its original residual decision (none), as torchvision's dilated MobileNets do.

Weights are never downloaded; `convert_timm_state_dict` maps timm's `mobilenetv4_*` key names to ours (used by the
parity test: timm's random init mapped into ours gives identical outputs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models.layers import MultiScaleFeatures


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never more than 10 % below `value` (MobileNet convention)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# ---------------------------------------------------------------------------------------------------------------
# Architectures as data: one row per block, as in the paper's appendix tables.


@dataclass(frozen=True)
class Conv:
    """Plain convolution + BN + activation ("Conv2D" rows)."""

    kernel: int
    channels: int
    stride: int = 1


@dataclass(frozen=True)
class FusedIB:
    """FusedIB: k x k full conv expanding to expansion * input channels, then 1x1 projection ("FusedIB" rows)."""

    kernel: int
    expansion: float
    channels: int
    stride: int = 1


@dataclass(frozen=True)
class UIB:
    """Universal Inverted Bottleneck ("ExtraDW" / "IB" / "ConvNext" / "FFN" rows): start and middle depthwise
    kernels (0 = absent), expansion, output channels, stride."""

    start_kernel: int
    middle_kernel: int
    expansion: float
    channels: int
    stride: int = 1

    @property
    def kind(self) -> str:
        return {(True, True): "ExtraDW", (False, True): "IB", (True, False): "ConvNext", (False, False): "FFN"}[
            (bool(self.start_kernel), bool(self.middle_kernel))
        ]


@dataclass(frozen=True)
class MQA:
    """Mobile MQA block ("MQA" rows): heads, key/value dimension, key/value downsampling stride, output channels.
    `kv_heads` = 1 is multi-query attention (one key and one value head shared by all query heads); `kv_heads` =
    `heads` is ordinary multi-head self-attention (MHSA), the baseline of the paper's Tab. 2."""

    heads: int
    key_dim: int
    kv_stride: int
    channels: int
    kernel: int = 3  # of the key/value downsampling depthwise convolution
    kv_heads: int = 1


def MHSA(heads: int, key_dim: int, channels: int) -> MQA:  # noqa: N802 - reads like a table row
    """A multi-head self-attention row: every query head has its own key and value head, no KV downsampling."""
    return MQA(heads, key_dim, 1, channels, kv_heads=heads)


@dataclass(frozen=True)
class MobileNetV4Spec:
    name: str
    stem_channels: int
    stages: tuple[tuple, ...]
    activation: str = "relu"
    layer_scale: float | None = None
    input_size: int = 224
    head_channels: int = 1280


def _repeat(block, times: int) -> list:
    return [block] * times


CONV_S = MobileNetV4Spec("conv_s", 32, (
    (Conv(3, 32, 2), Conv(1, 32)),
    (Conv(3, 96, 2), Conv(1, 64)),
    (UIB(5, 5, 3.0, 96, 2), *_repeat(UIB(0, 3, 2.0, 96), 4), UIB(3, 0, 4.0, 96)),
    (UIB(3, 3, 6.0, 128, 2), UIB(5, 5, 4.0, 128), UIB(0, 5, 4.0, 128), UIB(0, 5, 3.0, 128),
     *_repeat(UIB(0, 3, 4.0, 128), 2)),
    (Conv(1, 960),),
), input_size=224)

CONV_M = MobileNetV4Spec("conv_m", 32, (
    (FusedIB(3, 4.0, 48, 2),),
    (UIB(3, 5, 4.0, 80, 2), UIB(3, 3, 2.0, 80)),
    (UIB(3, 5, 6.0, 160, 2), *_repeat(UIB(3, 3, 4.0, 160), 2), UIB(3, 5, 4.0, 160), UIB(3, 3, 4.0, 160),
     UIB(3, 0, 4.0, 160), UIB(0, 0, 2.0, 160), UIB(3, 0, 4.0, 160)),
    (UIB(5, 5, 6.0, 256, 2), UIB(5, 5, 4.0, 256), *_repeat(UIB(3, 5, 4.0, 256), 2), UIB(0, 0, 4.0, 256),
     UIB(3, 0, 4.0, 256), UIB(3, 5, 2.0, 256), UIB(5, 5, 4.0, 256), *_repeat(UIB(0, 0, 4.0, 256), 2),
     UIB(5, 0, 2.0, 256)),
    (Conv(1, 960),),
), input_size=256)

_LARGE_STAGES_0_1 = (
    (FusedIB(3, 4.0, 48, 2),),
    (UIB(3, 5, 4.0, 96, 2), UIB(3, 3, 4.0, 96)),
)

CONV_L = MobileNetV4Spec("conv_l", 24, (
    *_LARGE_STAGES_0_1,
    (UIB(3, 5, 4.0, 192, 2), *_repeat(UIB(3, 3, 4.0, 192), 3), UIB(3, 5, 4.0, 192),
     *_repeat(UIB(5, 3, 4.0, 192), 5), UIB(3, 0, 4.0, 192)),
    (UIB(5, 5, 4.0, 512, 2), *_repeat(UIB(5, 5, 4.0, 512), 3), UIB(5, 0, 4.0, 512), UIB(5, 3, 4.0, 512),
     *_repeat(UIB(5, 0, 4.0, 512), 2), UIB(5, 3, 4.0, 512), UIB(5, 5, 4.0, 512), *_repeat(UIB(5, 0, 4.0, 512), 3)),
    (Conv(1, 960),),
), input_size=384)

HYBRID_M = MobileNetV4Spec("hybrid_m", 32, (
    (FusedIB(3, 4.0, 48, 2),),
    (UIB(3, 5, 4.0, 80, 2), UIB(3, 3, 2.0, 80)),
    (UIB(3, 5, 6.0, 160, 2), UIB(0, 0, 2.0, 160), UIB(3, 3, 4.0, 160), UIB(3, 5, 4.0, 160),
     MQA(4, 64, 2, 160), UIB(3, 3, 4.0, 160), MQA(4, 64, 2, 160), UIB(3, 0, 4.0, 160),
     MQA(4, 64, 2, 160), UIB(3, 3, 4.0, 160), MQA(4, 64, 2, 160), UIB(3, 0, 4.0, 160)),
    (UIB(5, 5, 6.0, 256, 2), UIB(5, 5, 4.0, 256), *_repeat(UIB(3, 5, 4.0, 256), 2), UIB(0, 0, 2.0, 256),
     UIB(3, 5, 2.0, 256), UIB(0, 0, 2.0, 256), UIB(0, 0, 4.0, 256), MQA(4, 64, 1, 256), UIB(3, 0, 4.0, 256),
     MQA(4, 64, 1, 256), UIB(5, 5, 4.0, 256), MQA(4, 64, 1, 256), UIB(5, 0, 4.0, 256), MQA(4, 64, 1, 256),
     UIB(5, 0, 4.0, 256)),
    (Conv(1, 960),),
), layer_scale=1e-5, input_size=256)

HYBRID_L = MobileNetV4Spec("hybrid_l", 24, (
    *_LARGE_STAGES_0_1,
    (UIB(3, 5, 4.0, 192, 2), *_repeat(UIB(3, 3, 4.0, 192), 3), UIB(3, 5, 4.0, 192),
     *_repeat(UIB(5, 3, 4.0, 192), 2), MQA(8, 48, 2, 192), UIB(5, 3, 4.0, 192), MQA(8, 48, 2, 192),
     UIB(5, 3, 4.0, 192), MQA(8, 48, 2, 192), UIB(5, 3, 4.0, 192), MQA(8, 48, 2, 192), UIB(3, 0, 4.0, 192)),
    (UIB(5, 5, 4.0, 512, 2), *_repeat(UIB(5, 5, 4.0, 512), 3), UIB(5, 0, 4.0, 512), UIB(5, 3, 4.0, 512),
     *_repeat(UIB(5, 0, 4.0, 512), 2), UIB(5, 3, 4.0, 512), UIB(5, 5, 4.0, 512),
     MQA(8, 64, 1, 512), UIB(5, 0, 4.0, 512), MQA(8, 64, 1, 512), UIB(5, 0, 4.0, 512),
     MQA(8, 64, 1, 512), UIB(5, 0, 4.0, 512), MQA(8, 64, 1, 512), UIB(5, 0, 4.0, 512)),
    (Conv(1, 960),),
), activation="gelu", layer_scale=1e-5, input_size=384)

# Tab. 13 as printed: expansions are the printed expanded widths over each block's input channels.
HYBRID_M_TAB13 = MobileNetV4Spec("hybrid_m_tab13", 32, (
    (FusedIB(3, 4.0, 48, 2),),
    (UIB(3, 5, 4.0, 80, 2), UIB(3, 3, 2.0, 80)),
    (UIB(3, 5, 6.0, 160, 2), *_repeat(UIB(3, 3, 4.0, 160), 2), UIB(3, 5, 4.0, 160), MQA(4, 64, 2, 160),
     UIB(3, 3, 4.0, 160), MQA(4, 64, 2, 160), UIB(3, 0, 4.0, 160), MQA(4, 64, 2, 160), UIB(0, 0, 4.0, 160),
     MQA(4, 64, 2, 160), UIB(3, 0, 4.0, 160)),
    (UIB(5, 5, 6.0, 256, 2), UIB(5, 5, 4.0, 256), *_repeat(UIB(3, 5, 4.0, 256), 2), UIB(0, 0, 4.0, 256),
     UIB(3, 0, 4.0, 256), UIB(3, 5, 2.0, 256), MQA(4, 64, 1, 256), UIB(5, 5, 4.0, 256), MQA(4, 64, 1, 256),
     UIB(0, 0, 4.0, 256), MQA(4, 64, 1, 256), UIB(0, 0, 4.0, 256), MQA(4, 64, 1, 256), UIB(5, 0, 4.0, 256)),
    (Conv(1, 960),),
), layer_scale=1e-5, input_size=256)

SPECS = {spec.name: spec for spec in (CONV_S, CONV_M, CONV_L, HYBRID_M, HYBRID_L, HYBRID_M_TAB13)}


@dataclass(frozen=True)
class UIBSpace:
    """The choices of a UIB search space shaped like the paper's (§5: per block, the start and middle depthwise
    kernels and the expansion; per stage, depth and width), around the Conv-S/M/L range: a FusedIB first stage, then
    three UIB stages that each start with a stride-2 block, the 1x1 960 conv and the head. `random_spec` draws from
    it (the latency predictor's random networks) and the mini-NAS searches it."""

    depthwise_kernels: tuple[int, ...] = (0, 3, 5)  # 0: no depthwise convolution at that place
    expansions: tuple[float, ...] = (2.0, 3.0, 4.0, 6.0)
    fused_expansions: tuple[float, ...] = (2.0, 4.0)
    fused_widths: tuple[int, ...] = (32, 48)
    stage_widths: tuple[tuple[int, ...], ...] = ((48, 64, 80, 96), (96, 128, 160, 192), (160, 192, 256, 320))
    stage_depths: tuple[tuple[int, int], ...] = ((1, 3), (2, 7), (2, 9))  # inclusive ranges
    stem_widths: tuple[int, ...] = (16, 24, 32)
    input_sizes: tuple[int, ...] = (160, 192, 224, 256)
    last_conv: int = 960


UIB_SPACE = UIBSpace()


def random_spec(seed: int) -> MobileNetV4Spec:
    """A network drawn from `UIB_SPACE`, input 160-256 px. The draw is fixed by `seed` (the latency predictor's
    random networks)."""
    import random

    rng, space = random.Random(seed), UIB_SPACE

    def uib(channels: int, stride: int = 1) -> UIB:
        start, middle = rng.choice(space.depthwise_kernels), rng.choice(space.depthwise_kernels)
        if stride > 1 and not (start or middle):
            middle = 3  # a strided block needs a depthwise convolution to carry its stride
        return UIB(start, middle, rng.choice(space.expansions), channels, stride)

    stages = [(FusedIB(3, rng.choice(space.fused_expansions), rng.choice(space.fused_widths), 2),)]
    for width_choices, depth_range in zip(space.stage_widths, space.stage_depths, strict=True):
        channels = rng.choice(width_choices)
        depth = rng.randint(*depth_range)
        stages.append((uib(channels, 2), *(uib(channels) for _ in range(depth - 1))))
    stages.append((Conv(1, space.last_conv),))
    return MobileNetV4Spec(f"uib_random_{seed}", rng.choice(space.stem_widths), tuple(stages),
                           input_size=rng.choice(space.input_sizes))


ROW_TYPES = {cls.__name__: cls for cls in (Conv, FusedIB, UIB, MQA)}


def spec_table(spec: MobileNetV4Spec) -> dict:
    """`spec` as plain data (JSON): its fields, each stage a list of rows `{"block": type, **fields}`."""
    rows = [[{"block": type(row).__name__, **vars(row)} for row in stage] for stage in spec.stages]
    return {**{k: v for k, v in vars(spec).items() if k != "stages"}, "stages": rows}


def spec_from_table(table: dict) -> MobileNetV4Spec:
    """The spec `spec_table` wrote."""
    fields = {k: v for k, v in table.items() if k != "stages"}
    stages = tuple(tuple(ROW_TYPES[row["block"]](**{k: v for k, v in row.items() if k != "block"}) for row in stage)
                   for stage in table["stages"])
    return MobileNetV4Spec(**fields, stages=stages)


def with_attention(spec: MobileNetV4Spec, row: MQA, count: int = 3) -> MobileNetV4Spec:
    """The MQA ablation of Tab. 2: `count` attention blocks appended to the last UIB stage of `spec` (the paper
    adds three to Conv-L's last stage without saying where; we put them after its last block)."""
    stages = list(spec.stages)
    stages[-2] = (*stages[-2], *[row] * count)
    kind = "mhsa" if row.kv_heads > 1 else "mqa"
    return MobileNetV4Spec(f"{spec.name}_{count}{kind}", spec.stem_channels, tuple(stages), spec.activation,
                           spec.layer_scale, spec.input_size, spec.head_channels)

def without_kv_downsampling(spec: MobileNetV4Spec) -> MobileNetV4Spec:
    """The "no downsampling" row of Tab. 3: every Mobile MQA block of `spec` with its keys and values at full
    resolution (`kv_stride` 1); all else, the MACs of the queries and the output projection included, unchanged."""
    stages = tuple(tuple(replace(row, kv_stride=1) if isinstance(row, MQA) else row for row in stage)
                   for stage in spec.stages)
    return replace(spec, name=f"{spec.name}_no_kv_downsampling", stages=stages)


# ---------------------------------------------------------------------------------------------------------------
# Blocks


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(inplace=True), "gelu": nn.GELU()}[name]


class ConvBN(nn.Sequential):
    """Convolution (no bias) + BN (+ activation)."""

    def __init__(self, in_channels, out_channels, kernel, stride=1, groups=1, activation: str | None = None,
                 dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, dilation * (kernel // 2), dilation=dilation,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        if activation:
            self.act = _activation(activation)


class LayerScale(nn.Module):
    """Per-channel learnable scale of a residual branch (initialised to a small value)."""

    def __init__(self, channels: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class _Residual(nn.Module):
    """Adds the block's input when shapes allow (stride 1, same channels), after the optional layer scale and, in
    training, stochastic depth (`drop_path`, set by the model; Tab. 10)."""

    def _finish(self, out, x):
        out = self.layer_scale(out)
        return self.drop_path(out) + x if self.residual else out

    def _setup_residual(self, in_channels, out_channels, stride, layer_scale):
        self.residual = stride == 1 and in_channels == out_channels
        self.layer_scale = LayerScale(out_channels, layer_scale) if layer_scale is not None else nn.Identity()
        self.drop_path = nn.Identity()


class UniversalInvertedBottleneck(_Residual):
    """UIB (§3.2, Fig. 3): [start dw k1 + BN] -> 1x1 expand + BN + act -> [middle dw k2 + BN + act] -> 1x1 project
    + BN (+ layer scale) (+ residual). The stride sits in the middle depthwise if present, else in the start one."""

    def __init__(self, in_channels: int, row: UIB, activation: str, layer_scale: float | None,
                 stride: int | None = None, dilation: int = 1):
        super().__init__()
        stride = row.stride if stride is None else stride
        mid = make_divisible(in_channels * row.expansion)
        start_stride = stride if not row.middle_kernel else 1
        self.start_dw = (ConvBN(in_channels, in_channels, row.start_kernel, start_stride, in_channels,
                                dilation=dilation) if row.start_kernel else None)
        self.expand = ConvBN(in_channels, mid, 1, activation=activation)
        self.middle_dw = (ConvBN(mid, mid, row.middle_kernel, stride, mid, activation=activation, dilation=dilation)
                          if row.middle_kernel else None)
        self.project = ConvBN(mid, row.channels, 1)
        self._setup_residual(in_channels, row.channels, row.stride, layer_scale)

    def forward(self, x):
        out = self.start_dw(x) if self.start_dw is not None else x
        out = self.expand(out)
        if self.middle_dw is not None:
            out = self.middle_dw(out)
        return self._finish(self.project(out), x)


class FusedInvertedBottleneck(_Residual):
    """FusedIB: k x k full convolution expanding + BN + act, then 1x1 projection + BN (+ residual)."""

    def __init__(self, in_channels: int, row: FusedIB, activation: str, layer_scale: float | None,
                 stride: int | None = None, dilation: int = 1):
        super().__init__()
        stride = row.stride if stride is None else stride
        mid = make_divisible(in_channels * row.expansion)
        self.expand = ConvBN(in_channels, mid, row.kernel, stride, activation=activation, dilation=dilation)
        self.project = ConvBN(mid, row.channels, 1)
        self._setup_residual(in_channels, row.channels, row.stride, None)  # the official models never scale FusedIB

    def forward(self, x):
        return self._finish(self.project(self.expand(x)), x)


class MobileMQA(nn.Module):
    """Mobile MQA (§4): queries from a 1x1 conv with `heads` heads at full resolution; one key head and one value
    head (`kv_heads` = 1) shared by all query heads, each optionally downsampled by its own stride-`kv_stride`
    depthwise conv + BN before its 1x1 projection; scaled dot-product attention; 1x1 output projection. With
    `kv_heads` = `heads` it is ordinary multi-head self-attention."""

    def __init__(self, channels: int, out_channels: int, heads: int, key_dim: int, kv_stride: int, kernel: int,
                 kv_heads: int = 1):
        super().__init__()
        self.heads, self.key_dim, self.kv_heads = heads, key_dim, kv_heads
        self.query = nn.Conv2d(channels, heads * key_dim, 1, bias=False)
        self.key_down = ConvBN(channels, channels, kernel, kv_stride, channels) if kv_stride > 1 else None
        self.value_down = ConvBN(channels, channels, kernel, kv_stride, channels) if kv_stride > 1 else None
        self.key = nn.Conv2d(channels, kv_heads * key_dim, 1, bias=False)
        self.value = nn.Conv2d(channels, kv_heads * key_dim, 1, bias=False)
        self.output = nn.Conv2d(heads * key_dim, out_channels, 1, bias=False)

    def forward(self, x):
        batch, _, height, width = x.shape
        q = self.query(x).reshape(batch, self.heads, self.key_dim, height * width).transpose(-1, -2)
        kv_input_k = self.key_down(x) if self.key_down is not None else x
        kv_input_v = self.value_down(x) if self.value_down is not None else x
        k = self._heads(self.key(kv_input_k))  # (B, kv_heads, P, key_dim); kv_heads = 1 broadcasts to all heads
        v = self._heads(self.value(kv_input_v))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, H*W, key_dim)
        out = out.transpose(1, 2).reshape(batch, height, width, self.heads * self.key_dim).permute(0, 3, 1, 2)
        return self.output(out)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        batch = t.shape[0]
        return t.reshape(batch, self.kv_heads, self.key_dim, -1).transpose(-1, -2)


class MobileMQABlock(_Residual):
    """Pre-norm BN -> Mobile MQA -> layer scale -> + input (§4)."""

    def __init__(self, in_channels: int, row: MQA, activation: str, layer_scale: float | None,
                 stride: int | None = None, dilation: int = 1):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.attention = MobileMQA(in_channels, row.channels, row.heads, row.key_dim, row.kv_stride, row.kernel,
                                   row.kv_heads)
        self._setup_residual(in_channels, row.channels, 1, layer_scale)

    def forward(self, x):
        return self._finish(self.attention(self.norm(x)), x)


class ConvBlock(ConvBN):
    """A "Conv2D" row: convolution + BN + activation."""

    def __init__(self, in_channels: int, row: Conv, activation: str, layer_scale: float | None,
                 stride: int | None = None, dilation: int = 1):
        super().__init__(in_channels, row.channels, row.kernel, row.stride if stride is None else stride,
                         activation=activation, dilation=dilation)


_BLOCKS = {Conv: ConvBlock, FusedIB: FusedInvertedBottleneck, UIB: UniversalInvertedBottleneck, MQA: MobileMQABlock}


@dataclass(frozen=True)
class PlacedBlock:
    """A block row where the network puts it: its input channels, the stride and dilation it runs with, and the
    feature reduction after it."""

    row: object
    in_channels: int
    stride: int
    dilation: int
    reduction: int


def block_layout(spec: MobileNetV4Spec, output_stride: int = 32) -> list[list[PlacedBlock]]:
    """Every stage's blocks as the network builds them: once the features reach `output_stride`, a block's stride
    becomes dilation."""
    channels, reduction, dilation, stages = spec.stem_channels, 2, 1, []
    for rows in spec.stages:
        placed = []
        for row in rows:
            stride = getattr(row, "stride", 1)
            if stride > 1 and reduction * stride > output_stride:
                stride, dilation = 1, dilation * row.stride
            reduction *= stride
            placed.append(PlacedBlock(row, channels, stride, dilation, reduction))
            channels = row.channels
        stages.append(placed)
    return stages


def build_block(spec: MobileNetV4Spec, block: PlacedBlock) -> nn.Module:
    return _BLOCKS[type(block.row)](block.in_channels, block.row, spec.activation, spec.layer_scale,
                                    stride=block.stride, dilation=block.dilation)


class MobileNetV4(MultiScaleFeatures, nn.Module):
    """Stem 3x3 s2 conv + BN + act, the spec's stages, then GAP -> 1x1 conv 1280 + BN + act -> dropout -> linear.

    `drop_rate` is the classifier dropout and `drop_path_rate` the stochastic depth of Tab. 10's recipes; the
    depth rate grows linearly from 0 at the first block to `drop_path_rate` at the last. `output_stride` 16 or 8
    dilates instead of striding once the features reach that stride."""

    def __init__(self, spec: MobileNetV4Spec | str, num_classes: int = 1000, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, output_stride: int = 32):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise MobileReproError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        spec = SPECS[spec] if isinstance(spec, str) else spec
        self.spec = spec
        self.stem = ConvBN(3, spec.stem_channels, 3, 2, activation=spec.activation)
        self.feature_info = [{"num_chs": spec.stem_channels, "reduction": 2, "module": "stem"}]
        stages, channels = [], spec.stem_channels
        for index, placed in enumerate(block_layout(spec, output_stride)):
            stages.append(nn.Sequential(*(build_block(spec, block) for block in placed)))
            channels, reduction = placed[-1].row.channels, placed[-1].reduction
            self.feature_info.append({"num_chs": channels, "reduction": reduction, "module": f"stages.{index}"})
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = ConvBN(channels, spec.head_channels, 1, activation=spec.activation)
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(spec.head_channels, num_classes)
        blocks = [block for stage in self.stages for block in stage]
        for index, block in enumerate(blocks):
            rate = drop_path_rate * index / max(len(blocks) - 1, 1)
            if isinstance(block, _Residual) and rate > 0:
                block.drop_path = DropPath(rate)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (3, self.spec.input_size, self.spec.input_size)

    def forward_features(self, x):
        return self.stages(self.stem(x))

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, *self.stages]

    def forward(self, x):
        x = self.head(self.pool(self.forward_features(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


def mobilenetv4(name: str, *, num_classes: int = 1000, **options) -> MobileNetV4:
    """A model of `SPECS`; `options`: `drop_rate`, `drop_path_rate`."""
    if name not in SPECS:
        raise MobileReproError(f"unknown MobileNetV4 model {name!r} (choose one of: {', '.join(SPECS)})")
    return MobileNetV4(SPECS[name], num_classes=num_classes, **options)


TIMM_NAMES = {
    "conv_s": "mobilenetv4_conv_small", "conv_m": "mobilenetv4_conv_medium", "conv_l": "mobilenetv4_conv_large",
    "hybrid_m": "mobilenetv4_hybrid_medium", "hybrid_l": "mobilenetv4_hybrid_large",
}

_TIMM_RULES = [
    (r"^conv_stem\.", "stem.conv."), (r"^bn1\.", "stem.bn."),
    (r"^blocks\.", "stages."),
    (r"\.dw_start\.", ".start_dw."), (r"\.pw_exp\.", ".expand."), (r"\.dw_mid\.", ".middle_dw."),
    (r"\.pw_proj\.", ".project."),
    (r"\.conv_exp\.", ".expand.conv."), (r"\.conv_pwl\.", ".project.conv."), (r"\.bn2\.", ".project.bn."),
    (r"\.attn\.query\.proj\.", ".attention.query."),
    (r"\.attn\.key\.down_conv\.", ".attention.key_down.conv."), (r"\.attn\.key\.norm\.", ".attention.key_down.bn."),
    (r"\.attn\.key\.proj\.", ".attention.key."),
    (r"\.attn\.value\.down_conv\.", ".attention.value_down.conv."),
    (r"\.attn\.value\.norm\.", ".attention.value_down.bn."),
    (r"\.attn\.value\.proj\.", ".attention.value."),
    (r"\.attn\.output\.proj\.", ".attention.output."),
    (r"^conv_head\.", "head.conv."), (r"^norm_head\.", "head.bn."),
]


def convert_timm_state_dict(state_dict: dict) -> dict:
    """Rename timm `mobilenetv4_*` keys to ours. timm names the first BN `bn1` both in its plain conv block (ours:
    `bn`) and in its FusedIB (ours: `expand.bn`), so the block type is read from its sibling keys."""
    fused_blocks = {key.split(".conv_exp.")[0] for key in state_dict if ".conv_exp." in key}
    converted = {}
    for key, value in state_dict.items():
        prefix, separator, rest = key.partition(".bn1.")
        if separator and prefix.startswith("blocks."):
            key = f"{prefix}.{'expand.bn' if prefix in fused_blocks else 'bn'}.{rest}"
        for pattern, replacement in _TIMM_RULES:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return converted
