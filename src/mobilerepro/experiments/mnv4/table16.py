"""MobileNetV4 Tab. 16 and the ridge-point sweep: the roofline model as a latency predictor.

(a) Sweep. For ridge points RP from 0 (MACs only) to 500 MACs/byte, every zoo model with a published top-1 gets a
roofline cost (INT8: 1 byte per element, the paper's natural reading), and the latency-vs-accuracy Pareto front is
recomputed — the paper's Figs. 7-9: which models are Pareto-optimal on hardware of each balance.

(b) Calibration on this machine (the analog of Tab. 16). PeakMACs (a large fp32 matmul) and PeakMemBW (a large
copy) are measured once, every model's latency is predicted with the roofline (fp32: 4 bytes per element) and
measured on every backend; Spearman's rho of measured latency with the prediction and with plain MACs, each with a
bootstrap CI, and their paired difference judge the paper's claim that the roofline ranks latency better.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import (
    MIN_RANKED_MODELS,
    Candidate,
    LatencyConfig,
    LatencyExperiment,
    LatencyResult,
    ranked_population,
    timing_profiles,
    zoo_candidate,
)
from mobilerepro.measure.roofline import pareto_front, ridge_cost
from mobilerepro.measure.stats import paired_difference_ci, spearman, spearman_with_ci
from mobilerepro.models import zoo
from mobilerepro.report import save_figure
from mobilerepro.verdicts import Interval

# Fine below 10 MACs/byte (where fp32 CPUs sit), then every 10 up to the paper's accelerators (~430).
SWEEP = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, *(float(rp) for rp in range(10, 501, 10)))
FP32_BYTES = 4


def models_with_published_top1() -> list[str]:
    return [name for name in zoo.model_names() if paper.value(zoo.get_spec(name).published.get("top1"))]


def devices() -> dict:
    return paper.load("mobilenetv4")["table16"]["devices"]


@dataclass(frozen=True)
class Table16Config(LatencyConfig):
    models: list[str] | None = None
    sweep_bytes_per_element: float = 1.0
    bootstrap_resamples: int = 2000


class Table16Result(LatencyResult):
    terminal_tables = ("calibration", "pareto")

    def calibration_table(self) -> pd.DataFrame:
        records = [{"where": f"paper: {name}", "ridge point": paper.cell(d["ridge_point"]),
                    "ρ roofline": paper.cell(d["rho_roofline"]), "ρ MACs": paper.cell(d["rho_macs"])}
                   for name, d in devices().items()]
        peaks = self.summary["peaks"]
        for backend, c in self.summary["calibration"].items():
            records.append({
                "where": f"here: {backend} ({c['n_models']} models)",
                "ridge point": f"{peaks['ridge_point_fp32']:.2f}",
                "ρ roofline": "{rho:.3f} [{ci_low:.2f}, {ci_high:.2f}]".format(**c["roofline"]),
                "ρ MACs": "{rho:.3f} [{ci_low:.2f}, {ci_high:.2f}]".format(**c["macs"]),
                "best RP here": c["best_ridge_point"],
            })
        return pd.DataFrame.from_records(records).fillna("")

    def pareto_table(self, ridge_points=(0.0, 2.0, 10.0, 30.0, 40.0, 100.0, 200.0, 350.0, 430.0, 500.0)
                     ) -> pd.DataFrame:
        rows = [s for s in self.summary["sweep"] if s["ridge_point"] in ridge_points]
        return pd.DataFrame([{"ridge point": s["ridge_point"],
                              "Pareto-optimal (cost vs top-1)": ", ".join(s["pareto_optimal"])} for s in rows])

    def exercise_estimate(self, quantity: dict):
        """`rho`: Spearman's ρ of latency on `backend` with `against` (roofline | macs), with its bootstrap interval;
        `rho_gain`: ρ with the roofline minus ρ with MACs, with the paired bootstrap interval the verdict uses."""
        from mobilerepro.exercises import Estimate

        if quantity.get("name") not in ("rho", "rho_gain"):
            return super().exercise_estimate(quantity)
        found = self.summary["calibration"].get(quantity["backend"])
        if not found:
            raise MobileReproError(f"this run ranked no models on {quantity['backend']}: the exercise's command "
                                   "times them there")
        if quantity["name"] == "rho_gain":
            d = found["roofline_minus_macs"]
            return Estimate(d["value"], d["ci_low"], d["ci_high"],
                            f"ρ(latency, roofline) − ρ(latency, MACs) on {quantity['backend']}")
        rho = found[quantity["against"]]
        return Estimate(rho["rho"], rho["ci_low"], rho["ci_high"],
                        f"ρ(latency, {quantity['against']}) on {quantity['backend']} over {found['n_models']} models")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "calibration": self.calibration_table(), "pareto": self.pareto_table()}

    def summary_numbers(self) -> list[str]:
        numbers = [f"{backend}: ρ(latency, roofline) {c['roofline']['rho']:.3f}, ρ(latency, MACs) "
                    f"{c['macs']['rho']:.3f}; best-ranking RP here {c['best_ridge_point']:g}"
                    for backend, c in self.summary["calibration"].items()]
        return numbers


class Table16(LatencyExperiment):
    title = "MobileNetV4 Table 16 — the roofline model as a latency predictor"
    description = "roofline vs MACs on this machine, ridge-point sweep and Pareto fronts"
    config_type = Table16Config
    result_type = Table16Result
    profiles = timing_profiles(
        smoke={"models": ["mobilenet_v2", "mobileone_s0", "mnv4_conv_s", "mobilenet_v3_small"],
               "bootstrap_resamples": 200},
        quick={"models": None, "rounds": 8, "runs_per_round": 4, "bootstrap_resamples": 2000},
        full={"models": None, "bootstrap_resamples": 10000},
        litert=True,
    )

    def validate(self, config: Table16Config) -> Table16Config:
        models = ranked_population(config.models or models_with_published_top1(), "Tab. 16")
        return super().validate(Table16Config(**{**config.as_dict(), "models": models}))

    def candidates(self, config: Table16Config) -> list[Candidate]:
        return [zoo_candidate(name, config.seed, {"family": zoo.get_spec(name).family,
                                                  "top1": paper.value(zoo.get_spec(name).published.get("top1"))})
                for name in config.models]

    def analyse(self, config: Table16Config, frame: pd.DataFrame, prepared: dict, peaks):
        costs = {name: p.layers for name, p in prepared.items()}
        frame["predicted_ms"] = frame.model.map({name: peaks.floor_ms(c, FP32_BYTES) for name, c in costs.items()})
        calibration, evidence = {}, []
        for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
            if len(group) < MIN_RANKED_MODELS:
                continue
            kwargs = {"resamples": config.bootstrap_resamples, "seed": config.seed}
            latency = group[config.statistic_column].to_numpy()
            difference = paired_difference_ci(latency, group.predicted_ms.to_numpy(), group.macs.to_numpy(), **kwargs)
            by_ridge = [spearman(latency, [ridge_cost(costs[m], rp, FP32_BYTES) for m in group.model]) for rp in SWEEP]
            calibration[backend] = {
                "n_models": int(len(group)),
                "roofline": spearman_with_ci(latency, group.predicted_ms.to_numpy(), **kwargs).as_dict(),
                "macs": spearman_with_ci(latency, group.macs.to_numpy(), **kwargs).as_dict(),
                "roofline_minus_macs": dict(zip(("value", "ci_low", "ci_high"), difference, strict=True)),
                "rho_by_ridge_point": dict(zip(SWEEP, by_ridge, strict=True)),
                "best_ridge_point": SWEEP[int(np.nanargmax(by_ridge))] if np.isfinite(by_ridge).any() else None,
            }
            d = calibration[backend]["roofline_minus_macs"]
            evidence.append(("roofline_better", backend, Interval(
                d["value"], d["ci_low"], d["ci_high"], len(group),
                f"ρ roofline {calibration[backend]['roofline']['rho']:.3f} vs MACs "
                f"{calibration[backend]['macs']['rho']:.3f}; difference {d['value']:+.3f} "
                f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] over {len(group)} models")))
        ranked = frame.drop_duplicates("model")
        ranked = ranked[ranked.top1.notna()]
        sweep = [{"ridge_point": rp, "pareto_optimal": ranked.model[pareto_front(
            [ridge_cost(costs[m], rp, config.sweep_bytes_per_element) for m in ranked.model],
            ranked.top1.to_numpy())].tolist()} for rp in SWEEP]
        ridge_costs = {m: {str(rp): ridge_cost(costs[m], rp, config.sweep_bytes_per_element) for rp in self.panels()}
                       for m in ranked.model}
        return {"calibration": calibration, "sweep": sweep, "ridge_costs": ridge_costs}, evidence

    @staticmethod
    def panels() -> list[float]:
        return [0.0, *(paper.value(d["ridge_point"]) for d in devices().values())]

    def figure(self, result: Table16Result, path: Path) -> None:
        """Top: Pareto fronts at the paper's device ridge points; bottom: rho(latency, roofline) against RP here."""
        names = ["MACs only", *devices()]
        ranked = result.rows.drop_duplicates("model")
        ranked = ranked[ranked.model.isin(list(result.summary["ridge_costs"]))]
        fig = plt.figure(figsize=(4.2 * len(names), 8.4), constrained_layout=True)
        grid = fig.add_gridspec(2, len(names))
        families = list(dict.fromkeys(ranked.family))
        colours = {f: plt.get_cmap("tab10")(i) for i, f in enumerate(families)}
        for i, (label, rp) in enumerate(zip(names, self.panels(), strict=True)):
            ax = fig.add_subplot(grid[0, i])
            cost = np.array([result.summary["ridge_costs"][m][str(rp)] for m in ranked.model]) / 1e6
            front = pareto_front(cost, ranked.top1.to_numpy())
            for family in families:
                sel = (ranked.family == family).to_numpy()
                ax.scatter(cost[sel], ranked.top1[sel], color=colours[family], s=22, label=family)
            order = np.argsort(cost[front])
            ax.plot(cost[front][order], ranked.top1.to_numpy()[front][order], color="black", lw=1)
            for c, t, name in zip(cost, ranked.top1, ranked.model, strict=True):
                ax.annotate(name, (c, t), fontsize=5.5, xytext=(2, 2), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_title(f"{label}: RP = {rp:g}", fontsize=9)
            ax.set_xlabel("roofline cost (M MAC-equivalents, log)")
            ax.set_ylabel("published top-1 (%)")
        fig.axes[0].legend(fontsize=6)
        ax = fig.add_subplot(grid[1, :])
        for backend, c in result.summary["calibration"].items():
            ax.plot([float(rp) for rp in c["rho_by_ridge_point"]], list(c["rho_by_ridge_point"].values()),
                    label=f"{backend} (measured here)")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("ridge point RP (MACs/byte, fp32 bytes; symmetric log scale)")
        ax.set_ylabel("Spearman ρ(latency, roofline cost)")
        ax.set_title("Which ridge point ranks this machine's latency best (RP = 0: MACs only)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save_figure(fig, path)


EXPERIMENT = Table16()
