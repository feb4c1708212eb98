"""The classification trainer: a recipe (`train.recipe`) applied to a zoo model on an image dataset.

One process on CPU or one GPU (AMP, channels_last), or several processes under `torchrun` (DDP with a
`DistributedSampler`; gloo on CPU, NCCL on GPUs) — PyTorch's own machinery throughout.

Reproducible and resumable:
- every sample's augmentation is a pure function of (seed, epoch, index) and the batch order of an epoch a pure
  function of (seed, epoch), so a run can restart in the middle of an epoch and see the same batches;
- `checkpoint.pt` (model, optimizer, EMA, AMP scaler, epoch/step, torch RNG states, history) is written atomically
  (temp file + rename) after every epoch, every `checkpoint_every_steps` steps, and when SIGTERM or Ctrl-C arrives;
  `resume=True` continues from it, so a run killed with SIGKILL ends with the same weights as one never killed;
- checkpoints load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mobilerepro import MobileReproError
from mobilerepro.data import soft_labels
from mobilerepro.data.datasets import ImageDataset, SampleList, collate_skipping, open_samples, split_per_class
from mobilerepro.data.transforms import EvalTransform, TrainTransform
from mobilerepro.measure import environment
from mobilerepro.models import zoo
from mobilerepro.results import ensure_writable, read_json, write_csv, write_json
from mobilerepro.train.evaluate import evaluate
from mobilerepro.train.recipe import Recipe, Schedule, build_optimizer, preset

CHECKPOINT = "checkpoint.pt"
FINAL_WEIGHTS = "final.pt"
HISTORY = "history.csv"
RUN_SUMMARY = "run.json"
# torch 2.12.1 on CPU can corrupt its heap (a crash, or a process that spins forever) in channels_last backward
# passes: on AVX-512 machines in the weight gradient of MobileOne's 1x1 stride-2 stem branch from 96 px on; on an
# AVX2-only EPYC already at 16-32 px, on one thread and on two (found here). Where it survives, gradients match the
# contiguous layout exactly and training is several times faster, so on CPU channels_last is used only below 96 px
# on AVX-512 CPUs, and where a probe — a few training steps of MobileOne-S0 in a child process, bounded in time —
# survives (once per torch build, CPU, threads and size).
CPU_CHANNELS_LAST_MAX_PX = 95
CHANNELS_LAST_PROBE = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
size = int(sys.argv[2])
from mobilerepro.models import zoo
model = zoo.build_classifier("mobileone_s0", num_classes=10).to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(6):
    images = torch.randn(8, 3, size, size).to(memory_format=torch.channels_last)
    loss = torch.nn.functional.cross_entropy(model(images), torch.randint(0, 10, (8,)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""
CHANNELS_LAST_PROBE_SECONDS = 30  # six steps take a few seconds; a corrupted heap can spin instead of crashing
POSTFIX_EVERY = 5


def channels_last_survives(size: int, threads: int) -> bool:
    """Whether channels_last training, which crashes torch's CPU backward on some machines, survives here at
    `size` px on `threads` threads: probed in a child process, the answer kept in the results folder per torch build,
    CPU (name and instruction set), threads and size."""
    import subprocess

    from mobilerepro.results import results_root

    key = (f"torch {torch.__version__} | {environment.cpu_model()} | {torch.backends.cpu.get_cpu_capability()} | "
           f"{threads} threads | {size} px")
    path = results_root() / "machine" / "channels_last_probe.json"
    known = read_json(path) if path.exists() else {}
    if key not in known:
        try:
            child = subprocess.run([sys.executable, "-c", CHANNELS_LAST_PROBE, str(threads), str(size)],
                                   capture_output=True, env={**os.environ, "MALLOC_CHECK_": "3"},
                                   timeout=CHANNELS_LAST_PROBE_SECONDS)
            known[key] = child.returncode == 0
        except subprocess.TimeoutExpired:
            known[key] = False
        write_json(path, known)
    return bool(known[key])


class TrainingInterrupted(MobileReproError):
    """SIGTERM or Ctrl-C arrived; a checkpoint was written and `resume=True` continues the run."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `train_data` / `val_data` are any layout `data.open_samples` reads; without `val_data`,
    `val_fraction` of `train_data` (per class, deterministic, drawn with `split_seed`) is held out."""

    output_dir: str
    train_data: str
    model: str = "mobileone_s0"  # a zoo model; with `architecture`, the name of the network that table describes
    architecture: dict | None = None  # a MobileNetV4 layer table (`mobilenetv4.spec_table`), e.g. a searched network
    recipe: str = "mobileone_s0s1"
    recipe_overrides: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    val_data: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    val_fraction: float = 0.2
    split_seed: int | None = None  # the seed of the train/val split; None: the run's seed
    per_class_limit: int | None = None
    epochs: int | None = None
    batch_size: int = 128
    max_steps_per_epoch: int | None = None
    eval_crop_pct: float = 0.875
    crop_scale: tuple[float, float] = (0.08, 1.0)
    interpolation: str = "bilinear"
    normalisation: str = "imagenet"
    num_workers: int = 0
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None  # None: on CUDA, and on CPU where it is safe (channels_last_survives)
    threads: int | None = None
    seed: int = 0
    eval_every: int = 1
    checkpoint_every_steps: int | None = None
    progress: bool = True
    # Distillation (MNv4 §8): train against the stored soft labels of these stores (D1, D2 or both) made from the
    # training split by the teacher whose digest is `teacher`; the student's images get flips only (the recipe's crop,
    # RandAugment and Mixup are not applied: the stored images carry the augmentation).
    soft_labels: list[str] | None = None
    teacher: str | None = None

    def recipe_object(self) -> Recipe:
        return preset(self.recipe).with_overrides(**self.recipe_overrides)

    def targets(self) -> HardLabels | soft_labels.StoredTargets:
        """What the network learns from: the images' own labels, or the teacher's stored distributions."""
        if self.soft_labels:
            return soft_labels.StoredTargets(tuple(self.soft_labels), self.teacher)
        return HardLabels()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HardLabels:
    """Training on the images' own labels: the recipe's crop and augmentation, its label smoothing, and its
    Mixup/CutMix where it has them (mixed targets are soft: the smoothing moves into them, the loss takes soft
    targets). `data.soft_labels.StoredTargets` is the other kind, with the same three methods."""

    def train_set(self, samples: SampleList, seed: int) -> ImageDataset:
        return ImageDataset(samples, seed=seed)

    def transform(self, size: int, config: TrainConfig, recipe: Recipe) -> TrainTransform:
        return TrainTransform(size=size, scale=tuple(config.crop_scale), interpolation=config.interpolation,
                              augmentation=recipe.augmentation, randaugment_magnitude=recipe.randaugment_magnitude,
                              randaugment_probability=recipe.randaugment_probability,
                              normalisation=config.normalisation)

    def criterion(self, recipe: Recipe, num_classes: int):
        """(the loss, timm's Mixup or None)."""
        if recipe.mixup_probability > 0:
            from timm.data import Mixup
            from timm.loss import SoftTargetCrossEntropy

            return SoftTargetCrossEntropy(), Mixup(
                mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha, prob=recipe.mixup_probability,
                switch_prob=recipe.mixup_switch_probability, label_smoothing=recipe.label_smoothing,
                num_classes=num_classes)
        return torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing), None


