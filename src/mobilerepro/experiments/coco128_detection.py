"""Pipeline chapter: SSDLite-320 trained on COCO128 through mmdet's runner, COCO mAP on a held-out part (reduced
scale; the template is `dense_training`)."""

from __future__ import annotations

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.experiments.dense_training import DenseTrainingExperiment


class DetectionTraining(DenseTrainingExperiment):
    id = "pipeline/coco128_detection"
    target = "coco128-detection"
    title = "SSDLite-320 trained on COCO128 (reduced scale)"
    description = "SSDLite-320 on MobileOne-S0 and mmdet's MobileNetV2, trained on most of COCO128, COCO mAP held out"
    order = 200
    task = "detection"
    datasets = ("coco128-cocofmt",)
    profiles = {
        "smoke": {"backbones": ["mobileone_s0"], "sets": ["coco128"], "seeds": [0], "epochs": 1, "batch_size": 4,
                  "images": 24},
        "quick": {"backbones": ["mobileone_s0", "mobilenet_v2"], "sets": ["coco128"], "seeds": [0, 1], "epochs": 6},
        "full": {"backbones": ["mobileone_s0", "mobileone_s1", "mobilenet_v2"], "sets": ["coco128"],
                 "seeds": [0, 1, 2], "epochs": 30},
    }

    def network_config(self, config, backbone, dataset, folder, seed):
        from mobilerepro.dense import training

        if dataset != "coco128":
            raise MobileReproError(f"unknown set {dataset!r} (this chapter trains on coco128)")
        return training.detection_config(backbone, resolve(training.DETECTION_DATA), folder, self.budget(config), seed)

    def adaptations(self, config) -> list[str]:
        import mmdet

        from mobilerepro.dense import networks

        shipped = networks.package_config(mmdet, networks.SSDLITE)
        epochs = shipped.train_cfg.max_epochs * shipped.train_dataloader.dataset.times
        held_out = config.held_out_fraction
        return [f"COCO128 (the first 128 COCO train2017 images with their COCO json), split {1 - held_out:.0%} "
                f"training / {held_out:.0%} held out by a fixed shuffle; all 80 categories",
                f"mmdet's SSDLite config and train pipeline as shipped, trained from scratch for {config.epochs} "
                f"epochs at batch {config.batch_size} (the config: {epochs} epochs at batch "
                f"{shipped.auto_scale_lr.base_batch_size})",
                f"the config's LR {shipped.optim_wrapper.optimizer.lr:g} unscaled (linear scaling to this batch would "
                "barely move a network from scratch in a few epochs), its warm-up shortened to a tenth of the run, "
                "cosine to zero",
                f"{config.threads} CPU threads; scores by mmdet's CocoMetric (pycocotools)"]

EXPERIMENT = DetectionTraining()
