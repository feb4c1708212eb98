"""The roofline latency model of MobileNetV4 (§3 and App. F), and Pareto fronts over it.

For every layer that multiplies (convolutions, linear layers, attention matmuls):

    MACTime  = LayerMACs / PeakMACs
    MemTime  = (WeightBytes + ActivationBytes) / PeakMemBW
    ModelTime = sum over layers of max(MACTime, MemTime)

The ridge point RP = PeakMACs / PeakMemBW (MACs per byte) is the only hardware parameter that matters for ranking
models: ModelTime * PeakMACs = sum max(MACs, RP * bytes). RP = 0 ranks by MACs alone. Bytes per element is a
parameter: 1 for the paper's INT8 targets (its natural reading; the paper does not state it), 4 for fp32 here.
Activation bytes are the layer's input activations plus its output; weight bytes are its parameters.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mobilerepro.measure.complexity import LayerCost, layer_costs  # noqa: F401 - layer_costs is part of this API


def model_time(layers: Sequence[LayerCost], peak_macs: float, peak_bandwidth: float,
               bytes_per_element: float) -> float:
    """Roofline ModelTime in seconds, given PeakMACs (MAC/s) and PeakMemBW (byte/s)."""
    return sum(max(layer.macs / peak_macs, layer.bytes(bytes_per_element) / peak_bandwidth) for layer in layers)


def ridge_cost(layers: Sequence[LayerCost], ridge_point: float, bytes_per_element: float) -> float:
    """ModelTime x PeakMACs at ridge point RP: sum of max(MACs, RP x bytes). Ranks models exactly as ModelTime."""
    return sum(max(layer.macs, ridge_point * layer.bytes(bytes_per_element)) for layer in layers)


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> np.ndarray:
    """Mask of the points no other point dominates (lower-or-equal cost and higher-or-equal accuracy, one strictly)."""
    costs, accuracies = np.asarray(costs, float), np.asarray(accuracies, float)
    mask = np.ones(len(costs), bool)
    for i in range(len(costs)):
        no_worse = (costs <= costs[i]) & (accuracies >= accuracies[i])
        strictly_better = (costs < costs[i]) | (accuracies > accuracies[i])
        mask[i] = not np.any(no_worse & strictly_better)
    return mask


@dataclass(frozen=True)
class MachinePeaks:
    """This machine's measured compute and memory peaks (fp32, the given threads)."""

    peak_macs: float  # MAC/s
    peak_bandwidth: float  # byte/s
    threads: int

    @property
    def ridge_point(self) -> float:
        return self.peak_macs / self.peak_bandwidth


def measure_peaks(*, threads: int = 1, matmul_size: int = 1536, copy_megabytes: int = 256,
                  repeats: int = 5) -> MachinePeaks:
    """PeakMACs from a large fp32 matmul (n^3 MACs) and PeakMemBW from a large copy (read + write), best of
    `repeats` (the peak is what the hardware can do, not what a disturbed run did)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(matmul_size, matmul_size), torch.randn(matmul_size, matmul_size)
        torch.mm(a, b)
        mm_seconds = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
        source = torch.empty(copy_megabytes * 2**20 // 4)
        target = torch.empty_like(source)
        target.copy_(source)
        copy_seconds = min(_seconds(lambda: target.copy_(source)) for _ in range(repeats))
    finally:
        torch.set_num_threads(previous)
    return MachinePeaks(matmul_size**3 / mm_seconds, 2 * source.numel() * 4 / copy_seconds, threads)


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
