"""Our backbones inside mmdet against the same network standalone, side by side in one interleaved run.

"Inside mmdet": the backbone as an mmdet config builds it (`type='mobilerepro.MobileOne'`, deploy form), returning
the features a neck reads. "Standalone": the zoo model in inference form up to its last stage (`forward_features`),
with the same weights. Prints inside / standalone for the min and the median latency on torch eager and ONNX Runtime
(goal: <= 1.02) and writes results/benchmarks/dense_backbone_overhead.json. A benchmark: nothing is asserted.

Usage: python benchmarks/dense_backbone_overhead.py [--backbones mobileone_s0 mnv4_conv_m] [--size 320] [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

from mobilerepro.dense.backbones import DET_MODELS
from mobilerepro.measure.environment import environment_stamp
from mobilerepro.measure.latency import TimingPlan, measure_latency
from mobilerepro.results import ensure_writable, results_root, write_json

TYPES = {"mobileone": "mobilerepro.MobileOne", "mnv4": "mobilerepro.MobileNetV4"}


class Standalone(torch.nn.Module):
    """The zoo model's feature path alone (stem and stages), as a classifier's `forward_features` runs it."""

    def __init__(self, body: torch.nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body.forward_features(x)


def pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    family, variant = name.split("_", 1)
    torch.manual_seed(0)
    inside = DET_MODELS.build(dict(type=TYPES[family], variant=variant, deploy=True)).eval()
    standalone = Standalone(inside.body).eval()  # the very same modules and weights
    return inside, standalone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["mobileone_s0", "mobileone_s2", "mnv4_conv_m"])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs-per-round", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    models = {}
    for name in args.backbones:
        inside, standalone = pair(name)
        size = (3, args.size, args.size)
        models[f"{name}/inside"], models[f"{name}/standalone"] = (inside, size), (standalone, size)
    plan = TimingPlan(warmup=3, rounds=args.rounds, runs_per_round=args.runs_per_round, threads=args.threads, seed=0)
    measurements = measure_latency(models, ["torch", "onnxruntime"], plan, progress=True)
    frame = pd.DataFrame.from_records({"model": m.model, "backend": m.backend, **m.record(0.15)}
                                      for m in measurements)
    frame[["backbone", "where"]] = frame.model.str.split("/", expand=True)
    ok = frame[frame.status == "ok"]
    ratios = []
    for (backbone, backend), group in ok.groupby(["backbone", "backend"], sort=False):
        by = group.set_index("where")
        if {"inside", "standalone"} <= set(by.index):
            ratios.append({"backbone": backbone, "backend": backend,
                           "min ratio": by.loc["inside", "min_ms"] / by.loc["standalone", "min_ms"],
                           "median ratio": by.loc["inside", "median_ms"] / by.loc["standalone", "median_ms"],
                           "standalone min (ms)": by.loc["standalone", "min_ms"]})
    table = pd.DataFrame.from_records(ratios)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    folder = ensure_writable(results_root() / "benchmarks")
    write_json(folder / "dense_backbone_overhead.json",
               {"environment": environment_stamp(profile="benchmark", threads=args.threads),
                "size": args.size, "plan": vars(args), "ratios": ratios, "rows": frame.to_dict(orient="records")})
    print(f"written: {folder / 'dense_backbone_overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
