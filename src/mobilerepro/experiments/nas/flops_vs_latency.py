"""FLOPs-aware or latency-aware: the MnasNet argument as an experiment on this machine's runtimes.

The zoo (every model with a published top-1) and random networks of MobileNetV4's UIB space are timed in one
interleaved run on every backend (LiteRT, the NAS papers' runtime, first). Three questions:

1. *Does MACs misrank latency?* Over every pair of networks: how often the one with fewer MACs is the slower, and
   whether that happens beyond both timing spreads — the claim MnasNet's abstract makes, judged on the most extreme
   such pair per backend.
2. *At equal MACs* (within the ratio `paper/nas.yaml` chooses), how far apart are latencies?
3. *Whose front?* The accuracy–MACs Pareto front against the accuracy–latency front of each backend (published
   top-1 of the zoo): which models each keeps, and how many of them an architecture search found.
"""

from __future__ import annotations

import itertools
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
    timing_profiles,
    zoo_candidate,
)
from mobilerepro.measure.latency import CPU_BACKENDS
from mobilerepro.measure.roofline import pareto_front
from mobilerepro.models import zoo
from mobilerepro.report import save_figure
from mobilerepro.verdicts import NotTestable, Spreads

CLAIM = "flops_is_an_inaccurate_proxy"
RANDOM_FAMILY = "random UIB"


def chapter_data() -> dict:
    return paper.load("nas")["flops_vs_latency"]


def found_by_search() -> set[str]:
    return set(chapter_data()["found_by_search"]["text"].split())


def equal_macs_ratio() -> float:
    return paper.value(chapter_data()["equal_macs_ratio"])


def published_top1(name: str) -> float | None:
    return paper.value(zoo.get_spec(name).published.get("top1"))


def uib_candidate(index: int) -> Candidate:
    from mobilerepro.models.mobilenetv4 import MobileNetV4, random_spec

    spec = random_spec(index)
    return Candidate({"model": spec.name}, lambda: MobileNetV4(spec).eval(), (3, spec.input_size, spec.input_size),
                     {"family": RANDOM_FAMILY, "origin": "random UIB", "top1": None})


