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
    description = "DeepLabV3 on MobileOne-S0 and mmseg's MobileNetV2-d8, trained on small real sets, mIoU held out"
    task = "segmentation"
    config_type = SegmentationTrainingConfig
    datasets = ("camvid-segnet", "coco128-cocofmt")
    profiles = {
        "smoke": {"backbones": ["mobileone_s0"], "sets": ["camvid"], "seeds": [0], "epochs": 1, "batch_size": 4,
                  "images": 24,
                  "crop_size": 64},
        "quick": {"backbones": ["mobileone_s0", "mobilenet_v2"], "sets": ["camvid"], "seeds": [0, 1], "epochs": 8,
                  "crop_size": 128},
        "full": {"backbones": ["mobileone_s0", "mobilenet_v2"], "sets": ["camvid", "coco128-voc"],
                 "seeds": [0, 1, 2], "epochs": 30, "crop_size": 256},
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
                f"photometric distortion; {config.epochs} epochs at batch {config.batch_size} from scratch",
                "SGD 0.01 with a warm-up over a tenth of the run, cosine to zero",
                f"{config.threads} CPU threads; scores by mmseg's IoUMetric"]


EXPERIMENT = SegmentationTraining()
