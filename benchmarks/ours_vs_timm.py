"""Our MobileOne (reparameterised) or MobileNetV4 against timm's, side by side in one interleaved run.

Both carry the same weights (timm's random init mapped into ours), are in inference form, and are timed in the same
rounds on torch eager and ONNX Runtime. Prints ours / timm for the min and the median latency (goal: <= 1.00) and
writes results/benchmarks/<family>_ours_vs_timm.json. A benchmark: nothing is asserted.

Usage: python benchmarks/ours_vs_timm.py --family mobileone|mobilenetv4 [--variants ...] [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
import timm
import torch

from mobilerepro.measure.environment import environment_stamp
from mobilerepro.measure.latency import TimingPlan, measure_latency
from mobilerepro.models import mobilenetv4, mobileone
from mobilerepro.reparam import reparameterize_model
from mobilerepro.results import ensure_writable, results_root, write_json

FAMILIES = {
    "mobileone": {
        "variants": list(mobileone.VARIANTS),
        "timm_name": lambda v: f"mobileone_{v}",
        "build": mobileone.mobileone,
        "convert": mobileone.convert_state_dict,
        "input_size": lambda v: 224,
    },
    "mobilenetv4": {
        # a zoo form without a timm twin (Tab. 13 as printed) has nothing to be compared with
        "variants": [variant for variant in mobilenetv4.SPECS if variant in mobilenetv4.TIMM_NAMES],
        "timm_name": mobilenetv4.TIMM_NAMES.__getitem__,
        "build": mobilenetv4.mobilenetv4,
        "convert": mobilenetv4.convert_timm_state_dict,
        "input_size": lambda v: mobilenetv4.SPECS[v].input_size,
    },
}


def pair(family: dict, variant: str) -> dict:
    torch.manual_seed(0)
    reference = timm.create_model(family["timm_name"](variant), pretrained=False).eval()
    ours = family["build"](variant).eval()
    ours.load_state_dict(family["convert"](reference.state_dict()), strict=True)
    size = (3, family["input_size"](variant), family["input_size"](variant))
    return {
        f"{variant}/ours": (reparameterize_model(ours), size),
        f"{variant}/timm": (reparameterize_model(reference), size),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=list(FAMILIES), default="mobileone")
    parser.add_argument("--variants", nargs="+", default=None)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs-per-round", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    family = FAMILIES[args.family]
    variants = args.variants or family["variants"]
    models = {name: entry for variant in variants for name, entry in pair(family, variant).items()}
    plan = TimingPlan(warmup=5, rounds=args.rounds, runs_per_round=args.runs_per_round, threads=args.threads)
    measurements = measure_latency(models, args.backends, plan)
    rows = []
    for m in measurements:
        variant, implementation = m.model.split("/")
        summary = m.summary
        rows.append({"variant": variant, "implementation": implementation, "backend": m.backend,
                     "status": m.status, "min_ms": summary.min if summary else None,
                     "median_ms": summary.median if summary else None})
    frame = pd.DataFrame(rows)
    wide = frame.pivot_table(index=["variant", "backend"], columns="implementation", values=["min_ms", "median_ms"])
    table = pd.DataFrame({
        "ours min (ms)": wide[("min_ms", "ours")], "timm min (ms)": wide[("min_ms", "timm")],
        "ours/timm (min)": wide[("min_ms", "ours")] / wide[("min_ms", "timm")],
        "ours/timm (median)": wide[("median_ms", "ours")] / wide[("median_ms", "timm")],
    }).reset_index()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    path = write_json(
        ensure_writable(results_root() / "benchmarks") / f"{args.family}_ours_vs_timm.json",
        {"benchmark": f"{args.family}: ours vs timm, inference form", "plan": vars(args),
         "ratios": table.to_dict(orient="records"), "environment": environment_stamp(profile="benchmark",
                                                                                     threads=args.threads)},
    )
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
