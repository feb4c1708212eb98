"""Pipeline chapter: DeepLabV3 trained on CamVid (and COCO128's VOC-style masks) through mmseg's runner, mIoU on a
held-out part (reduced scale; the template is `dense_training`)."""

from __future__ import annotations

from dataclasses import dataclass

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.experiments._dense_training import DenseTrainingConfig, DenseTrainingExperiment


@dataclass(frozen=True)
class SegmentationTrainingConfig(DenseTrainingConfig):
    crop_size: int = 128


class SegmentationTraining(DenseTrainingExperiment):
    title = "DeepLabV3 trained on CamVid and COCO128-VOC (reduced scale)"
    description = ("DeepLabV3 on EfficientNet-Lite0 from scratch vs from its ImageNet weights, trained on CamVid, "
                   "mIoU held out")
    task = "segmentation"
    config_type = SegmentationTrainingConfig
    datasets = ("camvid-segnet", "coco128-cocofmt")
    profiles = {
        "smoke": {"backbones": ["efficientnet_lite0"], "pretrained": ["efficientnet_lite0"], "sets": ["camvid"],
                  "seeds": [0], "epochs": 1, "batch_size": 4, "images": 16, "crop_size": 64},
        # 3 seeds x 2 starts within a quarter of an hour on 2 cores (Lite0 dilated to stride 8 is the cost).
        "quick": {"backbones": ["efficientnet_lite0"], "pretrained": ["efficientnet_lite0"], "sets": ["camvid"],
                  "seeds": [0, 1, 2], "epochs": 3, "crop_size": 112},
        "full": {"backbones": ["mobileone_s0", "mobilenet_v2", "efficientnet_lite0"],
                 "pretrained": ["efficientnet_lite0"], "sets": ["camvid", "coco128-voc"], "seeds": [0, 1, 2],
                 "epochs": 30, "crop_size": 256},
    }

    def network_config(self, config, backbone, dataset, folder, seed):
        from mobilerepro.dense import training

        if dataset not in training.SEGMENTATION_DATA:
            raise MobileReproError(f"unknown set {dataset!r} (choose from: {', '.join(training.SEGMENTATION_DATA)})")
        data = resolve(training.SEGMENTATION_DATA[dataset])
        return training.segmentation_config(backbone, dataset, data, folder, self.budget(config), seed,
                                            config.crop_size)

    def adaptations(self, config) -> list[str]:
        return [f"sets {', '.join(config.sets)}, each split {1 - config.held_out_fraction:.0%} training / "
                f"{config.held_out_fraction:.0%} held out by a fixed shuffle (CamVid: its 101 val frames, 11 classes, "
                "void ignored; COCO128-VOC: 21 VOC classes rasterised from COCO polygons)",
                f"mmseg's DeepLabV3 at output stride 8, random-resize (0.5-2x) crops of {config.crop_size} px, flip, "
                f"photometric distortion; {config.epochs} epochs at batch {config.batch_size} "
                + self.start_text(config, "dilated to output stride 8"),
                "SGD 0.01 with a warm-up over a tenth of the run, cosine to zero",
                f"{config.threads} CPU threads; scores by mmseg's IoUMetric"]


EXPERIMENT = SegmentationTraining()
