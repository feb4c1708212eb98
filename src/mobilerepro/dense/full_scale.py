"""The papers' detection and segmentation schedules at full scale, through mmengine's Runner, on one process or N GPUs.

    make replicate-table11-detection PROFILE=full DATA=/datasets [ARGS='-p gpus 8']
    python -m mobilerepro.dense.full_scale --schedule ssdlite-coco --backbone mobileone_s4 --data /datasets --gpus 8

A schedule is the package's own config for the network (as `networks` builds it) with the paper's length, batch and
optimiser where the paper states them; the schedules are data (`paper/dense_schedules.yaml`), each setting tagged with
its provenance (PAPERS.md: *verified*, or our *choice* where the paper is silent). The data root must hold the dataset
in mmdet's / mmseg's layout (checked first, one line naming what is missing). With `--gpus N` the run re-launches itself
under `torchrun` (one process per GPU, the total batch split between them). Every epoch leaves a checkpoint: a killed
run started again resumes from it (loaded with `weights_only=True`), and a finished one is read back from its
`metrics.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from mobilerepro import MobileReproError, paper
from mobilerepro.dense import networks, training
from mobilerepro.launch import torchrun, under_torchrun


@dataclass(frozen=True)
class Layout:
    """A dataset in the layout the package configs read, under the data root."""

    folder: str
    entries: tuple[str, ...]
    how: str  # how a user gets it


LAYOUTS = {
    "coco2017": Layout("coco", ("annotations/instances_train2017.json", "annotations/instances_val2017.json",
                                "train2017", "val2017"), "make data DATASET=coco2017 SOURCE=FOLDER"),
    "voc12aug": Layout("VOCdevkit/VOC2012", ("JPEGImages", "SegmentationClass", "SegmentationClassAug",
                                             "ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt",
                                             "ImageSets/Segmentation/aug.txt"),
                       "make data DATASET=voc2012, then mmseg's tools/dataset_converters/voc_aug.py with SBD's "
                       "benchmark_RELEASE for SegmentationClassAug and aug.txt"),
    "ade20k": Layout("ade/ADEChallengeData2016", ("images/training", "images/validation", "annotations/training",
                                                  "annotations/validation"), "make data DATASET=ade20k SOURCE=FOLDER"),
}


def check_layout(name: str, root: Path) -> Path:
    """The dataset's folder under `root`, or a one-line error naming the first missing entry and the layout."""
    layout = LAYOUTS[name]
    folder = Path(root) / layout.folder
    missing = [entry for entry in layout.entries if not (folder / entry).exists()]
    if missing:
        raise MobileReproError(f"{folder} is not the {name} layout: {missing[0]} is missing (expected "
                               f"{', '.join(layout.entries)}); get it with {layout.how} (README, section \"Data\")")
    return folder


@dataclass(frozen=True)
class Schedule:
    """One paper's training of one network on one dataset, read from `paper/dense_schedules.yaml` (each setting's
    provenance is there). `optimizer` is an mmengine optimizer dict."""

    network: str  # ssdlite | retinanet | deeplabv3
    dataset: str  # a LAYOUTS name
    epochs: int
    batch_size: int  # in total, over all processes
    optimizer: dict
    warmup: tuple[float, str]  # (length, "iterations" | "epochs") of the linear warm-up before the cosine decay
    metric: str  # the key of the score in mmengine's metrics
    head_lr_multiplier: float = 1.0
    final_lr: float = 0.0  # where the cosine ends

    @classmethod
    def from_data(cls, entry: dict) -> Schedule:
        value = {key: paper.value(setting) for key, setting in entry.items() if isinstance(setting, dict)}
        optimizer = {"type": value["optimizer"], "lr": value["lr"], "weight_decay": value["weight_decay"]}
        if value.get("momentum") is not None:
            optimizer["momentum"] = value["momentum"]
        return cls(entry["network"], entry["dataset"], value["epochs"], value["batch_size"], optimizer,
                   tuple(value["warmup"]), entry["metric"], value["head_lr_multiplier"], value.get("final_lr", 0.0))


SCHEDULES = {name: Schedule.from_data(entry) for name, entry in paper.load("dense_schedules").items()}


COCO_CONFIG_ROOT = "data/coco/"  # where mmdet's configs expect COCO; CocoMetric's annotation file is given under it


