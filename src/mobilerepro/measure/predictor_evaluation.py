"""How well a latency predictor does on models it never saw, the evaluations a user can trust.

Three evaluations per device of this machine: held-out random UIB networks (a share of the timing set's random
networks, never fitted on), the zoo with one family left out (each family predicted by a fit that saw none of its
models, nor any kernel found only in them), and unseen architectures (timm families absent from the zoo and from every
kernel's source, `unseen_models.yaml`). Each predictor kind — the kernel model (`measure.kernel_model`), the layer
model, latency ∝ MACs and the calibrated roofline (`measure.predictor`) — is scored with nn-Meter's ±10 % accuracy,
RMSPE and Spearman's ρ. For a published device with a handful of latencies: leave one model out.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import yaml

from mobilerepro.measure import kernel_model as km
from mobilerepro.measure import predictor as lp
from mobilerepro.measure.kernels import NetworkKernels

HELD_OUT = "held-out random networks"
LEAVE_FAMILY_OUT = "zoo, leave one family out"
UNSEEN = "unseen architectures"
LEAVE_MODEL_OUT = "leave one model out"
LAYER_KINDS = ("layers", "macs", "roofline")


@functools.cache
def unseen_models() -> dict[str, str]:
    """timm name -> family of the architectures no predictor learns from."""
    return yaml.safe_load((resources.files("mobilerepro.measure") / "unseen_models.yaml").read_text())


def split_held_out(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(fit, held out): a seeded `fraction` of `records` held out, both in their original order."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * fraction))
    held = set(order[:cut])
    return ([r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held])


@dataclass
class Evaluation:
    """Predictions of unseen models (rows) and their scores (accuracy), per device, kind and evaluation."""

    rows: list[dict] = field(default_factory=list)
    accuracy: list[dict] = field(default_factory=list)

    def add(self, device: str, kind: str, evaluation: str, names: Sequence[str], predicted: Sequence[float],
            measured: Sequence[float], families: Sequence[str] | None = None,
            dominant: Sequence[str] | None = None) -> None:
        """Score one evaluation; `dominant`: the kernel type that takes most of each prediction (kernel model)."""
        if not names:
            return
        self.accuracy.append({"device": device, "kind": kind, "evaluation": evaluation,
                              **lp.scores(predicted, measured)})
        families = families or [""] * len(names)
        dominant = dominant or [""] * len(names)
        self.rows += [{"device": device, "kind": kind, "evaluation": evaluation, "model": n, "family": f,
                       "predicted_ms": p, "measured_ms": m, "dominant_kernel": d}
                      for n, f, p, m, d in zip(names, families, predicted, measured, dominant, strict=True)]

    def errors_of(self, device: str, kind: str) -> list[float]:
        return [r["predicted_ms"] / r["measured_ms"] - 1 for r in self.rows
                if r["device"] == device and r["kind"] == kind]

    def scores_of(self, device: str, kind: str) -> dict[str, dict]:
        return {e["evaluation"]: e for e in self.accuracy if e["device"] == device and e["kind"] == kind}

    def final(self, predictor: lp.Predictor) -> lp.Predictor:
        """`predictor` (fitted on every point) carrying the relative errors of every prediction of an unseen model —
        its interval: a network unlike the random ones is covered by the left-out families' errors too — and the
        scores of each evaluation."""
        predictor.held_out_errors = self.errors_of(predictor.device, predictor.kind)
        predictor.accuracy = self.scores_of(predictor.device, predictor.kind)
        return predictor


def _latency(records: Sequence[dict], backend: str) -> list[float]:
    return [r["latency_ms"][backend] for r in records]


def layer_models(device: str, backend: str, fit_part: list[dict], held_out: list[dict], zoo: list[dict],
                 unseen: list[dict], found: Evaluation) -> dict[str, lp.Predictor]:
    """The layer model and its baselines on one backend, through all three evaluations; the final fits."""
    random_part = fit_part + held_out
    fitted = {}
    for kind in LAYER_KINDS:
        def fit(records, kind=kind):
            return lp.fit(device, kind, [r["features"] for r in records], _latency(records, backend))

        model = fit(fit_part + zoo)
        found.add(device, kind, HELD_OUT, [r["name"] for r in held_out],
                  [model.predict(r["features"]) for r in held_out], _latency(held_out, backend))
        families = sorted({r["family"] for r in zoo})
        if len(families) >= 2:
            names, predicted, measured = [], [], []
            for family in families:
                left_out = fit(random_part + [r for r in zoo if r["family"] != family])
                for r in (r for r in zoo if r["family"] == family):
                    names.append(r["name"])
                    predicted.append(left_out.predict(r["features"]))
                    measured.append(r["latency_ms"][backend])
            found.add(device, kind, LEAVE_FAMILY_OUT, names, predicted, measured,
                      [r["family"] for f in families for r in zoo if r["family"] == f])
        everything = fit(random_part + zoo)
        found.add(device, kind, UNSEEN, [r["name"] for r in unseen],
                  [everything.predict(r["features"]) for r in unseen], _latency(unseen, backend),
                  [r["family"] for r in unseen])
        fitted[kind] = found.final(everything)
    return fitted


def kernel_models(device: str, backend: str, fit_part: list[dict], held_out: list[dict], zoo: list[dict],
                  unseen: list[dict], kernels_of: Callable[[str], NetworkKernels], kernel_records: list[dict],
                  found: Evaluation, seed: int = 0) -> dict:
    """The kernel model on one backend through the three evaluations. A fit learns its kernels from the records
    whose families include one it may see, and its network calibration from the networks it may see."""

    def fit(networks: list[dict], excluded_family: str | None = None):
        usable = [r for r in kernel_records if set(r["families"]) - {excluded_family}]
        model = km.fit(device, usable, seed)
        terms = [km.calibration_terms(model, kernels_of(r["name"])) for r in networks]
        return model, km.calibrate(terms, _latency(networks, backend))

    def predict(fitted, records):
        model, calibration = fitted
        return [calibration.predict(km.calibration_terms(model, kernels_of(r["name"]))) for r in records]

    def dominant(fitted, records):
        model = fitted[0]
        found = []
        for r in records:
            network = kernels_of(r["name"])
            shares: dict[str, float] = {}
            for kernel, latency in zip(network.kernels, model.kernel_latencies(network.kernels), strict=True):
                shares[kernel.type] = shares.get(kernel.type, 0.0) + float(latency)
            total = sum(shares.values()) or 1.0
            kind = max(shares, key=shares.get)
            found.append(f"{kind} {shares[kind] / total:.0%}")
        return found

    fitted = fit(fit_part + zoo)
    found.add(device, "kernels", HELD_OUT, [r["name"] for r in held_out], predict(fitted, held_out),
              _latency(held_out, backend))
    families = sorted({r["family"] for r in zoo})
    if len(families) >= 2:
        names, predicted, measured, labels, shares = [], [], [], [], []
        for family in families:
            members = [r for r in zoo if r["family"] == family]
            left_out = fit(fit_part + held_out + [r for r in zoo if r["family"] != family], family)
            names += [r["name"] for r in members]
            predicted += predict(left_out, members)
            measured += _latency(members, backend)
            labels += [family] * len(members)
            shares += dominant(left_out, members)
        found.add(device, "kernels", LEAVE_FAMILY_OUT, names, predicted, measured, labels, shares)
    everything = fit(fit_part + held_out + zoo)
    found.add(device, "kernels", UNSEEN, [r["name"] for r in unseen], predict(everything, unseen),
              _latency(unseen, backend), [r["family"] for r in unseen], dominant(everything, unseen))
    model, calibration = everything
    return {"device": device, "kind": "kernels", "overhead_ms": model.overhead_ms, "kernels_timed": model.counts,
            "calibration": vars(calibration), "held_out_errors": found.errors_of(device, "kernels"),
            "accuracy": found.scores_of(device, "kernels")}


def published_device(device: str, points: list[tuple[str, float]], found: Evaluation) -> dict[str, lp.Predictor]:
    """Leave-one-out over a published device's few models, for the two-coefficient predictor and the baselines."""
    feature_rows = [lp.zoo_features(name) for name, _ in points]
    latency = [value for _, value in points]
    names = [name for name, _ in points]
    fitted = {}
    for kind in ("small", "macs", "roofline"):
        predicted, measured = lp.cross_validate(device, kind, feature_rows, latency, names)
        found.add(device, kind, LEAVE_MODEL_OUT, names, predicted, measured)
        fitted[kind] = found.final(lp.fit(device, kind, feature_rows, latency))
    return fitted
