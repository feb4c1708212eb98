"""Zoo backbones as OpenMMLab backbones: the outputs of chosen feature points (timm's `forward_intermediates`), at
output stride 32, 16 or 8, with mmdet's `frozen_stages` / `norm_eval` conventions and a deploy (reparameterised)
form for latency."""

from __future__ import annotations

from pathlib import Path

import torch
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.hooks import Hook
from mmengine.model import BaseModule
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import Registry
from mmseg.registry import MODELS as MMSEG_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mobilerepro import MobileReproError
from mobilerepro.models import model_names
from mobilerepro.models.pretrained import read_state_dict
from mobilerepro.models.zoo import build_classifier
from mobilerepro.reparam import reparameterize_model

SCOPE = "mobilerepro"
# Children of mmdet's and mmseg's MODELS: `type='mobilerepro.MobileOne'` resolves in either tree.
DET_MODELS = Registry("model", parent=MMDET_MODELS, scope=SCOPE)
SEG_MODELS = Registry("model", parent=MMSEG_MODELS, scope=SCOPE)
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope=SCOPE)  # `type='mobilerepro.BackboneCheckpointHook'`


def register(cls):
    for registry in (DET_MODELS, SEG_MODELS):
        registry.register_module(module=cls)
    return cls


class ZooBackbone(BaseModule):
    """A zoo model's feature extractor. `out_indices` index its feature points (0 the stem, i the end of stage i:
    `feature_info`); `frozen_stages` = n freezes the stem and stages 1..n (-1: none); `norm_eval` keeps
    BatchNorm statistics fixed while training; `deploy` builds the inference (reparameterised) form."""

    family = ""

    def __init__(self, variant: str, out_indices: tuple[int, ...] | None = None, output_stride: int = 32,
                 frozen_stages: int = -1, norm_eval: bool = False, deploy: bool = False, init_cfg=None,
                 **options):
        super().__init__(init_cfg=init_cfg)
        prefix = f"{self.family}_"
        choices = [n.removeprefix(prefix) for n in model_names(variants=True) if n.startswith(prefix)]
        if variant not in choices:
            raise MobileReproError(f"unknown {type(self).__name__} variant {variant!r} (choose one of: "
                                   f"{', '.join(choices)})")
        name = prefix + variant
        body = build_classifier(name, num_classes=1, output_stride=output_stride, **options)
        self.dropped_children = self.head_children(body)
        for child in self.dropped_children:  # the classifier head is not part of a backbone
            delattr(body, child)
        if "num_classes" in vars(body):  # nor are classes: mmdet's class-count check would read timm's attribute
            del body.num_classes
        self.body = reparameterize_model(body.eval(), inplace=True) if deploy else body
        points = len(body.feature_info)
        self.out_indices = tuple(range(1, points)) if out_indices is None else tuple(out_indices)
        if not self.out_indices or not all(0 <= i < points for i in self.out_indices):
            raise MobileReproError(f"out_indices must lie in 0..{points - 1} for {name}, got {out_indices}")
        if not -1 <= frozen_stages < points:
            raise MobileReproError(f"frozen_stages must lie in -1..{points - 1} for {name}, got {frozen_stages}")
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.feature_info = [body.feature_info[i] for i in self.out_indices]
        self._freeze()

    @staticmethod
    def head_children(body: torch.nn.Module) -> tuple[str, ...]:
        """The classifier's children a backbone drops: those holding no feature point."""
        kept = {info["module"].split(".")[0] for info in body.feature_info}
        return tuple(child for child, _ in body.named_children() if child not in kept)

    def feature_modules(self) -> list[torch.nn.Module]:
        """The modules that produce feature point 0, 1, ... (what `frozen_stages` freezes)."""
        return self.body.feature_modules()

    @property
    def out_channels(self) -> list[int]:
        return [info["num_chs"] for info in self.feature_info]

    @property
    def strides(self) -> list[int]:
        return [info["reduction"] for info in self.feature_info]

    def _freeze(self) -> None:
        for module in self.feature_modules()[: self.frozen_stages + 1]:
            module.eval()
            for parameter in module.parameters():
                parameter.requires_grad = False

    def forward(self, x):
        return tuple(self.body.forward_intermediates(x, indices=list(self.out_indices), stop_early=True,
                                                     intermediates_only=True))

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fold the training-time branches into the inference form, in place (after training, before timing); fusion
        uses the BatchNorm running statistics, so the backbone is put in eval mode."""
        self.eval()
        reparameterize_model(self.body, inplace=True)


@register
class MobileOne(ZooBackbone):
    """MobileOne-S0..S4 (MobileOne Tab. 7) as a backbone; its 5 feature points are the stem (stride 2) and the four
    stages (strides 4, 8, 16, 32 at output stride 32)."""

    family = "mobileone"


@register
class MobileNetV4(ZooBackbone):
    """MobileNetV4 Conv-S/M/L and Hybrid-M/L (MNv4 Tabs. 11-15) as a backbone; its feature points are the stem and
    the ends of the spec's stages."""

    family = "mnv4"


