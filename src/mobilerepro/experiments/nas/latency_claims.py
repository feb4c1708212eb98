"""The NAS papers' latency claims as ratios on this machine: MnasNet-A1 against MobileNetV2-1.4 (the baseline of
MnasNet's "1.8x faster") and MobileNetV3-Large against MobileNetV2 ("20 % faster"), timed side by side in one
interleaved run on every backend here, each ratio judged on its direction with the paper's Pixel 1 ratio beside.

The papers searched and timed with TFLite on a phone's big core; the argument of the whole family is that the
target runtime, not FLOPs, decides. A ratio that flips between a phone's TFLite and this CPU's runtimes is that
argument's own evidence, not a failed replication: the summary box says which way each backend leans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import (
    ALL_BACKENDS,
    LITERT_BACKENDS,
    Candidate,
    LatencyConfig,
    LatencyExperiment,
    LatencyResult,
    ratio_claim_evidence,
    ratio_evidence,
    timing_profiles,
    zoo_candidate,
)
from mobilerepro.report import save_figure

# Baselines of the papers that the zoo does not hold (it keeps one width per architecture): built from timm.
TIMM_BASELINES = {"mobilenet_v2_1_4": "mobilenetv2_140"}


def pairs() -> dict[str, dict]:
    return paper.load("nas")["latency_claims"]["pairs"]


def candidate(name: str, seed: int) -> Candidate:
    if name not in TIMM_BASELINES:
        return zoo_candidate(name, seed)

    def build():
        import timm
        import torch

        torch.manual_seed(seed)
        return timm.create_model(TIMM_BASELINES[name], pretrained=False).eval()

    return Candidate({"model": name}, build, (3, 224, 224))


@dataclass(frozen=True)
class NASRatiosConfig(LatencyConfig):
    pairs: list[str] | None = None


class NASRatiosResult(LatencyResult):
    terminal_tables = ("ratios",)

    def ratios_table(self) -> pd.DataFrame:
        records = []
        for name in self.summary["parameters"]["pairs"]:
            pair = pairs()[name]
            published = paper.value(pair["candidate_ms"]) / paper.value(pair["reference_ms"])
            for backend in dict.fromkeys(self.ok().backend):
                found = ratio_evidence(self.rows, backend, "model", pair["candidate"], pair["reference"])
                if found is not None:
                    records.append({"candidate": pair["candidate"], "reference": pair["reference"],
                                    "backend": backend, "ratio here": found.estimate + 1,
                                    "spreads allow from": found.low + 1, "to": found.high + 1,
                                    "Pixel 1 TFLite ratio (derived)": published})
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "ratios": self.ratios_table()}

    def summary_numbers(self) -> list[str]:
        table = self.ratios_table()
        return [f"{row['candidate']} / {row['reference']} on {row['backend']}: {row['ratio here']:.2f}x here, "
                f"{row['Pixel 1 TFLite ratio (derived)']:.2f}x on the papers' Pixel 1 (TFLite)"
                for _, row in table.iterrows()]


class NASRatios(LatencyExperiment):
    title = "The NAS papers' latency claims, as ratios on this machine"
    description = "MnasNet-A1 / MobileNetV2-1.4 and MobileNetV3-L / MobileNetV2 latency, here and on a Pixel 1"
    config_type = NASRatiosConfig
    result_type = NASRatiosResult
    # LiteRT first: the papers' own runtime (its environment is installed by this chapter's make target); smoke
    # leaves it out, its conversions take tens of seconds per model.
    profiles = timing_profiles(smoke={"pairs": ["mobilenetv3_large_vs_mobilenetv2"]},
                               quick={"pairs": None, "rounds": 10, "runs_per_round": 5,
                                      "backends": [*LITERT_BACKENDS, *ALL_BACKENDS]})
    needs_litert_stack = True

    def validate(self, config: NASRatiosConfig) -> NASRatiosConfig:
        chosen = list(config.pairs or pairs())
        unknown = [p for p in chosen if p not in pairs()]
        if unknown:
            raise MobileReproError(f"no claim pair {unknown[0]!r} (choose from: {', '.join(pairs())})")
        return super().validate(NASRatiosConfig(**{**config.as_dict(), "pairs": chosen}))

    def candidates(self, config: NASRatiosConfig) -> list[Candidate]:
        names = dict.fromkeys(n for p in config.pairs for n in (pairs()[p]["candidate"], pairs()[p]["reference"]))
        return [candidate(name, config.seed) for name in names]

    def analyse(self, config: NASRatiosConfig, frame: pd.DataFrame, prepared: dict, peaks):
        evidence = []
        for name, pair in pairs().items():  # a pair left out of this run is judged not testable, with its reason
            evidence += ratio_claim_evidence(name, frame, "model", pair["candidate"], pair["reference"])
        return {}, evidence

    def figure(self, result: NASRatiosResult, path: Path) -> None:
        table = result.ratios_table()
        labels = list(dict.fromkeys(f"{r.candidate}\n/ {r.reference}" for r in table.itertuples()))
        backends = list(dict.fromkeys(table.backend))
        fig, ax = plt.subplots(figsize=(max(6, 2.6 * len(labels)), 4), constrained_layout=True)
        width = 0.8 / max(len(backends), 1)
        for i, backend in enumerate(backends):
            rows = table[table.backend == backend]
            x = np.array([labels.index(f"{r.candidate}\n/ {r.reference}") for r in rows.itertuples()])
            ratio = rows["ratio here"].to_numpy()
            spread = np.vstack([ratio - rows["spreads allow from"].to_numpy(), rows["to"].to_numpy() - ratio])
            ax.bar(x - 0.4 + width * (i + 0.5), ratio, width, yerr=spread, capsize=3, label=backend)
        for x, published in enumerate(table.drop_duplicates("candidate")["Pixel 1 TFLite ratio (derived)"]):
            ax.hlines(published, x - 0.45, x + 0.45, colors="black", linestyles="--",
                      label="the papers' Pixel 1 (TFLite)" if x == 0 else None)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel("latency ratio (candidate / baseline; < 1: faster)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        save_figure(fig, path)


EXPERIMENT = NASRatios()
