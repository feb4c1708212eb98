"""Distillation from stored soft labels (MobileNetV4 §8), at reduced scale on real images and at full scale on
ImageNet with the user's teacher — the chapters MNv4 Tabs. 8-9 and MobileOne Tab. 10.

Every run of a chapter is one *arm* (hard labels, or the soft labels of D1, D2 or both mixed) x one seed:

1. **The teacher.** Reduced scale: EfficientNet-Lite0's ImageNet weights fine-tuned on the training split (cached,
   with its held-out accuracy). Full scale: `TEACHER=/path/to/checkpoint TEACHER_MODEL=<timm name>`.
2. **Its stores** (`data.soft_labels`): per augmentation (D1: Inception crop + RandAugment l2m9; D2: Inception crop +
   Mixup) `replicas` views of every training image (one per epoch by default), written once, on `gpus` writers, and
   shared by every arm, seed and chapter that uses the same teacher and split.
3. **The students** (the trainer, `distill_student_reduced` / `mnv4_distill_student` in paper/recipes.yaml): every
   arm takes the same number of steps per epoch (one pass over the training split's size): D1 + D2 draws them from
   both stores' records, in proportion to their sizes (equal replicas: 1:1, as Tab. 8's mixture). The hard-label arm
   sees D1's view of the image (crop + RandAugment) with the recipe's label smoothing; at full scale, the model's own
   Tab. 10 recipe (`hard_recipe`), which is what Tab. 9's "IN-1k only" column is.
4. **Train-val gap**: top-1 on clean training images (`train_eval_per_class` per class) minus held-out top-1, the
   quantity Tab. 8 reports.

Claims are judged on paired differences over seeds (the same seed: the same initialisation and data order), with a
Student-t interval; the teacher, the split and the held-out images are the same for every run.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.data import resolve
from mobilerepro.data import soft_labels as store
from mobilerepro.data.datasets import SampleList, collate_skipping
from mobilerepro.data.prepare import missing_data_error
from mobilerepro.data.transforms import EvalTransform
from mobilerepro.distill import pipeline
from mobilerepro.distill.teacher import TeacherRecipe, finetune
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.experiments._training_ablation import (
    CIFAR10,
    interrupted_runs,
    plot_per_seed,
)
from mobilerepro.measure.stats import paired_by_seed
from mobilerepro.report import save_figure
from mobilerepro.results import content_digest, read_json, results_root, write_json
from mobilerepro.train import trainer
from mobilerepro.train.evaluate import evaluate
from mobilerepro.train.grid import run_grid
from mobilerepro.train.recipe import preset
from mobilerepro.verdicts import NotTestable, contrast_evidence


@dataclass(frozen=True)
class Arm:
    """What a student learns from: hard labels (no stores) or the soft labels of these stores."""

    name: str
    label: str
    stores: tuple[str, ...] = ()


ARMS = {arm.name: arm for arm in (Arm("hard", "hard labels"), Arm("d1", "D1 (RandAugment)", ("d1",)),
                                  Arm("d2", "D2 (Mixup)", ("d2",)), Arm("d1_d2", "D1 + D2 (1:1)", ("d1", "d2")))}


@dataclass(frozen=True)
class Comparison:
    """One piece of evidence for `claim`: arm `better` against arm `worse`, paired by seed, on held-out top-1
    (`top1`, higher is better) or on the train-val gap (`gap`, smaller is better)."""

    claim: str
    better: str
    worse: str
    metric: str = "top1"
    needs_overfitting: bool = False  # a regularisation claim: only testable where hard-label students overfit


# What each metric's paired difference is, in words (always the claim's predicted-positive direction).
QUANTITIES = {"top1": "top-1 difference", "gap": "train-val gap reduction"}


@dataclass(frozen=True)
class DistillationConfig(BaseConfig):
    model: str = "mnv4_conv_s"
    arms: list[str] | None = None
    seeds: list[int] | None = None
    epochs: int | None = None
    batch_size: int = 64
    size: int = 64
    replicas: int | None = None
    per_class_limit: int | None = None
    train_eval_per_class: int = 200
    teacher_epochs: int = 3
    threads: int = 2
    data: str = CIFAR10
    teacher: str | None = None
    teacher_model: str | None = None
    hard_recipe: str | None = None
    gpus: int = 1

    @property
    def full_scale(self) -> bool:
        """ImageNet with the user's teacher (the full profile, or any profile given a teacher)."""
        return self.profile == "full" or self.teacher is not None