@register
class EfficientNet(ZooBackbone):
    """EfficientNet-B0 and EfficientNet-Lite0 (timm's TF-padded form, which the released ImageNet weights fill:
    `models.pretrained`) as a backbone; its 5 feature points are the ends of the stages that change the stride (2, 4,
    8, 16, 32), the stem belonging to the first."""

    family = "efficientnet"

    @staticmethod
    def head_children(body: torch.nn.Module) -> tuple[str, ...]:
        # The stem (conv_stem, bn1) is no feature point of timm's EfficientNet, but every point needs it.
        return tuple(child for child in ("conv_head", "bn2", "global_pool", "classifier") if hasattr(body, child))

    def feature_modules(self) -> list[torch.nn.Module]:
        ends = [int(info["module"].split(".")[1]) for info in self.body.feature_info]
        blocks = self.body.blocks
        stages = [blocks[start + 1: end + 1] for start, end in zip([-1, *ends], ends, strict=False)]
        return [torch.nn.ModuleList([self.body.conv_stem, self.body.bn1, stages[0]]), *stages[1:]]


def load_backbone_weights(backbone: torch.nn.Module, checkpoint: str | Path) -> int:
    """Load `checkpoint` into `backbone` (a zoo backbone or an OpenMMLab one, e.g. mmdet's MobileNetV2), strictly:
    a state dict, or a training checkpoint (ours: its EMA weights, else its model; timm's or mmpretrain's: under
    `state_dict`), read with `weights_only=True`. Its keys may be the backbone's own, a zoo classifier's (a zoo
    backbone keeps its layers under `body.` and drops the classifier's head) or an OpenMMLab classifier's (under
    `backbone.`). Missing, unexpected or misshapen keys are one line. Returns the number of tensors loaded."""
    state = read_state_dict(checkpoint, "backbone", containers=("ema", "state_dict", "model"))
    state = {key.removeprefix("module."): value for key, value in state.items()}
    expected = backbone.state_dict()
    dropped = tuple(f"body.{child}." for child in getattr(backbone, "dropped_children", ()))
    readings = [state, {f"body.{key}": value for key, value in state.items()},
                {key.removeprefix("backbone."): value for key, value in state.items() if key.startswith("backbone.")}]
    mapped = max(readings, key=lambda reading: len(expected.keys() & reading.keys()))
    mapped = {key: value for key, value in mapped.items() if not key.startswith(dropped) or key in expected}
    missing = sorted(expected.keys() - mapped.keys())
    unexpected = sorted(mapped.keys() - expected.keys())
    misshapen = sorted(key for key in expected.keys() & mapped.keys() if expected[key].shape != mapped[key].shape)
    if missing or unexpected or misshapen:
        parts = [f"{len(keys)} {what} (e.g. {keys[0]})" for what, keys in
                 (("missing", missing), ("unexpected", unexpected), ("of another shape", misshapen)) if keys]
        raise MobileReproError(f"the weights in {checkpoint} do not fit the {type(backbone).__name__} backbone: "
                               f"{', '.join(parts)} keys")
    backbone.load_state_dict(mapped, strict=True)
    return len(mapped)


@HOOKS.register_module()
class BackboneCheckpointHook(Hook):
    """Loads a backbone's ImageNet weights when a run starts from scratch (not when it resumes: the resumed
    checkpoint holds the fine-tuned ones), through `load_backbone_weights` — never mmengine's loader, which reads
    checkpoints without `weights_only`."""

    priority = "VERY_HIGH"

    def __init__(self, checkpoint: str | Path):
        self.checkpoint = str(checkpoint)

    def before_train(self, runner) -> None:
        if runner.iter == 0:
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            loaded = load_backbone_weights(model.backbone, self.checkpoint)
            runner.logger.info(f"backbone: {loaded} tensors from {self.checkpoint}")
