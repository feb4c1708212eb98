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

from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.data.prepare import missing_data_error
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.measure.stats import paired_by_seed
from mobilerepro.report import save_figure
from mobilerepro.results import content_digest, results_root
from mobilerepro.train import trainer
from mobilerepro.train.grid import run_grid
from mobilerepro.train.recipe import Schedule, preset
from mobilerepro.verdicts import NotTestable, contrast_evidence

CIFAR10 = "cifar10-test-jpg/test"


@dataclass(frozen=True)
class ReducedScale:
    """How the ImageNet recipe is adapted to 32x32 CIFAR-10 images."""

    image_size: int = 32
    stem_stride: int = 2  # the network as published: 32 px reach the last stage as a 1x1 map
    crop_scale: tuple[float, float] = (0.25, 1.0)  # the recipe's 0.08 minimum area leaves ~9x9 pixels
    eval_crop_pct: float = 1.0  # no center crop: the images are already the network's input size
    val_fraction: float = 0.2
    # The paper's EMA decay (0.9995) averages over ~2000 steps: longer than a whole reduced run, whose EMA would
    # stay near the random initialisation. timm's warm-up keeps the horizon a growing share of the run.
    ema_warmup: bool = True

    def notes(self) -> list[str]:
        return [
            f"CIFAR-10 test JPEGs ({self.image_size}x{self.image_size}), split per class into "
            f"{1 - self.val_fraction:.0%} train / {self.val_fraction:.0%} val with the run's seed (the arms of one "
            "seed share their split)",
            ("no architectural change: S0 runs on 32 px as published (the last stage sees a 1x1 map)"
             if self.stem_stride == 2 else f"stem stride {self.stem_stride} instead of 2 (a larger last-stage map)"),
            f"random-resized-crop area {self.crop_scale[0]:g}-{self.crop_scale[1]:g} instead of 0.08-1",
            f"progressive resolution kept, its sizes scaled by {self.image_size}/224; eval without center crop",
            *([ema_line(preset("mobileone_s0s1"))] if self.ema_warmup else []),
            recipe_line(preset("mobileone_s0s1")),
        ]


def ema_line(recipe) -> str:
    paper_horizon = 1 / (1 - recipe.ema_decay)
    return (f"EMA with timm's warm-up (decay min({recipe.ema_decay:g}, 1 - t^(-2/3)) at update t): the paper's "
            f"constant {recipe.ema_decay:g} averages over ~{paper_horizon:.0f} steps, more than a whole reduced run; "
            "the horizon each run ends with is in its table")


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
    weights: str = "ema"  # judged: "ema" (what the paper evaluates) or "raw" (the trained weights themselves)


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


# The top-1 column of each kind of weights a run ends with.
WEIGHT_COLUMNS = {"ema": "ema_top1", "raw": "top1"}


def contrasts(arms: dict[str, Arm], reference: str, frame: pd.DataFrame, weights: str) -> list[dict]:
    """Each arm against the reference, paired by seed, always stronger minus weaker (what the claim predicts to be
    positive), with a Student-t interval over the seeds, on the top-1 of `weights`."""
    trained = sorted(set(frame.arm))
    result = []
    for name in trained:
        if name == reference or reference not in trained:
            continue
        if arms[name].strength == arms[reference].strength:
            raise MobileReproError(f"arms {name} and {reference} have the same strength: the claim orders neither")
        stronger, weaker = (name, reference) if arms[name].strength > arms[reference].strength else (reference, name)
        result.append({"stronger": stronger, "weaker": weaker, "weights": weights,
                       **paired_by_seed(frame, WEIGHT_COLUMNS[weights], stronger, weaker)})
    return result


def scaled_stages(recipe_name: str, image_size: int) -> list[list[int]]:
    recipe = preset(recipe_name)
    return [[start, round(size * image_size / recipe.eval_size)] for start, size in recipe.resolution_stages]


