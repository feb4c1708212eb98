"""Detection and segmentation trained for real at reduced scale: SSDLite-320 on COCO128 with its own COCO json, and
DeepLabV3 on CamVid and on COCO128's VOC-style masks, each split into a training part and a held-out part, trained
through mmengine's Runner for a bounded number of epochs over several seeds, and scored with mmdet's CocoMetric
(pycocotools) and mmseg's IoUMetric on the held-out part and on the training part (how well the network fits what
it saw). A backbone named in `pretrained` trains a second time from its released ImageNet weights (the one set
available offline: EfficientNet-Lite0's), seed for seed, so that the chapter can show what the papers' fine-tuning
from ImageNet changes at this scale: the claim `pretrained_helps`, judged on the paired held-out difference.

These are pipeline chapters: they show that the papers' networks train and are scored end to end here, with real
metrics on real images. From scratch on a hundred images the scores are far below the papers' and say nothing about
the papers' claims, which need the full datasets and schedules (`PROFILE=full DATA=...`, see the detection and
segmentation chapters).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.measure.stats import mean_with_ci, paired_by_seed
from mobilerepro.report import save_figure
from mobilerepro.results import results_root
from mobilerepro.verdicts import NotTestable, contrast_evidence

METRICS = {"detection": ("coco/bbox_mAP", "COCO box mAP"), "segmentation": ("mIoU", "mIoU (%)")}
SCRATCH, IMAGENET = "scratch", "imagenet"  # where a run's backbone starts


@dataclass(frozen=True)
class DenseTrainingConfig(BaseConfig):
    backbones: list[str] | None = None
    sets: list[str] | None = None
    seeds: list[int] | None = None
    epochs: int = 8
    batch_size: int = 8
    held_out_fraction: float = 0.25
    images: int | None = None
    threads: int = 2
    pretrained: list[str] | None = None  # backbones also trained from their ImageNet weights (arm "imagenet")


def pretrained_contrasts(rows: pd.DataFrame) -> list[tuple[str, str, pd.Series, dict]]:
    """(set, backbone, held-out mean per start, ImageNet minus scratch paired by seed) for every backbone that ran
    from both starts."""
    return [(dataset, backbone, group.groupby("start").held_out.mean(),
             paired_by_seed(group.rename(columns={"start": "arm"}), "held_out", IMAGENET, SCRATCH))
            for (dataset, backbone), group in rows.groupby(["set", "backbone"], sort=False)
            if IMAGENET in set(group.start)]


class DenseTrainingResult(Result):
    # This family's standard sections (see `Result.sections`).
    sections = {
        "scores": ("Scores",
            "Mean over seeds with a Student-t 95 % interval (held-out part), and the same metric on the training "
            "part."),
        "pretrained": ("What an ImageNet start changes",
            "The same network, schedule and seeds, its backbone started once from random weights and once from its "
            "released ImageNet weights (the papers fine-tune from ImageNet): the held-out difference paired by seed, "
            "judged as the claim `pretrained_helps` in the summary box."),
    }

    terminal_tables = ("scores",)

    @property
    def metric_label(self) -> str:
        return METRICS[self.experiment.task][1]

    def scores_table(self) -> pd.DataFrame:
        records = []
        for (dataset, backbone, start), group in self.rows.groupby(["set", "backbone", "start"], sort=False):
            mean, low, high = mean_with_ci(group.held_out.to_numpy())
            records.append({"set": dataset, "backbone": backbone, "start": start, "seeds": len(group),
                            f"held-out {self.metric_label}": mean, "95 % CI low": low, "95 % CI high": high,
                            f"training-part {self.metric_label}": group.fit.mean(),
                            "final loss": group.final_loss.mean(),
                            "train minutes (all seeds)": group.seconds.sum(min_count=len(group)) / 60})
        return pd.DataFrame.from_records(records)

    def memorisation_table(self) -> pd.DataFrame:
        """The memorisation runs (trained and scored on the same images), where the chapter has them."""
        return pd.DataFrame.from_records(self.summary.get("memorisation", [])).drop(columns="run", errors="ignore")

    def pretrained_table(self) -> pd.DataFrame:
        """Per set and pretrained backbone: the held-out mean from scratch and from ImageNet, their paired
        difference with its interval."""
        label = self.metric_label
        return pd.DataFrame.from_records([
            {"set": dataset, "backbone": backbone, "seeds": contrast["seeds"],
             f"from scratch: held-out {label}": means[SCRATCH], f"from ImageNet: held-out {label}": means[IMAGENET],
             "difference (paired)": contrast["difference"], "95 % CI low": contrast["ci_low"],
             "95 % CI high": contrast["ci_high"], "p": contrast["p_value"]}
            for dataset, backbone, means, contrast in pretrained_contrasts(self.rows)])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"scores": self.scores_table(), "memorisation": self.memorisation_table(),
                "pretrained": self.pretrained_table()}

    setup_title = "Setup (reduced scale)"

    def setup_lines(self) -> list[str]:
        return self.summary["adaptations"]

    def summary_numbers(self) -> list[str]:
        label = self.metric_label
        return [f"{row['set']} / {row['backbone']} ({row['start']}): held-out {label} "
                f"{row[f'held-out {label}']:.3g} (95 % CI ["
                f"{row['95 % CI low']:.3g}, {row['95 % CI high']:.3g}], {row['seeds']} seeds), training part "
                f"{row[f'training-part {label}']:.3g}" for row in self.scores_table().to_dict("records")]


class DenseTrainingExperiment(Experiment):
    config_type = DenseTrainingConfig
    result_type = DenseTrainingResult
    needs_dense_stack = True
    task = ""

    def validate(self, config: DenseTrainingConfig) -> DenseTrainingConfig:
        from mobilerepro import stack

        stack.require()
        if not config.seeds or not config.backbones or not config.sets:
            raise MobileReproError("backbones, sets and seeds each need at least one entry")
        if not 0 < config.held_out_fraction < 1:
            raise MobileReproError(f"held_out_fraction must lie in (0, 1), got {config.held_out_fraction}")
        if config.epochs < 1 or config.batch_size < 2:
            raise MobileReproError("epochs must be at least 1 and batch_size at least 2 (BatchNorm)")
        unknown = [name for name in config.pretrained or () if name not in config.backbones]
        if unknown:
            raise MobileReproError(f"pretrained names backbones the chapter does not train: {', '.join(unknown)}")
        return config

    @staticmethod
    def start_text(config: DenseTrainingConfig, features: str) -> str:
        """Where the runs' backbones start, for the setup list (`features`: what the head reads from them)."""
        if not config.pretrained:
            return "from scratch"
        return (f"from scratch, and {', '.join(config.pretrained)} also from its released ImageNet weights (timm's "
                f"TF-padded form; {features})")

    @staticmethod
    def starts(config: DenseTrainingConfig, backbone: str) -> tuple[str, ...]:
        return (SCRATCH, IMAGENET) if backbone in (config.pretrained or ()) else (SCRATCH,)

    def network_config(self, config, backbone: str, dataset: str, folder: Path, seed: int):
        raise NotImplementedError

    def budget(self, config: DenseTrainingConfig):
        from mobilerepro.dense.training import Budget

        return Budget(config.epochs, config.batch_size, config.held_out_fraction, images=config.images)

    def adaptations(self, config) -> list[str]:
        raise NotImplementedError

    def measure(self, config: DenseTrainingConfig, directory: Path, progress: bool) -> Outcome:
        import torch

        from mobilerepro.dense import training

        torch.set_num_threads(config.threads)
        from mobilerepro.models.pretrained import imagenet_checkpoint

        rows, curves = [], []
        runs = [(s, b, start, seed) for s in config.sets for b in config.backbones for start in self.starts(config, b)
                for seed in config.seeds]
        weights = {b: imagenet_checkpoint(b, results_root() / "weights") for b in config.pretrained or ()}
        for number, (dataset, backbone, start, seed) in enumerate(runs, start=1):
            varied = ("profile", "backbones", "sets", "seeds", "threads", "pretrained")
            shaping = {"task": self.task, "set": dataset, "backbone": backbone, "seed": seed,
                       **({"start": weights[backbone].name} if start == IMAGENET else {}),
                       **{k: v for k, v in config.as_dict().items() if k not in varied}}
            folder = training.run_folder(results_root() / "dense_runs", shaping)
            network = self.network_config(config, backbone, dataset, folder, seed)
            if start == IMAGENET:
                training.start_backbone_from(network, weights[backbone])
            metrics = training.train_and_evaluate(
                network, progress=progress, description=f"run {number}/{len(runs)}: {backbone} ({start}), seed {seed}")
            key = METRICS[self.task][0]
            rows.append({"set": dataset, "backbone": backbone, "start": start, "seed": seed,
                         "held_out": training.score(metrics["held_out"], key),
                         "fit": training.score(metrics["fit"], key),
                         "final_loss": metrics["loss"][-1] if metrics["loss"] else np.nan,
                         "iterations": metrics["iterations"],
                         # A run finished before its time was recorded has none (nan), never the time of reading it.
                         "seconds": metrics.get("seconds", np.nan), "run": str(folder)})
            curves += [{"set": dataset, "backbone": backbone, "start": start, "seed": seed, "iteration": i,
                        "loss": loss} for i, loss in enumerate(metrics["loss"])]
        frame = pd.DataFrame.from_records(rows)
        return Outcome(frame, {"adaptations": self.adaptations(config), "curves": curves, "budget": asdict(config)},
                       self.pretrained_evidence(frame))

    def pretrained_evidence(self, frame: pd.DataFrame) -> list:
        """`pretrained_helps` per set and pretrained backbone: the held-out score from ImageNet weights minus from
        scratch, paired by seed."""
        label = METRICS[self.task][1]
        detection = self.task == "detection"
        evidence = []
        for dataset, backbone, _, contrast in pretrained_contrasts(frame):
            runs = frame[(frame.set == dataset) & (frame.backbone == backbone)]
            if (runs.held_out == 0).all():
                iterations = int(runs.iterations.max())
                found = NotTestable(
                    f"every run of both starts scores a held-out {label} of 0 (after {iterations} training iterations "
                    f"on {dataset} neither network's output clears the metric's floor), so the metric cannot show a "
                    "difference at this scale", contrast["seeds"])
            else:
                found = contrast_evidence(contrast, f"held-out {label}, ImageNet start minus scratch:",
                                          unit="" if detection else "points", digits=3 if detection else 2)
            evidence.append(("pretrained_helps", f"{dataset} / {backbone}", found))
        return evidence

    def figure(self, result: DenseTrainingResult, path: Path) -> None:
        """Left: training loss per iteration (mean over seeds). Right: held-out vs training-part score per run —
        the gap is how much the network memorised rather than learned."""
        curves = pd.DataFrame.from_records(result.summary["curves"])
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        if not curves.empty:
            for (dataset, backbone, start), group in curves.groupby(["set", "backbone", "start"], sort=False):
                mean = group.groupby("iteration").loss.mean()
                left.plot(mean.index, mean.to_numpy(), label=f"{dataset} / {backbone} ({start})")
            left.set_xlabel("training iteration")
            left.set_ylabel("training loss (mean over seeds)")
            left.legend(fontsize=8)
            left.grid(alpha=0.3)
        rows = result.rows
        keys = ["set", "backbone", "start"]
        labels = [f"{s}\n{b}\n({start})" for s, b, start in dict.fromkeys(zip(*(rows[k] for k in keys), strict=True))]
        for x, (_, group) in enumerate(rows.groupby(keys, sort=False)):
            right.scatter(np.full(len(group), x - 0.1), group.held_out, color="#1565c0",
                          label="held-out part" if x == 0 else None)
            right.scatter(np.full(len(group), x + 0.1), group.fit, color="#ef6c00",
                          label="training part" if x == 0 else None)
        right.set_xticks(range(len(labels)), labels, fontsize=8)
        right.set_ylabel(f"{result.metric_label}, one dot per seed")
        right.legend()
        right.grid(axis="y", alpha=0.3)
        fig.suptitle(self.title)
        save_figure(fig, path)
