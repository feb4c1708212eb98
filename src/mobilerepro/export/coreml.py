"""Core ML export (PyTorch -> TorchScript trace -> coremltools mlprogram) and an op census of the package.

Core ML in one place: conversion, the op census, timing a package with either protocol and `MLComputePlan` placement.
coremltools converts on Linux but can only run predictions on macOS, so on Linux a package is exported and validated
(it saves, loads back, and has the expected input) but not timed; the `coreml` latency backend reports itself
unavailable there. The op census counts the ML program's operations by type: it shows, for example, how many global
poolings (`reduce_mean`) a dynamic activation adds — the synchronisation points MobileOne blames for their latency.
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from mobilerepro import MobileReproError

# Ops that only hold constants or reshape metadata: not work the device schedules.
BOOKKEEPING_OPS = frozenset({"const"})


DEPLOYMENT_TARGET = "iOS16"  # ML programs with fp16 compute need iOS 15+; 16 is what current phones run at least
PRECISIONS = ("fp16", "fp32")


def convert(model: torch.nn.Module, input_size: tuple[int, int, int], *, compute_units: str = "ALL",
            precision: str = "fp16"):
    """The Core ML ML program of `model` (eval mode, batch 1, deployment target iOS 16) computing in `precision`
    (fp16, Core ML's default and MNv4 Tab. 6's, or fp32); `compute_units` is coremltools' ComputeUnit name (ALL,
    CPU_ONLY, CPU_AND_NE, CPU_AND_GPU), used when the package is loaded for prediction on macOS."""
    import coremltools as ct

    if precision not in PRECISIONS:
        raise MobileReproError(f"unknown Core ML precision {precision!r} (choose from: {', '.join(PRECISIONS)})")

    example = torch.randn(1, *input_size)
    with torch.no_grad():
        model.eval()(example)  # builds what a model creates in its first forward (timm's ConViT: relative indices)
        traced = torch.jit.trace(model, example)
    # coremltools reports every graph pass on stderr/logging; keep the notebook readable.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name="input", shape=example.shape)],
            convert_to="mlprogram",
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            compute_units=ct.ComputeUnit[compute_units],
        )


def op_census(mlmodel) -> Counter:
    """Operation types of the package's main program and their counts (nested blocks included)."""
    census: Counter = Counter()

    def walk(operations):
        for operation in operations:
            census[operation.type] += 1
            for block in operation.blocks:
                walk(block.operations)

    for function in mlmodel.get_spec().mlProgram.functions.values():
        for block in function.block_specializations.values():
            walk(block.operations)
    return census


def export_package(model: torch.nn.Module, input_size: tuple[int, int, int], path: Path,
                   precision: str = "fp16") -> tuple[Path, Counter]:
    """Convert, save as .mlpackage, load it back and check its input; returns (path, op census)."""
    import coremltools as ct

    mlmodel = convert(model, input_size, precision=precision)
    path = Path(path)
    mlmodel.save(str(path))
    reloaded = ct.models.MLModel(str(path), skip_model_load=True)
    inputs = {i.name: tuple(i.type.multiArrayType.shape) for i in reloaded.get_spec().description.input}
    if inputs != {"input": (1, *input_size)}:
        raise RuntimeError(f"exported Core ML package has unexpected inputs {inputs}")
    return path, op_census(reloaded)


def time_package(path: Path, package_input: dict, compute_units: str, protocol: str, *, mobileone_runs: int,
                 modelbench_rounds: int, modelbench_runs_per_round: int, modelbench_trim: int) -> float:
    """One package's latency (ms) with one protocol (`export.bundle.PROTOCOLS`), on this Mac: MobileOne's minimum of
    `mobileone_runs`, or ModelBench's mean over rounds of trimmed means. Core ML predicts only on macOS."""
    import coremltools as ct

    model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit[compute_units])
    rng = np.random.default_rng(0)
    feed = {"input": rng.standard_normal(package_input["shape"]).astype(package_input["dtype"])}
    model.predict(feed)  # both protocols: one warm-up

    def once() -> float:
        start = time.perf_counter_ns()
        model.predict(feed)
        return (time.perf_counter_ns() - start) / 1e6

    if protocol == "mobileone":
        return min(once() for _ in range(mobileone_runs))
    # ModelBench's trim is read as applying to the runs of a round: 10 + 10 of its 20 rounds would leave none.
    trim, rounds = modelbench_trim, []
    for _ in range(modelbench_rounds):
        runs = sorted(once() for _ in range(modelbench_runs_per_round))
        rounds.append(statistics.fmean(runs[trim:len(runs) - trim]))
    return statistics.fmean(rounds)


def placement(path: Path, compute_units: str) -> dict[str, int]:
    """How many of the program's operations `MLComputePlan` prefers on each device (macOS 14.4+)."""
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    compiled = ct.models.utils.compile_model(str(path))
    plan = MLComputePlan.load_from_path(path=compiled, compute_units=ct.ComputeUnit[compute_units])
    counts: dict[str, int] = {}
    for operation in plan.model_structure.program.functions["main"].block.operations:
        usage = plan.get_compute_device_usage_for_mlprogram_operation(operation)
        device = type(usage.preferred_compute_device).__name__ if usage else "none (constant)"
        counts[device] = counts.get(device, 0) + 1
    return counts
