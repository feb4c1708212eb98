"""MobileOne (Vasu et al., "An Improved One millisecond Mobile Backbone", CVPR 2023, arXiv 2206.04040v2).

Read alongside the paper:
- §3.3 / Fig. 3 — the MobileOne block: at train time k over-parameterised conv+BN branches, a 1x1 conv+BN "scale"
  branch (when the kernel is larger than 1x1) and a BN-only skip branch (when input and output shapes agree), summed,
  then (SE) and ReLU; at inference one convolution with bias. Each network "block" of Tab. 7 is a depthwise 3x3
  MobileOne block followed by a pointwise 1x1 MobileOne block.
- Tab. 7 — the variants S0-S4 as data (`VARIANTS`): width multipliers alpha per stage, k, and SE placement.

Reparameterisation folds every branch into one kernel and bias (`MobileOneBlock.reparameterize()`); the model-level
entry point is `mobilerepro.reparam.reparameterize_model()`. A model can also be built directly in inference form
(`inference_mode=True`), which is what a fused checkpoint loads into.

Multi-scale features, the timm way (for detection and segmentation heads): `feature_info` lists the stem and the
four stages with their channels and reduction, `forward_intermediates(x, indices=...)` returns their outputs, and
`output_stride=16` or `8` replaces the stride of the last stage(s) by dilation (the paper does not say how its
DeepLabV3 got a stride-8 map from MobileOne; dilating the depthwise convolutions of those stages, as mmseg does for
MobileNetV2, is our choice). Every form reparameterises exactly, dilated or not.

Checkpoint compatibility (`convert_state_dict`, `load_checkpoint`): state dicts of timm's `mobileone_s*` and of
Apple's released files (official `mobileone.py` key names: `stage0`..`stage4`, `rbr_conv`, `rbr_scale`,
`rbr_skip`, `se.reduce`/`se.expand`, `linear`) are renamed to ours, unfused or fused alike. Apple's files are not
available offline; the mapping is tested on key names and shapes derived from the official definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models.layers import MultiScaleFeatures, SqueezeExcite


@dataclass(frozen=True)
class MobileOneVariant:
    """One column group of Tab. 7: width multipliers alpha_1..alpha_4, number of branches k, SE-ReLU or not."""

    name: str
    widths: tuple[float, float, float, float]
    num_conv_branches: int
    use_se: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One row of Tab. 7: blocks (dw + pw pairs), base channels scaled by the stage's alpha; stride 2 first."""

    blocks: int
    base_channels: int


# Tab. 7, stages 1-4 (the stem, stage 0, is one 3x3 stride-2 block to min(64, 64 * alpha_1) channels).
STAGES = (StageSpec(2, 64), StageSpec(8, 128), StageSpec(10, 256), StageSpec(1, 512))

VARIANTS = {
    "s0": MobileOneVariant("s0", (0.75, 1.0, 1.0, 2.0), num_conv_branches=4),
    "s1": MobileOneVariant("s1", (1.5, 1.5, 2.0, 2.5), num_conv_branches=1),
    "s2": MobileOneVariant("s2", (1.5, 2.0, 2.5, 4.0), num_conv_branches=1),
    "s3": MobileOneVariant("s3", (2.0, 2.5, 3.0, 4.0), num_conv_branches=1),
    "s4": MobileOneVariant("s4", (3.0, 3.5, 3.5, 4.0), num_conv_branches=1, use_se=True),
}


