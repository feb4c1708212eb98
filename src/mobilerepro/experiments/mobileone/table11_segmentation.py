"""MobileOne Tab. 11, segmentation: DeepLabV3 on MobileOne S0-S4 next to mmseg's MobileNetV2-d8 DeepLabV3 (the
anchor, as shipped), for VOC (21 classes) or ADE20K (150).

The head is mmseg's (ASPP on the last features, an auxiliary FCN head on the stage before, training only). MobileOne
has no dilated form and the paper does not say how it reached output stride 8 or 16: we dilate the last stage(s)
instead of striding them (`output_stride`, 8 by default as the anchor; 16 offered). Counted and timed here at 512 px;
the mIoU claims need VOC/ADE20K and the paper's schedules, so they are not testable at this scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._dense_latency import (
    OTHER_PIPELINE,
    DenseConfig,
    DenseExperiment,
    DenseResult,
    best_mobileone,
    gain_interval,
)
from mobilerepro.experiments._latency import timing_profiles
from mobilerepro.verdicts import NotTestable

BACKBONES = ["mobilenet_v2", "mobileone_s0", "mobileone_s1", "mobileone_s2", "mobileone_s3", "mobileone_s4"]


@dataclass(frozen=True)
class SegmentationConfig(DenseConfig):
    dataset: str = "voc"
    output_stride: int = 8


class SegmentationResult(DenseResult):
    def summary_numbers(self) -> list[str]:
        p = self.summary["parameters"]
        return [*super().summary_numbers(), f"{p['dataset']} head, output stride {p['output_stride']} (dilated last "
                                            "stage(s): our choice)"]


class DeepLabTable(DenseExperiment):
    title = "MobileOne Table 11 — DeepLabV3 segmentation"
    description = ("DeepLabV3 (mmseg's MobileNetV2-d8 config) on MobileOne S0-S4 at output stride 8 or 16: params, "
                   "MACs, latency")
    network = "DeepLabV3 (mmseg's MobileNetV2-d8 config)"
    config_type = SegmentationConfig
    result_type = SegmentationResult
    profiles = timing_profiles(smoke={"backbones": ["mobileone_s0"], "input_size": 128},
                               quick={"backbones": BACKBONES, "input_size": 512, "rounds": 3, "runs_per_round": 2},
                               full={"backbones": BACKBONES, "input_size": 512, "train_full_scale": True,
                                     "seeds": [0, 1, 2]})

    def validate(self, config: SegmentationConfig) -> SegmentationConfig:
        from mobilerepro.dense.networks import DATASETS

        if config.dataset not in DATASETS:
            raise MobileReproError(f"unknown dataset {config.dataset!r} (choose from: {', '.join(DATASETS)})")
        if config.output_stride not in (8, 16):
            raise MobileReproError(f"output_stride must be 8 or 16, got {config.output_stride}")
        if config.output_stride != 8 and "mobilenet_v2" in config.backbones:
            raise MobileReproError("mmseg's MobileNetV2 anchor exists at output stride 8 only: drop mobilenet_v2 "
                                   "from backbones for output stride 16")
        return super().validate(config)

    def network_config(self, config: SegmentationConfig, backbone: str):
        from mobilerepro.dense import networks

        return networks.deeplabv3(backbone, config.dataset, config.output_stride)

    def full_schedule(self, config: SegmentationConfig) -> str:
        return f"deeplabv3-{config.dataset}"

    def judge_scores(self, config: SegmentationConfig, scores: dict[str, list[float]]) -> list:
        best, evidence = best_mobileone(scores), []
        if best is None:
            return []
        if config.dataset == "voc":
            evidence.append(("voc_over_mobilevit", f"VOC: {best} vs MobileViT-S",
                             NotTestable(OTHER_PIPELINE.format(label="MobileViT-S"), len(scores[best]))))
        if "mobilenet_v2" in scores:
            reference = scores["mobilenet_v2"]
            if config.dataset == "voc":
                evidence.append(("voc_over_mobilenetv2", f"VOC: {best} vs MobileNetV2", gain_interval(
                    scores[best], reference, f"{best} over MobileNetV2, paired by seed")))
            if config.dataset == "ade20k":
                evidence.append(("ade20k_over_mobilenetv2", f"ADE20K: {best} vs MobileNetV2", gain_interval(
                    scores[best], reference, f"{best} over MobileNetV2, paired by seed")))
            if "mobileone_s1" in scores:
                evidence.append(("s1_segmentation", f"{config.dataset}: S1 vs MobileNetV2", gain_interval(
                    scores["mobileone_s1"], reference, "S1 over MobileNetV2, paired by seed")))
        return evidence

    def published_tables(self, result) -> dict[str, pd.DataFrame]:
        data = paper.load("mobileone")["table11_segmentation"]
        rows = [{"backbone": row["label"], "DeepLabV3 VOC mIoU": paper.cell(row["voc_miou"]), "ADE20K mIoU": ""}
                for row in data["baselines"].values()]
        mobileone = data["mobileone"]
        rows += [{"backbone": "best MobileOne", "DeepLabV3 VOC mIoU": paper.cell(mobileone["best_voc_miou"]),
                  "ADE20K mIoU": paper.cell(mobileone["best_ade20k_miou"])},
                 {"backbone": "MobileOne-S1", "DeepLabV3 VOC mIoU": paper.cell(mobileone["s1_voc_miou"]),
                  "ADE20K mIoU": paper.cell(mobileone["s1_ade20k_miou"])}]
        return {"published": pd.DataFrame.from_records(rows)}


EXPERIMENT = DeepLabTable()
