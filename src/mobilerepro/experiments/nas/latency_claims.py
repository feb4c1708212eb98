"""The NAS papers' latency claims as ratios on this machine: MnasNet-A1 against MobileNetV2-1.4 and NASNet-A,
MobileNetV3-Large against MobileNetV2, FBNet-B against MobileNetV2-1.3, FBNet-C against MobileNetV2-1.4 and
EfficientNet-B1 against ResNet-152, timed side by side in one interleaved run on every backend here (LiteRT, the
papers' runtime, first), each ratio judged on its direction with the paper's ratio and the MACs ratio (what a
FLOPs-aware designer predicts) beside; GhostNet and EfficientFormerV2 as FLOPs-vs-latency cases; and the ranking
MobileNetV3's Tab. 3 gives on a Pixel 1 against each runtime's ranking here (Spearman rho).

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
from mobilerepro.measure.stats import spearman
from mobilerepro.models import nas
from mobilerepro.report import save_figure
from mobilerepro.verdicts import NotTestable


def chapter_data() -> dict:
    return paper.load("nas")["latency_claims"]


def pairs() -> dict[str, dict]:
    return chapter_data()["pairs"]


def pixel1_ms() -> dict[str, float]:
    """MobileNetV3 Tab. 3's Pixel 1 column (ms), for the models built here."""
    table = chapter_data()["mobilenetv3_table3"]
    unbuilt = table.get("not_built", {})
    return {model: paper.value(ms) for model, ms in table["pixel1_ms"].items() if model not in unbuilt}


def published_ratio(pair: dict) -> float | None:
    """The paper's latency ratio (derived): its two latencies' ratio, or 1 / its "N x faster"; None for a case."""
    if "candidate_ms" in pair:
        return paper.value(pair["candidate_ms"]) / paper.value(pair["reference_ms"])
    if "speedup" in pair:
        return 1 / paper.value(pair["speedup"])
    return None


def candidate(name: str, seed: int) -> Candidate:
    if name not in nas.BASELINES:
        return zoo_candidate(name, seed)
    side = nas.BASELINES[name][1]
    return Candidate({"model": name}, lambda: nas.build_baseline(name, seed), (3, side, side))


@dataclass(frozen=True)
class NASRatiosConfig(LatencyConfig):
    pairs: list[str] | None = None
    table3: bool = True  # also time MobileNetV3 Tab. 3's models for the ranking comparison


class NASRatiosResult(LatencyResult):
    terminal_tables = ("ratios", "table3_ranking")

    def _macs(self) -> pd.Series:
        return self.candidates().set_index("model")["macs"]

    def ratios_table(self) -> pd.DataFrame:
        macs, records = self._macs(), []
        for name in self.summary["parameters"]["pairs"]:
            pair = pairs()[name]
            if "not_built" in pair:
                continue
            published = published_ratio(pair)
            for backend in dict.fromkeys(self.ok().backend):
                found = ratio_evidence(self.rows, backend, "model", pair["candidate"], pair["reference"])
                if found is not None:
                    records.append({"candidate": pair["candidate"], "reference": pair["reference"],
                                    "backend": backend, "ratio here": found.estimate + 1,
                                    "spreads allow from": found.low + 1, "to": found.high + 1,
                                    "MACs ratio": macs[pair["candidate"]] / macs[pair["reference"]],
                                    "published ratio (derived)": published,
                                    "published on": pair.get("published_on", "— (a case, no latency claim)")})
        return pd.DataFrame.from_records(records)

    def table3_table(self) -> pd.DataFrame:
        """Per backend: Spearman rho of its latencies with the Pixel 1 column over Tab. 3's models timed here."""
        published = pixel1_ms()
        ok = self.ok()
        records = []
        for backend in dict.fromkeys(ok.backend):
            here = ok[ok.backend == backend].set_index("model")[self.stat_column]
            models = [m for m in published if m in here.index]
            if len(models) >= 3:
                records.append({"backend": backend, "models": len(models),
                                "rho with the Pixel 1 column": spearman([here[m] for m in models],
                                                                        [published[m] for m in models]),
                                "rho with MACs": spearman([here[m] for m in models],
                                                          [self._macs()[m] for m in models])})
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "ratios": self.ratios_table(), "table3_ranking": self.table3_table()}

    def summary_numbers(self) -> list[str]:
        numbers = []
        for (candidate, reference), group in self.ratios_table().groupby(["candidate", "reference"], sort=False):
            here = ", ".join(f"{r['backend']} {r['ratio here']:.2f}x" for _, r in group.iterrows())
            first = group.iloc[0]
            published = first["published ratio (derived)"]
            beside = f"{published:.2f}x on {first['published on']}" if pd.notna(published) else "no published latency"
            numbers.append(f"{candidate} / {reference}: {here}; MACs {first['MACs ratio']:.2f}x; {beside}")
        ranking = self.table3_table()
        if len(ranking):
            published = {m: ms for m, ms in pixel1_ms().items() if m in self._macs().index}
            agreement = spearman(list(published.values()), [self._macs()[m] for m in published])
            numbers.append(f"MobileNetV3 Tab. 3: the Pixel 1 column itself ranks these {len(published)} models with "
                           f"rho {agreement:.2f} against their MACs" + (" — the same ranking, so this comparison "
                           "cannot tell latency-awareness from FLOPs-awareness" if np.isclose(agreement, 1) else ""))
        for _, row in ranking.iterrows():
            pixel, macs = row["rho with the Pixel 1 column"], row["rho with MACs"]
            numbers.append(f"MobileNetV3 Tab. 3 ranking on {row['backend']}: rho {pixel:.2f} with the Pixel 1 column, "
                           f"{macs:.2f} with MACs ({row['models']} models)")
        return numbers


