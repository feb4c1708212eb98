"""The detectors and segmenters of the papers, as mmdet / mmseg configs derived from those packages' own configs.

- **SSDLite-320** (MobileOne Tab. 11): mmdet's `ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py` is the anchor, as
  shipped; a zoo backbone replaces MobileNetV2 and feeds SSDNeck its stride-16 and stride-32 features, everything
  else unchanged.
- **DeepLabV3** (MobileOne Tab. 11): mmseg's `mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py` (ADE20K, 150
  classes) and the same head on `deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py` (VOC, 21 classes); a zoo backbone
  dilated to output stride 8 or 16 feeds the ASPP head its last features and the auxiliary FCN head the stage
  before. MobileOne does not say how it was dilated: dilating the last stage(s) is our choice (`output_stride`).
- **RetinaNet-384** (MobileNetV4 §7.2, Tab. 7): mmdet's `retinanet_r50_fpn_1x_coco.py` with a 256-d FPN on P3-P7
  and a 4-layer 256-d head, their 3x3 convolutions depthwise-separable (`SeparableFPN`, `SeparableRetinaHead`).

`DenseForward` is the network without post-processing (what latency and MACs are about); its outputs are a flat
tuple of tensors so that every backend can run it.
"""

from __future__ import annotations

from pathlib import Path

import mmdet
import mmseg
import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RetinaHead
from mmdet.models.necks import FPN
from mmengine.config import Config

from mobilerepro import MobileReproError
from mobilerepro.dense.backbones import DET_MODELS, ZooBackbone
from mobilerepro.measure.complexity import count_macs, count_params
from mobilerepro.models import get_spec
from mobilerepro.models.zoo import build_classifier

BACKBONE_TYPES = {"mobileone": "mobilerepro.MobileOne", "mnv4": "mobilerepro.MobileNetV4",
                  "efficientnet": "mobilerepro.EfficientNet"}
DATASETS = {"voc": ("deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py", 21),
            "ade20k": ("mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py", 150)}
SSDLITE = "ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py"
DEEPLABV3_MOBILENETV2 = "mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py"
RETINANET = "retinanet/retinanet_r50_fpn_1x_coco.py"
ANCHOR = "mobilenet_v2"  # the packages' own MobileNetV2 configs


def package_config(package, relative: str) -> Config:
    """A config shipped inside mmdet or mmseg (`<package>/.mim/configs/...`)."""
    path = Path(package.__file__).parent / ".mim" / "configs" / relative
    if not path.exists():
        raise MobileReproError(f"{package.__name__} {package.__version__} ships no config {relative}")
    return Config.fromfile(str(path))


def feature_points(name: str, reductions: tuple[int, ...], output_stride: int = 32) -> tuple[list[int], list[int]]:
    """(indices, channels) of the last feature point of `name` at each reduction (the end of the stage that produces
    that stride)."""
    info = build_classifier(name, num_classes=1, output_stride=output_stride).feature_info
    indices = []
    for reduction in reductions:
        found = [i for i, point in enumerate(info) if point["reduction"] == reduction]
        if not found:
            raise MobileReproError(f"{name} has no features at stride {reduction} (output stride {output_stride})")
        indices.append(found[-1])
    return indices, [info[i]["num_chs"] for i in indices]


def zoo_backbone(name: str, out_indices: list[int], output_stride: int = 32, **options) -> dict:
    family, variant = name.split("_", 1)
    if family not in BACKBONE_TYPES:
        raise MobileReproError(f"{name} is not a MobileOne, MobileNetV4 or EfficientNet model: no OpenMMLab backbone "
                               "for it")
    get_spec(name)
    return dict(type=BACKBONE_TYPES[family], variant=variant, out_indices=tuple(out_indices),
                output_stride=output_stride, **options)


def ssdlite(backbone: str, num_classes: int = 80) -> Config:
    """SSDLite-320 of mmdet's MobileNetV2 config, on `backbone` (a zoo name, or "mobilenet_v2" for the anchor)."""
    config = package_config(mmdet, SSDLITE)
    model = config.model
    if backbone != ANCHOR:
        indices, channels = feature_points(backbone, (16, 32))
        model.backbone = zoo_backbone(backbone, indices)
        model.neck.in_channels = tuple(channels)
        model.neck.out_channels = (*channels, *model.neck.out_channels[2:])
        model.bbox_head.in_channels = model.neck.out_channels
    model.bbox_head.num_classes = num_classes
    return config