def se_blocks_in_stage(variant: MobileOneVariant, stage_index: int) -> int:
    """How many of a stage's last blocks use SE-ReLU (S4 only): the last half of stage 3 and all of stage 4 (§4)."""
    if not variant.use_se:
        return 0
    blocks = STAGES[stage_index].blocks
    return {2: blocks // 2, 3: blocks}.get(stage_index, 0)


class ConvBN(nn.Sequential):
    """A convolution without bias followed by BatchNorm: one branch of the train-time block (Fig. 3)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, groups, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, dilation * (kernel_size // 2),
                              dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)


def fuse_conv_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold eval-mode BN into a preceding bias-free convolution: BN(W * x) = (gamma / std) W * x + (beta - mu gamma /
    std)."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


def identity_kernel(channels: int, groups: int, kernel_size: int, like: torch.Tensor) -> torch.Tensor:
    """The k x k (grouped) convolution kernel that computes the identity: a 1 at the centre of each channel's own
    input."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, kernel_size, kernel_size, dtype=like.dtype, device=like.device)
    centre = kernel_size // 2
    kernel[torch.arange(channels), torch.arange(channels) % per_group, centre, centre] = 1.0
    return kernel


class MobileOneBlock(nn.Module):
    """The MobileOne block (§3.3, Fig. 3).

    Train time: `num_conv_branches` (k) parallel k x k conv+BN branches; a 1x1 conv+BN scale branch when the kernel is
    larger than 1x1; a BN-only skip branch when in == out channels and stride 1; their sum goes through SE (optional)
    and ReLU. Inference: `reparam_conv`, one convolution with bias, then SE and ReLU. `use_scale_branch` and
    `use_skip_branch` exist for the ablations of Tab. 5 (the paper's blocks have both where shapes allow).
    `dilation` spaces the k x k taps (dilated backbones); the 1x1 scale branch and the skip land on the centre tap,
    so fusion is unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        num_conv_branches: int = 1,
        use_se: bool = False,
        inference_mode: bool = False,
        use_scale_branch: bool = True,
        use_skip_branch: bool = True,
        dilation: int = 1,
    ):
        super().__init__()
        if num_conv_branches < 1:
            raise MobileReproError(f"a MobileOne block needs at least one conv branch, got k={num_conv_branches}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.groups, self.dilation = kernel_size, stride, groups, dilation
        self.se = SqueezeExcite(out_channels) if use_se else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        if inference_mode:
            self.reparam_conv = self._fused_conv()
            return
        self.reparam_conv = None
        self.conv_branches = nn.ModuleList(
            ConvBN(in_channels, out_channels, kernel_size, stride, groups, dilation) for _ in range(num_conv_branches)
        )
        self.scale_branch = (
            ConvBN(in_channels, out_channels, 1, stride, groups) if use_scale_branch and kernel_size > 1 else None
        )
        self.skip_branch = (
            nn.BatchNorm2d(in_channels)
            if use_skip_branch and in_channels == out_channels and stride == 1
            else None
        )

    def _fused_conv(self) -> nn.Conv2d:
        return nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.dilation * (self.kernel_size // 2),
            dilation=self.dilation, groups=self.groups, bias=True,
        )

    @property
    def is_reparameterized(self) -> bool:
        return self.reparam_conv is not None

    def forward(self, x):
        if self.reparam_conv is not None:
            return self.act(self.se(self.reparam_conv(x)))
        out = sum(branch(x) for branch in self.conv_branches)
        if self.scale_branch is not None:
            out = out + self.scale_branch(x)
        if self.skip_branch is not None:
            out = out + self.skip_branch(x)
        return self.act(self.se(out))

    def fused_kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single k x k kernel and bias equal (in eval mode) to the sum of all branches."""
        pairs = [fuse_conv_bn(branch.conv.weight, branch.bn) for branch in self.conv_branches]
        if self.scale_branch is not None:
            kernel, bias = fuse_conv_bn(self.scale_branch.conv.weight, self.scale_branch.bn)
            pad = self.kernel_size // 2
            pairs.append((F.pad(kernel, [pad, pad, pad, pad]), bias))
        if self.skip_branch is not None:
            identity = identity_kernel(self.in_channels, self.groups, self.kernel_size, self.skip_branch.weight)
            pairs.append(fuse_conv_bn(identity, self.skip_branch))
        kernel = torch.stack([k for k, _ in pairs]).sum(0)
        bias = torch.stack([b for _, b in pairs]).sum(0)
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one convolution with bias (idempotent). Uses BN running statistics, so the result
        equals the block's eval-mode output."""
        if self.reparam_conv is not None:
            return
        kernel, bias = self.fused_kernel_and_bias()
        fused = self._fused_conv().to(device=kernel.device, dtype=kernel.dtype)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        self.reparam_conv = fused
        del self.conv_branches, self.scale_branch, self.skip_branch


class MobileOne(MultiScaleFeatures, nn.Module):
    """MobileOne-S0..S4 (Tab. 7): stem, four stages of (depthwise 3x3 + pointwise 1x1) MobileOne blocks with the
    first block of each stage at stride 2, global average pooling and a linear classifier."""

    def __init__(
        self,
        variant: MobileOneVariant | str,
        num_classes: int = 1000,
        inference_mode: bool = False,
        *,
        use_scale_branch: bool = True,
        use_skip_branch: bool = True,
        stem_stride: int = 2,
        output_stride: int = 32,
    ):
        """`use_scale_branch` / `use_skip_branch` switch those branches off in every block (the ablations of Tab. 5);
        `stem_stride=1` keeps small inputs (32x32) from shrinking to 1x1 before the last stage; `output_stride` 16 or
        8 dilates the last one or two stages instead of striding them."""
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise MobileReproError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        variant = VARIANTS[variant] if isinstance(variant, str) else variant
        self.variant = variant
        alphas, k = variant.widths, variant.num_conv_branches
        in_channels = min(64, int(64 * alphas[0]))
        branches = {"inference_mode": inference_mode, "use_scale_branch": use_scale_branch,
                    "use_skip_branch": use_skip_branch}
        # The stem is never over-parameterised (k = 1), in the paper and in the official code.
        self.stem = MobileOneBlock(3, in_channels, 3, stride=stem_stride, **branches)
        reduction, dilation = stem_stride, 1
        self.feature_info = [{"num_chs": in_channels, "reduction": reduction, "module": "stem"}]
        stages = []
        for index, (stage, alpha) in enumerate(zip(STAGES, alphas, strict=True)):
            out_channels = int(stage.base_channels * alpha)
            first_se = stage.blocks - se_blocks_in_stage(variant, index)
            stage_stride = 2
            if reduction * 2 > output_stride:
                stage_stride, dilation = 1, dilation * 2
            reduction *= stage_stride
            blocks = []
            for block_index in range(stage.blocks):
                stride = stage_stride if block_index == 0 else 1
                use_se = block_index >= first_se
                common = {"num_conv_branches": k, "use_se": use_se, **branches}
                # A first block dilated instead of strided keeps the branches of the strided one (no skip), so the
                # dilated network has the same weights as the plain one.
                first_of_dilated = block_index == 0 and stage_stride == 1
                depthwise = {**common, "use_skip_branch": common["use_skip_branch"] and not first_of_dilated}
                blocks.append(MobileOneBlock(in_channels, in_channels, 3, stride, groups=in_channels,
                                             dilation=dilation, **depthwise))
                blocks.append(MobileOneBlock(in_channels, out_channels, 1, 1, **common))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append({"num_chs": out_channels, "reduction": reduction, "module": f"stages.{index}"})
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward_features(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, *self.stages]

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.forward_features(x)), 1))


