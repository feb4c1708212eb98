"""A per-device latency predictor from a model's layer list, and the two baselines it must beat.

A network's latency on one device is modelled as the sum of what its layers cost there: a time per MAC for each
kind of layer (dense k x k convolutions, 1x1 convolutions, depthwise convolutions, matmuls and linear layers, which
run at very different efficiencies), a time per byte of weights and of activations moved, and a fixed cost per
layer (launch, synchronisation). The coefficients are fitted per device by non-negative least squares on *relative*
error (every model counts alike, small or large), so each stays a physical cost. The baselines: latency
proportional to MACs (one coefficient), and the calibrated roofline (Σ max(MACs, r · bytes) per layer times one
coefficient, the ridge point r chosen on the fit's data).

Accuracy is measured on models the fit never saw, with nn-Meter's metric (share of predictions within ±10 % of the
measured latency), RMSPE and Spearman's ρ. A prediction carries an interval from the held-out relative errors.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from scipy.stats import spearmanr

from mobilerepro import MobileReproError
from mobilerepro.measure.complexity import LayerCost, layer_costs

BYTES_PER_ELEMENT = 4  # fp32 features; a device's own precision is absorbed into its coefficients
LAYER_FEATURES = ("dense_conv_gmacs", "pointwise_gmacs", "depthwise_gmacs", "matmul_gmacs", "weight_mbytes",
                  "activation_mbytes", "layers")
SMALL_FEATURES = ("gmacs", "layers")  # for devices with a handful of published points
RIDGE_GRID = tuple(np.geomspace(0.05, 50, 41))  # MACs per byte


def features(layers: Sequence[LayerCost]) -> dict:
    """The model's cost terms by layer kind, and its per-layer MACs and bytes (for the roofline baseline)."""
    convolution = [layer for layer in layers if layer.op.endswith("convolution")]
    other = [layer for layer in layers if not layer.op.endswith("convolution")]
    return {
        "dense_conv_gmacs": sum(lay.macs for lay in convolution if not lay.depthwise and lay.kernel_area > 1) / 1e9,
        "pointwise_gmacs": sum(lay.macs for lay in convolution if not lay.depthwise and lay.kernel_area == 1) / 1e9,
        "depthwise_gmacs": sum(lay.macs for lay in convolution if lay.depthwise) / 1e9,
        "matmul_gmacs": sum(lay.macs for lay in other) / 1e9,
        "weight_mbytes": sum(lay.weight_elements for lay in layers) * BYTES_PER_ELEMENT / 1e6,
        "activation_mbytes": sum(lay.activation_elements for lay in layers) * BYTES_PER_ELEMENT / 1e6,
        "layers": float(len(layers)),
        "gmacs": sum(lay.macs for lay in layers) / 1e9,
        "layer_macs": [lay.necessary_macs for lay in layers],
        "layer_bytes": [lay.bytes(BYTES_PER_ELEMENT) for lay in layers],
    }


def roofline_cost(feature: dict, ridge: float) -> float:
    """Σ max(MACs, ridge · bytes) over the layers, in GMAC-equivalents."""
    return sum(max(m, ridge * b) for m, b in zip(feature["layer_macs"], feature["layer_bytes"], strict=True)) / 1e9


@dataclass
class Predictor:
    """One device's fitted model: `kind` is layers | small | macs | roofline."""

    device: str
    kind: str
    coefficients: dict[str, float]
    ridge: float | None = None
    # Relative errors (predicted / measured - 1) on held-out models: the prediction interval; `accuracy`: the scores
    # of each evaluation on unseen models (held-out networks, left-out families, left-out models).
    held_out_errors: list[float] = field(default_factory=list)
    accuracy: dict[str, dict] = field(default_factory=dict)

    def design(self, feature: dict) -> np.ndarray:
        if self.kind == "roofline":
            return np.array([roofline_cost(feature, self.ridge)])
        return np.array([feature[name] for name in self.coefficients])

    def predict(self, feature: dict) -> float:
        return float(self.design(feature) @ np.array(list(self.coefficients.values())))

    def interval(self, feature: dict, coverage: float = 0.9) -> tuple[float, float]:
        """The range the held-out relative errors put the true latency in, `coverage` of the time."""
        predicted = self.predict(feature)
        if len(self.held_out_errors) < 3:
            return (float("nan"), float("nan"))
        low, high = np.quantile(self.held_out_errors, [(1 - coverage) / 2, (1 + coverage) / 2])
        return predicted / (1 + high), predicted / (1 + low)

    def as_dict(self) -> dict:
        return asdict(self)


