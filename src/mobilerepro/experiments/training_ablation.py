"""Reduced-scale replication of MobileOne's training ablations (Tabs. 5, 6, 8) on real images.

Every table is a grid of *arms* (configurations) x seeds, trained with our trainer and the paper's recipe on the
CIFAR-10 test JPEGs, split deterministically per class into train / val. The adaptations to 32x32 images, and only
those, are stated in `REDUCED_SCALE` and shown in every chapter. Each training run lives in
`results/training_runs/<digest of its configuration>/`: a finished run is reused by any table that needs it (Tab.
5's "with branches" arm is Tab. 6's k = 4 and Tab. 8's "annealed" arm), an interrupted one resumes where it stopped.

The claim of each table says that *more* of something helps (branches, k, annealing); every arm declares how much of
it it has (`Arm.strength`), and each arm is compared with the paper's arm seed by seed (the same seed gives the same
data order and augmentation), always as the stronger arm minus the weaker one, with a Student-t interval over the
paired differences. The verdict engine judges the interval; at a few seeds and epochs a 0.5-point effect usually
stays "inconclusive" — which the chapter says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.experiments.base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.measure.stats import mean_with_ci
from mobilerepro.report import save_figure
from mobilerepro.results import results_root
from mobilerepro.train import trainer
from mobilerepro.train.recipe import Schedule, preset
from mobilerepro.verdicts import Interval

CIFAR10 = "cifar10-test-jpg/test"


@dataclass(frozen=True)
class ReducedScale:
    """How the ImageNet recipe is adapted to 32x32 CIFAR-10 images."""

    image_size: int = 32
    stem_stride: int = 2  # the network as published: 32 px reach the last stage as a 1x1 map
    crop_scale: tuple[float, float] = (0.25, 1.0)  # the recipe's 0.08 minimum area leaves ~9x9 pixels
    eval_crop_pct: float = 1.0  # no center crop: the images are already the network's input size
    val_fraction: float = 0.2

    def notes(self) -> list[str]:
        return [
            f"CIFAR-10 test JPEGs ({self.image_size}x{self.image_size}), split per class into "
            f"{1 - self.val_fraction:.0%} train / {self.val_fraction:.0%} val with a fixed seed",
            ("no architectural change: S0 runs on 32 px as published (the last stage sees a 1x1 map)"
             if self.stem_stride == 2 else f"stem stride {self.stem_stride} instead of 2 (a larger last-stage map)"),
            f"random-resized-crop area {self.crop_scale[0]:g}-{self.crop_scale[1]:g} instead of 0.08-1",
            f"progressive resolution kept, its sizes scaled by {self.image_size}/224; eval without center crop",
            recipe_line(preset("mobileone_s0s1")),
        ]


def recipe_line(recipe) -> str:
    """The recipe the runs keep, in words, from the preset (paper/recipes.yaml) rather than typed here."""
    decay = (f"WD {recipe.weight_decay:g} -> {recipe.final_weight_decay:g}" if recipe.final_weight_decay is not None
             else f"WD {recipe.weight_decay:g}")
    return (f"everything else is the paper's recipe ({recipe.optimizer.upper()}, LR {recipe.lr:g} x batch/"
            f"{recipe.batch_size} on a cosine, {decay}, label smoothing {recipe.label_smoothing:g}, EMA "
            f"{recipe.ema_decay:g}), over far fewer epochs")


REDUCED_SCALE = ReducedScale()


@dataclass(frozen=True)
class Arm:
    """One configuration of an ablation: model switches and recipe overrides on top of the base run, and how much of
    what the claim says helps it has (`strength`: e.g. the number of branches)."""

    name: str
    label: str
    strength: float
    model_options: dict = field(default_factory=dict)
    recipe_overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AblationConfig(BaseConfig):
    model: str = "mobileone_s0"
    arms: list[str] | None = None
    seeds: list[int] | None = None
    epochs: int = 5
    batch_size: int = 128
    per_class_limit: int | None = None
    threads: int = 2
    data: str = CIFAR10


# Quick: about 15 minutes per table on a 2-core CPU when run alone; runs shared between tables are trained once.
TRAINING_PROFILES = {
    "smoke": {"seeds": [0], "epochs": 1, "batch_size": 32, "per_class_limit": 20},
    "quick": {"seeds": [0, 1, 2], "epochs": 5, "batch_size": 128},
    "full": {"seeds": [0, 1, 2, 3, 4], "epochs": 60, "batch_size": 128},
}


def ablation_profiles(arms: dict[str, list[str]], seeds: dict[str, list[int]] | None = None) -> dict[str, dict]:
    """The training profiles with a table's arms per profile (and seeds, where a table needs fewer)."""
    return {profile: {**settings, "arms": arms[profile], **({"seeds": seeds[profile]} if seeds and profile in seeds
                                                            else {})}
            for profile, settings in TRAINING_PROFILES.items()}