def _point_at(node, root: Path, default_root: str) -> None:
    """Every `data_root` of the config's datasets set to `root`; evaluators' annotation files moved with it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data_root":
                node[key] = str(root)
            elif key == "ann_file" and isinstance(value, str) and value.startswith(default_root):
                node[key] = str(root / value[len(default_root):].lstrip("/"))
            else:
                _point_at(value, root, default_root)
    elif isinstance(node, list | tuple):
        for item in node:
            _point_at(item, root, default_root)


def _retinanet_pipelines(config: Config, size: int) -> None:
    """MNv4 §7.2's augmentation at `size` px: scale jitter, crop, flip, RandAugment without shear and rotate."""
    from mmdet.datasets.transforms.augment_wrappers import RANDAUG_SPACE

    space = [ops for ops in RANDAUG_SPACE if not any(op["type"].startswith(("Shear", "Rotate")) for op in ops)]
    config.train_dataloader.dataset.pipeline = [
        dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
        dict(type="RandomResize", scale=(size, size), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type="RandomCrop", crop_size=(size, size), allow_negative_crop=True),
        dict(type="RandomFlip", prob=0.5), dict(type="RandAugment", aug_space=space),
        dict(type="PackDetInputs")]
    test = [dict(type="LoadImageFromFile"), dict(type="Resize", scale=(size, size), keep_ratio=True),
            dict(type="LoadAnnotations", with_bbox=True),
            dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"))]
    config.val_dataloader.dataset.pipeline = config.test_dataloader.dataset.pipeline = test


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def full_config(schedule_name: str, backbone: str, root: Path, work_dir: Path, seed: int = 0, *,
                output_stride: int = 8, epochs: int | None = None, batch_size: int | None = None,
                images: int | None = None, backbone_checkpoint: str | None = None) -> Config:
    """The mmengine config of one full-scale run. `epochs`, `batch_size` and `images` (the first N of each split)
    shorten it for a check at tiny scale; a run's length otherwise is the schedule's. `backbone_checkpoint`: the
    backbone's ImageNet weights, loaded when the run starts (as the papers fine-tune ImageNet backbones); None
    trains it from scratch."""
    if schedule_name not in SCHEDULES:
        raise MobileReproError(f"unknown schedule {schedule_name!r} (choose from: {', '.join(SCHEDULES)})")
    schedule = SCHEDULES[schedule_name]
    folder = check_layout(schedule.dataset, root)
    processes = world_size()
    total = batch_size or schedule.batch_size
    if total % processes:
        raise MobileReproError(f"the batch of {total} does not split over {processes} processes")
    if schedule.network == "ssdlite":
        config = networks.ssdlite(backbone)
        repeated = config.train_dataloader.dataset
        config.train_dataloader.dataset = repeated.dataset  # the paper's epochs are epochs, not 5x repeats
    elif schedule.network == "retinanet":
        config = networks.retinanet(backbone)
        _retinanet_pipelines(config, config.input_size)
    else:
        config = networks.deeplabv3(backbone, "voc" if schedule.dataset == "voc12aug" else "ade20k", output_stride)
        config.model.data_preprocessor.size = config.crop_size
    _point_at(config._cfg_dict, folder, COCO_CONFIG_ROOT)
    for loader in (config.train_dataloader, config.val_dataloader, config.test_dataloader):
        loader.batch_size = total // processes if loader is config.train_dataloader else 1
        loader.sampler = dict(type="DefaultSampler", shuffle=loader is config.train_dataloader)
        if images:
            for part in _datasets(loader.dataset):
                part.indices = images
    run_epochs = epochs or schedule.epochs
    config.optim_wrapper = dict(type="OptimWrapper", optimizer=dict(schedule.optimizer), clip_grad=None)
    if schedule.head_lr_multiplier != 1:
        config.optim_wrapper.paramwise_cfg = dict(custom_keys={
            head: dict(lr_mult=schedule.head_lr_multiplier) for head in ("decode_head", "auxiliary_head")})
    config.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=run_epochs, val_interval=max(1, run_epochs // 10))
    config.val_cfg, config.test_cfg = dict(type="ValLoop"), dict(type="TestLoop")
    length, unit = schedule.warmup
    if unit == "iterations":  # as mmdet's configs: the warm-up overlaps the start of the cosine
        warmup = dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=int(length))
        cosine_start = 0
    else:
        cosine_start = min(length, run_epochs / 10)  # a shortened run keeps most of its length for the decay
        warmup = dict(type="LinearLR", start_factor=0.001, by_epoch=True, begin=0, end=cosine_start,
                      convert_to_iter_based=True)
    config.param_scheduler = [warmup, dict(type="CosineAnnealingLR", by_epoch=True, begin=cosine_start,
                                           end=run_epochs, T_max=run_epochs - cosine_start,
                                           eta_min=schedule.final_lr,
                                           convert_to_iter_based=True)]
    config.default_hooks.checkpoint = dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=2,
                                           save_last=True)
    config.default_hooks.pop("visualization", None)
    if backbone_checkpoint is not None:
        training.start_backbone_from(config, backbone_checkpoint)
    cuda = _cuda()
    config.env_cfg = dict(cudnn_benchmark=cuda, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                          dist_cfg=dict(backend="nccl" if cuda else "gloo"))
    config.launcher = "pytorch" if processes > 1 else "none"
    config.auto_scale_lr = dict(enable=False, base_batch_size=total)  # the schedule's LR is for its total batch
    config.randomness = dict(seed=seed, deterministic=False)
    config.work_dir = str(work_dir)
    config.log_level = "WARNING"
    return config


