"""LiteRT (fp32 and int8) against ONNX Runtime, OpenVINO and PyTorch eager, model by model, in one interleaved run.

Every backend times the same zoo models (inference form, random weights) at the pinned thread count; the ratio of
each backend's median to ONNX Runtime's says how far apart the runtimes are on this CPU (the NAS papers' numbers
are LiteRT's). LiteRT's conversions are cached, and reported: the first run converts each model once. Prints the
table and writes results/benchmarks/runtime_ratios.json. A benchmark: nothing is asserted.

Usage: python benchmarks/runtime_ratios.py [--models mobilenet_v2 ...] [--size 224] [--rounds 10]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from mobilerepro.measure.environment import environment_stamp
from mobilerepro.measure.latency import CPU_BACKENDS, TimingPlan, get_backend, measure_latency
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model
from mobilerepro.results import ensure_writable, results_root, write_json

# The NAS papers' models and their baselines, and MobileOne and MobileNetV4 for the desktop-designed side.
DEFAULT_MODELS = ["mobilenet_v2", "mnasnet_a1", "mobilenet_v3_large", "mobilenet_v3_small", "mobileone_s0",
                  "mnv4_conv_s"]
REFERENCE = "onnxruntime"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--backends", nargs="+", default=list(CPU_BACKENDS))
    parser.add_argument("--size", type=int, default=None, help="input side (default: each model's own)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs-per-round", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    models = {}
    for name in args.models:
        side = args.size or zoo.get_spec(name).input_size[-1]
        models[name] = (reparameterize_model(zoo.build_model(name, seed=0)), (3, side, side))
    plan = TimingPlan(warmup=3, rounds=args.rounds, runs_per_round=args.runs_per_round, threads=args.threads)
    rows = [{"model": m.model, "backend": m.backend, "status": m.status, "reason": m.reason,
             "median_ms": m.summary.median if m.summary else None}
            for m in measure_latency(models, args.backends, plan)]
    frame = pd.DataFrame(rows)
    wide = frame.pivot(index="model", columns="backend", values="median_ms").reindex(columns=args.backends)
    table = wide.copy()
    if REFERENCE in wide:
        for backend in args.backends:
            if backend != REFERENCE:
                table[f"{backend}/{REFERENCE}"] = wide[backend] / wide[REFERENCE]
    print(f"median latency (ms) and ratio to {REFERENCE}, {args.threads} thread(s):")
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="—"))
    for row in frame[frame.status != "ok"].drop_duplicates("backend").itertuples():
        print(f"{row.backend}: {row.status} ({row.reason})")
    path = write_json(
        ensure_writable(results_root() / "benchmarks") / "runtime_ratios.json",
        {"benchmark": f"latency of each CPU runtime and its ratio to {REFERENCE}", "plan": vars(args),
         "backends": {b: get_backend(b).description for b in args.backends},
         "rows": rows, "table": table.reset_index().to_dict(orient="records"),
         "environment": environment_stamp(profile="benchmark", threads=args.threads)},
    )
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