def mobileone(variant: str, *, num_classes: int = 1000, inference_mode: bool = False,
              num_conv_branches: int | None = None, **options) -> MobileOne:
    """MobileOne-`variant`; `num_conv_branches` overrides Tab. 7's k (the ablation of Tab. 6), `options` are
    `MobileOne`'s branch and stem switches."""
    if variant not in VARIANTS:
        raise MobileReproError(f"unknown MobileOne variant {variant!r} (choose one of: {', '.join(VARIANTS)})")
    spec = VARIANTS[variant]
    if num_conv_branches is not None:
        spec = replace(spec, num_conv_branches=num_conv_branches)
    return MobileOne(spec, num_classes=num_classes, inference_mode=inference_mode, **options)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint key mapping: (pattern, replacement) rules applied in order to every key.

_BLOCK_RULES = [
    (r"\.conv_kxk\.", ".conv_branches."),  # timm
    (r"\.conv_scale\.", ".scale_branch."),
    (r"\.identity\.", ".skip_branch."),
    (r"\.attn\.fc1\.", ".se.reduce."),
    (r"\.attn\.fc2\.", ".se.expand."),
    (r"\.rbr_conv\.", ".conv_branches."),  # Apple
    (r"\.rbr_scale\.", ".scale_branch."),
    (r"\.rbr_skip\.", ".skip_branch."),
]
KEY_RULES = {
    "timm": [(r"^head\.fc\.", "classifier."), *_BLOCK_RULES[:5]],
    "apple": [
        (r"^stage0\.", "stem."),
        (r"^stage([1-4])\.", lambda m: f"stages.{int(m.group(1)) - 1}."),
        (r"^linear\.", "classifier."),
        *_BLOCK_RULES[5:],
    ],
}


def detect_source(state_dict: dict) -> str:
    keys = list(state_dict)
    if any(key.startswith("stage0.") for key in keys):
        return "apple"
    if any(key.startswith("head.fc.") or ".conv_kxk." in key for key in keys):
        return "timm"
    if any(key.startswith("stem.") for key in keys) and any(key.startswith("classifier.") for key in keys):
        return "mobilerepro"
    raise MobileReproError("unrecognised MobileOne checkpoint: expected timm, Apple (official) or mobilerepro keys")


def convert_state_dict(state_dict: dict, source: str | None = None) -> dict:
    """Rename a timm or Apple MobileOne state dict to our key names (DataParallel's `module.` prefix is dropped)."""
    state_dict = {re.sub(r"^module\.", "", key): value for key, value in state_dict.items()}
    source = source or detect_source(state_dict)
    if source == "mobilerepro":
        return dict(state_dict)
    if source not in KEY_RULES:
        raise MobileReproError(f"unknown checkpoint source {source!r} (choose one of: timm, apple)")
    converted = {}
    for key, value in state_dict.items():
        if key.endswith("id_tensor"):  # Apple's cached identity kernel, not a parameter
            continue
        for pattern, replacement in KEY_RULES[source]:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return converted


def load_checkpoint(model: MobileOne, path: str | Path, source: str | None = None) -> MobileOne:
    """Load a timm, Apple or mobilerepro checkpoint (fused or unfused, matching `model`) with weights_only=True."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    missing, unexpected = model.load_state_dict(convert_state_dict(checkpoint, source), strict=False)
    if missing or unexpected:
        raise MobileReproError(
            f"checkpoint {path} does not fit {type(model).__name__}-{model.variant.name}: "
            f"{len(missing)} missing keys (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); "
            "is it fused while the model is not (or the reverse)?"
        )
    return model
