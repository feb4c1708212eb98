"""How fast the mini-NAS evaluates candidates: predictor queries per second (a network's features from the lookup
table of parts, then the fitted layer model), with a cold and a warm table, against building the network and
counting its layers whole; the kernel model's queries (the network traced and split into ONNX Runtime's kernels,
then every kernel predicted; and the prediction alone, kernels known); zero-cost proxy scores per second. Prints the
table and writes results/benchmarks/search_speed.json. A benchmark: nothing is asserted.

Usage: python benchmarks/search_speed.py [--networks 200] [--proxy-networks 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import torch

from mobilerepro.measure import kernel_model as km
from mobilerepro.measure import kernel_timing
from mobilerepro.measure import predictor as lp
from mobilerepro.measure.complexity import layer_costs
from mobilerepro.measure.environment import environment_stamp
from mobilerepro.measure.kernels import network_kernels
from mobilerepro.models.mobilenetv4 import MobileNetV4
from mobilerepro.results import ensure_writable, results_root, write_json
from mobilerepro.search import lookup, proxies
from mobilerepro.search.space import get_space


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--proxy-networks", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("uib")
    rng = random.Random(0)
    specs = [space.spec(space.sample(rng)) for _ in range(args.networks)]
    # Any fitted layer model will do for timing a query: fit one on the networks' own MACs.
    some = [lookup.features(s) for s in specs[:8]]
    model = lp.fit("benchmark", "layers", some, [f["gmacs"] * 10 for f in some])
    rows = []
    for label, specs_timed in (("lookup table, cold", specs), ("lookup table, warm", specs)):
        start = time.perf_counter()
        for spec in specs_timed:
            model.predict(lookup.features(spec))
        rows.append({"what": f"predictor query ({label})", "count": len(specs_timed),
                     "per_second": per_second(len(specs_timed), time.perf_counter() - start)})
    whole = specs[: max(1, args.networks // 10)]
    start = time.perf_counter()
    for spec in whole:
        model.predict(lp.features(layer_costs(MobileNetV4(spec).eval(), (3, 224, 224))))
    rows.append({"what": "predictor query (network built and counted whole)", "count": len(whole),
                 "per_second": per_second(len(whole), time.perf_counter() - start)})
    # Any fitted kernel model will do for timing a query: one learnt from grid kernels' own work.
    grid = kernel_timing.grid_kernels(4 * len(kernel_timing.GRID_KINDS), "onnxruntime")
    records = [{"kernel": e["kernel"].as_dict(), "null_ms": 0.005, "latency_ms": 1e-3 + f["macs"] / 3e7}
               for e in grid.values() for f in [e["kernel"].features()]]
    kernels = km.fit("benchmark", records)
    start = time.perf_counter()
    traced = [network_kernels(MobileNetV4(spec).eval(), (3, 224, 224), "onnxruntime") for spec in whole]
    for network in traced:
        kernels.kernel_latencies(network.kernels).sum()
    rows.append({"what": "kernel model query (network traced, split into kernels)", "count": len(whole),
                 "per_second": per_second(len(whole), time.perf_counter() - start)})
    start = time.perf_counter()
    for network in traced:
        kernels.kernel_latencies(network.kernels).sum()
    rows.append({"what": "kernel model query (kernels known)", "count": len(whole),
                 "per_second": per_second(len(whole), time.perf_counter() - start)})
    images = torch.randn(64, 3, 32, 32)
    for proxy in proxies.PROXIES:
        scored = specs[: args.proxy_networks]
        start = time.perf_counter()
        for spec in scored:
            proxies.score(proxy, spec, images, 0.0, 10)
        rows.append({"what": f"proxy {proxy} (64 images at 32 px)", "count": len(scored),
                     "per_second": per_second(len(scored), time.perf_counter() - start)})
    for row in rows:
        print(f"{row['what']:<55} {row['per_second']:10.1f} / s  ({row['count']} networks)")
    path = write_json(ensure_writable(results_root() / "benchmarks") / "search_speed.json",
                      {"benchmark": "mini-NAS candidate evaluation speed", "plan": vars(args), "rows": rows,
                       "parts_in_lookup_table": lookup.cached_parts(),
                       "environment": environment_stamp(profile="benchmark", threads=args.threads)})
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
