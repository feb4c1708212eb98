"""MobileNetV4 Tab. 2: the MQA ablation — Conv-L, Conv-L + 3 MHSA and Conv-L + 3 Mobile MQA blocks in the last stage.

Params and MACs against the paper's, latency of the three on every backend here in one interleaved run, and the
incremental cost of attention: (MQA - base) / (MHSA - base), next to the paper's (Pixel 8 EdgeTPU: 0.25 / 0.41 ms,
the "39 %" saving).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

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
from mobilerepro.models import mobilenetv4 as m4
from mobilerepro.profiles import profile_settings
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD, Verdict, terminal_table, verdict_lines
from mobilerepro.results import default_output_dir, ensure_writable

EXPERIMENT = "mnv4_table2"
FILES = result_files(EXPERIMENT)
VARIANTS = {
    "base": m4.CONV_L,
    "mhsa": m4.with_attention(m4.CONV_L, m4.MHSA(8, 64, 512)),
    "mqa": m4.with_attention(m4.CONV_L, m4.MQA(8, 64, 1, 512)),
}
PAPER_DEVICES = ("pixel7_edgetpu", "pixel8_edgetpu", "s23_gpu")


@dataclass(frozen=True)
class Table2Config:
    profile: str
    input_size: int
    measurement: MeasurementSettings

    def as_dict(self) -> dict:
        return asdict(self)


def configure(profile: str = "quick", *, input_size: int | None = None, **measurement) -> Table2Config:
    settings = profile_settings(EXPERIMENT, profile)
    size = input_size or settings["input_size"]
    if size % 32:
        raise MobileReproError(f"input_size must be a multiple of 32 (five stride-2 stages), got {size}")
    return Table2Config(profile, size, resolve_measurement(settings, **measurement))


def increment_ratio(base: float, mhsa: float, mqa: float) -> float:
    """(MQA - base) / (MHSA - base): the share of MHSA's added latency that MQA costs."""
    return (mqa - base) / (mhsa - base)


def run(config: Table2Config, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    import torch

    directory = ensure_writable(output_dir or default_output_dir(EXPERIMENT, config.profile))
    published = paper.load("mobilenetv4")["table2"]["variants"]
    size = (3, config.input_size, config.input_size)
    models, counts = {}, []
    for name, spec in VARIANTS.items():
        torch.manual_seed(config.measurement.seed)
        model = m4.MobileNetV4(spec).eval()
        measured = measure_complexity(model, size)
        counts.append({"variant": name, "params_m": measured.params_m,
                       "paper_params_m": paper.value(published[name]["params_m"]), "macs_g": measured.macs_m / 1000,
                       "paper_macs_g": paper.value(published[name]["macs_g"]),
                       "paper_top1": paper.value(published[name]["top1"])})
        models[name] = (model, size)
    measurements = measure(models, config.measurement, progress=progress)
    frame = pd.DataFrame([{"variant": m.model, **m.record(config.measurement.max_relative_iqr)} for m in measurements])
    if not (frame.status == "ok").any():
        raise MobileReproError(f"nothing could be timed on any backend; see the 'reason' column of {FILES['rows']}")
    stat = f"{config.measurement.latency_statistic}_ms"
    increments = {}
    for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
        rows = group.set_index("variant")
        t = rows[stat]
        if set(VARIANTS) <= set(t.index):
            increments[backend] = {"base_ms": t["base"], "mhsa_increment_ms": t["mhsa"] - t["base"],
                                   "mqa_increment_ms": t["mqa"] - t["base"],
                                   "ratio": increment_ratio(t["base"], t["mhsa"], t["mqa"]),
                                   "mqa_faster": _clearly_faster(rows.loc["mqa"], rows.loc["mhsa"])}
    paper_increments = {
        device: increment_ratio(*(paper.value(published[v]["latency_ms"][device]) for v in ("base", "mhsa", "mqa")))
        for device in PAPER_DEVICES
    }
    claim = paper.load("mobilenetv4")["table2"]["claims"]["cheaper_increment"]
    verdicts = [
        Verdict("cheaper_increment", claim["text"], claim["provenance"], backend,
                f"MQA adds {i['mqa_increment_ms']:.1f} ms, MHSA {i['mhsa_increment_ms']:.1f} ms (ratio "
                f"{i['ratio']:.2f}; paper Pixel 8 {paper_increments['pixel8_edgetpu']:.2f})",
                i["mqa_faster"])
        for backend, i in increments.items()
    ]
    write_result(directory, FILES, frame, {
        **latency_summary_header(EXPERIMENT, paper.load("mobilenetv4")["table2"]["title"], config),
        "counts": counts, "increments": increments, "paper_increment_ratio": paper_increments,
        "verdicts": [v.as_dict() for v in verdicts],
    })
    _figure(frame, stat, directory / FILES["figure"])
    return directory


def _clearly_faster(candidate, reference) -> str:
    """Held when the candidate's p90 is below the reference's p10; did not hold when its p10 is above the
    reference's p90; otherwise the spread of this machine cannot tell them apart."""
    if candidate.p90_ms < reference.p10_ms:
        return HELD
    if candidate.p10_ms > reference.p90_ms:
        return NOT_HELD
    return INCONCLUSIVE


def _figure(frame: pd.DataFrame, stat: str, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    from mobilerepro.report import save_figure

    ok = frame[frame.status == "ok"]
    backends = list(dict.fromkeys(ok.backend))
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    width = 0.8 / len(VARIANTS)
    for i, variant in enumerate(VARIANTS):
        rows = ok[ok.variant == variant].set_index("backend").reindex(backends)
        ax.bar(np.arange(len(backends)) - 0.4 + width * (i + 0.5), rows[stat], width, label=variant)
    ax.set_xticks(np.arange(len(backends)), backends)
    ax.set_ylabel(f"{stat.removesuffix('_ms')} latency (ms)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


class Table2Result(ExperimentResult):
    files = FILES

    def counts_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["counts"]).rename(columns={
            "params_m": "params (M)", "paper_params_m": "paper params (M)", "macs_g": "MACs (G)",
            "paper_macs_g": "paper MACs (G)", "paper_top1": "paper top-1"})

    def increments_table(self) -> pd.DataFrame:
        records = [{"where": f"here: {b}", "base (ms)": i["base_ms"], "+MHSA (ms)": i["mhsa_increment_ms"],
                    "+MQA (ms)": i["mqa_increment_ms"], "MQA / MHSA increment": i["ratio"]}
                   for b, i in self.summary["increments"].items()]
        records += [{"where": f"paper: {d}", "MQA / MHSA increment": r}
                    for d, r in self.summary["paper_increment_ratio"].items()]
        return pd.DataFrame.from_records(records)

    def summary_html(self) -> str:
        numbers = [f"{row['variant']}: {row['params_m']:.2f} M params, {row['macs_g']:.2f} G MACs (paper "
                   f"{row['paper_params_m']} M, {row['paper_macs_g']} G)" for row in self.summary["counts"]]
        return self.summary_box("MobileNetV4 Table 2 (MQA ablation) on this machine", numbers)

    def terminal_report(self) -> str:
        return "\n".join([
            f"MobileNetV4 Table 2 — Conv-L + 3 MHSA vs + 3 MQA (profile {self.summary['profile']})", "",
            terminal_table(self.counts_table(), "{:.4g}"), "", terminal_table(self.increments_table(), "{:.3g}"),
            "", "Paper's claims vs this machine:", *verdict_lines(self.verdicts()), "",
            f"environment: {self.environment_line()}",
        ])


def load(directory: str | Path) -> Table2Result:
    return Table2Result.load(directory)