def run_config(config: AblationConfig, arm: Arm, seed: int, *, recipe: str = "mobileone_s0s1",
               progress: bool = True) -> trainer.TrainConfig:
    """The training run of one arm and seed (its output folder is the digest of everything that shapes it)."""
    scale = REDUCED_SCALE
    overrides = {"resolution_stages": scaled_stages(recipe, scale.image_size), "eval_size": scale.image_size,
                 "ema_warmup": scale.ema_warmup, **arm.recipe_overrides}
    options = {"stem_stride": scale.stem_stride, **arm.model_options}
    shaping = {"model": config.model, "recipe": recipe, "recipe_overrides": overrides, "model_options": options,
               "train_data": str(resolve(config.data).resolve()), "val_fraction": scale.val_fraction,
               "per_class_limit": config.per_class_limit, "epochs": config.epochs, "batch_size": config.batch_size,
               "crop_scale": scale.crop_scale, "eval_crop_pct": scale.eval_crop_pct, "seed": seed}
    return trainer.TrainConfig(output_dir=str(results_root() / "training_runs" / content_digest(shaping)), device="cpu",
                               threads=config.threads, progress=progress, **shaping)


def check_data(config: AblationConfig) -> None:
    path = resolve(config.data)
    if not path.exists():
        raise missing_data_error("cifar10", path, "the training data (an ImageFolder)")


def schedule_steps(finished: trainer.TrainingRun) -> int:
    layout = finished.summary["schedule"]
    return layout["epochs"] * layout["steps_per_epoch"]


def ema_horizon(finished: trainer.TrainingRun) -> float:
    """1 / (1 - decay) at the run's last update: about how many recent steps its EMA weights average."""
    decay = finished.summary["schedule"].get("ema_decay_at_end")
    return float("nan") if decay is None else 1 / (1 - decay)


def cumulative_decay(settings: trainer.TrainConfig, finished: trainer.TrainingRun) -> float:
    """Σ_t lr_t · wd_t over the run: how far weight decay alone shrinks a decaying weight (as a log factor) — the
    size of the intervention when arms differ only in their weight-decay schedule."""
    layout = finished.summary["schedule"]
    schedule = Schedule(settings.recipe_object(), layout["epochs"], layout["steps_per_epoch"], layout["global_batch"])
    return sum(schedule.lr(step) * schedule.weight_decay(step) for step in range(schedule.total_steps))


def schedule_decay(schedule: Schedule, stride: int = 1) -> float:
    """Σ_t lr_t · wd_t over a schedule, summed every `stride` steps (a long schedule, e.g. ImageNet's, sampled once
    per epoch: a derived estimate)."""
    return stride * sum(schedule.lr(step) * schedule.weight_decay(step)
                        for step in range(0, schedule.total_steps, stride))


METHOD = """## Method

**Data.** The CIFAR-10 *test* split as JPEGs (10 000 real images, 10 classes), prepared by `make data` (README,
"Data") and split per class into train and val with the run's seed — every arm of one seed has the same split (and
the same held-out images). The adaptations of the ImageNet recipe to 32×32 images are listed below the summary box
and in the result file; nothing else was changed.

**Training.** `mobilerepro.train` with the `mobileone_s0s1` preset (`paper/recipes.yaml`; its values are in the
setup list above and in the training-recipe chapter): SGD with momentum, the LR scaled by batch on a cosine, weight
decay annealed on the same cosine and none on norm parameters and biases, label smoothing, EMA, and progressive
resolution at the paper's switch points, its sizes scaled to 32 px and to this run's length. Each arm × seed
is one run; the same seed gives every arm the same data order and augmentation. Finished runs are stored in
`results/training_runs/` and reused by any table that needs them; an interrupted run resumes from its checkpoint
when the target runs again.

**Evaluation.** Top-1 on the held-out split after the last epoch, of the trained weights (reparameterised
first) and of their exponential moving average. The paper evaluates EMA weights, so the verdicts judge the EMA's
top-1 (parameter `weights`; the raw weights' contrasts are shown beside). The recipe's constant decay averages
over more steps than this whole run has, which would leave the EMA near its random start; the runs therefore use
timm's EMA warm-up, whose horizon grows with the run (the horizon each run ends with is in the table).

**Verdict.** Each arm against the paper's arm, paired by seed, always as the arm with *more* of what the claim
says helps minus the arm with less (more branches, larger k, annealed weight decay), with a Student-t 95 %
interval: *held* when the interval lies above zero, *did not hold* when below, *inconclusive* otherwise, and *not
enough data* with a single seed. A half-point effect needs many seeds and a long schedule to resolve; at the quick
profile an inconclusive verdict is the expected, honest outcome.

**How to read a verdict at this scale.** Training at this learning rate is chaotic: changing the weight-decay
schedule by one part in ten million already changes the weights visibly within a few steps. Two arms with the
same seed therefore share their data order and initialisation but not their trajectory, and each run is
effectively an independent draw. The t interval then has its nominal 5 % false-positive rate — over the
comparisons of these chapters, an occasional spurious *held* or *did not hold* is expected. The column Σ lr·wd
gives the size of a weight-decay intervention: the log-factor by which weight decay alone shrinks a weight over
the whole run; when two arms differ by a small fraction of a percent in it, a large accuracy difference between
them is more likely chance than weight decay."""

