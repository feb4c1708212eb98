"""MobileOne Tab. 7: the variants S0-S4, their size, and the price of inference-time branches.

Tab. 7 specifies the variants (width multipliers alpha, branches k, SE-ReLU); their params and "FLOPs" (= MACs)
hold only for the reparameterised (inference) form. Both forms of our implementation are counted side by side, so
the unfused train-time numbers are never mistaken for the model's size, and both are timed on every backend in one
interleaved run: the ratio unfused / fused is what multi-branch inference would cost without reparameterisation.
The published params (and S0/S1 MACs) are second-hand; S2-S4 MACs are known only as our count of the official code
(derived), which is shown but never a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import (
    Candidate,
    LatencyConfig,
    LatencyExperiment,
    LatencyResult,
    timing_profiles,
)
from mobilerepro.models import mobileone
from mobilerepro.reparam import reparameterize_model
from mobilerepro.report import save_figure
from mobilerepro.verdicts import Value

FORMS = ("unfused", "fused")
INPUT_SIZE = (3, 224, 224)


@dataclass(frozen=True)
class Table7Config(LatencyConfig):
    variants: list[str] | None = None


class Table7Result(LatencyResult):
    terminal_tables = ("counts", "latency")

    def counts_table(self) -> pd.DataFrame:
        """Per variant: Tab. 7's alphas / k / SE, our fused and train-time counts, and the published and derived
        values as cells with their provenance."""
        candidates = self.candidates()
        records = []
        for variant in self.summary["parameters"]["variants"]:
            spec = mobileone.VARIANTS[variant]
            forms = candidates[candidates.variant == variant].set_index("form")
            published = paper.published_model(f"mobileone_{variant}")
            derived = paper.load("mobileone")["table7"]["variants"][variant]
            records.append({
                "variant": variant.upper(), "α1..α4": ", ".join(f"{a:g}" for a in spec.widths),
                "k": spec.num_conv_branches, "SE": spec.use_se,
                "params (M), fused": forms.loc["fused", "params"] / 1e6,
                "published params (M)": paper.cell(published.get("params_m")),
                "MACs (M), fused": forms.loc["fused", "macs"] / 1e6,
                "published MACs (M)": paper.cell(published.get("macs_m")),
                "official code MACs (M)": paper.cell(derived["macs_m_derived"]),
                "params (M), train-time": forms.loc["unfused", "params"] / 1e6,
                "train-time / fused params": forms.loc["unfused", "params"] / forms.loc["fused", "params"],
            })
        return pd.DataFrame.from_records(records)

    def latency_table(self) -> pd.DataFrame:
        """Per variant and measured backend: fused and unfused latency and their ratio."""
        wide = self.ok().pivot_table(index=["variant", "backend"], columns="form", values=self.stat_column)
        wide = wide.reset_index()
        if not set(FORMS) <= set(wide.columns):
            return wide
        wide["unfused / fused"] = wide.unfused / wide.fused
        wide["variant"] = wide.variant.str.upper()
        return wide.rename(columns={form: f"{form} ({self.statistic}, ms)" for form in FORMS})

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "counts": self.counts_table(), "latency": self.latency_table()}

    def summary_numbers(self) -> list[str]:
        latency = self.latency_table()
        numbers = []
        if "unfused / fused" in latency:
            for backend, rows in latency.groupby("backend", sort=False):
                ratio = rows["unfused / fused"]
                numbers.append(f"{backend}: unfused / fused {self.statistic} latency {ratio.min():.2f}x to "
                               f"{ratio.max():.2f}x across {len(rows)} variants")
        ratio = self.counts_table()["train-time / fused params"]
        numbers.append(f"train-time (unfused) models have {ratio.min():.2f}x to {ratio.max():.2f}x the parameters of "
                       "the inference form: report the fused numbers")
        return numbers


class Table7(LatencyExperiment):
    title = "MobileOne Table 7 — the variants, their size and the price of branches"
    description = "S0-S4 params/MACs (fused vs train-time) against the published values, latency unfused vs fused"
    config_type = Table7Config
    result_type = Table7Result
    profiles = timing_profiles(smoke={"variants": ["s0"], "runs_per_round": 2},
                               quick={"variants": list(mobileone.VARIANTS)},
                               full={"variants": list(mobileone.VARIANTS)})

    def validate(self, config: Table7Config) -> Table7Config:
        variants = [str(v).lower().removeprefix("mobileone_") for v in config.variants]
        unknown = [v for v in variants if v not in mobileone.VARIANTS]
        if unknown:
            raise MobileReproError(f"unknown MobileOne variant {unknown[0]!r} (choose from: "
                                   f"{', '.join(mobileone.VARIANTS)})")
        return super().validate(Table7Config(**{**config.as_dict(), "variants": variants}))

    def candidates(self, config: Table7Config) -> list[Candidate]:
        import torch

        def build(variant: str, form: str):
            torch.manual_seed(config.seed)
            unfused = mobileone.mobileone(variant).eval()
            return unfused if form == "unfused" else reparameterize_model(unfused)

        return [Candidate({"variant": v, "form": form}, lambda v=v, form=form: build(v, form), INPUT_SIZE)
                for v in config.variants for form in FORMS]

    def analyse(self, config: Table7Config, frame: pd.DataFrame, prepared: dict, peaks):
        fused = frame[frame.form == "fused"].drop_duplicates("variant").set_index("variant")
        evidence = []
        for variant in config.variants:
            scope = variant.upper()
            params_m, macs_m = fused.loc[variant, "params"] / 1e6, fused.loc[variant, "macs"] / 1e6
            evidence.append(("params", scope, Value(params_m, f"{params_m:.3f} M in inference form")))
            evidence.append(("macs", scope, Value(macs_m, f"{macs_m:.1f} M at 224 px in inference form")))
        return {"mac_convention": "multiply-accumulates of conv, linear and attention matmuls; batch 1; 224x224"}, \
            evidence

    def figure(self, result: Table7Result, path: Path) -> None:
        """Bars: unfused vs fused latency per variant, one panel per backend; whiskers span p10-p90."""
        ok = result.ok()
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
                value = rows[result.stat_column]
                error = np.vstack([(value - rows.p10_ms).clip(lower=0), (rows.p90_ms - value).clip(lower=0)])
                ax.bar(x + offset, value, 0.4, yerr=error, capsize=3, color=colours[form], label=form)
            ax.set_xticks(x, [v.upper() for v in variants])
            ax.set_ylabel(f"{result.statistic} latency (ms); whiskers p10-p90")
            ax.set_title(backend)
            ax.grid(axis="y", alpha=0.3)
        axes[0][0].legend()
        save_figure(fig, path)


EXPERIMENT = Table7()