# Reduced scale: the view of a 32 px CIFAR image at 64 px keeps a quarter of its area at least (0.08 would leave
# ~9 px of it); the teacher was fine-tuned on the same crops.
REDUCED_CROP_SCALE = (0.25, 1.0)
FULL_CROP_SCALE = (0.08, 1.0)
STUDENT_RECIPES = {"reduced": "distill_student_reduced", "full": "mnv4_distill_student"}
# The reduced-scale hard-label arm: the student recipe with D1's view of the image and Tab. 10's label smoothing.
HARD_LABEL_OVERRIDES = {"augmentation": "randaugment", "randaugment_magnitude": 9, "randaugment_probability": 1.0,
                        "label_smoothing": 0.1}


def distillation_profiles(arms: list[str], *, full: dict) -> dict[str, dict]:
    return {
        "smoke": {"arms": arms, "seeds": [0], "epochs": 1, "batch_size": 16, "size": 32, "per_class_limit": 20,
                  "train_eval_per_class": 4, "teacher_epochs": 1},
        # Quick: about 25 minutes for four arms on a 2-core CPU; stores and teacher are shared between chapters.
        "quick": {"arms": arms, "seeds": [0, 1, 2], "epochs": 3},
        "full": {"arms": arms, "seeds": [0], "size": 224, "batch_size": 256, "train_eval_per_class": 10,
                 "data": ".", "replicas": 100, **full},
    }


