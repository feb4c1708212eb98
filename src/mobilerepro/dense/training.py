"""Training the dense networks with mmengine's Runner at reduced scale: small real sets split into a training part and
a held-out part, bounded epochs, seeds, mmdet's CocoMetric (pycocotools) and mmseg's IoUMetric.

Each run lives in its own folder (the digest of everything that shapes it) with mmengine's checkpoints, so a killed
run resumes from its last epoch and a finished one is reused. What is adapted to the small sets is stated by
`adaptations()` and shown in the chapters; everything else is the package config's recipe.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from mobilerepro import MobileReproError
from mobilerepro.dense import networks
from mobilerepro.results import content_digest

DETECTION_DATA = "coco128-cocofmt"
SEGMENTATION_DATA = {"coco128-voc": "coco128-cocofmt", "camvid": "camvid-segnet"}
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "signsymbol", "fence", "car", "pedestrian",
                  "bicyclist")
CAMVID_VOID = 11
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


@dataclass(frozen=True)
class Budget:
    """The reduced-scale run: epochs, batch, the held-out share and the seed that draws the split (fixed for every
    run: seeds vary initialisation and data order, not the split)."""

    epochs: int
    batch_size: int
    held_out_fraction: float = 0.25
    split_seed: int = 0
    images: int | None = None  # only the first N images (by name)
    memorise: bool = False  # train and score on the same images, without augmentation: a check of the scoring path


MEMORISE_OPTIMIZER = {"type": "AdamW", "lr": 1e-3, "weight_decay": 0.0}


def split(names: list, budget: Budget) -> tuple[list, list]:
    """(train, held out): a fixed shuffle of the sorted names (the first `budget.images` of them); when memorising,
    both are all of them."""
    order = sorted(names)[:budget.images]
    if budget.memorise:
        return sorted(order), sorted(order)
    random.Random(budget.split_seed).shuffle(order)
    cut = round(len(order) * budget.held_out_fraction)
    if cut < 1 or cut >= len(order):
        raise MobileReproError(f"held_out_fraction {budget.held_out_fraction} leaves no training or no held-out part "
                               f"of {len(order)} images")
    return sorted(order[cut:]), sorted(order[:cut])


def score(metrics: dict, key: str) -> float:
    """One score of an evaluation. mmdet's CocoMetric reports nothing when the detector kept no box at all: that is
    an AP of 0."""
    return metrics.get(key, 0.0) if key.startswith("coco/") else metrics[key]


def run_folder(root: Path, shaping: dict) -> Path:
    return root / content_digest(shaping)


def _schedule(config: Config, budget: Budget, iterations_per_epoch: int, lr: float) -> None:
    """The package config's optimiser at `lr`, its linear warm-up shortened to a tenth of the run, then its cosine (or
    poly) decay over the run's epochs; a checkpoint every tenth of the run (every epoch for runs of up to ten: for
    resuming), evaluation at the end."""
    total = budget.epochs * iterations_per_epoch
    config.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=budget.epochs, val_interval=budget.epochs)
    config.val_cfg, config.test_cfg = dict(type="ValLoop"), dict(type="TestLoop")
    config.optim_wrapper.optimizer.lr = lr
    config.param_scheduler = [
        dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=max(1, total // 10)),
        dict(type="CosineAnnealingLR", begin=0, T_max=budget.epochs, end=budget.epochs, by_epoch=True, eta_min=0),
    ]
    config.default_hooks.checkpoint = dict(type="CheckpointHook", interval=max(1, budget.epochs // 10), by_epoch=True,
                                           max_keep_ckpts=1, save_last=True)
    config.default_hooks.logger = dict(type="LoggerHook", interval=max(1, iterations_per_epoch // 2))
    config.default_hooks.pop("visualization", None)
    config.env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                          dist_cfg=dict(backend="gloo"))
    config.auto_scale_lr = dict(enable=False, base_batch_size=budget.batch_size)
    config.launcher = "none"
    config.log_level = "WARNING"


def start_backbone_from(config: Config, checkpoint: str | Path) -> None:
    """Start the run's backbone from the weights in `checkpoint` (ours, timm's or mmpretrain's), loaded by our hook
    when the run starts, not when it resumes. A missing or unreadable file stops here, not at the first iteration."""
    from mobilerepro.models.pretrained import read_state_dict

    read_state_dict(checkpoint, "backbone")
    config.custom_hooks = [*config.get("custom_hooks", []),
                           dict(type="mobilerepro.BackboneCheckpointHook", checkpoint=str(checkpoint))]


def _loader(dataset: dict, batch_size: int, shuffle: bool) -> dict:
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False, drop_last=False,
                sampler=dict(type="DefaultSampler", shuffle=shuffle), dataset=dataset)


# -- detection -----------------------------------------------------------------------------------------------------
def detection_split_files(data: Path, folder: Path, budget: Budget) -> dict[str, Path]:
    """COCO json files of the training and held-out images, written next to the run (the images stay where they
    are)."""
    source = data / "annotations" / "instances_train2017.json"
    if not source.exists():
        from mobilerepro.data.prepare import missing_data_error

        raise missing_data_error("coco128", data, "the coco128-cocofmt folder (train2017/, annotations/)")
    annotations = json.loads(source.read_text())
    train, held_out = split([image["id"] for image in annotations["images"]], budget)
    files = {}
    for part, ids in (("train", set(train)), ("held_out", set(held_out))):
        subset = {**annotations, "images": [i for i in annotations["images"] if i["id"] in ids],
                  "annotations": [a for a in annotations["annotations"] if a["image_id"] in ids]}
        files[part] = folder / f"instances_{part}.json"
        if not files[part].exists():
            files[part].parent.mkdir(parents=True, exist_ok=True)
            files[part].write_text(json.dumps(subset))
    return files


def detection_config(backbone: str, data: Path, folder: Path, budget: Budget, seed: int) -> Config:
    config = networks.ssdlite(backbone)
    files = detection_split_files(data, folder, budget)
    training_part = json.loads(files["train"].read_text())
    classes = tuple(c["name"] for c in training_part["categories"])

    def dataset(part: str, pipeline, test_mode: bool = True) -> dict:
        return dict(type="CocoDataset", data_root=str(data), ann_file=str(files[part]), metainfo=dict(classes=classes),
                    data_prefix=dict(img="train2017/"), filter_cfg=dict(filter_empty_gt=part == "train", min_size=1),
                    pipeline=pipeline, test_mode=test_mode)

    images = len(training_part["images"])
    # Memorising: the images exactly as they are scored (the test pipeline's resize), with their boxes.
    train_pipeline = ([dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
                       *[step for step in config.test_pipeline if step["type"] == "Resize"], dict(type="PackDetInputs")]
                      if budget.memorise else config.train_pipeline)
    config.train_dataloader = _loader(dataset("train", train_pipeline, test_mode=False), budget.batch_size, True)
    config.val_dataloader = _loader(dataset("held_out", config.test_pipeline), budget.batch_size, False)
    config.test_dataloader = _loader(dataset("train", config.test_pipeline), budget.batch_size, False)
    config.val_evaluator = dict(type="CocoMetric", ann_file=str(files["held_out"]), metric="bbox")
    config.test_evaluator = dict(type="CocoMetric", ann_file=str(files["train"]), metric="bbox")
    # The config's LR (0.015) is for its batch of 192; scaled to a batch of 8 it would not move a network trained
    # from scratch in a few epochs, so the runs keep the config's value (stated in the chapter). Memorising a few
    # images from scratch is a fit, not a recipe: AdamW reaches it in far fewer steps than the config's SGD.
    if budget.memorise:
        config.optim_wrapper.optimizer = dict(MEMORISE_OPTIMIZER)
    _schedule(config, budget, -(-images // budget.batch_size), config.optim_wrapper.optimizer["lr"])
    config.randomness = dict(seed=seed, deterministic=False)
    config.work_dir = str(folder)
    return config


# -- segmentation --------------------------------------------------------------------------------------------------
def segmentation_config(backbone: str, dataset_name: str, data: Path, folder: Path, budget: Budget, seed: int,
                        crop: int) -> Config:
    if dataset_name not in SEGMENTATION_DATA:
        raise MobileReproError(f"unknown segmentation set {dataset_name!r} (choose from: "
                               f"{', '.join(SEGMENTATION_DATA)})")
    voc = dataset_name == "coco128-voc"
    config = networks.deeplabv3(backbone, "voc", output_stride=8)
    if voc:
        listing = data / "voc_semseg" / "ImageSets" / "Segmentation" / "all.txt"
        names = listing.read_text().split() if listing.exists() else []
        prefix = dict(img_path="train2017", seg_map_path="voc_semseg/SegmentationClass")
        suffixes, classes, ignore = (".jpg", ".png"), VOC_CLASSES, 255
    else:
        names = sorted(p.stem for p in (data / "val").glob("*.png")) if (data / "val").exists() else []
        prefix = dict(img_path="val", seg_map_path="valannot")
        suffixes, classes, ignore = (".png", ".png"), CAMVID_CLASSES, CAMVID_VOID
    if not names:
        from mobilerepro.data.prepare import missing_data_error

        prepared_by = {"camvid": "camvid", "coco128-voc": "coco128"}[dataset_name]
        raise missing_data_error(prepared_by, data, f"the {dataset_name} folder")
    train, held_out = split(names, budget)
    for part, stems in (("train", train), ("held_out", held_out)):
        listing_path = folder / f"{part}.txt"
        if not listing_path.exists():
            listing_path.parent.mkdir(parents=True, exist_ok=True)
            listing_path.write_text("".join(f"{stem}\n" for stem in stems))
    for head in (config.model.decode_head, config.model.auxiliary_head):
        head.num_classes, head.ignore_index = len(classes), ignore
    config.model.data_preprocessor.size = (crop, crop)
    config.model.data_preprocessor.seg_pad_val = ignore  # padding is unlabelled, whatever the set calls that
    train_pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                      dict(type="RandomResize", scale=(crop * 2, crop), ratio_range=(0.5, 2.0), keep_ratio=True),
                      dict(type="RandomCrop", crop_size=(crop, crop), cat_max_ratio=0.75),
                      dict(type="RandomFlip", prob=0.5), dict(type="PhotoMetricDistortion"),
                      dict(type="PackSegInputs")]
    test_pipeline = [dict(type="LoadImageFromFile"), dict(type="Resize", scale=(crop * 2, crop), keep_ratio=True),
                     dict(type="LoadAnnotations"), dict(type="PackSegInputs")]

    def dataset(part: str, pipeline) -> dict:
        return dict(type="BaseSegDataset", data_root=str(data), ann_file=str(folder / f"{part}.txt"),
                    data_prefix=prefix, img_suffix=suffixes[0], seg_map_suffix=suffixes[1],
                    metainfo=dict(classes=classes), reduce_zero_label=False, pipeline=pipeline)

    config.train_dataloader = _loader(dataset("train", train_pipeline), budget.batch_size, True)
    config.val_dataloader = _loader(dataset("held_out", test_pipeline), 1, False)
    config.test_dataloader = _loader(dataset("train", test_pipeline), 1, False)
    config.val_evaluator = config.test_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"], ignore_index=ignore)
    config.optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01, momentum=0.9,
                                                                    weight_decay=4e-5))
    _schedule(config, budget, -(-len(train) // budget.batch_size), 0.01)
    config.randomness = dict(seed=seed, deterministic=False)
    config.work_dir = str(folder)
    return config


# -- running -------------------------------------------------------------------------------------------------------
def progress_hook(description: str):
    """An mmengine hook drawing a progress bar over the training iterations (mmengine's own logging is turned down
    to warnings: a bar says more on a terminal and in a notebook)."""
    from mmengine.hooks import Hook
    from tqdm.auto import tqdm

    class Progress(Hook):
        def before_train(self, runner):
            self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc=description, unit="it",
                            dynamic_ncols=True, mininterval=1.0)

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.bar.update(1)
            if outputs and "loss" in outputs:
                self.bar.set_postfix(epoch=runner.epoch + 1, loss=f"{float(outputs['loss']):.3f}", refresh=False)

        def after_train(self, runner):
            self.bar.close()

    return Progress()


def train_and_evaluate(config: Config, *, progress: bool = True, description: str = "training",
                       score_training_part: bool = True) -> dict:
    """Train (resuming from the folder's last checkpoint), then score the held-out part (`val`) and, when asked, the
    training part (`test`: how well the network fits what it saw). Returns the metrics, the loss per iteration and
    the seconds this process spent (a resumed run counts only what it did after resuming). Under torchrun every
    process trains; the first writes the result."""
    import time

    import torch
    from mmengine.runner import Runner

    folder = Path(config.work_dir)
    done = folder / "metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    started = time.perf_counter()
    config.resume = (folder / "last_checkpoint").exists()
    runner = Runner.from_cfg(config)
    networks.fix_ssd_predict(getattr(runner.model, "module", runner.model))  # under DDP the detector is inside
    if progress:
        runner.register_hook(progress_hook(description), priority="LOW")
    with torch.serialization.safe_globals(checkpoint_globals()):
        runner.train()
    held_out = runner.val()
    fit = runner.test() if score_training_part else None
    history = runner.message_hub.log_scalars.get("train/loss")
    losses = [float(value) for value in history.data[0]] if history is not None else []
    result = {"held_out": held_out, "fit": fit, "loss": losses, "iterations": runner.iter,
              "seconds": time.perf_counter() - started, "resumed": config.resume}
    from mmengine.dist import get_rank

    if get_rank() == 0:
        done.write_text(json.dumps(result, default=float))
    return result


def checkpoint_globals() -> list:
    """What mmengine puts in a checkpoint besides tensors (its message hub's history: numpy arrays and scalars),
    allowed for loading with `weights_only=True` instead of turning the check off. numpy 2 pickles its dtype classes
    through `getattr(numpy.dtypes, name)`, so `getattr` is allowed too; the unpickler still calls nothing that is not
    on this list, and only this project's own run folders are loaded with it."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    return [HistoryBuffer, np.dtype, np.ndarray, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
            np.dtypes.Float64DType, np.dtypes.Float32DType, np.dtypes.Int64DType, np.dtypes.Int32DType, getattr]
