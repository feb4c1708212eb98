"""MobileNetV4 Tab. 3: what downsampling the keys and values of Mobile MQA buys Hybrid-M. Two forms of Hybrid-M —
as published (its stage-3 MQA blocks downsample keys and values with a stride-2 depthwise convolution) and with no
downsampling — counted, and timed side by side on every backend here; the latency claim is judged on its direction
with the paper's Samsung S23 ratio beside. Accuracy needs ImageNet training and is not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import (
    Candidate,
    LatencyConfig,
    LatencyExperiment,
    LatencyResult,
    ratio_claim_evidence,
    timing_profiles,
    variant_bars,
)
from mobilerepro.models import mobilenetv4 as m4

# The rows of Tab. 3, in its order, as architectures.
VARIANTS = {"no_downsampling": m4.without_kv_downsampling(m4.HYBRID_M), "kv_stride_2": m4.HYBRID_M}


def published() -> dict:
    return paper.load("mobilenetv4")["table3"]["variants"]


@dataclass(frozen=True)
class KVConfig(LatencyConfig):
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


class KVDownsampling(LatencyExperiment):
    title = "MobileNetV4 Table 3 — downsampling keys and values in Mobile MQA"
    description = "Hybrid-M with and without KV downsampling: counts, and the latency ratio here vs the Samsung S23"
    config_type = KVConfig
    result_type = KVResult
    profiles = timing_profiles(smoke={"input_size": 128}, quick={"rounds": 8, "runs_per_round": 4},
                               full={"input_size": 256})

    def validate(self, config: KVConfig) -> KVConfig:
        if config.input_size % 32:
            raise MobileReproError(f"input_size must be a multiple of 32 (five stride-2 stages), got "
                                   f"{config.input_size}")
        return super().validate(config)

    def candidates(self, config: KVConfig) -> list[Candidate]:
        import torch

        def build(spec):
            torch.manual_seed(config.seed)
            return m4.MobileNetV4(spec).eval()

        size = (3, config.input_size, config.input_size)
        return [Candidate({"variant": name}, lambda spec=spec: build(spec), size) for name, spec in VARIANTS.items()]

    def analyse(self, config: KVConfig, frame: pd.DataFrame, prepared: dict, peaks):
        return {}, ratio_claim_evidence("kv_downsampling_faster", frame, "variant", "kv_stride_2", "no_downsampling")

    def figure(self, result: KVResult, path: Path) -> None:
        variant_bars(result, "variant", list(VARIANTS), "latency of Hybrid-M (ms)", path)


EXPERIMENT = KVDownsampling()