class DistillationResult(Result):
    # This family's standard sections (see `Result.sections`).
    sections = {
        "arms": ("Every arm",
            "Held-out and train top-1 against the real labels, mean and standard deviation over seeds, the "
            "train–val gap, and the training throughput of each arm on this machine (stored soft labels replay "
            "the teacher's view of each image)."),
        "contrasts": ("Paired differences",
            "Better minus worse arm in top-1 points (for the gap: the worse arm's gap minus the better arm's), "
            "paired by seed, with its 95 % Student-t interval."),
    }

    terminal_tables = ("arms", "contrasts")

    def interrupted(self) -> str | None:
        return interrupted_runs(self.summary, len(self.rows), "student runs")

    def arms_table(self) -> pd.DataFrame:
        grouped = self.rows.groupby(["arm", "label"], sort=False)
        table = grouped.agg(seeds=("seed", "size"), val_mean=("top1", "mean"), val_std=("top1", "std"),
                            train_mean=("train_top1", "mean"), gap_mean=("gap", "mean"), gap_std=("gap", "std"),
                            img_per_s=("train_images_per_s", "mean"), minutes=("train_seconds", "sum"))
        table["minutes"] = table.minutes / 60
        return table.reset_index().drop(columns="arm").rename(columns={
            "label": "student learns from", "val_mean": "held-out top-1 mean", "val_std": "held-out top-1 std",
            "train_mean": "train top-1 mean", "gap_mean": "train-val gap mean", "gap_std": "train-val gap std",
            "img_per_s": "train img/s", "minutes": "train minutes (all seeds)"})

    def contrasts_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records([
            {"claim": c["claim"], "better": ARMS[c["better"]].label, "worse": ARMS[c["worse"]].label,
             "quantity": QUANTITIES[c["metric"]], "seeds": c["seeds"], "difference": c["difference"],
             "95 % CI low": c["ci_low"], "95 % CI high": c["ci_high"]} for c in self.summary["contrasts"]])

    def published_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["published"])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"arms": self.arms_table(), "contrasts": self.contrasts_table(), "published": self.published_table()}

    def teacher_line(self) -> str:
        teacher = self.summary["teacher"]
        accuracy = (f"held-out top-1 {teacher['top1']:.2f} %, top-5 {teacher['top5']:.2f} % on "
                    f"{teacher['val_images']} images" if teacher.get("top1") is not None else "accuracy not measured")
        return f"teacher: {teacher['description']} ({accuracy}; digest {teacher['digest']})"

    def store_lines(self) -> list[str]:
        return [f"store {kind.upper()}: {s['records']} records ({s['replicas']} replicas), "
                f"{s['bytes_per_1000'] / 1000:.1f} kB per 1000 records, {s['shards']} shards, {s['writers']} writer(s)"
                for kind, s in self.summary["stores"].items()]

    def setup_lines(self) -> list[str]:
        p = self.summary["parameters"]
        recipe = self.summary["student_recipe"]
        return [f"student {p['model']}, {self.summary['epochs']} epochs of {self.summary['steps_per_epoch']} steps "
                f"(batch {p['batch_size']}, {p['size']} px), seeds {p['seeds']}, {p['threads']} threads",
                self.teacher_line(), *self.store_lines(),
                f"student recipe {recipe['name']} (AdamW, LR {recipe['lr']:g} x batch/{recipe['batch_size']}, "
                f"cosine with {recipe['warmup_epochs'] / recipe['epochs']:.0%} warm-up, weight decay "
                f"{recipe['weight_decay']:g}, dropout {recipe['dropout']} before the classifier); hard-label arm: "
                f"{self.summary['hard_recipe']}",
                *self.summary["scale_notes"]]

    def method_markdown(self) -> str:
        view = store.Augmentation("d1", 0)
        return METHOD.format(ops=view.randaugment_ops, magnitude=view.randaugment_magnitude, alpha=view.mixup_alpha,
                             top_k=pipeline.StoreJob.top_k, smoothing=HARD_LABEL_OVERRIDES["label_smoothing"])

    def differences_markdown(self) -> str:
        section = paper.load("mobilenetv4")["table8"]
        replicas = {s["replicas"] for s in self.summary["stores"].values()}
        return DIFFERENCES.format(paper_setup=section["setup"]["text"], teacher=self.summary["teacher"]["description"],
                                  scale=self.summary["scale_notes"][0], epochs=self.summary["epochs"],
                                  replicas=", ".join(map(str, sorted(replicas))),
                                  offline_faster=section["claims"]["offline_faster"]["text"])

    def summary_numbers(self) -> list[str]:
        numbers = [f"{row['student learns from']}: held-out top-1 {row['held-out top-1 mean']:.2f} ± "
                   f"{np.nan_to_num(row['held-out top-1 std']):.2f} %, train-val gap "
                   f"{row['train-val gap mean']:+.2f} points ({row['seeds']} seeds)"
                   for row in self.arms_table().to_dict(orient="records")]
        return [*numbers, self.teacher_line(), *self.store_lines()]


METHOD = """## Method

**Teacher.** At reduced scale, EfficientNet-Lite0 with its released ImageNet weights (the only real ones offline)
and a new 10-class head, fine-tuned on the training split (AdamW, cosine, Inception crops and flips); its held-out
accuracy is in the setup list. At full scale, the checkpoint you give (`TEACHER`, a timm model `TEACHER_MODEL`).

**Soft labels (offline, MNv4 §8).** For every training image and replica, a view drawn from a seed: D1 = Inception
crop + RandAugment ({ops} ops, magnitude {magnitude}), D2 = Inception crop + Mixup with a partner image (λ ~
Beta({alpha:g}, {alpha:g}): the paper says "extreme" Mixup and gives no α — our choice). Each view goes through a JPEG
round trip, then the teacher; its softmax is stored (top {top_k} classes, or all of them when there are fewer, in
fp16) with the view's seed, in checksummed shards. The student replays the exact pixels the teacher saw.

**Students.** Every arm trains the same student from the same initialisation (per seed) for the same number of
steps: hard labels (the same crop + RandAugment view, label smoothing {smoothing:g}), D1, D2, or D1 + D2 (records of
both stores, 1:1). With soft labels the student sees left-right flips only, dropout in the final FC only, AdamW and a
cosine with warm-up (MNv4 §8); what the paper does not state (LR, weight decay, warm-up, dropout rate, epochs) is
marked *choice* in `paper/recipes.yaml`.

**Evaluation.** Held-out top-1 against the real labels, of the trained weights, on the split's held-out images (never
seen by the teacher or a student). Train top-1: the same model on clean (unaugmented) training images with their real
labels. The gap is train minus held-out, as Tab. 8 reports it.

**Verdicts.** Each claim as a paired difference over seeds with a Student-t 95 % interval: *held* when it lies above
zero, *did not hold* when below, *inconclusive* otherwise (*not enough data* with one seed). Three seeds of a few
epochs resolve only large effects; an inconclusive verdict is the honest outcome for a small one."""

