"""MobileNetV4 Tab. 3: what downsampling the keys and values of Mobile MQA buys Hybrid-M. Two forms of Hybrid-M —
as published (its stage-3 MQA blocks downsample keys and values with a stride-2 depthwise convolution) and with no
downsampling — counted, and timed side by side on every backend here; the latency claim is judged on its direction
with the paper's Samsung S23 ratio beside. Accuracy needs ImageNet training and is not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mobilerepro import paper
from mobilerepro.experiments._latency import (
    LatencyResult,
    ratio_claim_evidence,
    timing_profiles,
)
from mobilerepro.experiments._variants import VariantsConfig, VariantsExperiment
from mobilerepro.models import mobilenetv4 as m4

# The rows of Tab. 3, in its order, as architectures.
VARIANTS = {"no_downsampling": m4.without_kv_downsampling(m4.HYBRID_M), "kv_stride_2": m4.HYBRID_M}


def published() -> dict:
    return paper.load("mobilenetv4")["table3"]["variants"]


@dataclass(frozen=True)
class KVConfig(VariantsConfig):
    input_size: int = 256


class KVResult(LatencyResult):
    terminal_tables = ("counts", "latency")

    def counts_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records([
            {"variant": c["variant"], "params (M)": c["params"] / 1e6, "MACs (G)": c["macs"] / 1e9,
             "Tab. 3 MACs (G)": paper.cell(published()[c["variant"]]["macs_g"]),
             "Tab. 3 top-1": paper.cell(published()[c["variant"]]["top1"])} for c in self.summary["candidates"]])

    def latency_table(self) -> pd.DataFrame:
        ours = self.ok().pivot(index="variant", columns="backend", values=self.stat_column)
        ours.columns = [f"{c} here (ms)" for c in ours.columns]
        theirs = pd.DataFrame({v: {"S23 CPU (ms)": paper.cell(published()[v]["s23_cpu_ms"]),
                                   "S23 GPU (ms)": paper.cell(published()[v]["s23_gpu_ms"])} for v in ours.index}).T
        return ours.join(theirs).reindex([v for v in VARIANTS if v in ours.index]).reset_index(names="variant")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "counts": self.counts_table(), "latency": self.latency_table()}


class KVDownsampling(VariantsExperiment):
    title = "MobileNetV4 Table 3 — downsampling keys and values in Mobile MQA"
    description = "Hybrid-M with and without KV downsampling: counts, and the latency ratio here vs the Samsung S23"
    config_type = KVConfig
    result_type = KVResult
    variants = VARIANTS
    bar_label = "latency of Hybrid-M (ms)"
    profiles = timing_profiles(smoke={"input_size": 128}, quick={"rounds": 8, "runs_per_round": 4},
                               full={"input_size": 256})

    def analyse(self, config: KVConfig, frame: pd.DataFrame, prepared: dict, peaks):
        return {}, ratio_claim_evidence("kv_downsampling_faster", frame, "variant", "kv_stride_2", "no_downsampling")


EXPERIMENT = KVDownsampling()
