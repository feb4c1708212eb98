"""MobileNetV4 Tab. 16 and the ridge-point sweep: the roofline model as a latency predictor.

(a) Sweep. For ridge points RP from 0 (MACs only) to 500 MACs/byte, every zoo model with a published top-1 gets a
roofline cost (INT8: 1 byte per element, the paper's natural reading), and the latency-vs-accuracy Pareto front is
recomputed — the paper's Figs. 7-9: which models are Pareto-optimal on hardware of each balance.

(b) Calibration on this machine (the analog of Tab. 16). PeakMACs (a large fp32 matmul) and PeakMemBW (a large
copy) are measured once, every model's latency is predicted with the roofline (fp32: 4 bytes per element) and
measured on every backend; Spearman's rho of measured latency with the prediction and with plain MACs, each with a
bootstrap CI, and their paired difference, judge the paper's claim that the roofline ranks latency better.
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
from mobilerepro.measure.roofline import layer_costs, measure_peaks, model_time, pareto_front, ridge_cost
from mobilerepro.measure.stats import paired_difference_ci, spearman, spearman_with_ci
from mobilerepro.models import zoo
from mobilerepro.profiles import profile_settings
from mobilerepro.reparam import reparameterize_model
from mobilerepro.report import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    Verdict,
    positive,
    save_figure,
    terminal_table,
    verdict_lines,
)
from mobilerepro.results import default_output_dir, ensure_writable

EXPERIMENT = "mnv4_table16"
FILES = result_files(EXPERIMENT)
# Fine below 10 MACs/byte (where fp32 CPUs sit), then every 10 up to the paper's accelerators (~430).
SWEEP = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, *(float(rp) for rp in range(10, 501, 10)))
FP32_BYTES = 4


@dataclass(frozen=True)
class Table16Config:
    profile: str
    models: list[str]
    measurement: MeasurementSettings
    sweep_bytes_per_element: float = 1.0
    bootstrap_resamples: int = 2000

    def as_dict(self) -> dict:
        return asdict(self)


def models_with_published_top1() -> list[str]:
    return [name for name in zoo.model_names() if paper.value(zoo.get_spec(name).published.get("top1"))]


def configure(profile: str = "quick", *, models: list[str] | None = None, sweep_bytes_per_element: float = 1.0,
              bootstrap_resamples: int | None = None, **measurement) -> Table16Config:
    settings = profile_settings(EXPERIMENT, profile)
    models = [zoo.get_spec(name).name for name in (models or settings["models"] or models_with_published_top1())]
    if len(models) < 3:
        raise MobileReproError(f"Tab. 16 needs at least 3 models for a rank correlation, got {len(models)}")
    return Table16Config(profile, models, resolve_measurement(settings, **measurement), sweep_bytes_per_element,
                         bootstrap_resamples or settings["bootstrap_resamples"])


def run(config: Table16Config, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    directory = ensure_writable(output_dir or default_output_dir(EXPERIMENT, config.profile))
    plan = config.measurement.plan
    peaks = measure_peaks(threads=plan.threads)
    models, costs, rows = {}, {}, []
    for name in tqdm(config.models, desc="building + per-layer costs", unit="model", disable=not progress):
        spec = zoo.get_spec(name)
        model = reparameterize_model(zoo.build_model(name, seed=config.measurement.seed))
        costs[name] = layer_costs(model, spec.input_size)
        models[name] = (model, spec.input_size)
        rows.append({
            "model": name, "family": spec.family, "top1": paper.value(spec.published.get("top1")),
            "macs": sum(layer.macs for layer in costs[name]),
            "predicted_ms": 1e3 * model_time(costs[name], peaks.peak_macs, peaks.peak_bandwidth, FP32_BYTES),
        })
    frame = pd.DataFrame(rows)
    measurements = measure(models, config.measurement, progress=progress)
    stat = f"{config.measurement.latency_statistic}_ms"
    latency = pd.DataFrame([{"model": m.model, **m.record(config.measurement.max_relative_iqr)} for m in measurements])
    frame = latency.merge(frame, on="model")
    if not (frame.status == "ok").any():
        raise MobileReproError(f"nothing could be timed on any backend; see the 'reason' column of {FILES['rows']}")
    calibration = _calibration(frame, costs, stat, config)
    sweep = _sweep(frame.drop_duplicates("model"), costs, config.sweep_bytes_per_element)
    write_result(directory, FILES, frame, {
        **latency_summary_header(EXPERIMENT, paper.load("mobilenetv4")["table16"]["title"], config),
        "peaks": {**asdict(peaks), "ridge_point_fp32": peaks.ridge_point},
        "calibration": calibration,
        "sweep": sweep,
        "verdicts": [v.as_dict() for v in _verdicts(calibration)],
    })
    _figure(frame.drop_duplicates("model"), costs, calibration, config.sweep_bytes_per_element,
            directory / FILES["figure"])
    return directory


def _calibration(frame: pd.DataFrame, costs: dict, stat: str, config: Table16Config) -> dict:
    result = {}
    for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
        if len(group) < 3:
            continue
        kwargs = {"resamples": config.bootstrap_resamples, "seed": config.measurement.seed}
        latency = group[stat].to_numpy()
        roofline = spearman_with_ci(latency, group.predicted_ms.to_numpy(), **kwargs)
        macs = spearman_with_ci(latency, group.macs.to_numpy(), **kwargs)
        difference = paired_difference_ci(latency, group.predicted_ms.to_numpy(), group.macs.to_numpy(), **kwargs)
        by_ridge = [spearman(latency, [ridge_cost(costs[m], rp, FP32_BYTES) for m in group.model]) for rp in SWEEP]
        result[backend] = {
            "n_models": int(len(group)),
            "roofline": roofline.as_dict(),
            "macs": macs.as_dict(),
            "roofline_minus_macs": dict(zip(("value", "ci_low", "ci_high"), difference, strict=True)),
            "rho_by_ridge_point": dict(zip(SWEEP, by_ridge, strict=True)),
            "best_ridge_point": SWEEP[int(np.nanargmax(by_ridge))],
        }
    return result


def _sweep(models: pd.DataFrame, costs: dict, bytes_per_element: float) -> list[dict]:
    """Pareto-optimal models (roofline cost vs published top-1) at each ridge point."""
    ranked = models[models.top1.notna()]
    result = []
    for rp in SWEEP:
        cost = [ridge_cost(costs[m], rp, bytes_per_element) for m in ranked.model]
        optimal = ranked.model[pareto_front(cost, ranked.top1.to_numpy())].tolist()
        result.append({"ridge_point": rp, "pareto_optimal": optimal})
    return result


def _verdicts(calibration: dict) -> list[Verdict]:
    claim = paper.load("mobilenetv4")["table16"]["claims"]["roofline_better"]
    verdicts = []
    for backend, c in calibration.items():
        d = c["roofline_minus_macs"]
        verdicts.append(Verdict(
            "roofline_better", claim["text"], claim["provenance"], backend,
            f"ρ roofline {c['roofline']['rho']:.3f} vs MACs {c['macs']['rho']:.3f}; difference {d['value']:+.3f} "
            f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]",
            positive(d["ci_low"], d["ci_high"]),
        ))
    return verdicts


def _figure(models: pd.DataFrame, costs: dict, calibration: dict, bytes_per_element: float, path: Path) -> Path:
    """Top: Pareto fronts at the paper's device ridge points; bottom: rho(latency, roofline) against RP here."""
    devices = paper.load("mobilenetv4")["table16"]["devices"]
    panels = [("MACs only", 0.0)] + [(name, paper.value(d["ridge_point"])) for name, d in devices.items()]
    ranked = models[models.top1.notna()]
    fig = plt.figure(figsize=(4.2 * len(panels), 8.4), constrained_layout=True)
    grid = fig.add_gridspec(2, len(panels))
    families = list(dict.fromkeys(ranked.family))
    colours = {f: plt.get_cmap("tab10")(i) for i, f in enumerate(families)}
    for i, (label, rp) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        cost = np.array([ridge_cost(costs[m], rp, bytes_per_element) for m in ranked.model]) / 1e6
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
    for backend, c in calibration.items():
        rps = [float(rp) for rp in c["rho_by_ridge_point"]]
        ax.plot(rps, list(c["rho_by_ridge_point"].values()), label=f"{backend} (measured here)")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("ridge point RP (MACs/byte, fp32 bytes; symmetric log scale)")
    ax.set_ylabel("Spearman ρ(latency, roofline cost)")
    ax.set_title("Which ridge point ranks this machine's latency best (RP = 0: MACs only)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


class Table16Result(ExperimentResult):
    files = FILES

    def calibration_table(self) -> pd.DataFrame:
        devices = paper.load("mobilenetv4")["table16"]["devices"]
        records = [
            {"where": f"paper: {name}", "ridge point": paper.value(d["ridge_point"]),
             "ρ roofline": paper.value(d["rho_roofline"]), "ρ MACs": paper.value(d["rho_macs"])}
            for name, d in devices.items()
        ]
        peaks = self.summary["peaks"]
        for backend, c in self.summary["calibration"].items():
            records.append({
                "where": f"here: {backend} ({c['n_models']} models)",
                "ridge point": round(peaks["ridge_point_fp32"], 2),
                "ρ roofline": "{rho:.3f} [{ci_low:.2f}, {ci_high:.2f}]".format(**c["roofline"]),
                "ρ MACs": "{rho:.3f} [{ci_low:.2f}, {ci_high:.2f}]".format(**c["macs"]),
                "best RP here": c["best_ridge_point"],
            })
        return pd.DataFrame.from_records(records).fillna("")

    def pareto_table(self, ridge_points=(0.0, 2.0, 10.0, 30.0, 40.0, 100.0, 200.0, 350.0, 430.0, 500.0)
                     ) -> pd.DataFrame:
        rows = [s for s in self.summary["sweep"] if s["ridge_point"] in ridge_points]
        return pd.DataFrame([{"ridge point": s["ridge_point"], "Pareto-optimal (cost vs top-1)":
                              ", ".join(s["pareto_optimal"])} for s in rows])

    def summary_html(self) -> str:
        peaks = self.summary["peaks"]
        numbers = [
            f"this machine ({peaks['threads']} thread): PeakMACs {peaks['peak_macs'] / 1e9:.1f} GMAC/s, PeakMemBW "
            f"{peaks['peak_bandwidth'] / 1e9:.1f} GB/s, ridge point {peaks['ridge_point_fp32']:.2f} MACs/byte (fp32)",
        ]
        for backend, c in self.summary["calibration"].items():
            numbers.append(f"{backend}: ρ(latency, roofline) {c['roofline']['rho']:.3f}, ρ(latency, MACs) "
                           f"{c['macs']['rho']:.3f}; best-ranking RP here {c['best_ridge_point']:g}")
        return self.summary_box("MobileNetV4 Table 16 on this machine", numbers)

    def terminal_report(self) -> str:
        return "\n".join([
            f"MobileNetV4 Table 16 — roofline vs MACs as latency predictors (profile {self.summary['profile']})",
            "", terminal_table(self.calibration_table()), "", terminal_table(self.pareto_table()), "",
            "Paper's claims vs this machine:", *verdict_lines(self.verdicts()), "",
            f"environment: {self.environment_line()}",
        ])


def load(directory: str | Path) -> Table16Result:
    return Table16Result.load(directory)


__all__ = ["FILES", "HELD", "INCONCLUSIVE", "NOT_HELD", "configure", "load", "run"]
