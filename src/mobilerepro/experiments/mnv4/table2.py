"""MobileNetV4 Tab. 2: the MQA ablation — Conv-L, Conv-L + 3 MHSA and Conv-L + 3 Mobile MQA blocks in the last stage.

Params and MACs next to the paper's, latency of the three on every backend here in one interleaved run, and the
incremental cost of attention, (MQA - base) / (MHSA - base), next to the same ratio computed from the paper's
devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mobilerepro import paper
from mobilerepro.experiments._latency import (
    LatencyResult,
    spread_evidence,
    timing_profiles,
)
from mobilerepro.experiments._variants import VariantsConfig, VariantsExperiment
from mobilerepro.models import mobilenetv4 as m4

VARIANTS = {
    "base": m4.CONV_L,
    "mhsa": m4.with_attention(m4.CONV_L, m4.MHSA(8, 64, 512)),
    "mqa": m4.with_attention(m4.CONV_L, m4.MQA(8, 64, 1, 512)),
}


def increment_ratio(base: float, mhsa: float, mqa: float) -> float:
    """(MQA - base) / (MHSA - base): the share of MHSA's added latency that MQA costs."""
    return (mqa - base) / (mhsa - base)


def published() -> dict:
    return paper.load("mobilenetv4")["table2"]["variants"]


@dataclass(frozen=True)
class MQAConfig(VariantsConfig):
    input_size: int = 384


class MQAResult(LatencyResult):
    terminal_tables = ("counts", "increments")

    def counts_table(self) -> pd.DataFrame:
        records = []
        for c in self.summary["candidates"]:
            row = published()[c["variant"]]
            records.append({"variant": c["variant"], "params (M)": c["params"] / 1e6,
                            "paper params (M)": paper.cell(row["params_m"]), "MACs (G)": c["macs"] / 1e9,
                            "paper MACs (G)": paper.cell(row["macs_g"]), "paper top-1": paper.cell(row["top1"])})
        return pd.DataFrame.from_records(records)

    def increments_table(self) -> pd.DataFrame:
        records = [{"where": f"here: {b}", "base (ms)": i["base_ms"], "+MHSA (ms)": i["mhsa_increment_ms"],
                    "+MQA (ms)": i["mqa_increment_ms"], "MQA / MHSA increment": i["ratio"]}
                   for b, i in self.summary["increments"].items()]
        records += [{"where": f"paper: {d}", "MQA / MHSA increment": r}
                    for d, r in self.summary["paper_increment_ratio"].items()]
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "counts": self.counts_table(), "increments": self.increments_table()}

    def summary_numbers(self) -> list[str]:
        return [f"{row['variant']}: {row['params (M)']:.2f} M params, {row['MACs (G)']:.2f} G MACs at "
                f"{self.summary['parameters']['input_size']} px" for row in self.counts_table().to_dict("records")]


class MQATable(VariantsExperiment):
    title = "MobileNetV4 Table 2 — what Mobile MQA saves over multi-head attention"
    description = "MQA ablation: Conv-L + 3 MHSA vs + 3 Mobile MQA, counts and latency increments"
    config_type = MQAConfig
    result_type = MQAResult
    variants = VARIANTS
    profiles = timing_profiles(smoke={"input_size": 128}, quick={"rounds": 8, "runs_per_round": 4, "input_size": 384},
                               full={"input_size": 384})

    def analyse(self, config: MQAConfig, frame: pd.DataFrame, prepared: dict, peaks):
        increments, evidence = {}, []
        for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
            t = group.set_index("variant")[config.statistic_column]
            if set(VARIANTS) <= set(t.index):
                increments[backend] = {"base_ms": t["base"], "mhsa_increment_ms": t["mhsa"] - t["base"],
                                       "mqa_increment_ms": t["mqa"] - t["base"],
                                       "ratio": increment_ratio(t["base"], t["mhsa"], t["mqa"])}
                evidence.append(("cheaper_increment", backend, spread_evidence(frame, backend, "variant", "mqa",
                                                                               "mhsa")))
        devices = published()["base"]["latency_ms"]
        paper_increments = {device: increment_ratio(*(paper.value(published()[v]["latency_ms"][device])
                                                      for v in ("base", "mhsa", "mqa"))) for device in devices}
        return {"increments": increments, "paper_increment_ratio": paper_increments}, evidence


EXPERIMENT = MQATable()
