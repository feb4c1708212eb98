"""The kernel timing set: kernels timed alone on one backend, cached line by line (an interrupted collection
continues where it stopped).

Where the kernels come from: the networks a predictor may learn from (random UIB networks of the fit, zoo models),
each split into the kernels the backend runs (`measure.kernels`), and a broad grid of one-op networks beyond them
(every kernel type over channel counts, resolutions, kernel sizes, strides and epilogues the zoo does not use). A
kernel remembers the families it was found in, so that an evaluation can leave a family's kernels out; a model of the
held-out lists is never a source.

Each batch of kernels is timed in the project's interleaved rounds beside a null kernel (an add on one element):
its minimum is the backend's cost of one call with nothing to compute, subtracted from each kernel's minimum, since
a network pays it once, not once per kernel.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mobilerepro.measure.kernels import Kernel, network_kernels, standalone
from mobilerepro.measure.latency import TimingPlan, measure_latency
from mobilerepro.results import content_digest, read_line_cache, results_root

GRID_FAMILY = "grid"
NULL_KERNEL = "null"
BATCH = 24  # kernels prepared and timed together: one set of interleaved rounds


def cache_file(backend: str, plan: TimingPlan) -> Path:
    """The line-per-kernel file of this backend and plan on this machine and these package versions, and of the
    code that rebuilds a kernel alone (a change to it times every kernel again)."""
    from mobilerepro.measure import kernels
    from mobilerepro.measure.environment import environment_stamp

    stamp = environment_stamp(profile="cache", threads=plan.threads)
    key = {"backend": backend, "threads": plan.threads, "warmup": plan.warmup, "rounds": plan.rounds,
           "runs": plan.runs_per_round, "cpu": stamp["cpu"], "packages": stamp["packages"],
           "builder": kernels.standalone_digest()}
    return results_root() / "kernel_timings" / f"{content_digest(key)}.jsonl"


def source_kernels(networks) -> dict[str, dict]:
    """{key: {"kernel", "families"}} of the kernels of `networks` ((family, NetworkKernels) pairs)."""
    found: dict[str, dict] = {}
    for family, network in networks:
        for kernel in network.kernels:
            entry = found.setdefault(kernel.key(), {"kernel": kernel, "families": set()})
            entry["families"].add(family)
    return found


class _OneOp(torch.nn.Module):
    """A grid network: one convolution with its norm and activation, or one other op on its input."""

    def __init__(self, kind: str, rng: random.Random, channels: int, size: int):
        super().__init__()
        self.kind, self.size = kind, size
        act = rng.choice([torch.nn.ReLU(), torch.nn.Hardswish(), torch.nn.SiLU(), torch.nn.GELU(), torch.nn.ReLU6(),
                          torch.nn.Identity()])
        if kind.startswith("conv"):
            k = 1 if kind == "conv_pointwise" else rng.choice([3, 3, 5, 7])
            stride = rng.choice([1, 1, 2])
            out = channels if kind == "conv_depthwise" else rng.choice([channels, channels * 2, max(8, channels // 2),
                                                                        rng.randint(8, 1024)])
            groups = {"conv_depthwise": channels, "conv_grouped": rng.choice([2, 4, 8])}.get(kind, 1)
            if kind == "conv_grouped":
                channels, out = channels // groups * groups or groups, out // groups * groups or groups
            self.input = (channels, size, size)
            self.op = torch.nn.Sequential(torch.nn.Conv2d(channels, out, k, stride, k // 2, groups=groups, bias=False),
                                          torch.nn.BatchNorm2d(out), act)
            self.residual = stride == 1 and out == channels and rng.random() < 0.3
        elif kind in ("matmul", "attention", "layer_norm", "softmax"):
            tokens, width = rng.choice([16, 49, 64, 196, 256, 784]), rng.choice([32, 64, 96, 128, 192, 256, 384])
            self.input = (tokens, width)
            self.op = {"matmul": torch.nn.Linear(width, rng.choice([width, width * 2, width * 4, 1000])),
                       "layer_norm": torch.nn.LayerNorm(width), "softmax": torch.nn.Softmax(-1)}.get(kind)
            self.heads = rng.choice([1, 2, 4, 8])
            self.residual = False
        else:
            self.input = (channels, size, size)
            self.op, self.residual = act, False
            self.scale = torch.nn.Parameter(torch.randn(1, channels, 1, 1), requires_grad=False)

    def forward(self, x):
        if self.kind == "attention":
            q = x.reshape(1, self.heads, x.shape[1], -1)
            return torch.nn.functional.scaled_dot_product_attention(q, q * 0.5, q)
        if self.kind == "reduce":
            return x.mean((2, 3), keepdim=True)
        if self.kind == "binary":
            return x * self.scale
        if self.kind == "pool":
            return torch.nn.functional.max_pool2d(x, 3, 2, 1)
        if self.kind == "resize":
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        if self.kind == "unary":
            return self.op(x) + 0 if isinstance(self.op, torch.nn.Identity) else self.op(x)
        y = self.op(x)
        return y + x if self.residual else y


GRID_KINDS = ("conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped", "matmul", "attention",
              "layer_norm", "softmax", "reduce", "binary", "unary", "pool", "resize")


def grid_kernels(count: int, backend: str, seed: int = 0) -> dict[str, dict]:
    """`count` one-op networks drawn over broad shapes, as the kernels `backend` runs for them."""
    rng = random.Random(seed)
    networks = []
    for index in range(count):
        kind = GRID_KINDS[index % len(GRID_KINDS)]
        channels = rng.choice([8, 16, 24, 32, 48, 64, 96, 128, 160, 256, 384, 512, 768, 1024])
        size = rng.choice([7, 14, 28, 56, 112]) if channels <= 256 else rng.choice([7, 14, 28])
        with torch.random.fork_rng():
            torch.manual_seed(seed + index)
            network = _OneOp(kind, rng, channels, size).eval()
        networks.append((GRID_FAMILY, network_kernels(network, network.input, backend)))
    return source_kernels(networks)


def sample(kernels: dict[str, dict], count: int, seed: int = 0) -> dict[str, dict]:
    """At most `count` of `kernels`, the same share of each type where a type has enough (so that the many
    convolutions of the source networks do not crowd out the rarer types)."""
    by_type: dict[str, list[str]] = {}
    for key, entry in kernels.items():
        by_type.setdefault(entry["kernel"].type, []).append(key)
    rng, chosen, left = random.Random(seed), [], count
    for index, keys in enumerate(sorted(by_type.values(), key=len)):
        share = left // (len(by_type) - index)
        picked = keys if len(keys) <= share else rng.sample(keys, share)
        chosen += picked
        left -= len(picked)
    return {key: kernels[key] for key in kernels if key in set(chosen)}


def _null_kernel() -> Kernel:
    return Kernel("binary", "aten.add", [(1, 1), (1, 1)], [False, True], (1, 1), {})


def timed_kernels(kernels: dict[str, dict], backend: str, plan: TimingPlan, progress: bool = True) -> list[dict]:
    """One record per kernel of `kernels` (from `source_kernels` / `grid_kernels`, merged): the kernel, its
    families, its minimum latency, the null kernel's beside it, and their difference (`latency_ms`, ≥ 0). Only
    kernels not cached are timed."""
    cache = cache_file(backend, plan)
    done = read_line_cache(cache, "key")
    missing = [key for key in kernels if key not in done]
    bar = tqdm(total=len(missing), desc=f"kernel timing set ({backend})", unit="kernel", disable=not progress)
    with cache.open("a") as handle:
        for start in range(0, len(missing), BATCH):
            batch = missing[start:start + BATCH]
            modules = {f"k{i}": standalone(kernels[key]["kernel"]) for i, key in enumerate(batch)}
            modules[NULL_KERNEL] = standalone(_null_kernel())
            measured = {m.model: m for m in measure_latency(modules, [backend], plan, progress=False)}
            null = measured[NULL_KERNEL]
            overhead = min(null.samples_ms) if null.status == "ok" else 0.0
            for i, key in enumerate(batch):
                found = measured[f"k{i}"]
                alone = min(found.samples_ms) if found.status == "ok" else None
                done[key] = {"key": key, "kernel": kernels[key]["kernel"].as_dict(),
                             "families": sorted(kernels[key]["families"]), "status": found.status,
                             "reason": found.reason, "alone_ms": alone, "null_ms": overhead,
                             "latency_ms": None if alone is None else max(alone - overhead, 0.0)}
                handle.write(json.dumps(done[key]) + "\n")
            handle.flush()
            bar.update(len(batch))
    bar.close()
    return [{**done[key], "families": sorted(set(done[key]["families"]) | kernels[key]["families"])}
            for key in kernels]
