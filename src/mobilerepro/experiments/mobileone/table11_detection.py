"""MobileOne Tab. 11, detection: SSDLite-320 on MobileOne S0-S4, next to the MobileNetV2 SSDLite of mmdet's own
config (the anchor, as shipped) and MobileNetV4 Conv-S/M.

Every network is mmdet's `ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py` with only the backbone replaced: its
stride-16 and stride-32 features feed SSDNeck, which adds four separable levels. Counted and timed here; the COCO
mAP claims need COCO 2017 and the paper's 200-epoch schedule (`PROFILE=full`), so they are not testable at this
scale, and the published baselines are shown as context.
"""

from __future__ import annotations

import pandas as pd

from mobilerepro import paper
from mobilerepro.experiments._dense_latency import OTHER_PIPELINE, DenseConfig, DenseExperiment, best_mobileone
from mobilerepro.experiments._latency import timing_profiles
from mobilerepro.verdicts import NotTestable

BACKBONES = ["mobilenet_v2", "mobileone_s0", "mobileone_s1", "mobileone_s2", "mobileone_s3", "mobileone_s4",
             "mnv4_conv_s", "mnv4_conv_m"]


class SSDLiteTable(DenseExperiment):
    title = "MobileOne Table 11 — SSDLite-320 detection"
    description = "SSDLite-320 (mmdet's config) on MobileOne S0-S4, MobileNetV2 and MNv4: params, MACs, latency"
    network = "SSDLite-320 (mmdet's MobileNetV2 config)"
    profiles = timing_profiles(smoke={"backbones": ["mobilenet_v2", "mobileone_s0"], "input_size": 320},
                               quick={"backbones": BACKBONES, "input_size": 320, "rounds": 4, "runs_per_round": 3},
                               full={"backbones": BACKBONES, "input_size": 320, "train_full_scale": True,
                                     "seeds": [0, 1, 2]})

    def network_config(self, config: DenseConfig, backbone: str):
        from mobilerepro.dense import networks

        return networks.ssdlite(backbone)

    def full_schedule(self, config: DenseConfig) -> str:
        return "ssdlite-coco"

    def judge_scores(self, config: DenseConfig, scores: dict[str, list[float]]) -> list:
        best = best_mobileone(scores)
        if best is None:
            return []
        baselines = paper.load("mobileone")["table11_detection"]["baselines"]
        return [(claim, f"{best} vs {baselines[name]['label']}",
                 NotTestable(OTHER_PIPELINE.format(label=baselines[name]["label"]), len(scores[best])))
                for claim, name in (("coco_over_mnasnet", "mnasnet"), ("coco_over_mobilevit", "mobilevit_s"))]

    def published_tables(self, result) -> dict[str, pd.DataFrame]:
        data = paper.load("mobileone")["table11_detection"]
        rows = [{"backbone": row["label"], "SSDLite-320 COCO mAP": paper.cell(row["coco_map"])}
                for row in data["baselines"].values()]
        rows.append({"backbone": "best MobileOne (reconstructed from the relative claims)",
                     "SSDLite-320 COCO mAP": paper.cell(data["best_mobileone_map"])})
        return {"published": pd.DataFrame.from_records(rows)}


EXPERIMENT = SSDLiteTable()
