"""Kernel-level latency prediction: one regressor per kernel type, a network as the sum of its kernels.

Each kernel type's latency on a device is learnt from the kernel timing set (`measure.kernel_timing`) in two parts:
a cost that grows with the work (non-negative least squares on MACs, elements moved and a constant, fitted on
relative error so that small kernels count as much as large ones), and a gradient-boosted correction of its log
ratio learnt from the kernel's shape features (how efficient this shape is: narrow channels, odd strides, small
spatial maps). The first part extrapolates to kernels larger than any timed; the second is what nn-Meter's random
forests capture. A network's prediction is then the call overhead once plus its kernels, through a network-level
calibration (`NetworkCalibration`) fitted on networks of the fit: what kernels timed alone do not see — a blocked
layout's reorders (which a kernel timed alone pays on its way in and out, and a network pays only where the layout
changes), caches warmed by the previous kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from sklearn.ensemble import HistGradientBoostingRegressor

from mobilerepro import MobileReproError
from mobilerepro.measure.kernels import Kernel, NetworkKernels

MIN_FOR_CORRECTION = 20  # a type with fewer timed kernels keeps the work-proportional cost alone
SHAPE_FEATURES = ("output_elements", "input_elements", "weight_elements", "epilogue_ops", "macs", "cin", "cout",
                  "height", "width", "kernel", "stride", "groups", "out_height", "residual", "rows", "depth",
                  "columns", "batch", "channels", "last_dim", "operands")


def _work(feature: dict) -> np.ndarray:
    moved = feature["input_elements"] + feature["output_elements"] + feature["weight_elements"]
    return np.array([feature["macs"] / 1e6, moved / 1e6, 1.0])


def _shape(feature: dict) -> list[float]:
    return [math.log1p(feature.get(name, 0.0)) for name in SHAPE_FEATURES]


@dataclass
class TypeModel:
    """The latency of one kernel type: work-proportional cost times a learnt efficiency correction."""

    coefficients: np.ndarray
    correction: HistGradientBoostingRegressor | None

    def predict(self, features: Sequence[dict]) -> np.ndarray:
        base = np.array([_work(f) for f in features]) @ self.coefficients
        if self.correction is None:
            return base
        return base * np.exp(self.correction.predict(np.array([_shape(f) for f in features])))


def fit_type(features: Sequence[dict], latency_ms: Sequence[float], seed: int = 0) -> TypeModel:
    latency = np.maximum(np.asarray(latency_ms, dtype=float), 1e-5)
    design = np.array([_work(f) for f in features])
    coefficients, _ = nnls(design / latency[:, None], np.ones(len(latency)))
    if not coefficients.any():
        coefficients = np.array([0.0, 0.0, float(np.median(latency))])
    correction = None
    if len(latency) >= MIN_FOR_CORRECTION:
        base = np.maximum(design @ coefficients, 1e-6)
        correction = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.08, max_leaf_nodes=15,
                                                   min_samples_leaf=5, l2_regularization=1.0, random_state=seed)
        correction.fit(np.array([_shape(f) for f in features]), np.log(latency / base))
    return TypeModel(coefficients, correction)


@dataclass
class KernelModel:
    """A device's per-type kernel models and its call overhead (the null kernel's time)."""

    device: str
    types: dict[str, TypeModel]
    overhead_ms: float
    counts: dict[str, int]

    def kernel_latencies(self, kernels: Sequence[Kernel]) -> np.ndarray:
        """Predicted latency of each kernel (ms); a type never timed borrows the element-wise model."""
        out = np.zeros(len(kernels))
        by_type: dict[str, list[int]] = {}
        for index, kernel in enumerate(kernels):
            by_type.setdefault(kernel.type, []).append(index)
        for kind, indices in by_type.items():
            model = self.types.get(kind) or self.types.get("binary") or next(iter(self.types.values()))
            out[indices] = model.predict([kernels[i].features() for i in indices])
        return out


def fit(device: str, records: Sequence[dict], seed: int = 0) -> KernelModel:
    """The kernel model of a device from its kernel timing set's records (those that ran)."""
    usable = [r for r in records if r.get("latency_ms") is not None]
    if not usable:
        raise MobileReproError(f"{device}: no timed kernels to learn from")
    by_type: dict[str, list[dict]] = {}
    for record in usable:
        by_type.setdefault(record["kernel"]["type"], []).append(record)
    types = {}
    for kind, group in by_type.items():
        kernels = [Kernel.from_dict(r["kernel"]) for r in group]
        types[kind] = fit_type([k.features() for k in kernels], [r["latency_ms"] for r in group], seed)
    overhead = float(np.median([r["null_ms"] for r in usable]))
    return KernelModel(device, types, overhead, {k: len(v) for k, v in by_type.items()})


def _activation_elements(kernel: Kernel) -> float:
    return float(sum(math.prod(s) for s, c in zip(kernel.shapes, kernel.constant, strict=True) if not c)
                 + math.prod(kernel.output_shape))


def calibration_terms(model: KernelModel, network: NetworkKernels) -> list[float]:
    """What a network-level calibration weighs: the predicted time of its blocked-layout kernels and of the others
    (ms), the elements its blocked kernels read and write (a kernel timed alone enters and leaves the blocked layout,
    a cost it does not pay inside the network) and the elements the network itself reorders (millions)."""
    latencies = model.kernel_latencies(network.kernels)
    blocked = [k.blocked for k in network.kernels]
    return [model.overhead_ms + float(sum(t for t, b in zip(latencies, blocked, strict=True) if not b)),
            float(sum(t for t, b in zip(latencies, blocked, strict=True) if b)),
            sum(_activation_elements(k) for k in network.kernels if k.blocked) / 1e6,
            network.reordered_elements / 1e6]


@dataclass
class NetworkCalibration:
    """latency ≈ Σ coefficient × calibration term (`calibration_terms`): the kernels' sums scaled, and the layout
    reorders priced — those a kernel timed alone paid and the network does not, and those the network adds."""

    coefficients: list[float]

    def predict(self, terms: Sequence[float]) -> float:
        return float(np.dot(self.coefficients, terms))


def calibrate(terms: Sequence[Sequence[float]], latency_ms: Sequence[float]) -> NetworkCalibration:
    """Least squares on relative error over networks of the fit; a term no network has is left at 0 (and the kernel
    sums at 1), so that a backend without a blocked layout is calibrated on its sums alone."""
    latency = np.asarray(latency_ms, dtype=float)
    design = np.asarray(terms, dtype=float)
    used = [j for j in range(design.shape[1]) if np.any(design[:, j])]
    coefficients = np.zeros(design.shape[1])
    if len(latency) > len(used):
        found, *_ = np.linalg.lstsq(design[:, used] / latency[:, None], np.ones(len(latency)), rcond=None)
        coefficients[used] = found
    else:
        coefficients[:2] = 1.0
    return NetworkCalibration([float(c) for c in coefficients])