def pair_table(frame: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """Every pair of networks timed on the same backend, ordered so that `fewer` has no more MACs than `more`:
    their MACs ratio, latency ratio (fewer / more; > 1: the one with fewer MACs is slower) and whether the slower's
    p10 lies above the faster's p90 (apart beyond both spreads)."""
    records = []
    for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
        rows = group.set_index("model")
        for a, b in itertools.combinations(rows.index, 2):
            fewer, more = (a, b) if rows.macs[a] <= rows.macs[b] else (b, a)
            f, m = rows.loc[fewer], rows.loc[more]
            ratio = f[statistic] / m[statistic]
            slower, faster = (f, m) if ratio > 1 else (m, f)
            records.append({"backend": backend, "fewer": fewer, "more": more, "macs_ratio": m.macs / f.macs,
                            "latency_ratio": ratio, "apart": bool(slower.p10_ms > faster.p90_ms)})
    return pd.DataFrame.from_records(records)


@dataclass(frozen=True)
class FlopsVsLatencyConfig(LatencyConfig):
    models: list[str] | None = None  # zoo models (default: every one with a published top-1)
    uib_networks: int = 24  # random networks of the UIB space besides the zoo


class FlopsVsLatencyResult(LatencyResult):
    terminal_tables = ("misranking", "equal_macs", "front_summary")

    def pairs(self) -> pd.DataFrame:
        return pair_table(self.rows, self.stat_column)

    def misranking_table(self) -> pd.DataFrame:
        records = []
        for backend, group in self.pairs().groupby("backend", sort=False):
            inverted = group[group.latency_ratio > 1]
            record = {"backend": backend, "pairs": len(group), "fewer MACs but slower": len(inverted),
                      "share": len(inverted) / len(group), "of them apart beyond spreads": int(inverted.apart.sum())}
            if len(inverted):
                worst = inverted.loc[inverted.latency_ratio.idxmax()]
                record.update({"most extreme": f"{worst.fewer} vs {worst.more}", "its MACs ratio": worst.macs_ratio,
                               "its latency ratio": worst.latency_ratio})
            records.append(record)
        return pd.DataFrame.from_records(records)

    def equal_macs_table(self) -> pd.DataFrame:
        pairs = self.pairs()
        equal = pairs[pairs.macs_ratio <= equal_macs_ratio()]
        records = []
        for backend, group in equal.groupby("backend", sort=False):
            spread = np.maximum(group.latency_ratio, 1 / group.latency_ratio)
            records.append({"backend": backend, "pairs of equal MACs": len(group),
                            "median latency ratio (slower / faster)": float(np.median(spread)),
                            "largest": float(spread.max()), "apart beyond spreads": int(group.apart.sum())})
        return pd.DataFrame.from_records(records)

    def fronts_table(self) -> pd.DataFrame:
        """The zoo models with a published top-1: on the accuracy-MACs front, and on each backend's accuracy-latency
        front."""
        ok = self.ok()
        ranked = ok[ok.top1.notna()]
        models = ranked.drop_duplicates("model").set_index("model")
        table = models[["family", "origin", "top1", "macs"]].copy()
        table["MACs front"] = pareto_front(table.macs.to_numpy(), table.top1.to_numpy())
        for backend, group in ranked.groupby("backend", sort=False):
            rows = group.set_index("model")
            on_front = pareto_front(rows[self.stat_column].to_numpy(), rows.top1.to_numpy())
            table[f"{backend} front"] = pd.Series(on_front, index=rows.index).reindex(table.index, fill_value=False)
        return table.reset_index().sort_values("macs")

    def front_summary_table(self) -> pd.DataFrame:
        fronts = self.fronts_table()
        macs_front = set(fronts.model[fronts["MACs front"]])
        records = [{"front": "MACs", "models": len(macs_front),
                    "found by search": int(fronts[fronts["MACs front"]].origin.eq("search").sum()),
                    "shared with the MACs front": len(macs_front), "Jaccard with the MACs front": 1.0,
                    "only here": ""}]
        for column in [c for c in fronts.columns if c.endswith(" front") and c != "MACs front"]:
            members = set(fronts.model[fronts[column]])
            records.append({"front": column.removesuffix(" front"), "models": len(members),
                            "found by search": int(fronts[fronts[column]].origin.eq("search").sum()),
                            "shared with the MACs front": len(members & macs_front),
                            "Jaccard with the MACs front": len(members & macs_front) / len(members | macs_front),
                            "only here": ", ".join(sorted(members - macs_front))})
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "misranking": self.misranking_table(), "equal_macs": self.equal_macs_table(),
                "fronts": self.fronts_table(), "front_summary": self.front_summary_table()}

    def summary_numbers(self) -> list[str]:
        numbers = []
        for _, row in self.misranking_table().iterrows():
            line = (f"{row['backend']}: of {row['pairs']} pairs, the one with fewer MACs is the slower in "
                    f"{row['share']:.0%} ({row['of them apart beyond spreads']} apart beyond the spreads)")
            if isinstance(row.get("most extreme"), str):
                line += (f"; most extreme {row['most extreme']}: {row['its MACs ratio']:.2f}x fewer MACs, "
                         f"{row['its latency ratio']:.2f}x slower")
            numbers.append(line)
        for _, row in self.front_summary_table().iloc[1:].iterrows():
            numbers.append(f"{row['front']} accuracy-latency front: {row['models']} models, "
                           f"{row['shared with the MACs front']} of them on the MACs front "
                           f"(Jaccard {row['Jaccard with the MACs front']:.2f}), {row['found by search']} found by "
                           f"search")
        return numbers


