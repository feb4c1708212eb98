"""Pipeline chapter: SSDLite-320 trained on COCO128 through mmdet's runner, COCO mAP on a held-out part (reduced
scale; the template is `dense_training`).

From scratch on about a hundred images the held-out mAP stays near zero, which exercises neither the decoding of
boxes, nor NMS, nor their matching to the ground truth. A memorisation run does: one backbone trained and scored on
the same few images, without augmentation, reaches a high mAP only if the scoring path works (the chapter's claim
`memorises`, a pipeline check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.experiments._base import Outcome
from mobilerepro.experiments._dense_training import DenseTrainingConfig, DenseTrainingExperiment
from mobilerepro.results import results_root
from mobilerepro.verdicts import Interval


@dataclass(frozen=True)
class DetectionTrainingConfig(DenseTrainingConfig):
    memorise_backbone: str | None = None  # one run of it trained and scored on the first `memorise_images` images
    memorise_images: int = 4
    memorise_epochs: int = 200


class DetectionTraining(DenseTrainingExperiment):
    title = "SSDLite-320 trained on COCO128 (reduced scale)"
    description = ("SSDLite-320 on EfficientNet-Lite0 from scratch vs from its ImageNet weights, trained on most of "
                   "COCO128, COCO mAP held out; a memorisation run checks decoding, NMS and matching")
    task = "detection"
    datasets = ("coco128-cocofmt",)
    config_type = DetectionTrainingConfig
    profiles = {
        "smoke": {"backbones": ["efficientnet_lite0"], "pretrained": ["efficientnet_lite0"], "sets": ["coco128"],
                  "seeds": [0], "epochs": 1, "batch_size": 4, "images": 16, "memorise_backbone": "mobileone_s0",
                  "memorise_images": 2, "memorise_epochs": 1},
        # 3 seeds x 2 starts and the memorisation run within a quarter of an hour on 2 cores: the first 48 images.
        "quick": {"backbones": ["efficientnet_lite0"], "pretrained": ["efficientnet_lite0"], "sets": ["coco128"],
                  "seeds": [0, 1, 2], "epochs": 3, "images": 48, "memorise_backbone": "mobileone_s0"},
        "full": {"backbones": ["mobileone_s0", "mobileone_s1", "mobilenet_v2", "efficientnet_lite0"],
                 "pretrained": ["efficientnet_lite0"], "sets": ["coco128"], "seeds": [0, 1, 2], "epochs": 30,
                 "memorise_backbone": "mobileone_s0"},
    }

    def network_config(self, config, backbone, dataset, folder, seed, budget=None):
        from mobilerepro.dense import training

        if dataset != "coco128":
            raise MobileReproError(f"unknown set {dataset!r} (this chapter trains on coco128)")
        return training.detection_config(backbone, resolve(training.DETECTION_DATA), folder,
                                         budget or self.budget(config), seed)

    def measure(self, config: DetectionTrainingConfig, directory: Path, progress: bool) -> Outcome:
        from mobilerepro.dense import training

        outcome = super().measure(config, directory, progress)
        backbone = config.memorise_backbone
        if backbone is None:
            return outcome
        budget = training.Budget(config.memorise_epochs, config.memorise_images, images=config.memorise_images,
                                 memorise=True)
        shaping = {"task": self.task, "memorise": config.memorise_images, "epochs": config.memorise_epochs,
                   "backbone": backbone, "seed": 0}
        folder = training.run_folder(results_root() / "dense_runs", shaping)
        metrics = training.train_and_evaluate(
            self.network_config(config, backbone, "coco128", folder, 0, budget), progress=progress,
            description=f"memorising {config.memorise_images} images: {backbone}", score_training_part=False)
        value = training.score(metrics["held_out"], "coco/bbox_mAP")
        outcome.summary["memorisation"] = [{
            "backbone": backbone, "images": config.memorise_images, "epochs": config.memorise_epochs,
            "box mAP (trained = scored)": value, "box mAP@0.5": training.score(metrics["held_out"], "coco/bbox_mAP_50"),
            "final loss": metrics["loss"][-1] if metrics["loss"] else None, "seconds": metrics.get("seconds"),
            "run": str(folder)}]
        outcome.evidence.append(("memorises", backbone, Interval(
            value, value, value, 1, f"box mAP {value:.3f} on the {config.memorise_images} images it trained on for "
                                    f"{config.memorise_epochs} epochs")))
        return outcome

    def adaptations(self, config) -> list[str]:
        import mmdet

        from mobilerepro.dense import networks
        from mobilerepro.dense.training import MEMORISE_OPTIMIZER

        shipped = networks.package_config(mmdet, networks.SSDLITE)
        epochs = shipped.train_cfg.max_epochs * shipped.train_dataloader.dataset.times
        held_out = config.held_out_fraction
        return [f"COCO128 (the first 128 COCO train2017 images with their COCO json), split {1 - held_out:.0%} "
                f"training / {held_out:.0%} held out by a fixed shuffle; all 80 categories",
                f"mmdet's SSDLite config and train pipeline as shipped, trained for {config.epochs} epochs at batch "
                f"{config.batch_size} (the config: {epochs} epochs at batch {shipped.auto_scale_lr.base_batch_size}), "
                + self.start_text(config, "SSDLite reads its stride-16 and stride-32 features"),
                f"the config's LR {shipped.optim_wrapper.optimizer.lr:g} unscaled (linear scaling to this batch would "
                "barely move a network from scratch in a few epochs), its warm-up shortened to a tenth of the run, "
                "cosine to zero",
                *([f"memorisation: {config.memorise_backbone} trained on the first {config.memorise_images} images for "
                   f"{config.memorise_epochs} epochs without augmentation (the test pipeline's resize; AdamW "
                   f"{MEMORISE_OPTIMIZER['lr']:g}, a fit rather than a recipe) and scored on the same images"]
                  if config.memorise_backbone else []),
                f"{config.threads} CPU threads; scores by mmdet's CocoMetric (pycocotools)"]


EXPERIMENT = DetectionTraining()