def contrasts(arms: dict[str, Arm], reference: str, frame: pd.DataFrame) -> list[dict]:
    """Each arm against the reference, paired by seed, always stronger minus weaker (what the claim predicts to be
    positive), with a Student-t interval over the seeds."""
    by_arm = frame.pivot_table(index="seed", columns="arm", values="top1")
    result = []
    for name in by_arm.columns:
        if name == reference or reference not in by_arm.columns:
            continue
        if arms[name].strength == arms[reference].strength:
            raise MobileReproError(f"arms {name} and {reference} have the same strength: the claim orders neither")
        stronger, weaker = (name, reference) if arms[name].strength > arms[reference].strength else (reference, name)
        differences = (by_arm[stronger] - by_arm[weaker]).dropna()
        mean, low, high = mean_with_ci(differences.to_numpy())
        result.append({"stronger": stronger, "weaker": weaker, "seeds": len(differences), "difference": mean,
                       "ci_low": low, "ci_high": high})
    return result


def scaled_stages(recipe_name: str, image_size: int) -> list[list[int]]:
    recipe = preset(recipe_name)
    return [[start, round(size * image_size / recipe.eval_size)] for start, size in recipe.resolution_stages]


def run_config(config: AblationConfig, arm: Arm, seed: int, *, recipe: str = "mobileone_s0s1",
               progress: bool = True) -> trainer.TrainConfig:
    """The training run of one arm and seed (its output folder is the digest of everything that shapes it)."""
    scale = REDUCED_SCALE
    overrides = {"resolution_stages": scaled_stages(recipe, scale.image_size), "eval_size": scale.image_size,
                 **arm.recipe_overrides}
    options = {"stem_stride": scale.stem_stride, **arm.model_options}
    shaping = {"model": config.model, "recipe": recipe, "recipe_overrides": overrides, "model_options": options,
               "train_data": str(resolve(config.data)), "val_fraction": scale.val_fraction,
               "per_class_limit": config.per_class_limit, "epochs": config.epochs, "batch_size": config.batch_size,
               "crop_scale": scale.crop_scale, "eval_crop_pct": scale.eval_crop_pct, "seed": seed}
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
    return trainer.TrainConfig(output_dir=str(results_root() / "training_runs" / digest), device="cpu",
                               threads=config.threads, progress=progress, **shaping)


def _finished(folder: Path) -> trainer.TrainingRun | None:
    """The run in `folder` if it has finished."""
    if not (folder / trainer.RUN_SUMMARY).exists():
        return None
    run = trainer.TrainingRun.load(folder)
    return run if run.complete else None


def check_data(config: AblationConfig) -> None:
    path = resolve(config.data)
    if not path.exists():
        raise MobileReproError(
            f"training data {str(path)!r} not found: set MOBILEREPRO_DATA (or DATA=) to the folder holding "
            f"{config.data}, or pass -p data /path/to/an/ImageFolder"
        )


def cumulative_decay(settings: trainer.TrainConfig, finished: trainer.TrainingRun) -> float:
    """Σ_t lr_t · wd_t over the run: how far weight decay alone shrinks a decaying weight (as a log factor) — the
    size of the intervention when arms differ only in their weight-decay schedule."""
    layout = finished.summary["schedule"]
    schedule = Schedule(settings.recipe_object(), layout["epochs"], layout["steps_per_epoch"], layout["global_batch"])
    return sum(schedule.lr(step) * schedule.weight_decay(step) for step in range(schedule.total_steps))


