"""The training recipes, drawn: per-step LR and weight decay and the per-epoch resolution of each preset, over the
paper's run length and over a short run (the same fractions of the run), with every published value's provenance.
Nothing is trained; the curves come from the same `Schedule` the trainer uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments.common import ExperimentResult, result_files, summary_header, write_result
from mobilerepro.profiles import profile_settings
from mobilerepro.report import Verdict, save_figure, terminal_table, verdict_lines
from mobilerepro.results import ensure_writable, results_root
from mobilerepro.train.recipe import Schedule, preset

EXPERIMENT = "training_recipe"
FILES = result_files(EXPERIMENT)
STEPS_PER_EPOCH = 100  # the curves' resolution; any value draws the same shapes


@dataclass(frozen=True)
class RecipeConfig:
    profile: str
    presets: list[str]
    short_run_epochs: int

    def as_dict(self) -> dict:
        return asdict(self)


def configure(profile: str = "quick", *, presets: list[str] | None = None,
              short_run_epochs: int | None = None) -> RecipeConfig:
    settings = profile_settings(EXPERIMENT, profile)
    presets = list(presets or settings["presets"])
    for name in presets:
        preset(name)
    epochs = int(short_run_epochs or settings["short_run_epochs"])
    if epochs < 1:
        raise MobileReproError(f"short_run_epochs must be at least 1, got {epochs}")
    return RecipeConfig(profile, presets, epochs)


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


def run(config: RecipeConfig, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    directory = ensure_writable(output_dir or results_root() / EXPERIMENT / config.profile)
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
    write_result(directory, FILES, curves, {
        **summary_header(EXPERIMENT, "Training recipes as data: schedules of every preset", config, threads=1),
        "presets": _presets_table(config.presets).to_dict(orient="records"),
        "provenance": provenance,
        "verdicts": [],
    })
    _figure(curves, config, directory / FILES["figure"])
    return directory


def _figure(curves: pd.DataFrame, config: RecipeConfig, path: Path) -> Path:
    quantities = (("lr", "learning rate (at the paper's batch)"), ("weight_decay", "weight decay"),
                  ("resolution", "train resolution (px)"))
    fig, axes = plt.subplots(len(quantities), 2, figsize=(12, 8), sharex="col", constrained_layout=True)
    panels = (("paper", "fraction", "the paper's run (300 / 500 / 9600 epochs)", "fraction of the paper's run"),
              ("short", "epoch", f"a {config.short_run_epochs}-epoch run", "epoch"))
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


class RecipeResult(ExperimentResult):
    files = FILES

    def presets_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["presets"])

    def provenance_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["provenance"]).drop(columns="source")

    def verdicts(self) -> list[Verdict]:
        return []

    def summary_html(self) -> str:
        numbers = [f"{row['preset']}: {row['optimizer']}, {row['epochs']} epochs at batch {row['batch']}, "
                   f"peak LR {row['peak LR']:g}, WD {row['WD']:g}"
                   + (f" -> {row['final WD']:g}" if pd.notna(row["final WD"]) else "")
                   for row in self.summary["presets"]]
        return self.summary_box("Training recipes (presets as data)", numbers)

    def terminal_report(self) -> str:
        return "\n".join([
            "Training recipe presets (mobilerepro/paper/recipes.yaml)",
            "",
            terminal_table(self.presets_table(), float_format="{:.4g}"),
            *verdict_lines(self.verdicts()),
            "",
            f"environment: {self.environment_line()}",
        ])


def load(directory: str | Path) -> RecipeResult:
    return RecipeResult.load(directory)