@dataclass
class Distributed:
    """This process's place in a `torchrun` job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device_type: str = "cpu"

    @classmethod
    def from_environment(cls, device_type: str) -> Distributed:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls(device_type=device_type)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        return cls(dist.get_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0")), device_type)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any (so all ranks stop at the same step)."""
        if self.world_size == 1:
            return flag
        device = torch.device("cuda", self.local_rank) if self.device_type == "cuda" else None
        tensor = torch.tensor([int(flag)], device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())


class StopRequest:
    """Turns SIGTERM and the first Ctrl-C into a request to checkpoint and stop after the current step."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread: leave the handlers alone
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def atomic_save(payload: dict, path: Path) -> None:
    """`torch.save` to a temp file in the same folder, flushed to disk, then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise MobileReproError(f"no checkpoint at {str(path)!r}")
    return torch.load(path, map_location=map_location, weights_only=True)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MobileReproError(f"device {name!r} requested but CUDA is not available here")
    return torch.device(name)


def datasets(config: TrainConfig) -> tuple[SampleList, SampleList]:
    train = open_samples(config.train_data, split=config.train_split)
    if config.val_data is None:
        split_seed = config.seed if config.split_seed is None else config.split_seed
        return split_per_class(train, config.val_fraction, seed=split_seed, per_class_limit=config.per_class_limit)
    val = open_samples(config.val_data, split=config.val_split)
    return train, val