class AblationResult(Result):
    terminal_tables = ("arms",)

    def interrupted(self) -> str | None:
        done, planned = len(self.rows), self.summary["runs_planned"]
        if self.summary.get("interrupted") or done < planned:
            return (f"INTERRUPTED: {done} of {planned} training runs finished; run the target again to resume "
                    f"({self.summary.get('interrupted') or 'stopped'})")
        return None

    def arms_table(self) -> pd.DataFrame:
        grouped = self.rows.groupby(["arm", "label"], sort=False)
        table = grouped.agg(seeds=("seed", "size"), top1_mean=("top1", "mean"), top1_std=("top1", "std"),
                            top5_mean=("top5", "mean"), ema_top1_mean=("ema_top1", "mean"),
                            decay=("cumulative_decay", "mean"), img_per_s=("train_images_per_s", "mean"),
                            minutes=("train_seconds", "sum"))
        table["minutes"] = table.minutes / 60
        return table.reset_index().drop(columns="arm").rename(columns={
            "label": "arm", "top1_mean": "top-1 mean", "top1_std": "top-1 std", "top5_mean": "top-5 mean",
            "ema_top1_mean": "EMA top-1 mean", "decay": "Σ lr·wd", "img_per_s": "train img/s",
            "minutes": "train minutes (all seeds)"})

    def contrasts_table(self) -> pd.DataFrame:
        labels = {arm.name: arm.label for arm in self.experiment.arms.values()}
        return pd.DataFrame.from_records([
            {"stronger": labels[c["stronger"]], "weaker": labels[c["weaker"]], "seeds": c["seeds"],
             "top-1 difference": c["difference"], "95 % CI low": c["ci_low"], "95 % CI high": c["ci_high"]}
            for c in self.summary["contrasts"]])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"arms": self.arms_table(), "contrasts": self.contrasts_table()}

    def setup_lines(self) -> list[str]:
        p = self.summary["parameters"]
        return [f"model {p['model']}, {p['epochs']} epochs, batch {p['batch_size']}, seeds {p['seeds']}, "
                f"{p['threads']} threads", *self.summary["reduced_scale"]["notes"]]

    def setup_markdown(self) -> str:
        return "**Setup.**\n\n" + "\n".join(f"- {line}" for line in self.setup_lines())

    def summary_numbers(self) -> list[str]:
        numbers = [f"{row['arm']}: top-1 {row['top-1 mean']:.2f} ± {np.nan_to_num(row['top-1 std']):.2f} % "
                   f"({row['seeds']} seeds)" for row in self.arms_table().to_dict(orient="records")]
        return [*numbers, "reduced scale: " + self.setup_lines()[0]]


