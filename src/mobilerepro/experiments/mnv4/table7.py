"""MobileNetV4 Tab. 7: RetinaNet at 384 px on MNv4-Conv-M and Hybrid-M — the detector's size against the printed
table, and its latency here.

The detector is mmdet's RetinaNet with what §7.2 states: a 256-d FPN on P3-P7 and a 4-layer 256-d head, their 3x3
convolutions depthwise-separable. What it does not state is our choice, said in the chapter: COCO's 80 classes
(mmdet's), mmdet's 9 anchors per location, FPN extra levels from the backbone's last features, no norm in the FPN.
Params and MACs are then analytic claims testable here; AP and the Pixel 6 latencies are not.
"""

from __future__ import annotations

import pandas as pd

from mobilerepro import paper
from mobilerepro.experiments._dense_latency import DenseConfig, DenseExperiment, gain_interval
from mobilerepro.experiments._latency import timing_profiles
from mobilerepro.verdicts import NotTestable, Value

BACKBONES = ["mnv4_conv_m", "mnv4_hybrid_m"]


def rows() -> dict:
    return paper.load("mobilenetv4")["table7"]["rows"]


class RetinaNetTable(DenseExperiment):
    title = "MobileNetV4 Table 7 — RetinaNet on MobileNetV4 backbones"
    description = "RetinaNet-384 (separable FPN P3-P7 and head) on Conv-M / Hybrid-M: params, MACs vs Tab. 7, latency"
    network = "RetinaNet-384, separable 256-d FPN P3-P7 and 4-layer head"
    profiles = timing_profiles(smoke={"backbones": ["mnv4_conv_m"], "input_size": 384},
                               quick={"backbones": BACKBONES, "input_size": 384, "rounds": 4, "runs_per_round": 3},
                               full={"backbones": BACKBONES, "input_size": 384, "train_full_scale": True,
                                     "seeds": [0, 1, 2]})

    def network_config(self, config: DenseConfig, backbone: str):
        from mobilerepro.dense import networks

        return networks.retinanet(backbone, input_size=config.input_size)

    def judge(self, config: DenseConfig, counts: dict[str, dict], frame: pd.DataFrame) -> list:
        evidence = []
        for backbone in ("mnv4_conv_m", "mnv4_hybrid_m"):
            if backbone in counts and config.input_size == 384:
                params_m, macs_g = counts[backbone]["params"] / 1e6, counts[backbone]["macs"] / 1e9
                evidence += [("printed_params", backbone, Value(params_m, f"{params_m:.3f} M")),
                             ("printed_macs", backbone, Value(macs_g, f"{macs_g:.3f} G at 384 px"))]
        evidence += [("conv_m_faster", "Pixel 6 CPU", NotTestable("no Pixel 6 here, and the Multi-AVG and MobileNetV2 "
                                                                  "2.0x detectors are not in the zoo")),
                     ("hybrid_m_ap", "COCO AP", NotTestable(self.not_testable_reason(config)))]
        return evidence

    def full_schedule(self, config: DenseConfig) -> str:
        return "retinanet-coco"

    def judge_scores(self, config: DenseConfig, scores: dict[str, list[float]]) -> list:
        if not {"mnv4_conv_m", "mnv4_hybrid_m"} <= set(scores):
            return []
        return [("hybrid_m_ap", "COCO AP", gain_interval(scores["mnv4_hybrid_m"], scores["mnv4_conv_m"],
                                                         "Hybrid-M over Conv-M, paired by seed"))]

    def published_tables(self, result) -> dict[str, pd.DataFrame]:
        return {"published": pd.DataFrame.from_records([
            {"backbone": row["label"], "AP": paper.cell(row.get("ap")), "MACs (G)": paper.cell(row.get("macs_g")),
             "params (M)": paper.cell(row.get("params_m")), "Pixel 6 CPU (ms)": paper.cell(row.get("pixel6_cpu_ms"))}
            for row in rows().values()])}


EXPERIMENT = RetinaNetTable()