def deeplabv3(backbone: str, dataset: str = "voc", output_stride: int = 8) -> Config:
    """DeepLabV3 (ASPP + auxiliary FCN head) of mmseg's MobileNetV2-d8 config for `dataset` (voc | ade20k) on
    `backbone` dilated to `output_stride`."""
    if dataset not in DATASETS:
        raise MobileReproError(f"unknown dataset {dataset!r} (choose from: {', '.join(DATASETS)})")
    relative, classes = DATASETS[dataset]
    config = package_config(mmseg, relative)
    mobilenet_v2 = package_config(mmseg, DEEPLABV3_MOBILENETV2).model
    model = config.model
    model.backbone, model.pretrained = mobilenet_v2.backbone, None
    model.decode_head.in_channels = mobilenet_v2.decode_head.in_channels
    model.auxiliary_head.in_channels = mobilenet_v2.auxiliary_head.in_channels
    model.backbone.norm_cfg = model.decode_head.norm_cfg = model.auxiliary_head.norm_cfg = dict(
        type="BN", requires_grad=True)  # SyncBN needs a process group; BN is the same layer on one process
    if backbone != ANCHOR:
        # ASPP on the last features, the auxiliary head on the stage before (as mmseg's MobileNetV2-d8 does).
        info = build_classifier(backbone, num_classes=1, output_stride=output_stride).feature_info
        auxiliary, last = len(info) - 2, len(info) - 1
        model.backbone = zoo_backbone(backbone, [auxiliary, last], output_stride)
        model.auxiliary_head.in_channels, model.auxiliary_head.in_index = info[auxiliary]["num_chs"], 0
        model.decode_head.in_channels, model.decode_head.in_index = info[last]["num_chs"], 1
    elif output_stride != 8:
        raise MobileReproError("mmseg's MobileNetV2 anchor is output stride 8 only")
    model.decode_head.num_classes = model.auxiliary_head.num_classes = classes
    model.data_preprocessor.size = None
    return config


def retinanet(backbone: str, num_classes: int = 80, input_size: int = 384) -> Config:
    """RetinaNet with a 256-d depthwise-separable FPN on P3-P7 and a 4-layer 256-d separable head (MNv4 §7.2)."""
    config = package_config(mmdet, RETINANET)
    model = config.model
    indices, channels = feature_points(backbone, (8, 16, 32))
    model.backbone = zoo_backbone(backbone, indices)
    model.neck = dict(type="mobilerepro.SeparableFPN", in_channels=channels, out_channels=256, start_level=0,
                      add_extra_convs="on_input", num_outs=5)
    model.bbox_head.type = "mobilerepro.SeparableRetinaHead"
    model.bbox_head.num_classes = num_classes
    config.input_size = input_size
    return config


# -- separable FPN and RetinaNet head ------------------------------------------------------------------------------
def separable_like(conv: ConvModule) -> DepthwiseSeparableConvModule:
    """A depthwise-separable convolution with the same channels, kernel, stride, padding, norm and activation."""
    inner = conv.conv
    return DepthwiseSeparableConvModule(inner.in_channels, inner.out_channels, inner.kernel_size, stride=inner.stride,
                                        padding=inner.padding, norm_cfg=conv.norm_cfg, act_cfg=conv.act_cfg)


