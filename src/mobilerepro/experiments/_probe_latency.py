"""MobileOne Tabs. 2 and 3: latency of one probe network (`models/probes.py`) that differs only in its activation
(Tab. 2) or in an added architectural block (Tab. 3), on every backend here.

Both tables are the same experiment over different variants: `ProbeExperiment` is the shared chapter, `table2.py`
and `table3.py` name their variants and which claim each variant tests. Every variant is built, counted, exported to
Core ML (op census: how many global poolings, i.e. synchronisation points, it adds) and timed in the same
interleaved rounds. The paper's iPhone 12 numbers for these tables are *recalled* (no stored copy could be read):
they are shown as ratios, footnoted, and never used as a target. The verdicts test the paper's directional claims
on each backend: is the variant clearly slower than the reference (p10-p90 spreads separated)?
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
    spread_evidence,
    timing_profiles,
)
from mobilerepro.models.probes import ProbeConfig, ProbeNetwork
from mobilerepro.report import save_figure

UNVERIFIED = "paper iPhone 12 ×ref (recalled, unverified)"


@dataclass(frozen=True)
class ProbeRunConfig(LatencyConfig):
    variants: list[str] | None = None
    depth: int = 30
    width: float = 1.0
    input_size: int = 224
    coreml_export: bool = True


class ProbeResult(LatencyResult):
    # This family's standard sections (see `Result.sections`).
    sections = {
        "comparison": ("Latency and ratios",
            "ms of the chosen statistic; ×ref is latency / reference latency on the same backend."),
    }

    terminal_tables = ("comparison",)

    def comparison_table(self) -> pd.DataFrame:
        """One row per variant: the paper's recalled ratio, ours (ms and ratio) per backend, the Core ML census."""
        candidates = self.candidates().set_index("variant")
        reference = self.experiment.reference
        records = []
        for variant in candidates.index:
            record = {"variant": variant, UNVERIFIED: self.summary["paper_ratio"].get(variant)}
            for backend in self.measured_backends():
                rows = self.ok()[self.ok().backend == backend].set_index("variant")
                if variant in rows.index and reference in rows.index:
                    record[f"{backend} (ms)"] = rows.loc[variant, self.stat_column]
                    record[f"{backend} ×ref"] = rows.loc[variant, self.stat_column] / rows.loc[reference,
                                                                                               self.stat_column]
            if "coreml_status" in candidates.columns:
                ok = candidates.loc[variant, "coreml_status"] == "ok"
                record["Core ML ops"] = candidates.loc[variant, "coreml_ops"] if ok else "export failed"
                record["global pools"] = candidates.loc[variant, "coreml_global_pools"] if ok else ""
            records.append(record)
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "comparison": self.comparison_table()}

    def summary_numbers(self) -> list[str]:
        table = self.comparison_table()
        numbers = [f"reference: {self.experiment.reference}; ×ref = latency / reference latency on the same backend"]
        for backend in self.measured_backends():
            column = f"{backend} ×ref"
            if column in table:
                slowest = table.loc[table[column].idxmax()]
                numbers.append(f"{backend}: slowest {slowest.variant} at {slowest[column]:.2f}x")
        return numbers


class ProbeExperiment(LatencyExperiment):
    """A probe table: `variants` (name -> ProbeConfig fields), the `reference` variant, and for each claim the
    variants it says are slower than the reference."""

    config_type = ProbeRunConfig
    result_type = ProbeResult
    variants: dict[str, dict] = {}
    reference: str = ""
    slower_than_reference: dict[str, list[str]] = {}
    profiles = timing_profiles(smoke={"coreml_export": False}, quick={"coreml_export": True},
                               full={"coreml_export": True})

    def validate(self, config: ProbeRunConfig) -> ProbeRunConfig:
        variants = list(config.variants or self.variants)
        unknown = [v for v in variants if v not in self.variants]
        if unknown:
            raise MobileReproError(f"unknown {self.target} variant {unknown[0]!r} (choose from: "
                                   f"{', '.join(self.variants)})")
        if self.reference not in variants:
            variants.insert(0, self.reference)  # every ratio needs the reference
        ProbeConfig(depth=config.depth, width=config.width, input_size=config.input_size).blocks()  # validates
        return super().validate(ProbeRunConfig(**{**config.as_dict(), "variants": variants}))

    def candidates(self, config: ProbeRunConfig) -> list[Candidate]:
        import torch

        def build(variant):
            torch.manual_seed(config.seed)
            return ProbeNetwork(ProbeConfig(depth=config.depth, width=config.width, input_size=config.input_size,
                                            **self.variants[variant])).eval()

        size = (3, config.input_size, config.input_size)
        return [Candidate({"variant": v}, lambda v=v: build(v), size, census=True) for v in config.variants]

    def paper_ratios(self) -> dict[str, float]:
        entries = paper.load("mobileone")[self.name]["latency_ms"]
        return {name: paper.value(entry) / paper.value(entries[self.reference]) for name, entry in entries.items()}

    def analyse(self, config: ProbeRunConfig, frame: pd.DataFrame, prepared: dict, peaks):
        evidence = []
        for backend in frame[frame.status == "ok"].backend.unique():
            for claim, variants in self.slower_than_reference.items():
                for variant in (v for v in variants if v in config.variants):
                    spreads = spread_evidence(frame, backend, "variant", variant, self.reference)
                    if spreads is not None:
                        evidence.append((claim, f"{backend}: {variant}", spreads))
        return {"paper_ratio": self.paper_ratios(),
                "paper_ratio_provenance": "recalled: display only, never a verdict target"}, evidence

    def figure(self, result: ProbeResult, path: Path) -> None:
        """Latency relative to the reference per backend (whiskers p10-p90), next to the paper's recalled ratio."""
        ok = result.ok()
        backends = list(dict.fromkeys(ok.backend))
        variants = list(dict.fromkeys(ok.variant))
        width = 0.8 / (len(backends) + 1)
        fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(variants)), 4.4), constrained_layout=True)
        x = np.arange(len(variants))
        paper_ratio = [result.summary["paper_ratio"].get(v, np.nan) for v in variants]
        ax.bar(x - 0.4 + width / 2, paper_ratio, width, color="white", edgecolor="black", hatch="//",
               label="paper, iPhone 12 (recalled, unverified)")
        for i, backend in enumerate(backends):
            rows = ok[ok.backend == backend].set_index("variant").reindex(variants)
            reference = rows.loc[self.reference, result.stat_column]
            values = (rows[result.stat_column] / reference).to_numpy()
            low = np.minimum(rows.p10_ms.to_numpy() / reference, values)
            high = np.maximum(rows.p90_ms.to_numpy() / reference, values)
            ax.bar(x - 0.4 + width * (i + 1.5), values, width, yerr=[values - low, high - values], capsize=2,
                   label=backend)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(x, variants, rotation=20, ha="right")
        ax.set_ylabel(f"latency / {self.reference} latency (log); whiskers p10-p90")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3, which="both")
        save_figure(fig, path)
