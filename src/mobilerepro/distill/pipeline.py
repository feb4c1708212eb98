"""The distillation pipeline's steps at any scale: the teacher, its soft-label stores and the students' runs, each
resumable, each on N processes under torchrun when asked (one per GPU; on CPU, gloo).

A store is written by N writers (`store.write` with rank r of N), then finalized by the process that started them;
a student run is the trainer's own (DDP under torchrun). Both take a job file, so a worker needs nothing else:

    python -m mobilerepro.distill.pipeline store JOB.json   # one writer (rank and world from torchrun)
    python -m mobilerepro.distill.pipeline train RUN.json   # one process of a student run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mobilerepro import MobileReproError
from mobilerepro.data import soft_labels as store
from mobilerepro.distill.teacher import lite0_teacher, teacher_input, timm_teacher
from mobilerepro.launch import torchrun, under_torchrun
from mobilerepro.results import content_digest, write_json
from mobilerepro.train import trainer


@dataclass(frozen=True)
class TeacherSpec:
    """Which teacher: `lite0` (EfficientNet-Lite0 fine-tuned on the split; `path` is its folder) or `timm` (the
    user's checkpoint `path` of the timm architecture `model`)."""

    kind: str
    path: str
    classes: int
    model: str | None = None

    def load(self):
        """The teacher in eval mode, and the function from a store's uint8 pixels to its input."""
        if self.kind == "lite0":
            teacher = lite0_teacher(self.classes)
            teacher.load_state_dict(trainer.load_checkpoint(Path(self.path) / "teacher.pt"))
            return teacher.eval(), teacher_input
        if self.kind == "timm":
            return timm_teacher(self.path, self.model, self.classes)
        raise MobileReproError(f"unknown teacher kind {self.kind!r} (lite0 or timm)")


@dataclass(frozen=True)
class StoreJob:
    """One soft-label store: of the training split of `run` (a student run's `TrainConfig` fields), seen by
    `teacher` through `augmentation`."""

    folder: str
    teacher: TeacherSpec
    augmentation: store.Augmentation
    run: dict
    replicas: int
    top_k: int = 10
    batch_size: int = 64

    @classmethod
    def from_json(cls, path: Path) -> StoreJob:
        fields = json.loads(Path(path).read_text())
        augmentation = {**fields["augmentation"], "crop_scale": tuple(fields["augmentation"]["crop_scale"])}
        return cls(**{**fields, "teacher": TeacherSpec(**fields["teacher"]),
                      "augmentation": store.Augmentation(**augmentation)})

    def train_samples(self):
        return trainer.datasets(trainer.TrainConfig(**self.run))[0]


def store_folder(root: Path, teacher_digest: str, augmentation: store.Augmentation, dataset: str, replicas: int,
                 world: int) -> Path:
    """Where a store lives: named by everything that makes it (another teacher, view, split or writer count is
    another store, never a mix)."""
    key = [teacher_digest, augmentation.digest, dataset, replicas, world]
    return Path(root) / f"{augmentation.kind}-{content_digest(key)}"


def _device() -> torch.device:
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() else \
        torch.device("cpu")


def write_part(job: StoreJob, rank: int, world: int, progress: bool) -> int:
    teacher, preprocess = job.teacher.load()
    return store.write(Path(job.folder), job.train_samples(), teacher, preprocess, job.augmentation,
                       replicas=job.replicas, rank=rank, world=world, top_k=job.top_k, batch_size=job.batch_size,
                       device=_device(), progress=progress)


def build_store(job: StoreJob, processes: int = 1, *, progress: bool = True) -> dict:
    """The finalized store of `job` (written now, resumed, or found finished); its manifest."""
    folder = Path(job.folder)
    manifest = folder / "manifest.json"
    if manifest.exists() and "shards" in json.loads(manifest.read_text()):
        return json.loads(manifest.read_text())
    if processes > 1:
        folder.mkdir(parents=True, exist_ok=True)
        job_file = folder / "job.json"
        write_json(job_file, asdict(job))
        returncode = torchrun("mobilerepro.distill.pipeline", ["store", str(job_file)], processes)
        if returncode != 0:
            raise MobileReproError(f"the {processes} writers of {folder} failed (exit {returncode}); starting again "
                                   "resumes each one after its last whole shard")
    else:
        write_part(job, 0, 1, progress)
    return store.finalize(folder)


def train_student(config: trainer.TrainConfig, processes: int = 1) -> trainer.TrainingRun:
    """A student run to its end (resumed from its checkpoint when it has one), on `processes` processes."""
    if processes > 1:
        folder = Path(config.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "run_config.json", config.as_dict())
        returncode = torchrun("mobilerepro.distill.pipeline", ["train", str(folder / "run_config.json")], processes)
        if returncode != 0:
            raise MobileReproError(f"the {processes}-process run in {folder} failed (exit {returncode}); starting it "
                                   "again resumes from its last checkpoint")
    else:
        trainer.train(config, resume=True)
    return trainer.TrainingRun.load(config.output_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one process of a distillation step (under torchrun)")
    parser.add_argument("step", choices=("store", "train"))
    parser.add_argument("job", type=Path, help="the job file the starting process wrote")
    args = parser.parse_args(argv)
    if not under_torchrun():
        sys.exit("error: run under torchrun, or let the chapter start it (parameter gpus)")
    try:
        if args.step == "store":
            write_part(StoreJob.from_json(args.job), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                       progress=os.environ["RANK"] == "0")
        else:
            trainer.train(trainer.TrainConfig(**json.loads(args.job.read_text())), resume=True)
    except MobileReproError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
