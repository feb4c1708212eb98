"""MobileOne Tab. 7: the variants S0-S4, their size, and the price of inference-time branches.

Tab. 7 specifies the variants (width multipliers alpha, branches k, SE-ReLU); Tab. 9 gives their params and
"FLOPs" (= MACs) — numbers that hold only for the reparameterised (inference) form. We count both forms of our
implementation side by side, so the unfused train-time numbers are never mistaken for the model's size, and time
both forms on every available backend in one interleaved run: the ratio unfused / fused is what multi-branch
inference would cost without reparameterisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments.common import (
    ExperimentResult,
    MeasurementSettings,
    latency_summary_header,
    measure,
    resolve_measurement,
    result_files,
    write_result,
)
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.models import mobileone
from mobilerepro.profiles import profile_settings
from mobilerepro.reparam import reparameterize_model
from mobilerepro.report import HELD, NOT_HELD, Verdict, save_figure, terminal_table, verdict_lines
from mobilerepro.results import default_output_dir, ensure_writable

EXPERIMENT = "table7"
FILES = result_files(EXPERIMENT)
FORMS = ("unfused", "fused")
INPUT_SIZE = (3, 224, 224)


@dataclass(frozen=True)
class Table7Config:
    profile: str
    variants: list[str]
    measurement: MeasurementSettings

    def as_dict(self) -> dict:
        return asdict(self)


def configure(profile: str = "quick", *, variants: list[str] | None = None, **measurement) -> Table7Config:
    """The profile's settings with any explicitly given value overriding it (`measurement`: see
    `experiments.common.resolve_measurement`). Validated here."""
    settings = profile_settings(EXPERIMENT, profile)
    variants = [str(v).lower().removeprefix("mobileone_") for v in (variants or settings["variants"])]
    for variant in variants:
        if variant not in mobileone.VARIANTS:
            choices = ", ".join(mobileone.VARIANTS)
            raise MobileReproError(f"unknown MobileOne variant {variant!r} (choose from: {choices})")
    return Table7Config(profile, variants, resolve_measurement(settings, **measurement))


def _counts(variant: str, seed: int) -> tuple[dict, dict]:
    """Both forms of one variant and their params / MACs."""
    import torch

    torch.manual_seed(seed)
    unfused = mobileone.mobileone(variant).eval()
    models = {"unfused": unfused, "fused": reparameterize_model(unfused)}
    counts = {form: measure_complexity(model, INPUT_SIZE) for form, model in models.items()}
    return models, counts


PRINTED_TOLERANCE = 0.001  # the paper prints rounded values (S2: 1299 M where the official code gives 1298.4 M)


def _count_verdicts(counts_table: pd.DataFrame) -> list[Verdict]:
    """Held when our count is within 0.1 % (or half a printed digit) of the paper's value; the official code's value
    is shown next to it so a rounding difference is visible as such."""
    derived = paper.load("mobileone")["table7"]["variants"]
    verdicts = []
    for row in counts_table.itertuples():
        official = derived[row.variant]
        for quantity, ours, printed, code_value, unit in (
            ("params", row.params_fused_m, row.paper_params_m, official["params_m_derived"]["value"], "M"),
            ("macs", row.macs_fused_m, row.paper_macs_m, official["macs_m_derived"]["value"], "M"),
        ):
            within = abs(ours - printed) <= PRINTED_TOLERANCE * printed + 0.05
            verdicts.append(
                Verdict(
                    quantity,
                    "Parameters in inference form (Tab. 7/9)" if quantity == "params"
                    else "MACs (\"FLOPs\") in inference form at 224x224 (Tab. 7/9)",
                    "verified",
                    row.variant.upper(),
                    f"{ours:.3f} {unit} (paper {printed} {unit}; official code {code_value} {unit})",
                    HELD if within else NOT_HELD,
                )
            )
    return verdicts


def run(config: Table7Config, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    directory = ensure_writable(output_dir or default_output_dir(EXPERIMENT, config.profile))
    to_time, count_rows = {}, []
    for variant in tqdm(config.variants, desc="building + counting", unit="variant", disable=not progress):
        models, counts = _counts(variant, config.measurement.seed)
        spec = mobileone.VARIANTS[variant]
        published = paper.published_model(f"mobileone_{variant}")
        count_rows.append(
            {
                "variant": variant,
                "alphas": ", ".join(f"{a:g}" for a in spec.widths),
                "k": spec.num_conv_branches,
                "se": spec.use_se,
                "params_fused_m": counts["fused"].params_m,
                "paper_params_m": paper.value(published["params_m"]),
                "macs_fused_m": counts["fused"].macs_m,
                "paper_macs_m": paper.value(published["macs_m"]),
                "params_unfused_m": counts["unfused"].params_m,
                "macs_unfused_m": counts["unfused"].macs_m,
            }
        )
        for form, model in models.items():
            to_time[f"mobileone_{variant}/{form}"] = (model, INPUT_SIZE)
    counts_table = pd.DataFrame.from_records(count_rows)
    measurements = measure(to_time, config.measurement, progress=progress)
    records = []
    for m in measurements:
        name, form = m.model.split("/")
        record = m.record(config.measurement.max_relative_iqr)
        records.append({"variant": name.removeprefix("mobileone_"), "form": form, **record})
    frame = pd.DataFrame.from_records(records)
    if not (frame.status == "ok").any():
        raise MobileReproError("nothing could be timed on any backend; see the 'reason' column of table7.csv")
    ratios = _ratios(frame, config.measurement.latency_statistic)
    write_result(
        directory,
        FILES,
        frame,
        {
            **latency_summary_header(EXPERIMENT, paper.load("mobileone")["table7"]["title"], config),
            "counts": counts_table.to_dict(orient="records"),
            "unfused_over_fused": ratios,
            "verdicts": [v.as_dict() for v in _count_verdicts(counts_table)],
            "mac_convention": "multiply-accumulates of conv, linear and attention matmuls; batch 1; 224x224",
        },
    )
    _figure(frame, config.measurement.latency_statistic, directory / FILES["figure"])
    return directory


def _ratios(frame: pd.DataFrame, statistic: str) -> list[dict]:
    """Unfused / fused latency per variant and backend, for the chosen statistic and for the median."""
    ok = frame[frame.status == "ok"]
    ratios = []
    for (variant, backend), group in ok.groupby(["variant", "backend"], sort=False):
        forms = group.set_index("form")
        if set(FORMS) <= set(forms.index):
            ratios.append(
                {
                    "variant": variant,
                    "backend": backend,
                    statistic: forms.loc["unfused", f"{statistic}_ms"] / forms.loc["fused", f"{statistic}_ms"],
                    "median": forms.loc["unfused", "median_ms"] / forms.loc["fused", "median_ms"],
                }
            )
    return ratios


def _figure(frame: pd.DataFrame, statistic: str, path: Path) -> Path:
    """Bars: unfused vs fused latency per variant, one panel per backend; whiskers span p10-p90."""
    ok = frame[frame.status == "ok"]
    backends = list(dict.fromkeys(ok.backend))
    fig, axes = plt.subplots(1, len(backends), figsize=(5.2 * len(backends), 4.2), squeeze=False,
                             constrained_layout=True)
    colours = {"unfused": "#9e9e9e", "fused": "#1565c0"}
    for ax, backend in zip(axes[0], backends, strict=True):
        subset = ok[ok.backend == backend]
        variants = list(dict.fromkeys(subset.variant))
        x = np.arange(len(variants))
        for offset, form in zip((-0.2, 0.2), FORMS, strict=True):
            rows = subset[subset.form == form].set_index("variant").reindex(variants)
            value = rows[f"{statistic}_ms"]
            error = np.vstack([(value - rows.p10_ms).clip(lower=0), (rows.p90_ms - value).clip(lower=0)])
            ax.bar(x + offset, value, 0.4, yerr=error, capsize=3, color=colours[form], label=form)
        ax.set_xticks(x, [v.upper() for v in variants])
        ax.set_ylabel(f"{statistic} latency (ms); whiskers p10-p90")
        ax.set_title(backend)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend()
    return save_figure(fig, path)


class Table7Result(ExperimentResult):
    files = FILES

    def counts_table(self) -> pd.DataFrame:
        table = pd.DataFrame.from_records(self.summary["counts"])
        table["variant"] = table.variant.str.upper()
        table["unfused / fused params"] = (table.params_unfused_m / table.params_fused_m).round(2)
        table = table.round({"params_fused_m": 3, "macs_fused_m": 1, "params_unfused_m": 3, "macs_unfused_m": 1})
        return table.rename(
            columns={
                "alphas": "α1..α4", "se": "SE",
                "params_fused_m": "params (M), fused", "paper_params_m": "paper params (M)",
                "macs_fused_m": "MACs (M), fused", "paper_macs_m": "paper MACs (M)",
                "params_unfused_m": "params (M), train-time", "macs_unfused_m": "MACs (M), train-time",
            }
        )

    def latency_table(self) -> pd.DataFrame:
        """Per variant and measured backend: fused and unfused latency and their ratio."""
        stat = f"{self.statistic}_ms"
        ok = self.rows[self.rows.status == "ok"]
        wide = ok.pivot_table(index=["variant", "backend"], columns="form", values=stat).reset_index()
        if not set(FORMS) <= set(wide.columns):
            return wide
        wide["unfused / fused"] = wide.unfused / wide.fused
        wide["variant"] = wide.variant.str.upper()
        return wide.rename(columns={form: f"{form} ({self.statistic}, ms)" for form in FORMS})

    def summary_html(self) -> str:
        numbers = []
        for backend in self.measured_backends():
            ratios = [r[self.statistic] for r in self.summary["unfused_over_fused"] if r["backend"] == backend]
            if ratios:
                numbers.append(
                    f"{backend}: unfused / fused {self.statistic} latency {min(ratios):.2f}x to {max(ratios):.2f}x "
                    f"across {len(ratios)} variants"
                )
        counts = pd.DataFrame.from_records(self.summary["counts"])
        ratio = counts.params_unfused_m / counts.params_fused_m
        numbers.append(
            f"train-time (unfused) models have {ratio.min():.2f}x to {ratio.max():.2f}x the parameters of the "
            "inference form: report the fused numbers"
        )
        return self.summary_box("MobileOne Table 7 with our implementation", numbers)

    def terminal_report(self) -> str:
        return "\n".join(
            [
                f"MobileOne Table 7 — size of S0-S4 (ours, inference vs train-time form) and the latency price of "
                f"branches (profile {self.summary['profile']})",
                "",
                terminal_table(self.counts_table(), float_format="{:.4g}"),
                "",
                terminal_table(self.latency_table(), float_format="{:.3g}"),
                "",
                "Paper's numbers vs ours:",
                *verdict_lines(self.verdicts()),
                "",
                f"environment: {self.environment_line()}",
            ]
        )


def load(directory: str | Path) -> Table7Result:
    return Table7Result.load(directory)