DIFFERENCES = """## What differs from the paper's setup

- **Scale.** The paper: {paper_setup} Its students train for hundreds of ImageNet epochs from many replicas per image
  (Tab. 8, below). Here: {teacher}; {scale}; {epochs} epochs, {replicas} replica(s) per image and store. Results
  say whether a claim's *direction* shows at this scale, not its size on ImageNet; `PROFILE=full` runs the same code
  on ImageNet with your teacher.
- **D3** (JFT-300M) is not public and has no arm here.
- **Cost.** The paper's "{offline_faster}" compares whole recipes on its TPUs; here the arms' training
  throughput is measured side by side (the table's img/s column; `benchmarks/distillation_throughput.py` adds an
  online teacher) — what one student step costs, not what a recipe costs.
- **Numbers.** The paper's cells are shown for reference (their provenance is marked); they are not targets at this
  scale — only the claims' directions are judged."""


class DistillationExperiment(Experiment):
    """A distillation chapter: its arms, its student, its claims as comparisons between arms."""

    config_type = DistillationConfig
    result_type = DistillationResult
    datasets = (CIFAR10,)
    full_datasets = ("imagenet",)
    comparisons: tuple[Comparison, ...] = ()
    # The chapter's own model options over the student recipe's (e.g. a model without dropout in its head).
    recipe_overrides: dict = {}

    def validate(self, config: DistillationConfig) -> DistillationConfig:
        arms = list(config.arms or [])
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            raise MobileReproError(f"unknown arm {unknown[0]!r} for {self.id} (choose from: {', '.join(ARMS)})")
        if "hard" not in arms or len(arms) < 2:
            raise MobileReproError("the arms must include hard labels and at least one soft-label arm")
        if not config.seeds:
            raise MobileReproError("at least one seed is needed")
        teacher, teacher_model = config.teacher, config.teacher_model
        if config.profile == "full":
            teacher = teacher or os.environ.get("MOBILEREPRO_TEACHER")
            teacher_model = teacher_model or os.environ.get("MOBILEREPRO_TEACHER_MODEL")
        if int(config.gpus) < 1:
            raise MobileReproError(f"gpus must be at least 1, got {config.gpus}")
        return DistillationConfig(**{**config.as_dict(), "arms": arms, "seeds": [int(s) for s in config.seeds],
                                     "batch_size": int(config.batch_size), "size": int(config.size),
                                     "threads": int(config.threads), "gpus": int(config.gpus),
                                     "data": str(config.data), "teacher": teacher, "teacher_model": teacher_model})

    # -- the runs ------------------------------------------------------------------------------------------------
    def student_recipe(self, config: DistillationConfig) -> str:
        return STUDENT_RECIPES["full" if config.full_scale else "reduced"]

    def run_config(self, config: DistillationConfig, arm: Arm, seed: int, stores: dict[str, str],
                   teacher_digest: str | None, progress: bool, steps_per_epoch: int | None = None
                   ) -> trainer.TrainConfig:
        """The training run of one arm and seed; its folder is the digest of everything that shapes it. Every arm
        takes `steps_per_epoch` steps an epoch (one pass over the training split), however many records it has."""
        full = config.full_scale
        overrides = dict(self.recipe_overrides)
        if not full:
            overrides.update(resolution_stages=[[0, config.size]], eval_size=config.size)
        recipe = self.student_recipe(config)
        if not arm.stores:
            if config.hard_recipe:
                recipe = config.hard_recipe
            else:
                overrides.update(HARD_LABEL_OVERRIDES)
        shaping = {"model": config.model, "recipe": recipe, "recipe_overrides": overrides,
                   "train_data": str(resolve(config.data).resolve()), "per_class_limit": config.per_class_limit,
                   "epochs": config.epochs, "batch_size": config.batch_size, "seed": seed,
                   "max_steps_per_epoch": steps_per_epoch,
                   "crop_scale": FULL_CROP_SCALE if full else REDUCED_CROP_SCALE,
                   "eval_crop_pct": 0.875 if full else 1.0,
                   "soft_labels": [stores[kind] for kind in arm.stores] or None,
                   "teacher": teacher_digest if arm.stores else None,
                   **({"train_split": "train", "val_data": str(resolve(config.data).resolve()), "val_split": "val"}
                      if full else {"val_fraction": 0.2, "split_seed": 0})}
        digest = content_digest(shaping)
        return trainer.TrainConfig(output_dir=str(results_root() / "training_runs" / f"distill-{digest}"),
                                   device="auto" if full else "cpu", threads=config.threads, progress=progress,
                                   num_workers=8 if full else 0, **shaping)

    def check_inputs(self, config: DistillationConfig) -> None:
        """Data and teacher are there, before any work; else one line saying what is missing and how to give it."""
        path = resolve(config.data)
        if config.full_scale:
            if not config.teacher or not config.teacher_model:
                raise MobileReproError("full scale distils from your teacher: TEACHER=/path/to/checkpoint "
                                       "TEACHER_MODEL=<timm model name> (or -p teacher PATH -p teacher_model NAME)")
            if not ((path / "train").is_dir() and (path / "val").is_dir()):
                raise missing_data_error("imagenet", path, "an ImageNet root with train/ and val/ ImageFolders")
        elif not path.is_dir():
            raise missing_data_error("cifar10", path, "the training data (an ImageFolder)")

    def teacher(self, config: DistillationConfig, train: SampleList, val: SampleList,
                progress: bool) -> tuple[pipeline.TeacherSpec, dict]:
        classes = len(train.classes)
        if config.full_scale:
            spec = pipeline.TeacherSpec("timm", str(Path(config.teacher).expanduser()), classes, config.teacher_model)
            return spec, {"description": f"{config.teacher_model} from {config.teacher}", "top1": None}
        recipe = TeacherRecipe(size=config.size, epochs=config.teacher_epochs)
        folder = results_root() / "distill" / "teachers" / content_digest(
            [asdict(recipe), store.dataset_fingerprint(train), store.dataset_fingerprint(val)])
        if progress and not (folder / "teacher.json").exists():
            print(f"[{self.id}] fine-tuning the teacher (EfficientNet-Lite0) -> {folder}", flush=True)
        _, record = finetune(train, val, folder, recipe, progress=progress)
        description = (f"EfficientNet-Lite0 (ImageNet weights) fine-tuned {recipe.epochs} epochs on "
                       f"{record['train_images']} training images at {recipe.size} px")
        return pipeline.TeacherSpec("lite0", str(folder), classes), {**record, "description": description}

    def measure(self, config: DistillationConfig, directory: Path, progress: bool) -> Outcome:
        self.check_inputs(config)
        reference = self.run_config(config, ARMS["hard"], config.seeds[0], {}, None, progress)
        train, val = trainer.datasets(reference)
        spec, teacher_record = self.teacher(config, train, val, progress)
        teacher_module, _ = spec.load()
        digest = store.teacher_digest(teacher_module)
        del teacher_module
        epochs = config.epochs or preset(self.student_recipe(config)).epochs
        replicas = config.replicas or epochs
        crop_scale = FULL_CROP_SCALE if config.full_scale else REDUCED_CROP_SCALE
        stores, store_summary = {}, {}
        for kind in sorted({kind for name in config.arms for kind in ARMS[name].stores}):
            augmentation = store.Augmentation(kind, config.size, crop_scale=crop_scale)
            folder = pipeline.store_folder(results_root() / "distill" / "stores", digest, augmentation,
                                           store.dataset_fingerprint(train), replicas, config.gpus)
            if progress and not (folder / "manifest.json").exists():
                print(f"[{self.id}] writing the {kind.upper()} soft labels ({replicas} replicas) -> {folder}",
                      flush=True)
            job = pipeline.StoreJob(str(folder), spec, augmentation, reference.as_dict(), replicas,
                                    batch_size=config.batch_size)
            manifest = pipeline.build_store(job, config.gpus, progress=progress)
            records = sum(s["records"] for s in manifest["shards"])
            size = sum((folder / s["file"]).stat().st_size for s in manifest["shards"])
            stores[kind] = str(folder)
            store_summary[kind] = {"folder": str(folder), "records": records, "replicas": replicas,
                                   "shards": len(manifest["shards"]), "writers": manifest["world"],
                                   "bytes": size, "bytes_per_1000": 1000 * size / records}
        rows, curves, layout = [], [], {}
        steps_per_epoch = len(train) // (config.batch_size * config.gpus)
        runs, interrupted = run_grid(
            config.arms, config.seeds,
            lambda name, seed: self.run_config(config, ARMS[name], seed, stores, digest, progress, steps_per_epoch),
            lambda settings: pipeline.train_student(settings, config.gpus), progress=progress,
            describe=lambda name, seed: f"[{self.id}] training {config.model} on {ARMS[name].label}, seed {seed}")
        for done in runs:
            finished, arm = done.run, ARMS[done.arm]
            layout = finished.summary["schedule"]
            final = finished.final
            train_top1 = training_top1(finished, train, config.train_eval_per_class, config.batch_size)
            rows.append({"arm": done.arm, "label": arm.label, "seed": done.seed, "top1": final["val_top1"],
                         "top5": final["val_top5"], "train_top1": train_top1,
                         "gap": train_top1 - final["val_top1"], "train_loss": final["train_loss"],
                         "train_images_per_s": finished.history.train_images_per_s.mean(),
                         "train_seconds": finished.history.seconds.sum(), "reused": done.reused,
                         "run": done.settings.output_dir})
            curves.extend({"arm": done.arm, "seed": done.seed, **row} for row in finished.summary["history"])
        frame = pd.DataFrame.from_records(rows)
        if frame.empty:
            raise MobileReproError(f"no student run of {self.id} finished ({interrupted or 'nothing trained'})")
        compared = [paired_contrast(frame, c) for c in self.comparisons
                    if {c.better, c.worse} <= set(frame.arm)]
        return Outcome(frame, {
            "teacher": {**teacher_record, "digest": digest},
            "stores": store_summary,
            "student_recipe": preset(self.student_recipe(config)).as_dict(),
            "hard_recipe": config.hard_recipe or (f"the student recipe with D1's view (crop + RandAugment l2m9) and "
                                                  f"label smoothing {HARD_LABEL_OVERRIDES['label_smoothing']}"),
            "epochs": epochs, "steps_per_epoch": layout.get("steps_per_epoch"),
            "scale_notes": self.scale_notes(config),
            "contrasts": compared, "curves": curves, "published": self.published_rows(),
            "interrupted": interrupted, "runs_planned": len(config.arms) * len(config.seeds),
        }, [(c["claim"], f"{ARMS[c['better']].label} vs {ARMS[c['worse']].label}"
             + (" (train-val gap)" if c["metric"] == "gap" else ""),
             NotTestable(reason, c["seeds"]) if c["needs_overfitting"] and (reason := underfitting(frame))
             else contrast_evidence(c, QUANTITIES[c["metric"]])) for c in compared])

    def scale_notes(self, config: DistillationConfig) -> list[str]:
        if config.full_scale:
            return [f"full scale: ImageNet train/val under {resolve(config.data)}, your teacher, "
                    f"{config.gpus} process(es)"]
        return [f"reduced scale: CIFAR-10 test JPEGs split per class 80/20 with one seed for every run (the "
                f"teacher's split), views at {config.size} px with Inception-crop area {REDUCED_CROP_SCALE[0]:g}-1 "
                "(0.08 would keep ~9 px of a 32 px image)"]

    def published_rows(self) -> list[dict]:
        """The paper's cells this chapter shows for reference, each with its provenance (never a target here)."""
        raise NotImplementedError

    # -- the figure ----------------------------------------------------------------------------------------------
    def figure(self, result: DistillationResult, path: Path) -> None:
        """Left: held-out top-1 per arm (dots: seeds; black: mean ± std; dashed: the teacher). Right: the train-val
        gap per arm, the same way."""
        frame = result.rows
        labels = {name: arm.label for name, arm in ARMS.items() if name in set(frame.arm)}
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        for axis, column, ylabel in ((axes[0], "top1", "held-out top-1 (%)"),
                                     (axes[1], "gap", "train top-1 − held-out top-1 (points)")):
            plot_per_seed(axis, frame, column, labels)
            axis.set_ylabel(ylabel)
        teacher = result.summary["teacher"].get("top1")
        if teacher is not None:
            axes[0].axhline(teacher, color="#c62828", linestyle="--", label=f"teacher {teacher:.1f} %")
            axes[0].legend()
        axes[0].set_title("student accuracy per arm (dots: seeds; black: mean ± std)")
        axes[1].axhline(0, color="grey", linewidth=0.8)
        axes[1].set_title("train-val gap per arm")
        fig.suptitle(f"{self.title} ({'full' if result.summary['parameters'].get('teacher') else 'reduced'} scale)")
        save_figure(fig, path)