@DET_MODELS.register_module()
class SeparableFPN(FPN):
    """mmdet's FPN with its 3x3 output and extra-level convolutions depthwise-separable (MNv4 §7.2); the 1x1 lateral
    convolutions stay as they are."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fpn_convs = torch.nn.ModuleList(separable_like(conv) for conv in self.fpn_convs)


@DET_MODELS.register_module()
class SeparableRetinaHead(RetinaHead):
    """mmdet's RetinaHead with every 3x3 convolution depthwise-separable (MNv4 §7.2): the stacked convolutions and
    the two predictors (a depthwise 3x3, then the pointwise predictor that keeps its name and prior-probability
    initialisation)."""

    def _init_layers(self):
        super()._init_layers()
        self.cls_convs = torch.nn.ModuleList(separable_like(conv) for conv in self.cls_convs)
        self.reg_convs = torch.nn.ModuleList(separable_like(conv) for conv in self.reg_convs)
        channels = self.feat_channels
        self.cls_depthwise = torch.nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.reg_depthwise = torch.nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.retina_cls = torch.nn.Conv2d(channels, self.retina_cls.out_channels, 1)
        self.retina_reg = torch.nn.Conv2d(channels, self.retina_reg.out_channels, 1)

    def forward_single(self, x):
        cls_feat, reg_feat = x, x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return self.retina_cls(self.cls_depthwise(cls_feat)), self.retina_reg(self.reg_depthwise(reg_feat))


# -- building, counting --------------------------------------------------------------------------------------------
def build(config: Config, *, deploy: bool = False) -> torch.nn.Module:
    """The network of `config` in eval mode (`deploy`: zoo backbones in their inference form)."""
    from mmengine.logging import MMLogger
    from mmengine.registry import MODELS, init_default_scope

    init_default_scope(config.default_scope)
    model = MODELS.build(config.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel("WARNING")  # init_weights logs every parameter's initialiser at INFO
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model.eval()
    if deploy and isinstance(model.backbone, ZooBackbone):
        model.backbone.switch_to_deploy()
    fix_ssd_predict(model)
    return model


def fix_ssd_predict(model: torch.nn.Module) -> None:
    """mmdet 3.3.0: SSDHead.predict_by_feat reads `loss_cls`, which SSDHead never sets (it computes its loss itself):
    set it on the model rather than edit the installed package."""
    if type(getattr(model, "bbox_head", None)).__name__ == "SSDHead":
        model.bbox_head.loss_cls = None


def flatten(outputs) -> tuple[torch.Tensor, ...]:
    if isinstance(outputs, torch.Tensor):
        return (outputs,)
    return tuple(t for item in outputs for t in flatten(item))


class DenseForward(torch.nn.Module):
    """The network up to its raw outputs (no decoding, no NMS, no upsampling to the image): a flat tuple of tensors."""

    def __init__(self, model: torch.nn.Module, part: str = "all"):
        super().__init__()
        self.model, self.part = model, part

    def forward(self, images):
        if self.part == "backbone":
            return flatten(self.model.backbone(images))
        if self.part == "features":
            return flatten(self.model.extract_feat(images))
        return flatten(self.model._forward(images))


class PostProcessing:
    """What mmdet / mmseg run after the raw outputs at inference, on fixed raw outputs of the network, as a callable
    to time apart from it (the papers' latencies are of the network; this is the rest of a deployed detector).

    Detectors: box decoding, score threshold, top-k and NMS by the config's `test_cfg` (`bbox_head.predict_by_feat`).
    The class logits are drawn from a standard normal (seeded) instead of the untrained network's, whose scores sit
    below the threshold and would leave NMS nothing to do: far more candidates clear the threshold than a trained
    detector's on a typical image, so every level sends up to its `nms_pre` best to NMS and the output fills
    `max_per_img` boxes — the config's bound, above what a trained detector pays. Segmenters: logits resized to the
    input (bilinear) and the per-pixel argmax (`decode_head.predict_by_feat`, then `postprocess_result`)."""

    def __init__(self, model: torch.nn.Module, input_size: tuple[int, int, int], seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        height, width = input_size[1:]
        self.model = model
        self.metas = [dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                           scale_factor=(1.0, 1.0))]
        with torch.no_grad():
            raw = model._forward(torch.randn(1, *input_size, generator=generator))
        self.detector = hasattr(model, "bbox_head")
        if self.detector:
            scores, boxes = raw
            self.raw = ([torch.randn(s.shape, generator=generator) for s in scores], boxes)
        else:
            self.raw = raw

    def __call__(self):
        with torch.inference_mode():
            if self.detector:
                return self.model.bbox_head.predict_by_feat(*self.raw, batch_img_metas=self.metas, rescale=False)
            logits = self.model.decode_head.predict_by_feat(self.raw, self.metas)
            return self.model.postprocess_result(logits)

    def outputs(self) -> int:
        """Boxes kept (detectors) or labelled pixels (segmenters) per image."""
        result = self()[0]
        return len(result) if self.detector else result.pred_sem_seg.data.numel()


def heads(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {name: getattr(model, name) for name in ("bbox_head", "decode_head") if hasattr(model, name)}


def complexity(model: torch.nn.Module, input_size: tuple[int, int, int]) -> dict[str, float]:
    """Params and MACs (our convention, at batch 1) of backbone / neck / head of the network as it runs at inference
    (the auxiliary segmentation head, training only, is counted apart)."""
    macs = {part: sum(count_macs(DenseForward(model, part), input_size).values())
            for part in ("backbone", "features", "all")}
    neck = getattr(model, "neck", None)
    result = {
        "backbone_params": count_params(model.backbone),
        "neck_params": count_params(neck) if neck is not None else 0,
        "head_params": sum(count_params(head) for head in heads(model).values()),
        "backbone_macs": macs["backbone"], "neck_macs": macs["features"] - macs["backbone"],
        "head_macs": macs["all"] - macs["features"],
        "auxiliary_params": count_params(model.auxiliary_head) if getattr(model, "auxiliary_head", None) else 0,
    }
    result["params"] = result["backbone_params"] + result["neck_params"] + result["head_params"]
    result["macs"] = macs["all"]
    return result
