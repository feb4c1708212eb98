"""The training recipes, drawn: per-step LR and weight decay and the per-epoch resolution of each preset, over the
paper's run length and over a short run (the same fractions of the run), with every published value's provenance.
Nothing is trained; the curves come from the same `Schedule` the trainer uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.report import save_figure
from mobilerepro.train.recipe import Schedule, preset

STEPS_PER_EPOCH = 100  # the curves' resolution; any value draws the same shapes


@dataclass(frozen=True)
class RecipeConfig(BaseConfig):
    # mobileone_s2s4 has the same schedules as mobileone_s0s1 (it adds AutoAugment)
    presets: list[str] | None = None
    short_run_epochs: int = 5


def _curve(name: str, epochs: int, run: str) -> pd.DataFrame:
    recipe = preset(name)
    schedule = Schedule(recipe, epochs, STEPS_PER_EPOCH, recipe.batch_size)
    steps = range(0, schedule.total_steps, max(1, schedule.total_steps // 600))
    return pd.DataFrame({
        "preset": name, "run": run, "epoch": [s / STEPS_PER_EPOCH for s in steps],
        "fraction": [s / schedule.total_steps for s in steps],
        "lr": [schedule.lr(s) for s in steps], "weight_decay": [schedule.weight_decay(s) for s in steps],
        "resolution": [schedule.resolution(int(s // STEPS_PER_EPOCH)) for s in steps],
    })


def _presets_table(names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        recipe = preset(name)
        rows.append({"preset": name, "optimizer": recipe.optimizer, "epochs": recipe.epochs,
                     "batch": recipe.batch_size, "peak LR": recipe.lr, "warm-up epochs": recipe.warmup_epochs,
                     "WD": recipe.weight_decay, "final WD": recipe.final_weight_decay,
                     "label smoothing": recipe.label_smoothing, "EMA": recipe.ema_decay,
                     "augmentation": recipe.augmentation,
                     "resolution (epoch: px)": ", ".join(f"{e}: {s}" for e, s in recipe.resolution_stages)})
    return pd.DataFrame.from_records(rows)


def measure(config: RecipeConfig) -> Outcome:
    curves = pd.concat([
        _curve(name, epochs, run)
        for name in config.presets
        for run, epochs in (("paper", preset(name).epochs), ("short", config.short_run_epochs))
    ])
    provenance = [
        {"preset": name, "setting": key, "value": str(item["value"]), "provenance": item["provenance"],
         "source": family["source"]}
        for family in paper.load("recipes").values()
        for name, entry in family["presets"].items() if name in config.presets
        for key, item in entry.items() if isinstance(item, dict)
    ]
    return Outcome(curves, {"presets": _presets_table(config.presets).to_dict(orient="records"),
                            "provenance": provenance})


def draw_schedules(curves: pd.DataFrame, short_run_epochs: int, path: Path) -> Path:
    quantities = (("lr", "learning rate (at the paper's batch)"), ("weight_decay", "weight decay"),
                  ("resolution", "train resolution (px)"))
    fig, axes = plt.subplots(len(quantities), 2, figsize=(12, 8), sharex="col", constrained_layout=True)
    panels = (("paper", "fraction", "the paper's run (300 / 500 / 9600 epochs)", "fraction of the paper's run"),
              ("short", "epoch", f"a {short_run_epochs}-epoch run", "epoch"))
    for column, (run, x, title, x_label) in enumerate(panels):
        subset = curves[curves.run == run]
        for row, (quantity, label) in enumerate(quantities):
            ax = axes[row][column]
            for name, curve in subset.groupby("preset", sort=False):
                ax.plot(curve[x], curve[quantity], label=name, drawstyle="steps-post" if row == 2 else None)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if quantity in ("lr", "weight_decay"):
                ax.set_yscale("log")
                lowest = subset[quantity].max() * 1e-4 if quantity == "lr" else subset[quantity].min() / 2
                ax.set_ylim(bottom=lowest)
        axes[0][column].set_title(title)
        axes[-1][column].set_xlabel(x_label)
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path)


class RecipeResult(Result):
    terminal_tables = ("presets",)

    def presets_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["presets"])

    def provenance_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["provenance"]).drop(columns="source")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"presets": self.presets_table(), "provenance": self.provenance_table()}

    def summary_numbers(self) -> list[str]:
        return [f"{row['preset']}: {row['optimizer']}, {row['epochs']} epochs at batch {row['batch']}, "
                f"peak LR {row['peak LR']:g}, WD {row['WD']:g}"
                + (f" -> {row['final WD']:g}" if pd.notna(row["final WD"]) else "")
                for row in self.summary["presets"]]


class TrainingRecipe(Experiment):
    title = "The training recipes, as data"
    description = "the recipe presets with provenance; LR / weight-decay / resolution schedules of every preset"
    config_type = RecipeConfig
    result_type = RecipeResult
    profiles = {profile: {"presets": ["mobileone_s0s1", "mnv4_conv_s", "mnv4_conv_m", "mnv4_hybrid_l"]}
                for profile in ("smoke", "quick", "full")}

    def validate(self, config: RecipeConfig) -> RecipeConfig:
        for name in config.presets:
            preset(name)
        if int(config.short_run_epochs) < 1:
            raise MobileReproError(f"short_run_epochs must be at least 1, got {config.short_run_epochs}")
        return RecipeConfig(**{**config.as_dict(), "presets": list(config.presets),
                               "short_run_epochs": int(config.short_run_epochs)})

    def threads(self, config: RecipeConfig) -> int:
        return 1

    def measure(self, config: RecipeConfig, directory: Path, progress: bool) -> Outcome:
        return measure(config)

    def figure(self, result: RecipeResult, path: Path) -> None:
        draw_schedules(result.rows, result.summary["parameters"]["short_run_epochs"], path)


EXPERIMENT = TrainingRecipe()