def _model_options(config: TrainConfig, recipe: Recipe) -> dict:
    options = dict(config.model_options)
    if recipe.dropout is not None:
        options.setdefault("drop_rate", recipe.dropout)
    if recipe.drop_path is not None:
        options.setdefault("drop_path_rate", recipe.drop_path)
    return options


def build_network(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """The run's network, randomly initialised from its seed, in train mode."""
    options = _model_options(config, config.recipe_object())
    if config.architecture is None:
        return zoo.build_classifier(config.model, num_classes=num_classes, seed=config.seed, **options)
    from mobilerepro.models.mobilenetv4 import MobileNetV4, spec_from_table

    table = spec_from_table(config.architecture)
    return zoo.seeded(MobileNetV4, config.seed, spec=table, num_classes=num_classes, **options).train()


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: list = field(default_factory=list)


class Trainer:
    """Builds everything a run needs from a `TrainConfig`; `fit()` trains (resuming when asked) and evaluates."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.device = _device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.distributed = Distributed.from_environment(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.distributed.local_rank)
            torch.cuda.set_device(self.device)
        self.directory = Path(config.output_dir)
        if self.distributed.is_main:
            ensure_writable(self.directory)
        self.recipe = config.recipe_object()
        self.epochs = config.epochs or self.recipe.epochs
        self.train_samples, self.val_samples = datasets(config)
        self.num_classes = len(self.train_samples.classes)
        self.model = build_network(config, self.num_classes).to(self.device)
        self.channels_last = self._use_channels_last()
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.targets = config.targets()
        self.train_set = self.targets.train_set(self.train_samples, config.seed)
        self.criterion, self.mixup = self.targets.criterion(self.recipe, self.num_classes)
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.distributed.world_size,
                                          rank=self.distributed.rank, shuffle=True, seed=config.seed, drop_last=True)
        steps = len(self.sampler) // config.batch_size
        if config.max_steps_per_epoch:
            steps = min(steps, config.max_steps_per_epoch)
        if steps < 1:
            raise MobileReproError(
                f"{len(self.train_samples)} training images are fewer than one batch of {config.batch_size} "
                f"per process ({self.distributed.world_size} processes)"
            )
        if self.mixup is not None and config.batch_size % 2:
            raise MobileReproError(f"Mixup/CutMix mixes the images of a batch in pairs: the batch size per process "
                                   f"must be even, got {config.batch_size}")
        self.schedule = Schedule(self.recipe, self.epochs, steps, config.batch_size * self.distributed.world_size)
        self.optimizer = build_optimizer(self.model, self.schedule)
        amp = self.device.type == "cuda" if config.amp is None else config.amp
        self.amp_dtype = (torch.bfloat16 if self.device.type == "cpu" or torch.cuda.is_bf16_supported()
                          else torch.float16) if amp else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.l2_parameters = [p for group in self.optimizer.param_groups if group["decays"] for p in group["params"]]
        self.ema = None
        if self.recipe.ema_decay:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.model, decay=self.recipe.ema_decay, use_warmup=self.recipe.ema_warmup)
        self.network = self.model
        if self.distributed.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self.progress = Progress()

    def _use_channels_last(self) -> bool:
        if self.device.type == "cuda":
            return self.config.channels_last is not False
        if self.config.channels_last is False:
            return False
        largest = max(max(size for _, size in self.recipe.resolution_stages), self.recipe.eval_size)
        # On the AVX2-only machine the crash came and went from one probe to the next: no probe there is proof.
        safe = (largest <= CPU_CHANNELS_LAST_MAX_PX and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
                and channels_last_survives(largest, torch.get_num_threads()))
        if self.config.channels_last and not safe and self.distributed.is_main:
            tqdm.write(f"channels_last is off: on this CPU it crashes torch {torch.__version__} at {largest} px")
        return safe

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "scaler": self.scaler.state_dict(),
            "progress": asdict(self.progress),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "config": self.config.as_dict(),
            "recipe": self.recipe.as_dict(),
        }

    def save_checkpoint(self) -> None:
        if self.distributed.is_main:
            atomic_save(self.state(), self.directory / CHECKPOINT)
        self.distributed.barrier()

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema and state["ema"] is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(**state["progress"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])

    # -- data ----------------------------------------------------------------------------------------------------
    def train_transform(self, size: int) -> TrainTransform:
        return self.targets.transform(size, self.config, self.recipe)

    def eval_transform(self) -> EvalTransform:
        return EvalTransform(self.recipe.eval_size, self.config.eval_crop_pct, self.config.interpolation,
                             self.config.normalisation)

    def _loader(self, dataset, batches) -> DataLoader:
        # Its own generator: creating a loader must not draw from the global RNG that dropout and drop-path use,
        # or a run resumed mid-epoch would diverge from an uninterrupted one.
        return DataLoader(dataset, batch_sampler=batches, num_workers=self.config.num_workers,
                          collate_fn=collate_skipping, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.config.seed))

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of `epoch`: a pure function of (seed, epoch, rank)."""
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        size = self.config.batch_size
        return [order[i:i + size] for i in range(0, self.schedule.steps_per_epoch * size, size)]

    def val_loader(self) -> DataLoader:
        dataset = ImageDataset(self.val_samples, transform=self.eval_transform().build(), seed=self.config.seed)
        indices = list(range(len(dataset)))
        size = self.config.batch_size
        return self._loader(dataset, [indices[i:i + size] for i in range(0, len(indices), size)])

    # -- the loop ------------------------------------------------------------------------------------------------
    def _step(self, images, labels) -> float:
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        labels = labels.to(self.device, non_blocking=True)
        self.schedule.apply(self.optimizer, self.progress.global_step)
        if self.mixup is not None:
            # timm's Mixup draws from numpy's global generator: seed it per step so a resumed run mixes alike.
            np.random.seed((self.config.seed * 1_000_003 + self.progress.global_step) % 2**32)
            images, labels = self.mixup(images, labels)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss = self.criterion(self.network(images), labels)
        if self.recipe.l2_regularization:
            loss = loss + self.recipe.l2_regularization * sum(p.pow(2).sum() for p in self.l2_parameters)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema:
            self.ema.update(self.model, step=self.progress.global_step + 1)
        return loss.detach()

    def _evaluate(self) -> dict:
        """Top-1/top-5 of the model (and its EMA) on the val set, in inference form; rank 0 only."""
        metrics = {}
        if self.distributed.is_main:
            loader = self.val_loader()
            for prefix, model in (("val", self.model), ("ema", self.ema.module if self.ema else None)):
                if model is None:
                    continue
                result = evaluate(model, loader, device=self.device, channels_last=self.channels_last,
                                  progress=self.config.progress, description=f"eval {prefix}")
                metrics.update({f"{prefix}_top1": result.top1, f"{prefix}_top5": result.top5,
                                f"{prefix}_skipped": len(result.skipped)})
                if result.skipped and prefix == "val":
                    tqdm.write(f"evaluation skipped {len(result.skipped)} unreadable images (first: "
                               f"{result.skipped[0]})", file=sys.stderr)
        self.distributed.barrier()
        return metrics

    def fit(self, *, resume: bool = False) -> Path:
        """Train to the end (or until SIGTERM / Ctrl-C: checkpoint, then `TrainingInterrupted`); returns the run
        folder holding `final.pt`, `history.csv` and `run.json`."""
        checkpoint = self.directory / CHECKPOINT
        if resume and checkpoint.exists():
            self.restore(checkpoint)
        elif self.distributed.is_main:
            self._write_summary("running")
        total = self.schedule.total_steps
        bar = tqdm(total=total, initial=self.progress.global_step, unit="step", dynamic_ncols=True, mininterval=1.0,
                   disable=not (self.config.progress and self.distributed.is_main), desc=self.config.model)
        try:
            with StopRequest() as stop:
                while self.progress.epoch < self.epochs:
                    self._train_epoch(bar, stop)
        finally:
            bar.close()
        final = {"model": self.model.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
                 "config": self.config.as_dict(), "recipe": self.recipe.as_dict(),
                 "classes": self.train_samples.classes}
        if self.distributed.is_main:
            atomic_save(final, self.directory / FINAL_WEIGHTS)
            self._write_summary("complete")
        self.distributed.barrier()
        return self.directory

    def _train_epoch(self, bar: tqdm, stop: StopRequest) -> None:
        progress, epoch = self.progress, self.progress.epoch
        size = self.schedule.resolution(epoch)
        self.train_set.transform = self.train_transform(size).build()
        self.train_set.epoch = epoch
        batches = self.epoch_batches(epoch)[progress.step_in_epoch:]
        self.model.train()
        started, images_seen, skipped, loss_count = time.perf_counter(), 0, [], 0
        loss_sum = torch.zeros((), device=self.device)
        for images, labels, unreadable in self._loader(self.train_set, batches):
            skipped.extend(unreadable)
            if len(labels):
                loss_sum += self._step(images, labels)
                loss_count += 1
                images_seen += len(labels) * self.distributed.world_size
            progress.step_in_epoch += 1
            progress.global_step += 1
            bar.update()
            if progress.step_in_epoch % POSTFIX_EVERY == 0:  # reading the loss waits for the GPU: not every step
                rate = images_seen / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix(epoch=f"{epoch + 1}/{self.epochs}", px=size,
                                loss=f"{float(loss_sum) / max(loss_count, 1):.3f}",
                                lr=f"{self.optimizer.param_groups[0]['lr']:.3g}", img_s=f"{rate:.0f}", refresh=False)
            every = self.config.checkpoint_every_steps
            if self.distributed.any(stop.requested):
                self.save_checkpoint()
                raise TrainingInterrupted(
                    f"stopped at epoch {epoch + 1}, step {progress.step_in_epoch}; checkpoint saved in "
                    f"{self.directory / CHECKPOINT} (resume to continue)"
                )
            if every and progress.global_step % every == 0:
                self.save_checkpoint()
        seconds = time.perf_counter() - started
        row = {"epoch": epoch + 1, "resolution": size, "train_loss": float(loss_sum) / max(loss_count, 1),
               "lr": self.schedule.lr(progress.global_step - 1),
               "weight_decay": self.schedule.weight_decay(progress.global_step - 1),
               "train_images_per_s": images_seen / max(seconds, 1e-9), "seconds": seconds,
               "train_skipped": len(skipped)}
        if (epoch + 1) % self.config.eval_every == 0 or epoch + 1 == self.epochs:
            row.update(self._evaluate())
        progress.history.append(row)
        progress.epoch, progress.step_in_epoch = epoch + 1, 0
        if skipped and self.distributed.is_main:
            tqdm.write(f"epoch {epoch + 1}: skipped {len(skipped)} unreadable training images (first: "
                       f"{skipped[0].path}: {skipped[0].reason})", file=sys.stderr)
        self.save_checkpoint()
        if self.distributed.is_main:
            write_csv(self.directory / HISTORY, pd.DataFrame.from_records(progress.history))

    def _write_summary(self, status: str) -> None:
        write_json(self.directory / RUN_SUMMARY, {
            "status": status,
            "config": self.config.as_dict(),
            "recipe": self.recipe.as_dict(),
            "schedule": {"epochs": self.epochs, "steps_per_epoch": self.schedule.steps_per_epoch,
                         "global_batch": self.schedule.batch_size, "peak_lr": self.schedule.peak_lr,
                         "warmup_steps": self.schedule.warmup_steps,
                         "ema_decay_at_end": self.ema.get_decay(self.schedule.total_steps) if self.ema else None,
                         "resolution_switches": self.schedule.switch_epochs()},
            "data": {"train": self.train_samples.source, "train_images": len(self.train_samples),
                     "val": self.val_samples.source, "val_images": len(self.val_samples),
                     "classes": self.num_classes},
            "processes": self.distributed.world_size,
            "device": str(self.device),
            "amp": str(self.amp_dtype) if self.amp_dtype else None,
            "channels_last": self.channels_last,
            "history": self.progress.history,
            "environment": environment.environment_stamp(profile="train", threads=torch.get_num_threads()),
        })


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    return Trainer(config).fit(resume=resume)


@dataclass
class TrainingRun:
    """A finished (or running) run read back from its folder."""

    directory: Path
    summary: dict

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TrainingRun:
        directory = Path(directory)
        if not (directory / RUN_SUMMARY).exists():
            raise MobileReproError(f"no training run in {str(directory)!r} (expected {RUN_SUMMARY})")
        return cls(directory, read_json(directory / RUN_SUMMARY))

    @property
    def complete(self) -> bool:
        return self.summary["status"] == "complete"

    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["history"])

    @property
    def final(self) -> dict:
        return self.summary["history"][-1] if self.summary["history"] else {}

    def model(self) -> torch.nn.Module:
        """The trained network (its raw weights, not the EMA) built as the run built it, in eval mode."""
        config = TrainConfig(**self.summary["config"])
        final = load_checkpoint(self.directory / FINAL_WEIGHTS)
        model = build_network(config, len(final["classes"]))
        model.load_state_dict(final["model"])
        return model.eval()