def _datasets(dataset: dict) -> list[dict]:
    return [d for inner in dataset.datasets for d in _datasets(inner)] if "datasets" in dataset else [dataset]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _join_cpu_process_group(config: Config) -> None:
    """mmengine's launcher assumes a GPU per process (it selects the device, and gives DDP its index). On CPU (the
    tiny-scale check of the multi-process path) the process group is joined here over gloo, which mmengine then
    uses as it is, and the model is wrapped by `CpuFriendlyDistributedDataParallel`."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import MODEL_WRAPPERS

    if "CpuFriendlyDistributedDataParallel" not in MODEL_WRAPPERS:
        @MODEL_WRAPPERS.register_module()
        class CpuFriendlyDistributedDataParallel(MMDistributedDataParallel):
            """mmengine's DDP wrapper without device ids for a module on the CPU (DDP refuses them there)."""

            def __init__(self, module, device_ids=None, **kwargs):
                on_cpu = next(module.parameters()).device.type == "cpu"
                super().__init__(module=module, device_ids=None if on_cpu else device_ids, **kwargs)

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    config.model_wrapper_cfg = dict(type="CpuFriendlyDistributedDataParallel", broadcast_buffers=False,
                                    find_unused_parameters=False)


def run(schedule_name: str, backbone: str, root: Path, work_dir: Path, seed: int = 0, *, gpus: int = 1,
        progress: bool = True, **shorten) -> dict:
    """Train and score one run (resuming it when its folder has a checkpoint); on `gpus` > 1 under torchrun. Returns
    mmengine's held-out metrics with the run's loss history."""
    done = Path(work_dir) / "metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    if gpus > 1 and not under_torchrun():
        arguments = ["--schedule", schedule_name, "--backbone", backbone, "--data", str(root), "--work-dir",
                     str(work_dir), "--seed", str(seed)]
        for name, value in shorten.items():
            if value is not None:
                arguments += [f"--{name.replace('_', '-')}", str(value)]
        returncode = torchrun("mobilerepro.dense.full_scale", arguments, gpus)
        if returncode != 0 or not done.exists():
            raise MobileReproError(f"the {gpus}-process run in {work_dir} failed (exit {returncode}); "
                                   "starting it again resumes from its last checkpoint")
        return json.loads(done.read_text())
    config = full_config(schedule_name, backbone, root, work_dir, seed, **shorten)
    if world_size() > 1 and not _cuda():
        _join_cpu_process_group(config)
    return training.train_and_evaluate(config, progress=progress, description=f"{schedule_name}: {backbone}",
                                       score_training_part=False)


def score_percent(metrics: dict, schedule: Schedule) -> float:
    """The run's held-out score in percent (COCO mAP or mIoU)."""
    value = training.score(metrics["held_out"], schedule.metric)
    return 100 * value if schedule.metric.startswith("coco/") else value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one full-scale dense-prediction run (resumable)")
    parser.add_argument("--schedule", required=True, choices=sorted(SCHEDULES))
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--data", required=True, type=Path, help="the data root holding the dataset's layout")
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpus", type=int, default=1, help="processes (one per GPU) under torchrun")
    parser.add_argument("--output-stride", type=int, default=8)
    parser.add_argument("--epochs", type=int, help="shorter than the schedule (a check, not the paper's run)")
    parser.add_argument("--batch-size", type=int, help="total batch, instead of the schedule's")
    parser.add_argument("--images", type=int, help="only the first N images of each split (a check)")
    parser.add_argument("--backbone-checkpoint", help="the backbone's ImageNet weights (default: from scratch)")
    args = parser.parse_args(argv)
    try:
        metrics = run(args.schedule, args.backbone, args.data, args.work_dir, args.seed, gpus=args.gpus,
                      output_stride=args.output_stride, epochs=args.epochs, batch_size=args.batch_size,
                      images=args.images, backbone_checkpoint=args.backbone_checkpoint)
    except MobileReproError as error:
        sys.exit(f"error: {error}")
    if not under_torchrun():
        print(json.dumps(metrics["held_out"]))


if __name__ == "__main__":
    main()
