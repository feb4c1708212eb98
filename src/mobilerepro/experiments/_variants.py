"""Template of the chapters that time a few forms of one MobileNetV4 architecture table side by side (Tab. 2's MQA
ablation, Tab. 3's key/value downsampling): the forms are data (`variants`, name -> `MobileNetV4Spec`, in the paper's
row order), built without weights at one input size, timed in one interleaved run, and drawn as bars per form and
backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mobilerepro import MobileReproError
from mobilerepro.experiments._latency import Candidate, LatencyConfig, LatencyExperiment, LatencyResult
from mobilerepro.report import save_figure


@dataclass(frozen=True)
class VariantsConfig(LatencyConfig):
    input_size: int = 224


def variant_bars(result: LatencyResult, key: str, variants: list[str], ylabel: str, path: Path) -> None:
    """The chapter's figure when it times a few forms of one network: a bar per form and backend (the chosen
    statistic), whiskers from p10 to p90."""
    ok = result.ok()
    backends = list(dict.fromkeys(ok.backend))
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    width = 0.8 / len(variants)
    for i, variant in enumerate(variants):
        rows = ok[ok[key] == variant].set_index("backend").reindex(backends)
        value = rows[result.stat_column]
        error = np.vstack([(value - rows.p10_ms).clip(lower=0), (rows.p90_ms - value).clip(lower=0)])
        ax.bar(np.arange(len(backends)) - 0.4 + width * (i + 0.5), value, width, yerr=error, capsize=3,
               label=variant.replace("_", " "))
    ax.set_xticks(np.arange(len(backends)), backends)
    ax.set_ylabel(f"{result.statistic} {ylabel}; whiskers p10-p90")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


class VariantsExperiment(LatencyExperiment):
    config_type = VariantsConfig
    variants: dict = {}
    bar_label = "latency (ms)"  # what the figure's y axis shows, after the statistic

    def validate(self, config: VariantsConfig) -> VariantsConfig:
        if config.input_size % 32:
            raise MobileReproError(f"input_size must be a multiple of 32 (five stride-2 stages), got "
                                   f"{config.input_size}")
        return super().validate(config)

    def candidates(self, config: VariantsConfig) -> list[Candidate]:
        import torch

        from mobilerepro.models.mobilenetv4 import MobileNetV4

        def build(spec):
            torch.manual_seed(config.seed)
            return MobileNetV4(spec).eval()

        size = (3, config.input_size, config.input_size)
        return [Candidate({"variant": name}, lambda spec=spec: build(spec), size)
                for name, spec in self.variants.items()]

    def figure(self, result: LatencyResult, path: Path) -> None:
        variant_bars(result, "variant", list(self.variants), self.bar_label, path)