def training_top1(run: trainer.TrainingRun, train: SampleList, per_class: int, batch_size: int) -> float:
    """Top-1 of the run's trained weights on `per_class` clean training images per class (real labels, the eval
    transform); cached in the run's folder."""
    from torch.utils.data import DataLoader

    from mobilerepro.data.datasets import ImageDataset

    cache = run.directory / "train_eval.json"
    if cache.exists() and read_json(cache).get("per_class") == per_class:
        return read_json(cache)["top1"]
    config = trainer.TrainConfig(**run.summary["config"])
    recipe = config.recipe_object()
    chosen, counts = [], {}
    for index, (_, label) in enumerate(train.samples):
        if counts.get(label, 0) < per_class:
            chosen.append(index)
            counts[label] = counts.get(label, 0) + 1
    subset = train.subset(chosen, "(training images, clean)")
    transform = EvalTransform(recipe.eval_size, config.eval_crop_pct, config.interpolation,
                                      config.normalisation).build()
    loader = DataLoader(ImageDataset(subset, transform), batch_size=batch_size, collate_fn=collate_skipping)
    result = evaluate(run.model(), loader, device=run.summary["device"], progress=False)
    write_json(cache, {"per_class": per_class, "images": result.n, "top1": result.top1})
    return result.top1


def underfitting(frame: pd.DataFrame) -> str | None:
    """Why a regularisation claim (mixing beats each, the gap shrinks) cannot be tested by these runs: the hard-label
    students do not overfit (their train-val gap is below the paper data's `min_overfit_gap`, a choice); None when
    they do or when no hard-label arm ran."""
    hard = frame[frame.arm == "hard"]
    if hard.empty:
        return "not testable at this scale: no hard-label arm ran, so whether the students overfit is unknown"
    gap = float(hard.gap.mean())
    needed = paper.value(paper.load("mobilenetv4")["table8"]["min_overfit_gap"])
    if gap >= needed:
        return None
    return (f"not testable at this scale: the hard-label students underfit (train-val gap {gap:+.2f} points < the "
            f"{needed:g} needed, a choice), so a regulariser has nothing to shrink")


def paired_contrast(frame: pd.DataFrame, comparison: Comparison) -> dict:
    """The comparison's paired difference over seeds (better minus worse top-1, or worse minus better gap) with its
    Student-t interval."""
    first, second = ((comparison.better, comparison.worse) if comparison.metric == "top1"
                     else (comparison.worse, comparison.better))
    return {**asdict(comparison), **paired_by_seed(frame, comparison.metric, first, second)}


def published_cells(rows: dict, columns: dict[str, str]) -> list[dict]:
    """Rows of a paper-data section as table rows: the label, then each column's cell with its provenance mark."""
    return [{"row": row["label"], **{shown: paper.cell(row.get(key)) for key, shown in columns.items()}}
            for row in rows.values()]