class FlopsVsLatency(LatencyExperiment):
    title = "FLOPs-aware or latency-aware? The MnasNet argument as an experiment"
    description = "does MACs misrank latency, how far apart equal-MAC networks are, whose accuracy-latency front"
    config_type = FlopsVsLatencyConfig
    result_type = FlopsVsLatencyResult
    profiles = timing_profiles(
        smoke={"models": ["mobilenet_v2", "mobilenet_v3_large", "ghostnet_1_0", "mobileone_s0"], "uib_networks": 2},
        quick={"models": None, "uib_networks": 24, "rounds": 8, "runs_per_round": 4,
               "backends": [*LITERT_BACKENDS, *ALL_BACKENDS]},
    )

    needs_litert_stack = True

    def validate(self, config: FlopsVsLatencyConfig) -> FlopsVsLatencyConfig:
        models = [zoo.get_spec(name).name for name in (config.models or zoo.model_names())]
        unranked = [m for m in models if published_top1(m) is None]
        if config.models and unranked:
            raise MobileReproError(f"{unranked[0]!r} has no published top-1: the fronts need one")
        if config.uib_networks < 0:
            raise MobileReproError(f"uib_networks must be 0 or more, got {config.uib_networks}")
        models = [m for m in models if m not in unranked]
        return super().validate(FlopsVsLatencyConfig(**{**config.as_dict(), "models": models}))

    def candidates(self, config: FlopsVsLatencyConfig) -> list[Candidate]:
        searched = found_by_search()
        zoo_models = [zoo_candidate(name, config.seed, {"family": zoo.get_spec(name).family,
                                                        "origin": "search" if name in searched else "hand",
                                                        "top1": published_top1(name)})
                      for name in config.models]
        return zoo_models + [uib_candidate(index) for index in range(config.uib_networks)]

    def analyse(self, config: FlopsVsLatencyConfig, frame: pd.DataFrame, prepared: dict, peaks):
        pairs = pair_table(frame, config.statistic_column)
        evidence = []
        for backend, group in pairs.groupby("backend", sort=False):
            if backend not in CPU_BACKENDS:
                evidence.append((CLAIM, backend, NotTestable("the claim is judged on this machine's CPU")))
                continue
            inverted = group[group.latency_ratio > 1]
            if inverted.empty:  # MACs ranked every pair: the closest call is the evidence, and it falls short
                worst = group.loc[group.latency_ratio.idxmax()]
            else:
                worst = inverted.loc[inverted.latency_ratio.idxmax()]
            rows = frame[(frame.backend == backend) & (frame.status == "ok")].set_index("model")
            fewer, more = rows.loc[worst.fewer], rows.loc[worst.more]
            evidence.append((CLAIM, backend, Spreads(
                (fewer.p10_ms, fewer.p90_ms), (more.p10_ms, more.p90_ms), int(min(fewer.n, more.n)),
                f"{worst.fewer} ({fewer.macs / 1e6:.0f} M MACs) vs {worst.more} ({more.macs / 1e6:.0f} M): "
                f"{worst.latency_ratio:.2f}x the latency with {worst.macs_ratio:.2f}x fewer MACs")))
        if not evidence:
            evidence.append((CLAIM, "this run", NotTestable("fewer than two networks were timed on any backend")))
        return {}, evidence

    def figure(self, result: FlopsVsLatencyResult, path: Path) -> None:
        ok = result.ok()
        backends = [b for b in dict.fromkeys(ok.backend) if b in CPU_BACKENDS]
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
        for backend in backends:
            rows = ok[ok.backend == backend]
            left.scatter(rows.macs / 1e6, rows[result.stat_column], s=14, alpha=0.7, label=backend)
        left.set(xscale="log", yscale="log", xlabel="MACs (M)", ylabel=f"{result.statistic} latency here (ms)",
                 title="Latency against MACs: the spread at one MACs value is what MACs cannot see")
        left.legend(fontsize=8)
        left.grid(alpha=0.3, which="both")
        fronts = result.fronts_table()
        if backends and len(fronts):
            first = backends[0]
            rows = ok[(ok.backend == first) & ok.top1.notna()].set_index("model").loc[fronts.model]
            latency = rows[result.stat_column].to_numpy()
            for origin, marker in (("search", "o"), ("hand", "s")):
                chosen = (fronts.origin == origin).to_numpy()
                right.scatter(latency[chosen], fronts.top1[chosen], marker=marker, s=28, alpha=0.7,
                              label=f"found by {origin}" if origin == "search" else "hand-designed")
            on_front = fronts[f"{first} front"].to_numpy()
            order = np.argsort(latency[on_front])
            right.plot(latency[on_front][order], fronts.top1.to_numpy()[on_front][order], color="black",
                       label=f"{first} accuracy-latency front")
            on_macs = fronts["MACs front"].to_numpy()
            right.scatter(latency[on_macs], fronts.top1[on_macs], facecolors="none", edgecolors="red", s=90,
                          label="on the accuracy-MACs front")
            for model, x, y in zip(fronts.model[on_front | on_macs], latency[on_front | on_macs],
                                   fronts.top1[on_front | on_macs], strict=True):
                right.annotate(model, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            right.set(xscale="log", xlabel=f"{first} {result.statistic} latency here (ms)",
                      ylabel="published ImageNet top-1 (%)", title=f"Whose front? ({first})")
            right.legend(fontsize=8)
            right.grid(alpha=0.3, which="both")
        save_figure(fig, path)


EXPERIMENT = FlopsVsLatency()