class NASRatios(LatencyExperiment):
    title = "The NAS papers' latency claims, as ratios on this machine"
    description = "MnasNet, MobileNetV3, FBNet and EfficientNet latency ratios on LiteRT and the CPU runtimes here"
    config_type = NASRatiosConfig
    result_type = NASRatiosResult
    # LiteRT first: the papers' own runtime (its environment is installed by this chapter's make target); smoke
    # leaves it out, its conversions take tens of seconds per model.
    profiles = timing_profiles(smoke={"pairs": ["mobilenetv3_large_vs_mobilenetv2"], "table3": False},
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
        chosen = [pairs()[p] for p in config.pairs if "not_built" not in pairs()[p]]
        names = [n for pair in chosen for n in (pair["candidate"], pair["reference"])]
        if config.table3:
            names += list(pixel1_ms())
        return [candidate(name, config.seed) for name in dict.fromkeys(names)]

    def analyse(self, config: NASRatiosConfig, frame: pd.DataFrame, prepared: dict, peaks):
        claims = chapter_data()["claims"]
        evidence = []
        for name, pair in pairs().items():  # a pair left out of this run is judged not testable, with its reason
            if name not in claims:
                continue
            if "not_built" in pair:
                evidence.append((name, "this run", NotTestable(pair["not_built"])))
            else:
                evidence += ratio_claim_evidence(name, frame, "model", pair["candidate"], pair["reference"])
        return {}, evidence

    def figure(self, result: NASRatiosResult, path: Path) -> None:
        table, ranking = result.ratios_table(), result.table3_table()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True,
                                          gridspec_kw={"width_ratios": [3, 2]})
        claimed = table[table["published ratio (derived)"].notna()]
        for backend, rows in claimed.groupby("backend", sort=False):
            ratio = rows["ratio here"].to_numpy()
            spread = np.vstack([ratio - rows["spreads allow from"].to_numpy(), rows["to"].to_numpy() - ratio])
            left.errorbar(rows["published ratio (derived)"], ratio, yerr=spread, fmt="o", capsize=3, label=backend,
                          alpha=0.85)
        macs = claimed.drop_duplicates(["candidate", "reference"])
        left.scatter(macs["published ratio (derived)"], macs["MACs ratio"], marker="x", color="black", zorder=3,
                     label="MACs ratio (FLOPs-aware prediction)")
        keys = []  # numbers beside the markers, the pairs they stand for in a box: the names would overlap
        for number, (_, row) in enumerate(macs.iterrows(), start=1):
            left.annotate(str(number), (row["published ratio (derived)"], row["MACs ratio"]), fontsize=8,
                          xytext=(-10, -10), textcoords="offset points")
            keys.append(f"{number}: {row['candidate']} / {row['reference']}")
        left.text(0.02, 0.98, "\n".join(keys), transform=left.transAxes, fontsize=7, va="top",
                  bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "lightgrey"})
        bounds = [0.1, 2.5]
        left.plot(bounds, bounds, color="grey", linestyle="--", linewidth=0.8, label="measured = published")
        left.axhline(1.0, color="grey", linewidth=0.6)
        left.set(xscale="log", yscale="log", xlabel="published latency ratio (derived from the paper)",
                 ylabel="latency ratio here (candidate / baseline; < 1: faster)",
                 title="Each claim: published vs measured ratio")
        left.legend(fontsize=7)
        left.grid(alpha=0.3, which="both")
        if len(ranking):
            x = np.arange(len(ranking))
            right.bar(x - 0.2, ranking["rho with the Pixel 1 column"], 0.4, label="with the Pixel 1 column")
            right.bar(x + 0.2, ranking["rho with MACs"], 0.4, label="with MACs")
            right.set_xticks(x, ranking.backend, rotation=30)
            right.set_ylim(-1, 1)
            right.axhline(0, color="grey", linewidth=0.6)
            right.legend(fontsize=8)
        right.set(ylabel="Spearman rho of latency here", title="MobileNetV3 Tab. 3's models: whose ranking?")
        right.grid(axis="y", alpha=0.3)
        save_figure(fig, path)


EXPERIMENT = NASRatios()
