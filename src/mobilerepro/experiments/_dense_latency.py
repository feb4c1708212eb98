"""The dense-prediction template: a detector or segmenter of a paper's table, built through mmdet / mmseg on each
backbone, counted (params and MACs of backbone, neck and head at the paper's input size) and timed on every backend
with the latency template's protocol, and exported to Core ML with its op census. What is timed on every backend is
the network up to its raw outputs; decoding, NMS and the upsampling to the image are post-processing, timed apart
with the same plan as mmdet / mmseg run it in PyTorch (`POST_PROCESSING` column; `networks.PostProcessing` says
on which inputs).

A chapter is its networks (`network_config`), its published rows and its evidence (`judge`). The claims about
accuracy need the full datasets and the papers' schedules: with `train_full_scale` (the `full` profile, `DATA=` a
root holding COCO / VOC aug / ADE20K in the packages' layouts, `gpus` processes under torchrun) every backbone is
trained over `seeds` with its paper's schedule (`dense.full_scale`, resumable) and those claims are judged on the
held-out scores (`judge_scores`); otherwise they are recorded as not testable here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import Candidate, LatencyConfig, LatencyExperiment, LatencyResult
from mobilerepro.measure.stats import mean_with_ci, t_test_p
from mobilerepro.report import save_figure
from mobilerepro.verdicts import Interval, NotTestable

PARTS = ("backbone", "neck", "head")
POST_PROCESSING = "torch post-processing"


@dataclass(frozen=True)
class DenseConfig(LatencyConfig):
    backbones: list[str] | None = None
    input_size: int = 320
    coreml_export: bool = True
    train_full_scale: bool = False
    seeds: list[int] | None = None
    backbone_checkpoints: dict[str, str] | None = None  # full scale: each backbone's ImageNet weights
    from_scratch: bool = False
    gpus: int = 1


def gain_interval(ours: list[float], reference: float | list[float], label: str) -> Interval:
    """Relative gain of our scores (one per seed) over a published score, or over a reference backbone's scores paired
    by seed, with a t interval over seeds."""
    references = reference if isinstance(reference, list) else [reference] * len(ours)
    gains = [mine / theirs - 1 for mine, theirs in zip(ours, references, strict=True)]
    mean, low, high = mean_with_ci(gains)
    p_value = t_test_p(gains)
    return Interval(mean, low, high, len(gains), f"{label}: {mean:+.1%} relative over {len(gains)} seed(s)",
                    p_value if np.isfinite(p_value) else None)


def best_mobileone(scores: dict[str, list[float]]) -> str | None:
    """Tab. 11's "best MobileOne", fixed before any run (`mobileone.yaml` table11_best_variant, a choice: the paper
    does not say which; picking the highest score after seeing the runs would bias every gain upwards); None when it
    was not trained."""
    best = paper.value(paper.load("mobileone")["table11_best_variant"])
    return best if best in scores else None


# Why a gain over a baseline published from another pipeline is not judged.
OTHER_PIPELINE = ("{label} is not trained in this run (it is no OpenMMLab backbone here): its published score comes "
                  "from another pipeline (ml-cvnets), and a gain over it would mix pipelines; only backbones trained "
                  "in the same run, paired by seed, are compared")


class DenseResult(LatencyResult):
    # This family's standard sections (see `Result.sections`).
    sections = {
        "counts": ("Parameters and MACs: backbone, neck, head",
            "Our convention (conv, linear and attention MACs at batch 1), inference form of the backbone."),
        "published": ("Published numbers",
            "From `src/mobilerepro/paper/`, footnoted with their provenance."),
        "latency": ("Latency here",
            "The network up to its raw outputs on every backend; the post-processing column is mmdet's / mmseg's "
            "decoding, NMS or upsampling and argmax run in PyTorch on fixed raw outputs, timed with the same plan "
            "(for detectors at the bound of the config's `test_cfg`: up to `nms_pre` candidates per level reach "
            "NMS)."),
        "full_scale": ("Full-scale training",
            "With the `full` profile and `DATA=` a root holding the dataset in the packages' layout, every "
            "backbone is trained with the paper's schedule (`src/mobilerepro/dense/full_scale.py` says which "
            "settings are the paper's and which are our choice), resumably, on `gpus` processes; the accuracy "
            "claims are then judged on these held-out scores. Empty at the other profiles."),
        "coreml": ("Core ML export and op census",
            "Each whole network (without post-processing) converted to a Core ML ML program (fp16, iOS 16): its "
            "operation count and the most frequent operations. Core ML converts on any OS; timing it needs macOS, "
            "so that column is a recorded skip elsewhere."),
    }

    terminal_tables = ("counts", "latency")

    def counts_table(self) -> pd.DataFrame:
        records = []
        for name, counts in self.summary["counts"].items():
            row = {"backbone": name, "params (M)": counts["params"] / 1e6, "MACs (G)": counts["macs"] / 1e9}
            for part in PARTS:
                row[f"{part} params (M)"] = counts[f"{part}_params"] / 1e6
                row[f"{part} MACs (G)"] = counts[f"{part}_macs"] / 1e9
            if counts.get("auxiliary_params"):
                row["auxiliary head params (M), training only"] = counts["auxiliary_params"] / 1e6
            records.append(row)
        return pd.DataFrame.from_records(records)

    def latency_table(self) -> pd.DataFrame:
        ok = self.ok()
        if ok.empty:
            return ok
        wide = ok.pivot_table(index="backbone", columns="backend", values=self.stat_column, sort=False)
        wide.columns = [f"{backend} ({self.statistic}, ms)" for backend in wide.columns]
        fraction = ok.pivot_table(index="backbone", columns="backend", values="fraction_of_roofline", sort=False)
        fraction.columns = [f"{backend}: fraction of roofline" for backend in fraction.columns]
        return wide.join(fraction).reset_index()

    def full_scale_table(self) -> pd.DataFrame:
        """Held-out score per backbone over the seeds of the full-scale runs (empty unless `train_full_scale`)."""
        full = self.summary.get("full_scale")
        if not full:
            return pd.DataFrame(columns=["backbone", "schedule", "seeds", "held-out score (%)", "95 % CI low",
                                         "95 % CI high"])
        records = []
        for backbone, values in full["scores"].items():
            mean, low, high = mean_with_ci(values)
            records.append({"backbone": backbone, "schedule": full["schedule"], "seeds": len(values),
                            "held-out score (%)": mean, "95 % CI low": low, "95 % CI high": high})
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "counts": self.counts_table(), "latency": self.latency_table(),
                "coreml": self.coreml_table(), "full_scale": self.full_scale_table(),
                **self.experiment.published_tables(self)}

    def summary_numbers(self) -> list[str]:
        size = self.summary["parameters"]["input_size"]
        return [f"{row['backbone']}: {row['params (M)']:.2f} M params, {row['MACs (G)']:.2f} G MACs at {size} px "
                f"(backbone {row['backbone MACs (G)']:.2f} G)" for row in self.counts_table().to_dict("records")]


class DenseExperiment(LatencyExperiment):
    needs_dense_stack = True
    config_type = DenseConfig
    result_type = DenseResult
    network = ""  # what is built on every backbone, in words

    def network_config(self, config: DenseConfig, backbone: str):
        raise NotImplementedError

    def judge(self, config: DenseConfig, counts: dict[str, dict], frame: pd.DataFrame) -> list:
        """Evidence on the chapter's claims; by default every accuracy claim is not testable at this scale."""
        return [(name, "all backbones", NotTestable(self.not_testable_reason(config)))
                for name in self.claims]

    def not_testable_reason(self, config: DenseConfig) -> str:
        return ("needs the full dataset and the paper's training schedule on GPUs (PROFILE=full DATA=..., see "
                "'Full-scale training'); at this profile the chapter counts and times the networks only")

    def published_tables(self, result: DenseResult) -> dict[str, pd.DataFrame]:
        return {}

    # Full scale ------------------------------------------------------------------------------------------------------
    def full_schedule(self, config: DenseConfig) -> str:
        """The `dense.full_scale` schedule this chapter's networks are trained with."""
        raise NotImplementedError

    def judge_scores(self, config: DenseConfig, scores: dict[str, list[float]]) -> list:
        """Evidence on the accuracy claims from the held-out scores per backbone (one per seed, in percent)."""
        return []

    def validate(self, config: DenseConfig) -> DenseConfig:
        from mobilerepro import stack

        stack.require()
        if not config.backbones:
            raise MobileReproError("at least one backbone is needed")
        if config.train_full_scale and (not config.seeds or config.gpus < 1):
            raise MobileReproError("full-scale training needs at least one seed and one GPU (gpus >= 1)")
        return super().validate(config)

    def check_full_scale(self, config: DenseConfig) -> None:
        """Before any work: the dataset's layout, and ImageNet weights for every backbone (unless from scratch)."""
        from mobilerepro.data import data_root
        from mobilerepro.dense import full_scale

        full_scale.check_layout(full_scale.SCHEDULES[self.full_schedule(config)].dataset, data_root())
        missing = [b for b in config.backbones if b not in (config.backbone_checkpoints or {})]
        if not config.from_scratch and missing:
            raise MobileReproError(
                "the full profile fine-tunes ImageNet backbones, as the papers do: no weights for "
                f"{', '.join(missing)} (-p backbone_checkpoints '{{name: /path/to/weights, ...}}': ours, timm's or "
                "mmpretrain's state dict; or -p from_scratch true)")

    def measure(self, config: DenseConfig, directory: Path, progress: bool):
        if config.train_full_scale:  # a missing dataset or backbone weights stop the run before any work
            self.check_full_scale(config)
        outcome = super().measure(config, directory, progress)
        if config.train_full_scale:
            scores = self.train_full_scale(config, progress)
            judged = self.judge_scores(config, scores)
            names = {name for name, _, _ in judged}
            outcome.evidence = [e for e in outcome.evidence if e[0] not in names] + judged
            outcome.summary["full_scale"] = {"schedule": self.full_schedule(config), "scores": scores}
        return outcome

    def train_full_scale(self, config: DenseConfig, progress: bool) -> dict[str, list[float]]:
        """Held-out score (percent) of every backbone and seed, each run in its own resumable folder."""
        from mobilerepro.data import data_root
        from mobilerepro.dense import full_scale
        from mobilerepro.results import file_sha256, results_root

        name = self.full_schedule(config)
        schedule = full_scale.SCHEDULES[name]
        options = {"output_stride": getattr(config, "output_stride", 8)}
        scores = {}
        for backbone in config.backbones:
            checkpoint = None if config.from_scratch else config.backbone_checkpoints[backbone]
            start = "scratch" if checkpoint is None else f"from-{file_sha256(checkpoint)[:12]}"
            for seed in config.seeds:
                folder = (results_root() / "dense_full_scale" / name
                          / f"{backbone}-os{options['output_stride']}-{start}-{seed}")
                metrics = full_scale.run(name, backbone, data_root(), folder, seed, gpus=config.gpus,
                                         progress=progress, backbone_checkpoint=checkpoint, **options)
                scores.setdefault(backbone, []).append(full_scale.score_percent(metrics, schedule))
        return scores

    def candidates(self, config: DenseConfig) -> list[Candidate]:
        import torch

        from mobilerepro.dense import networks

        def build(backbone: str):
            torch.manual_seed(config.seed)
            return networks.DenseForward(networks.build(self.network_config(config, backbone), deploy=True))

        size = (3, config.input_size, config.input_size)
        return [Candidate({"backbone": name}, lambda name=name: build(name), size, {"network": self.network},
                          census=True) for name in config.backbones]

    def companion_timings(self, config: DenseConfig, prepared: dict) -> dict[str, dict]:
        from mobilerepro.dense import networks

        return {POST_PROCESSING: {name: networks.PostProcessing(p.model.model, p.input_size, config.seed)
                                  for name, p in prepared.items()}}

    def analyse(self, config: DenseConfig, frame: pd.DataFrame, prepared: dict, peaks):
        from mobilerepro.dense import networks

        size = (3, config.input_size, config.input_size)
        counts = {name: networks.complexity(p.model.model, size) for name, p in prepared.items()}
        return {"counts": counts, "network": self.network}, self.judge(config, counts, frame)

    def figure(self, result: DenseResult, path: Path) -> None:
        """Left: MACs of backbone / neck / head per backbone (stacked). Right: latency per backend."""
        counts = result.counts_table()
        ok = result.ok()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
        x = np.arange(len(counts))
        bottom = np.zeros(len(counts))
        for part, colour in zip(PARTS, ("#1565c0", "#90caf9", "#ffb74d"), strict=True):
            values = counts[f"{part} MACs (G)"].to_numpy()
            left.bar(x, values, bottom=bottom, color=colour, label=part)
            bottom += values
        left.set_xticks(x, counts.backbone, rotation=30, ha="right")
        left.set_ylabel(f"GMACs at {result.summary['parameters']['input_size']} px")
        left.legend()
        left.grid(axis="y", alpha=0.3)
        backends = list(dict.fromkeys(ok.backend))
        width = 0.8 / max(len(backends), 1)
        for i, backend in enumerate(backends):
            rows = ok[ok.backend == backend].set_index("backbone").reindex(counts.backbone)
            right.bar(x - 0.4 + width * (i + 0.5), rows[result.stat_column], width, label=backend)
        right.set_xticks(x, counts.backbone, rotation=30, ha="right")
        right.set_ylabel(f"{result.statistic} latency (ms), {result.summary['parameters']['threads']} thread(s)")
        right.set_yscale("log")
        right.legend()
        right.grid(axis="y", alpha=0.3)
        fig.suptitle(f"{result.summary['network']}: where the MACs are, and the latency here")
        save_figure(fig, path)
