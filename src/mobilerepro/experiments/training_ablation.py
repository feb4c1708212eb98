"""Reduced-scale replication of MobileOne's training ablations (Tabs. 5, 6, 8) on real images.

Every table is a grid of *arms* (configurations) x seeds, trained with our trainer and the paper's recipe on the
CIFAR-10 test JPEGs, split deterministically per class into train / val. The adaptations to 32x32 images, and only
those, are stated in `REDUCED_SCALE` and shown in every chapter. Each training run lives in
`results/training_runs/<digest of its configuration>/`: a finished run is reused by any table that needs it (Tab.
5's "with branches" arm is Tab. 6's k = 4 and Tab. 8's "annealed" arm), an interrupted one resumes where it stopped.

The verdict per claim compares arms seed by seed (the same seed gives the same data order and augmentation) with a
Student-t interval over the paired differences: "held" needs the interval above zero, and at a few seeds and
epochs a 0.5-point effect usually stays "inconclusive" — which the chapter says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.data import resolve
from mobilerepro.experiments.common import ExperimentResult, result_files, summary_header, write_result
from mobilerepro.measure.stats import mean_with_ci
from mobilerepro.profiles import profile_settings
from mobilerepro.report import Verdict, positive, save_figure, terminal_table, verdict_lines
from mobilerepro.results import ensure_writable, results_root
from mobilerepro.train import trainer
from mobilerepro.train.recipe import Schedule, preset

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
            "everything else is the paper's recipe (SGD, LR 0.1 x batch/256 on a cosine, WD 1e-4 -> 1e-5, label "
            "smoothing 0.1, EMA 0.9995), over far fewer epochs",
        ]


REDUCED_SCALE = ReducedScale()


@dataclass(frozen=True)
class Arm:
    """One configuration of an ablation: model switches and recipe overrides on top of the base run."""

    name: str
    label: str
    model_options: dict = field(default_factory=dict)
    recipe_overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Ablation:
    """A table: its arms, the arm the paper recommends, and the claim comparing them."""

    experiment: str
    claim: str
    arms: dict[str, Arm]
    reference: str
    description: str

    def claim_entry(self) -> dict:
        table = paper.load("mobileone")[self.experiment]
        return {"title": table["title"], **table["claims"][self.claim]}


@dataclass(frozen=True)
class AblationConfig:
    profile: str
    model: str
    arms: list[str]
    seeds: list[int]
    epochs: int
    batch_size: int
    per_class_limit: int | None
    threads: int
    data: str

    def as_dict(self) -> dict:
        return asdict(self)


def configure(ablation: Ablation, profile: str = "quick", *, model: str | None = None,
              arms: list[str] | None = None, seeds: list[int] | None = None, epochs: int | None = None,
              batch_size: int | None = None, per_class_limit: int | None = None, threads: int = 2,
              data: str = CIFAR10) -> AblationConfig:
    settings = profile_settings(ablation.experiment, profile)
    arms = list(arms or settings["arms"])
    unknown = [a for a in arms if a not in ablation.arms]
    if unknown:
        raise MobileReproError(f"unknown arm {unknown[0]!r} for {ablation.experiment} "
                               f"(choose from: {', '.join(ablation.arms)})")
    if ablation.reference not in arms:
        raise MobileReproError(f"the arms must include the paper's setting {ablation.reference!r}")
    seeds = [int(s) for s in (seeds if seeds is not None else settings["seeds"])]
    if not seeds:
        raise MobileReproError("at least one seed is needed")
    return AblationConfig(profile, model or settings["model"], arms, seeds, int(epochs or settings["epochs"]),
                          int(batch_size or settings["batch_size"]),
                          per_class_limit if per_class_limit is not None else settings["per_class_limit"],
                          int(threads), str(data))


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


def _check_data(config: AblationConfig) -> None:
    path = resolve(config.data)
    if not path.exists():
        raise MobileReproError(
            f"training data {str(path)!r} not found: set MOBILEREPRO_DATA to the folder holding {config.data} "
            "(the team's small real datasets) or pass -p data /path/to/an/ImageFolder"
        )


def run(ablation: Ablation, config: AblationConfig, output_dir: str | Path | None = None, *,
        progress: bool = True) -> Path:
    """Train every arm x seed that has no finished run yet, then tabulate, test the claim and plot."""
    _check_data(config)
    directory = ensure_writable(output_dir or results_root() / ablation.experiment / config.profile)
    rows, curves, interrupted = [], [], None
    for seed in config.seeds:
        for name in config.arms:
            arm = ablation.arms[name]
            settings = run_config(config, arm, seed, progress=progress)
            folder = Path(settings.output_dir)
            finished = _finished(folder)
            reused = finished is not None
            if finished is None and interrupted is None:
                if progress:
                    print(f"[{ablation.experiment}] training {arm.label}, seed {seed} -> {folder}", flush=True)
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
        raise MobileReproError(f"no run of {ablation.experiment} finished ({interrupted or 'nothing trained'})")
    comparisons = _comparisons(ablation, frame)
    write_result(directory, result_files(ablation.experiment), frame, {
        **summary_header(ablation.experiment, ablation.claim_entry()["title"], config, threads=config.threads),
        "reduced_scale": {**asdict(REDUCED_SCALE), "notes": REDUCED_SCALE.notes()},
        "recipe": preset("mobileone_s0s1").as_dict(),
        "comparisons": comparisons,
        "verdicts": [v.as_dict() for v in _verdicts(ablation, comparisons)],
        "curves": curves,
        "interrupted": interrupted,
        "runs_planned": len(config.arms) * len(config.seeds),
    })
    _figure(ablation, frame, pd.DataFrame.from_records(curves), directory / result_files(ablation.experiment)["figure"])
    return directory


def cumulative_decay(settings: trainer.TrainConfig, finished: trainer.TrainingRun) -> float:
    """Σ_t lr_t · wd_t over the run: how far weight decay alone shrinks a decaying weight (as a log factor) — the
    size of the intervention when arms differ only in their weight-decay schedule."""
    layout = finished.summary["schedule"]
    schedule = Schedule(settings.recipe_object(), layout["epochs"], layout["steps_per_epoch"], layout["global_batch"])
    return sum(schedule.lr(step) * schedule.weight_decay(step) for step in range(schedule.total_steps))


def _comparisons(ablation: Ablation, frame: pd.DataFrame) -> list[dict]:
    """Reference arm minus each other arm, paired by seed, with a t interval."""
    by_arm = frame.pivot_table(index="seed", columns="arm", values="top1")
    comparisons = []
    for name in by_arm.columns:
        if name == ablation.reference or ablation.reference not in by_arm.columns:
            continue
        differences = (by_arm[ablation.reference] - by_arm[name]).dropna()
        mean, low, high = mean_with_ci(differences.to_numpy())
        comparisons.append({"reference": ablation.reference, "other": name, "seeds": len(differences),
                            "difference": mean, "ci_low": low, "ci_high": high})
    return comparisons


def _verdicts(ablation: Ablation, comparisons: list[dict]) -> list[Verdict]:
    claim = ablation.claim_entry()
    verdicts = []
    for c in comparisons:
        interval = (f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]" if np.isfinite(c["ci_low"])
                    else "(one seed: no interval)")
        verdict = positive(c["ci_low"], c["ci_high"]) if np.isfinite(c["ci_low"]) else "inconclusive"
        verdicts.append(Verdict(
            ablation.claim, claim["text"], claim["provenance"],
            f"{ablation.arms[c['reference']].label} vs {ablation.arms[c['other']].label}",
            f"top-1 difference {c['difference']:+.2f} points, 95 % CI {interval} over {c['seeds']} seeds",
            verdict,
        ))
    return verdicts


def _figure(ablation: Ablation, frame: pd.DataFrame, curves: pd.DataFrame, path: Path) -> Path:
    """Left: final val top-1 per arm (one dot per seed, mean +- std). Right: val top-1 per epoch (mean over
    seeds)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    arms = [a for a in ablation.arms if a in set(frame.arm)]
    for x, name in enumerate(arms):
        values = frame[frame.arm == name].top1
        left.scatter(np.full(len(values), x) + np.linspace(-0.08, 0.08, len(values)), values, color="#1565c0",
                     zorder=3)
        left.errorbar(x + 0.25, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0, fmt="o",
                      color="black", capsize=4)
    chance = 100 / frame.classes.iloc[0]
    for axis in (left, right):
        axis.axhline(chance, color="grey", linestyle=":", label="chance")
    left.set_xticks(range(len(arms)), [ablation.arms[a].label for a in arms], rotation=10)
    left.set_ylabel("val top-1 (%) after the last epoch")
    left.set_title("dots: seeds; black: mean ± std")
    left.grid(axis="y", alpha=0.3)
    if not curves.empty and "val_top1" in curves:
        mean_curves = curves.groupby(["arm", "epoch"]).val_top1.mean().reset_index()
        for name in arms:
            curve = mean_curves[mean_curves.arm == name]
            right.plot(curve.epoch, curve.val_top1, marker="o", label=ablation.arms[name].label)
        right.set_xlabel("epoch")
        right.set_ylabel("val top-1 (%), mean over seeds")
        right.legend()
        right.grid(alpha=0.3)
    fig.suptitle(f"MobileOne {ablation.experiment.replace('table', 'Tab. ')} at reduced scale: "
                 f"{ablation.description}")
    return save_figure(fig, path)