KIND_FEATURES = {"layers": LAYER_FEATURES, "small": SMALL_FEATURES, "macs": ("gmacs",)}
KINDS = ("layers", "small", "macs", "roofline")


def _relative_nnls(design: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising Σ ((design · c) / latency - 1)²."""
    coefficients, _ = nnls(design / latency[:, None], np.ones(len(latency)))
    return coefficients


def fit(device: str, kind: str, feature_rows: Sequence[dict], latency_ms: Sequence[float]) -> Predictor:
    if kind not in KINDS:
        raise MobileReproError(f"unknown predictor kind {kind!r} (choose from: {', '.join(KINDS)})")
    latency = np.asarray(latency_ms, dtype=float)
    if len(latency) < 2 or not np.all(latency > 0):
        raise MobileReproError(f"{device}: a fit needs at least two positive latencies")
    if kind == "roofline":
        best = None
        for ridge in RIDGE_GRID:
            design = np.array([[roofline_cost(f, ridge)] for f in feature_rows])
            coefficients = _relative_nnls(design, latency)
            error = np.sum((design @ coefficients / latency - 1) ** 2)
            if best is None or error < best[0]:
                best = (error, ridge, coefficients)
        return Predictor(device, kind, {"ms_per_gmac_equivalent": float(best[2][0])}, float(best[1]))
    names = KIND_FEATURES[kind]
    design = np.array([[f[name] for name in names] for f in feature_rows])
    coefficients = _relative_nnls(design, latency)
    return Predictor(device, kind, {name: float(c) for name, c in zip(names, coefficients, strict=True)})


def scores(predicted: Sequence[float], measured: Sequence[float]) -> dict:
    """nn-Meter's ±10 % accuracy, RMSPE (%) and Spearman's ρ of predictions against measurements."""
    predicted, measured = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    relative = predicted / measured - 1
    rho = float(spearmanr(predicted, measured).statistic) if len(measured) >= 3 else float("nan")
    return {"n": int(len(measured)), "within_10_percent": float(np.mean(np.abs(relative) <= 0.10)),
            "rmspe_percent": float(100 * np.sqrt(np.mean(relative ** 2))), "spearman_rho": rho}


def cross_validate(device: str, kind: str, feature_rows: list[dict], latency_ms: list[float],
                   groups: list[str]) -> tuple[list[float], list[float]]:
    """Leave-one-group-out predictions (a group: a model, or a family of models): (predicted, measured) in the
    order of the rows."""
    predicted = np.full(len(latency_ms), np.nan)
    for group in dict.fromkeys(groups):
        train = [i for i, g in enumerate(groups) if g != group]
        test = [i for i, g in enumerate(groups) if g == group]
        if len(train) < 2:
            raise MobileReproError(f"{device}: leaving out {group} leaves fewer than two models to fit")
        model = fit(device, kind, [feature_rows[i] for i in train], [latency_ms[i] for i in train])
        for i in test:
            predicted[i] = model.predict(feature_rows[i])
    return list(predicted), list(latency_ms)


# Serving a fitted set (`python -m mobilerepro predict`) --------------------------------------------------------------
@functools.cache
def zoo_features(name: str) -> dict:
    """Features of a zoo model in its inference form."""
    from mobilerepro.models import zoo
    from mobilerepro.reparam import reparameterize_model

    return features(layer_costs(reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size))


def any_model(name: str) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    """A zoo model in inference form, or any timm or torchvision architecture built without weights, and its input."""
    import timm
    import torchvision

    from mobilerepro.models import zoo
    from mobilerepro.reparam import reparameterize_model

    if name in zoo.model_names():
        return reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size
    if timm.is_model(name):
        model = timm.create_model(name, pretrained=False)
        return model.eval(), tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
    if name in torchvision.models.list_models():
        return torchvision.models.get_model(name, weights=None).eval(), (3, 224, 224)
    raise MobileReproError(f"unknown model {name!r}: not in the zoo (python -m mobilerepro models), timm or "
                           "torchvision")


def model_features(name: str) -> tuple[dict, tuple[int, int, int]]:
    """The layer model's features of any model `any_model` builds."""
    from mobilerepro.models import zoo

    if name in zoo.model_names():
        return zoo_features(name), zoo.get_spec(name).input_size
    model, size = any_model(name)
    return features(layer_costs(model, size)), size


def read_fitted(summary: Path) -> dict[str, dict[str, Predictor]]:
    """The predictors a run of the predictor chapter fitted, by device and kind, from its summary file."""
    fitted = json.loads(Path(summary).read_text())["predictors"]
    return {device: {kind: Predictor(**p) for kind, p in kinds.items()} for device, kinds in fitted.items()}


def resolve_device(name: str, predictors: dict) -> str:
    """A device of `predictors` by its label, its name before the brackets, or a published device's key."""
    from mobilerepro import paper

    matches = [d for d in predictors if name.lower() in (d.lower(), d.lower().split(" (")[0],
                                                         d.lower().removeprefix("this machine: "))]
    matches += [paper.device_label(key) for key in paper.devices()
                if key == name.lower() and paper.device_label(key) in predictors]
    if not matches:
        raise MobileReproError(f"no predictor for device {name!r} (devices: {'; '.join(predictors)})")
    return matches[0]


def predict(device: str, model: str, summary: Path) -> dict:
    """One model's predicted latency on one device, with the interval its held-out errors give: by the kernel model
    where the run fitted one for the device (and which kernel types take the time), else by the layer model."""
    predictors = read_fitted(summary)
    device = resolve_device(device, predictors)
    kernel_entry = json.loads(Path(summary).read_text()).get("kernel_models", {}).get(device)
    if kernel_entry and Path(kernel_entry["cache"]).exists():
        return _predict_by_kernels(device, model, kernel_entry, summary)
    kind = "layers" if "layers" in predictors[device] else "small"
    fitted = predictors[device][kind]
    feature, size = model_features(model)
    low, high = fitted.interval(feature)
    return {"device": device, "model": model, "input": size, "predicted_ms": fitted.predict(feature),
            "interval_ms": (low, high), "kind": kind, "accuracy": fitted.accuracy,
            "held_out_models": len(fitted.held_out_errors), "source": str(summary), "dominant_kernels": []}


def _predict_by_kernels(device: str, name: str, entry: dict, summary: Path) -> dict:
    from mobilerepro.measure import kernel_model as km
    from mobilerepro.measure.kernels import network_kernels

    records = [json.loads(line) for line in Path(entry["cache"]).read_text().splitlines() if line.strip()]
    model = km.fit(device, records)
    calibration = km.NetworkCalibration(**entry["calibration"])
    built, size = any_model(name)
    network = network_kernels(built, size, entry["backend"])
    latencies = model.kernel_latencies(network.kernels)
    predicted = calibration.predict(km.calibration_terms(model, network))
    by_type: dict[str, float] = {}
    for kernel, latency in zip(network.kernels, latencies, strict=True):
        by_type[kernel.type] = by_type.get(kernel.type, 0.0) + float(latency)
    total = sum(by_type.values()) or 1.0
    dominant = sorted(((kind, value / total, sum(k.type == kind for k in network.kernels))
                       for kind, value in by_type.items()), key=lambda item: -item[1])
    errors = entry["held_out_errors"]
    low, high = (np.quantile(errors, [0.05, 0.95]) if len(errors) >= 3 else (np.nan, np.nan))
    return {"device": device, "model": name, "input": size, "predicted_ms": predicted,
            "interval_ms": (predicted / (1 + high), predicted / (1 + low)), "kind": "kernels",
            "accuracy": entry["accuracy"], "held_out_models": len(errors), "source": str(summary),
            "dominant_kernels": dominant[:4]}