DIFFERENCES = """## What differs from the paper's setup

- **Scale.** The paper trains on ImageNet at {size} px for {epochs} epochs (the preset); this is 8 000 CIFAR-10
  images at 32 px for a few epochs (`full`: more epochs and seeds). Results here say whether the direction of the
  effect shows at small scale, not what its size is on ImageNet.
- **Data.** CIFAR-10 *test* images are used for both training and validation (split, never overlapping),
  because they are the real images available offline.
- **Numbers.** The paper's table cells are not available here; only its qualitative claim is compared."""


def interrupted_runs(summary: dict, done: int, what: str) -> str | None:
    """The warning of a grid of runs that stopped before all of them finished, or None."""
    planned = summary["runs_planned"]
    if summary.get("interrupted") or done < planned:
        return (f"INTERRUPTED: {done} of {planned} {what} finished; run the target again to resume "
                f"({summary.get('interrupted') or 'stopped'})")
    return None


class AblationResult(Result):
    # This family's standard sections (see `Result.sections`).
    sections = {
        "arms": ("Top-1 per arm",
            "Mean and standard deviation over seeds; training throughput on this machine."),
        "contrasts": ("Each arm against the paper's, paired by seed",
            "Stronger minus weaker arm, top-1 points, with its 95 % Student-t interval."),
    }

    terminal_tables = ("arms",)

    def interrupted(self) -> str | None:
        return interrupted_runs(self.summary, len(self.rows), "training runs")

    def arms_table(self) -> pd.DataFrame:
        rows = self.rows.assign(ema_horizon_steps=self.rows.get("ema_horizon_steps", np.nan))
        grouped = rows.groupby(["arm", "label"], sort=False)
        table = grouped.agg(seeds=("seed", "size"), ema_top1_mean=("ema_top1", "mean"),
                            ema_top1_std=("ema_top1", "std"), top1_mean=("top1", "mean"), top1_std=("top1", "std"),
                            top5_mean=("top5", "mean"), horizon=("ema_horizon_steps", "mean"),
                            decay=("cumulative_decay", "mean"), img_per_s=("train_images_per_s", "mean"),
                            minutes=("train_seconds", "sum"))
        table["minutes"] = table.minutes / 60
        return table.reset_index().drop(columns="arm").rename(columns={
            "label": "arm", "ema_top1_mean": "EMA top-1 mean", "ema_top1_std": "EMA top-1 std",
            "top1_mean": "raw top-1 mean", "top1_std": "raw top-1 std", "top5_mean": "raw top-5 mean",
            "horizon": "EMA horizon at end (steps)", "decay": "Σ lr·wd", "img_per_s": "train img/s",
            "minutes": "train minutes (all seeds)"})

    @property
    def judged_weights(self) -> str:
        return self.summary["parameters"].get("weights", "raw")

    def contrasts_table(self) -> pd.DataFrame:
        labels = {arm.name: arm.label for arm in self.experiment.arms.values()}
        return pd.DataFrame.from_records([
            {"stronger": labels[c["stronger"]], "weaker": labels[c["weaker"]],
             "weights": c.get("weights", "raw") + (" (judged)" if judged else ""), "seeds": c["seeds"],
             "top-1 difference": c["difference"], "95 % CI low": c["ci_low"], "95 % CI high": c["ci_high"]}
            for judged, listed in ((True, self.summary["contrasts"]), (False, self.summary.get("other_contrasts", [])))
            for c in listed])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"arms": self.arms_table(), "contrasts": self.contrasts_table()}

    def exercise_estimate(self, quantity: dict):
        """`paired_difference`: `first` minus `second` arm on a run's `metric` (`top1`, `ema_top1`, `train_loss`),
        paired by seed, with its Student-t interval. `training_time_ratio`: how many times longer `candidate` takes
        per training image than `reference`, seed by seed: the median of the seeds' ratios and their range (one
        short run's throughput can be caught by a busy moment, which a t interval over three seeds would inflate)."""
        from mobilerepro.exercises import Estimate

        name = quantity.get("name")
        if name not in ("paired_difference", "training_time_ratio"):
            return super().exercise_estimate(quantity)
        first, second = ((quantity["first"], quantity["second"]) if name == "paired_difference"
                         else (quantity["candidate"], quantity["reference"]))
        missing = [arm for arm in (first, second) if arm not in set(self.rows.arm)]
        if missing:
            raise MobileReproError(f"arm {missing[0]!r} was not trained in this run")
        if name == "paired_difference":
            metric = quantity["metric"]
            paired = paired_by_seed(self.rows, metric, first, second)
            return Estimate(paired["difference"], paired["ci_low"], paired["ci_high"],
                            f"{first} minus {second} {metric}, paired by seed")
        by_seed = self.rows.pivot_table(index="seed", columns="arm", values="train_images_per_s")
        ratios = (by_seed[second] / by_seed[first]).dropna()
        if len(ratios) < 2:
            raise MobileReproError("the training time ratio needs at least two seeds trained in this run")
        return Estimate(float(ratios.median()), float(ratios.min()), float(ratios.max()),
                        f"{first} / {second} training time per image")

    def setup_lines(self) -> list[str]:
        p = self.summary["parameters"]
        return [f"model {p['model']}, {p['epochs']} epochs, batch {p['batch_size']}, seeds {p['seeds']}, "
                f"{p['threads']} threads; verdicts judge the {self.judged_weights} weights' top-1"
                + (" (the paper evaluates EMA weights)" if self.judged_weights == "ema" else ""),
                *self.summary["reduced_scale"]["notes"]]

    def method_markdown(self) -> str:
        return METHOD

    def differences_markdown(self) -> str:
        recipe = preset("mobileone_s0s1")
        return DIFFERENCES.format(size=recipe.eval_size, epochs=recipe.epochs)

    def summary_numbers(self) -> list[str]:
        prefix = "EMA" if self.judged_weights == "ema" else "raw"
        numbers = [f"{row['arm']}: {prefix} top-1 {row[f'{prefix} top-1 mean']:.2f} ± "
                   f"{np.nan_to_num(row[f'{prefix} top-1 std']):.2f} % ({row['seeds']} seeds)"
                   for row in self.arms_table().to_dict(orient="records")]
        return [*numbers, "reduced scale: " + self.setup_lines()[0]]