class AblationResult(ExperimentResult):
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

    def comparisons_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["comparisons"])

    def setup_lines(self) -> list[str]:
        p = self.summary["parameters"]
        return [f"model {p['model']}, {p['epochs']} epochs, batch {p['batch_size']}, seeds {p['seeds']}, "
                f"{p['threads']} threads", *self.summary["reduced_scale"]["notes"]]

    def setup_markdown(self) -> str:
        return "**Setup.**\n\n" + "\n".join(f"- {line}" for line in self.setup_lines())

    def summary_html(self) -> str:
        numbers = [f"{row['arm']}: top-1 {row['top-1 mean']:.2f} ± {np.nan_to_num(row['top-1 std']):.2f} % "
                   f"({row['seeds']} seeds)" for row in self.arms_table().to_dict(orient="records")]
        numbers.append("reduced scale: " + self.setup_lines()[0])
        return self.summary_box(f"MobileOne {self.summary['title']} (reduced scale)", numbers)

    def terminal_report(self) -> str:
        return "\n".join([
            f"MobileOne — {self.summary['title']}, reduced scale (profile {self.summary['profile']})",
            *[f"  {line}" for line in self.setup_lines()],
            "",
            terminal_table(self.arms_table(), float_format="{:.4g}"),
            "",
            "Paper's claim vs ours:",
            *verdict_lines(self.verdicts()),
            "",
            f"environment: {self.environment_line()}",
        ])


def bind(ablation: Ablation):
    """The module-level API of one table's experiment."""
    files = result_files(ablation.experiment)

    class Result(AblationResult):
        pass

    Result.files = files
    return (partial(configure, ablation), partial(run, ablation), Result.load, files)