class AblationExperiment(Experiment):
    """A reduced-scale training table: its arms (one of them the paper's setting, `reference`) and its claim."""

    config_type = AblationConfig
    result_type = AblationResult
    datasets = ("cifar10-test-jpg/test",)
    part = "Training and evaluation (MobileOne §4, reduced scale)"
    arms: dict[str, Arm] = {}
    reference: str = ""
    claim: str = ""

    def validate(self, config: AblationConfig) -> AblationConfig:
        arms = list(config.arms)
        unknown = [a for a in arms if a not in self.arms]
        if unknown:
            raise MobileReproError(f"unknown arm {unknown[0]!r} for {self.id} (choose from: {', '.join(self.arms)})")
        if self.reference not in arms:
            raise MobileReproError(f"the arms must include the paper's setting {self.reference!r}")
        if not config.seeds:
            raise MobileReproError("at least one seed is needed")
        return AblationConfig(**{**config.as_dict(), "arms": arms, "seeds": [int(s) for s in config.seeds],
                                 "epochs": int(config.epochs), "batch_size": int(config.batch_size),
                                 "threads": int(config.threads), "data": str(config.data)})

    def measure(self, config: AblationConfig, directory: Path, progress: bool) -> Outcome:
        """Train every arm x seed that has no finished run yet, then tabulate and compare."""
        check_data(config)
        rows, curves, interrupted = [], [], None
        for seed in config.seeds:
            for name in config.arms:
                arm = self.arms[name]
                settings = run_config(config, arm, seed, progress=progress)
                folder = Path(settings.output_dir)
                finished = _finished(folder)
                reused = finished is not None
                if finished is None and interrupted is None:
                    if progress:
                        print(f"[{self.id}] training {arm.label}, seed {seed} -> {folder}", flush=True)
                    try:
                        trainer.train(settings, resume=True)
                        finished = _finished(folder)
                    except trainer.TrainingInterrupted as stop:
                        interrupted = str(stop)
                if finished is None:
                    continue
                final = finished.final
                rows.append({"arm": name, "label": arm.label, "seed": seed, "top1": final["val_top1"],
                             "top5": final["val_top5"], "ema_top1": final.get("ema_top1"),
                             "train_loss": final["train_loss"],
                             "train_images_per_s": finished.history.train_images_per_s.mean(),
                             "train_seconds": finished.history.seconds.sum(),
                             "cumulative_decay": cumulative_decay(settings, finished),
                             "classes": finished.summary["data"]["classes"], "reused": reused, "run": str(folder)})
                curves.extend({"arm": name, "seed": seed, **row} for row in finished.summary["history"])
        frame = pd.DataFrame.from_records(rows)
        if frame.empty:
            raise MobileReproError(f"no run of {self.id} finished ({interrupted or 'nothing trained'})")
        compared = contrasts(self.arms, self.reference, frame)
        return Outcome(frame, {
            "reduced_scale": {**asdict(REDUCED_SCALE), "notes": REDUCED_SCALE.notes()},
            "recipe": preset("mobileone_s0s1").as_dict(), "contrasts": compared, "curves": curves,
            "interrupted": interrupted, "runs_planned": len(config.arms) * len(config.seeds),
        }, [(self.claim, f"{self.arms[c['stronger']].label} vs {self.arms[c['weaker']].label}", contrast_evidence(c))
            for c in compared])

    def figure(self, result: AblationResult, path: Path) -> None:
        """Left: final val top-1 per arm (one dot per seed, mean +- std). Right: val top-1 per epoch (mean over
        seeds)."""
        frame, curves = result.rows, pd.DataFrame.from_records(result.summary["curves"])
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        arms = [a for a in self.arms if a in set(frame.arm)]
        for x, name in enumerate(arms):
            values = frame[frame.arm == name].top1
            left.scatter(np.full(len(values), x) + np.linspace(-0.08, 0.08, len(values)), values, color="#1565c0",
                         zorder=3)
            left.errorbar(x + 0.25, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0, fmt="o",
                          color="black", capsize=4)
        chance = 100 / frame.classes.iloc[0]
        for axis in (left, right):
            axis.axhline(chance, color="grey", linestyle=":", label="chance")
        left.set_xticks(range(len(arms)), [self.arms[a].label for a in arms], rotation=10)
        left.set_ylabel("val top-1 (%) after the last epoch")
        left.set_title("dots: seeds; black: mean ± std")
        left.grid(axis="y", alpha=0.3)
        if not curves.empty and "val_top1" in curves:
            mean_curves = curves.groupby(["arm", "epoch"]).val_top1.mean().reset_index()
            for name in arms:
                curve = mean_curves[mean_curves.arm == name]
                right.plot(curve.epoch, curve.val_top1, marker="o", label=self.arms[name].label)
            right.set_xlabel("epoch")
            right.set_ylabel("val top-1 (%), mean over seeds")
            right.legend()
            right.grid(alpha=0.3)
        fig.suptitle(f"{self.title} (reduced scale)")
        save_figure(fig, path)


def contrast_evidence(contrast: dict) -> Interval:
    interval = (f", 95 % CI [{contrast['ci_low']:+.2f}, {contrast['ci_high']:+.2f}]"
                if np.isfinite(contrast["ci_low"]) else "")
    return Interval(contrast["difference"], contrast["ci_low"], contrast["ci_high"], contrast["seeds"],
                    f"top-1 difference {contrast['difference']:+.2f} points{interval} over {contrast['seeds']} "
                    "seed(s)")
