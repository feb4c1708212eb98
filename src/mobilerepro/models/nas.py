"""The NAS papers' baselines and searched networks that timm does not register, as data built with timm's own
EfficientNet builder (timm is the model), plus the width-scaled MobileNetV2s the papers compare against.

- FBNet-B (Wu et al., CVPR 2019, Fig. 4; 74.1 % / 295 M MACs on a Samsung S8): the layer list as the FBNet
  authors' maskrcnn-benchmark model definition writes it (``block_op_type``). Their later mobile-vision definition
  differs in one block (the second 64-channel block expands 6x instead of 1x) and counts 306 M MACs here, against
  297 M for this one: the published 295 M picks this reading. A ``skip`` block is the identity and is left out, as
  timm's FBNet-C leaves it out.
- MobileNetV2 at width 1.3 (FBNet's baseline) from torchvision, whose width rounding is the paper's; 1.4 and 0.35
  from timm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Stages after the 16-channel stem, in timm's block notation (ir = inverted residual, r repeats, k kernel, s stride,
# e expansion, c output channels).
FBNET_B = [
    ["ir_r1_k3_s1_e1_c16"],
    ["ir_r1_k3_s2_e6_c24", "ir_r1_k5_s1_e1_c24", "ir_r2_k3_s1_e1_c24"],
    ["ir_r1_k5_s2_e6_c32", "ir_r1_k5_s1_e3_c32", "ir_r1_k3_s1_e6_c32", "ir_r1_k5_s1_e6_c32"],
    ["ir_r1_k5_s2_e6_c64", "ir_r1_k5_s1_e1_c64", "ir_r1_k5_s1_e3_c64"],  # then a skip
    ["ir_r1_k5_s1_e6_c112", "ir_r1_k3_s1_e1_c112", "ir_r1_k5_s1_e1_c112", "ir_r1_k5_s1_e3_c112"],
    ["ir_r1_k5_s2_e6_c184", "ir_r1_k5_s1_e1_c184", "ir_r2_k5_s1_e6_c184"],
    ["ir_r1_k3_s1_e6_c352"],
]
FBNET_STEM, FBNET_FEATURES = 16, 1984


def fbnet_b(**kwargs) -> torch.nn.Module:
    """FBNet-B as timm's EfficientNet: stem 3x3 conv 16, the stages above, 1x1 conv 1984, pool, classifier."""
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.efficientnet import EfficientNet

    return EfficientNet(block_args=decode_arch_def(FBNET_B), stem_size=FBNET_STEM, num_features=FBNET_FEATURES,
                        **kwargs)


def _timm(name: str) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)

    return build


def _torchvision_mobilenet_v2(width: float) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        from torchvision.models import mobilenet_v2

        return mobilenet_v2(weights=None, width_mult=width)

    return build


# name -> (builder, input side, where it comes from)
BASELINES: dict[str, tuple[Callable[[], torch.nn.Module], int, str]] = {
    "mobilenet_v2_1_4": (_timm("mobilenetv2_140"), 224, "timm mobilenetv2_140"),
    "mobilenet_v2_1_3": (_torchvision_mobilenet_v2(1.3), 224, "torchvision mobilenet_v2(width_mult=1.3)"),
    "mobilenet_v2_0_35": (_timm("mobilenetv2_035"), 224, "timm mobilenetv2_035"),
    "fbnet_b": (fbnet_b, 224, "FBNet-B's layer list (models/nas.py) in timm's EfficientNet"),
    "efficientnet_b1": (_timm("efficientnet_b1"), 240, "timm efficientnet_b1 (its 240 px)"),
    "resnet152": (_timm("resnet152"), 224, "timm resnet152"),
}


def build_baseline(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return BASELINES[name][0]().eval()