class AblationExperiment(Experiment):
    """A reduced-scale training table: its arms (one of them the paper's setting, `reference`) and its claim."""

    config_type = AblationConfig
    result_type = AblationResult
    datasets = ("cifar10-test-jpg/test",)
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
        if config.weights not in WEIGHT_COLUMNS:
            raise MobileReproError(f"weights must be one of {', '.join(WEIGHT_COLUMNS)}, got {config.weights!r}")
        return AblationConfig(**{**config.as_dict(), "arms": arms, "seeds": [int(s) for s in config.seeds],
                                 "epochs": int(config.epochs), "batch_size": int(config.batch_size),
                                 "threads": int(config.threads), "data": str(config.data)})

    def measure(self, config: AblationConfig, directory: Path, progress: bool) -> Outcome:
        """Train every arm x seed that has no finished run yet, then tabulate and compare."""
        check_data(config)
        rows, curves = [], []
        runs, interrupted = run_grid(
            config.arms, config.seeds, lambda name, seed: run_config(config, self.arms[name], seed, progress=progress),
            lambda settings: trainer.train(settings, resume=True), progress=progress,
            describe=lambda name, seed: f"[{self.id}] training {self.arms[name].label}, seed {seed}")
        for done in runs:
            finished, arm = done.run, self.arms[done.arm]
            final = finished.final
            rows.append({"arm": done.arm, "label": arm.label, "seed": done.seed, "top1": final["val_top1"],
                         "top5": final["val_top5"], "ema_top1": final.get("ema_top1"),
                         "train_loss": final["train_loss"], "steps": schedule_steps(finished),
                         "ema_horizon_steps": ema_horizon(finished),
                         "train_images_per_s": finished.history.train_images_per_s.mean(),
                         "train_seconds": finished.history.seconds.sum(),
                         "cumulative_decay": cumulative_decay(done.settings, finished),
                         "classes": finished.summary["data"]["classes"], "reused": done.reused,
                         "run": done.settings.output_dir})
            curves.extend({"arm": done.arm, "seed": done.seed, **row} for row in finished.summary["history"])
        frame = pd.DataFrame.from_records(rows)
        if frame.empty:
            raise MobileReproError(f"no run of {self.id} finished ({interrupted or 'nothing trained'})")
        if frame[WEIGHT_COLUMNS[config.weights]].isna().any():
            raise MobileReproError(f"the runs of {self.id} have no {config.weights} weights to judge")
        compared = contrasts(self.arms, self.reference, frame, config.weights)
        shown = [w for w in WEIGHT_COLUMNS if w != config.weights and frame[WEIGHT_COLUMNS[w]].notna().all()]
        others = [c for weights in shown for c in contrasts(self.arms, self.reference, frame, weights)]
        return Outcome(frame, {
            "reduced_scale": {**asdict(REDUCED_SCALE), "notes": REDUCED_SCALE.notes()},
            "recipe": preset("mobileone_s0s1").as_dict(), "contrasts": compared, "other_contrasts": others,
            "curves": curves,
            "interrupted": interrupted, "runs_planned": len(config.arms) * len(config.seeds),
        }, [(self.claim, f"{self.arms[c['stronger']].label} vs {self.arms[c['weaker']].label}",
             NotTestable(reason, c["seeds"]) if (reason := self.not_testable(frame)) else contrast_evidence(c))
            for c in compared])

    def not_testable(self, frame: pd.DataFrame) -> str | None:
        """Why these runs cannot detect the effect the claim judges, computed from their own setup; None when they
        can (the default)."""
        return None

    def figure(self, result: AblationResult, path: Path) -> None:
        """Left: final val top-1 of the judged weights per arm (one dot per seed, mean +- std). Right: val top-1 per
        epoch, mean over seeds, of the judged weights (solid) and the other kind (dashed)."""
        frame, curves = result.rows, pd.DataFrame.from_records(result.summary["curves"])
        judged = WEIGHT_COLUMNS[result.judged_weights]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        arms = [a for a in self.arms if a in set(frame.arm)]
        plot_per_seed(left, frame, judged, {name: self.arms[name].label for name in arms})
        chance = 100 / frame.classes.iloc[0]
        for axis in (left, right):
            axis.axhline(chance, color="grey", linestyle=":", label="chance")
        left.set_ylabel(f"val top-1 (%) of the {result.judged_weights} weights after the last epoch")
        left.set_title("dots: seeds; black: mean ± std")
        history_columns = {"ema": "ema_top1", "raw": "val_top1"}  # the run's history names them so
        other = next(w for w in history_columns if w != result.judged_weights)
        curve_columns = [history_columns[w] for w in (result.judged_weights, other) if history_columns[w] in curves]
        if curve_columns:
            mean_curves = curves.groupby(["arm", "epoch"])[curve_columns].mean().reset_index()
            for colour, name in enumerate(arms):
                curve = mean_curves[mean_curves.arm == name]
                for style, column in zip(("-", "--"), curve_columns, strict=False):
                    right.plot(curve.epoch, curve[column], linestyle=style, marker="o", color=f"C{colour}",
                               label=self.arms[name].label if style == "-" else None)
            right.set_xlabel("epoch")
            right.set_ylabel("val top-1 (%), mean over seeds")
            dashed = f", dashed: {other} weights" if len(curve_columns) > 1 else ""
            right.set_title(f"solid: {result.judged_weights} weights{dashed}")
            right.legend()
            right.grid(alpha=0.3)
        fig.suptitle(f"{self.title} (reduced scale)")
        save_figure(fig, path)


def plot_per_seed(axis, frame: pd.DataFrame, column: str, labels: dict[str, str]) -> None:
    """`column` of every arm in `labels` (name -> tick label), in order: a dot per seed, the mean ± std beside."""
    for x, name in enumerate(labels):
        values = frame[frame.arm == name][column]
        axis.scatter(np.full(len(values), x) + np.linspace(-0.08, 0.08, len(values)), values, color="#1565c0",
                     zorder=3)
        axis.errorbar(x + 0.25, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0, fmt="o",
                      color="black", capsize=4)
    axis.set_xticks(range(len(labels)), list(labels.values()), rotation=10)
    axis.grid(axis="y", alpha=0.3)


