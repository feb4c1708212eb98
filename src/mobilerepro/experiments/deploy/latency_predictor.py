"""A per-device latency predictor, with its accuracy measured on models it never saw (`measure.predictor_evaluation`).

Devices of two kinds. *This machine's backends*: a few hundred random networks drawn from the MobileNetV4 UIB search
space (`mobilenetv4.random_spec`), the zoo and a list of unseen timm architectures are timed here on torch, ONNX
Runtime and OpenVINO (`measure.timing_set`, cached line by line). Two predictors are learnt per backend: the
**kernel model** (nn-Meter's way: the network split into the kernels the backend runs by its fusion rules, each
kernel type's latency learnt from kernels timed alone — the kernels of the fit's networks and a grid beyond them —
and the network as the sum; `measure.kernels`, `measure.kernel_timing`, `measure.kernel_model`) and the seven-term
**layer model** (`measure.predictor`). Accuracy: on a quarter of the random networks held out, leave-one-family-out
on the zoo, and on the unseen architectures. *Published devices* (the phones of MobileOne, MNv4 Tab. 6,
EfficientFormerV2, MnasNet/MobileNetV3, and every device imported with `import-latency`): a handful of zoo models
each, so the predictor there has two coefficients (MACs and layer count) and is judged by leave-one-out — with five
points that says little, and the chapter says so. Every predictor is compared with latency ∝ MACs and the
calibrated roofline. `python -m mobilerepro predict` serves the fitted predictors of the latest run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.measure import kernel_timing
from mobilerepro.measure import predictor as lp
from mobilerepro.measure import predictor_evaluation as evaluation
from mobilerepro.measure.kernels import GRAPH_CHECKS, KERNEL_TYPES, NetworkKernels, fuse, trace
from mobilerepro.measure.latency import CPU_BACKENDS, DESKTOP_BACKENDS
from mobilerepro.measure.timing_set import RANDOM_FAMILY, UNSEEN_PREFIX, build_network, cache_file, timing_set
from mobilerepro.report import save_figure

MIN_PUBLISHED_POINTS = 4
GOAL_WITHIN_10 = 0.9  # the project's goal on this machine's backends (nn-Meter's own accuracy: shared PAPERS.md)


@dataclass(frozen=True)
class PredictorConfig(BaseConfig):
    random_networks: int = 200
    zoo_models: list[str] | None = None
    backends: list[str] | None = None
    threads: int = 1
    warmup: int = 2
    rounds: int = 3
    runs_per_round: int = 3
    held_out_fraction: float = 0.25
    unseen_models: list[str] | None = None  # default: every architecture of measure/unseen_models.yaml
    source_kernels: int = 3000  # kernels of the fit's networks timed alone per backend (a sample of each type)
    grid_kernels: int = 1040  # one-op networks over shapes beyond the zoo and the UIB space
    seed: int = 0


class NetworkTraces:
    """Each timing-set network traced once (`measure.kernels.trace`), its kernels per backend on demand."""

    def __init__(self, records: list[dict]):
        self.family = {r["name"]: r["family"] for r in records}
        self.ops: dict[str, list] = {}
        self.fused: dict[tuple[str, str], NetworkKernels] = {}

    def kernels(self, name: str, backend: str) -> NetworkKernels:
        if (name, backend) not in self.fused:
            if name not in self.ops:
                model, size = build_network(name, self.family[name])
                self.ops[name] = trace(model, size)
            self.fused[name, backend] = fuse(self.ops[name], backend)
        return self.fused[name, backend]


def machine_device(backend: str) -> str:
    return f"this machine: {backend}"


def timing_plan(config: PredictorConfig):
    from mobilerepro.measure.latency import TimingPlan

    return TimingPlan(config.warmup, config.rounds, config.runs_per_round, config.threads, config.seed)


CALIBRATION_COLUMNS = ("× other kernels", "× blocked-layout kernels", "ms per M elements a blocked kernel moves",
                       "ms per M elements reordered")


class PredictorResult(Result):
    terminal_tables = ("accuracy",)

    def accuracy_table(self) -> pd.DataFrame:
        records = []
        for entry in self.summary["accuracy"]:
            records.append({"device": entry["device"], "evaluation": entry["evaluation"], "predictor": entry["kind"],
                            "models": entry["n"], "within ±10 %": entry["within_10_percent"],
                            "RMSPE (%)": entry["rmspe_percent"], "Spearman ρ": entry["spearman_rho"]})
        return pd.DataFrame.from_records(records)

    def phones_table(self) -> pd.DataFrame:
        """Predicted latency of every zoo model on the published phones, next to the published number."""
        return pd.DataFrame.from_records(self.summary["phones"])

    def kernels_table(self) -> pd.DataFrame:
        """Per backend: the kernels timed alone by type, the call overhead and the network calibration."""
        records = []
        for device, entry in self.summary["kernel_models"].items():
            records.append({"device": device, "kernels timed": sum(entry["kernels_timed"].values()),
                            **{kind: entry["kernels_timed"].get(kind, 0) for kind in KERNEL_TYPES
                               if any(kind in e["kernels_timed"] for e in self.summary["kernel_models"].values())},
                            "call overhead (ms)": entry["overhead_ms"],
                            **dict(zip(CALIBRATION_COLUMNS, entry["calibration"]["coefficients"], strict=True))})
        return pd.DataFrame.from_records(records)

    def unseen_table(self) -> pd.DataFrame:
        """Every unseen architecture per backend: measured latency, each predictor's error, and the kernel type that
        takes most of the kernel model's prediction (where a miss comes from)."""
        rows = self.rows[self.rows.evaluation == evaluation.UNSEEN] if len(self.rows) else self.rows
        records = []
        for (device, model), group in rows.groupby(["device", "model"], sort=False):
            by_kind = group.set_index("kind")
            record = {"device": device, "model": model,
                      "family": by_kind.family.iloc[0].removeprefix(UNSEEN_PREFIX),
                      "measured (ms)": by_kind.measured_ms.iloc[0]}
            for kind in by_kind.index:
                record[f"{kind} error (%)"] = 100 * (by_kind.predicted_ms[kind] / by_kind.measured_ms[kind] - 1)
            record["largest kernel share"] = by_kind.dominant_kernel.get("kernels", "")
            records.append(record)
        return pd.DataFrame.from_records(records)

    def fusion_table(self) -> pd.DataFrame:
        """Our kernels of a few zoo models against the nodes of the graph each runtime executes."""
        table = pd.DataFrame.from_records(self.summary["fusion_check"])
        return table.rename(columns=lambda c: c.replace("runtime_", "") + (" (runtime)" if "runtime_" in c else
                                                                           " (ours)" if c not in ("model", "backend")
                                                                           else ""))

    def exercise_estimate(self, quantity: dict):
        """`within_10`: the share of one evaluation's models a predictor puts within ±10 %, with its Wilson 95 %
        interval; `share_gain`: that share of one predictor minus another's on the same models, with a seeded
        bootstrap interval over the models."""
        from scipy.stats import binomtest

        from mobilerepro.exercises import Estimate

        if quantity.get("name") not in ("within_10", "share_gain"):
            return super().exercise_estimate(quantity)
        device = machine_device(quantity.get("backend", ""))
        rows = self.rows[(self.rows.device == device) & (self.rows.evaluation == quantity.get("evaluation"))] \
            if len(self.rows) else self.rows
        kinds = [quantity["kind"]] if quantity["name"] == "within_10" else list(quantity["kinds"])
        hits = {}
        for kind in kinds:
            part = rows[rows.kind == kind].sort_values("model")  # paired by model across predictors
            if part.empty:
                raise MobileReproError(f"no {kind} predictions of {quantity.get('evaluation')!r} on {device} in this "
                                       "run")
            hits[kind] = ((part.predicted_ms / part.measured_ms - 1).abs() <= 0.10).to_numpy()
        what = f"the share of {quantity['evaluation']} within ±10 % on {quantity['backend']}"
        if quantity["name"] == "within_10":
            found = hits[kinds[0]]
            interval = binomtest(int(found.sum()), len(found)).proportion_ci(method="wilson")
            return Estimate(float(found.mean()), interval.low, interval.high, f"{what} ({kinds[0]} predictor)")
        gain = hits[kinds[0]].astype(float) - hits[kinds[1]].astype(float)
        draws = np.random.default_rng(0).integers(0, len(gain), size=(2000, len(gain)))
        low, high = np.quantile(gain[draws].mean(axis=1), [0.025, 0.975])
        return Estimate(float(gain.mean()), float(low), float(high), f"{what}, {kinds[0]} minus {kinds[1]}")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"accuracy": self.accuracy_table(), "unseen": self.unseen_table(), "kernels": self.kernels_table(),
                "fusion": self.fusion_table(),
                "phones": self.phones_table()}

    def summary_numbers(self) -> list[str]:
        table = self.accuracy_table()
        lines = []
        for (device, evaluated), group in table.groupby(["device", "evaluation"], sort=False):
            cells = ", ".join(f"{row['predictor']} {row['within ±10 %']:.0%}" for _, row in group.iterrows())
            lines.append(f"{device}, {evaluated}: within ±10 %: {cells} (n = {group.models.iloc[0]})")
        timed = self.summary["timing_set"]
        lines.append(f"timing set: {timed['random']} random UIB networks, {timed['zoo']} zoo models and "
                     f"{timed.get('unseen', 0)} unseen architectures on "
                     f"{', '.join(timed['backends'])}, {timed['threads']} thread(s); goal here: ≥ "
                     f"{GOAL_WITHIN_10:.0%} of held-out random networks within ±10 %")
        return lines


class LatencyPredictor(Experiment):
    title = "Predicting a device's latency from the architecture"
    description = "per-device latency predictor from layer lists, fitted on random UIB networks timed here and on " \
                  "published phone latencies; accuracy on unseen models vs MACs and roofline"
    config_type = PredictorConfig
    result_type = PredictorResult
    profiles = {
        "smoke": {"random_networks": 8, "zoo_models": ["mobileone_s0", "mobilenet_v2", "mnv4_conv_s",
                                                       "efficientnet_b0"], "backends": ["torch", "onnxruntime"],
                  "unseen_models": ["lcnet_075", "resnet10t"], "source_kernels": 60, "grid_kernels": 26,
                  "warmup": 1, "rounds": 1, "runs_per_round": 2},
        "quick": {"random_networks": 200, "zoo_models": None, "backends": list(DESKTOP_BACKENDS)},
        "full": {"random_networks": 400, "zoo_models": None, "backends": list(DESKTOP_BACKENDS), "rounds": 5,
                 "runs_per_round": 5, "source_kernels": 8000, "grid_kernels": 2600},
    }

    def validate(self, config: PredictorConfig) -> PredictorConfig:
        from dataclasses import replace

        from mobilerepro.models import zoo

        backends = config.backends or list(DESKTOP_BACKENDS)
        unknown = [b for b in backends if b not in CPU_BACKENDS]
        if unknown:
            raise MobileReproError(f"backends must be among {', '.join(CPU_BACKENDS)}, got {unknown[0]!r}")
        if config.random_networks < 4:
            raise MobileReproError("random_networks must be at least 4 (a fit and a held-out part)")
        if not 0 < config.held_out_fraction < 1:
            raise MobileReproError(f"held_out_fraction must lie in (0, 1), got {config.held_out_fraction}")
        models = [zoo.get_spec(name).name for name in (config.zoo_models or zoo.model_names())]
        known = evaluation.unseen_models()
        unseen = list(known) if config.unseen_models is None else list(config.unseen_models)
        stray = [name for name in unseen if name not in known]
        if stray:
            raise MobileReproError(f"unseen_models must come from measure/unseen_models.yaml (kept apart from every "
                                   f"fit), got {stray[0]!r}")
        return replace(config, backends=backends, zoo_models=models, unseen_models=unseen)

    def threads(self, config: PredictorConfig) -> int:
        return config.threads

    # Analysis --------------------------------------------------------------------------------------------------------
    def measure(self, config: PredictorConfig, directory: Path, progress: bool) -> Outcome:
        unseen = {name: evaluation.unseen_models()[name] for name in config.unseen_models}
        records = timing_set(config.backends, timing_plan(config), config.random_networks, config.zoo_models,
                             progress, unseen)
        found, predictors, kernel_models = evaluation.Evaluation(), {}, {}
        traced = NetworkTraces(records)
        for backend in config.backends:
            device = machine_device(backend)
            timed = [r for r in records if r["latency_ms"].get(backend)]
            random_records = [r for r in timed if r["family"] == RANDOM_FAMILY]
            zoo_records = [r for r in timed if r["family"] in self.zoo_families(config)]
            unseen_records = [r for r in timed if r["family"].startswith(UNSEEN_PREFIX)]
            fit_part, held_out = evaluation.split_held_out(random_records, config.held_out_fraction, config.seed)
            predictors[device] = evaluation.layer_models(device, backend, fit_part, held_out, zoo_records,
                                                         unseen_records, found)
            kernel_records = self.kernel_timing_set(config, backend, fit_part + zoo_records, traced, progress)
            kernel_models[device] = {
                "backend": backend, "cache": str(kernel_timing.cache_file(backend, timing_plan(config))),
                "sources": sorted({f for r in kernel_records for f in r["families"]}),
                **evaluation.kernel_models(device, backend, fit_part, held_out, zoo_records, unseen_records,
                                           lambda name, backend=backend: traced.kernels(name, backend),
                                           kernel_records, found, config.seed)}
        for device, points in self.published_points().items():
            predictors[device] = evaluation.published_device(device, points, found)
        summary = {
            "timing_set": {"random": config.random_networks, "zoo": len(config.zoo_models),
                           "unseen": len(config.unseen_models), "backends": config.backends,
                           "threads": config.threads, "cache": str(cache_file(config.backends, timing_plan(config)))},
            "accuracy": found.accuracy, "predictors": {d: {k: p.as_dict() for k, p in kinds.items()}
                                                       for d, kinds in predictors.items()},
            "kernel_models": kernel_models,
            "fusion_check": self.fusion_check(config.zoo_models[:4], config.backends),
            "phones": self.phone_predictions(predictors),
        }
        return Outcome(pd.DataFrame.from_records(found.rows), summary)

    @staticmethod
    def fusion_check(names: list[str], backends: list[str]) -> list[dict]:
        """The fusion rules checked against the graph each runtime itself executes, on a few zoo models."""
        from mobilerepro.models import zoo
        from mobilerepro.reparam import reparameterize_model

        return [{"model": name, **GRAPH_CHECKS[backend](reparameterize_model(zoo.build_model(name, seed=0)),
                                                        zoo.get_spec(name).input_size)}
                for backend in backends if backend in GRAPH_CHECKS for name in names]

    @staticmethod
    def zoo_families(config: PredictorConfig) -> set[str]:
        from mobilerepro.models import zoo

        return {zoo.get_spec(name).family for name in config.zoo_models}

    @staticmethod
    def kernel_timing_set(config: PredictorConfig, backend: str, sources: list[dict], traced: NetworkTraces,
                          progress: bool) -> list[dict]:
        """The kernels of the fit's networks (a sample of each type) and of the grid, timed alone on `backend`."""
        found = kernel_timing.source_kernels((r["family"], traced.kernels(r["name"], backend)) for r in sources)
        found = kernel_timing.sample(found, config.source_kernels, config.seed)
        for key, entry in kernel_timing.grid_kernels(config.grid_kernels, backend, config.seed).items():
            found.setdefault(key, entry)["families"] |= entry["families"]
        return kernel_timing.timed_kernels(found, backend, timing_plan(config), progress)

    def published_points(self) -> dict[str, list[tuple[str, float]]]:
        """(zoo model, latency) per published or imported device with enough numeric points."""
        from mobilerepro.export import bundle
        from mobilerepro.models import zoo

        points = {paper.device_label(key): [(name, paper.value(entry)) for name, entry in models.items()
                                            if paper.value(entry) is not None]
                  for key, models in paper.published_latencies(zoo.model_names(), paper.devices()).items()}
        for device, data in bundle.imported_devices().items():
            points[f"{device} (imported)"] = list(bundle.headline_latencies(data).items())
        return {device: found for device, found in points.items() if len(found) >= MIN_PUBLISHED_POINTS}

    def phone_predictions(self, predictors: dict) -> list[dict]:
        """Every zoo model's predicted latency on the iPhone 12 and the Pixel 6 CPU (two-coefficient predictor, fitted
        on all published points), with the published number where there is one."""
        from mobilerepro.models import zoo

        records = []
        phones = [(key, paper.device_label(key)) for key in ("iphone12", "pixel6_cpu")
                  if paper.device_label(key) in predictors]
        published = paper.published_latencies(zoo.model_names(), paper.devices())
        for name in zoo.model_names():
            feature = lp.zoo_features(name)
            record = {"model": name}
            for key, label in phones:
                short = label.split(" (")[0]
                record[f"{short} predicted (ms)"] = predictors[label]["small"].predict(feature)
                record[f"{short} published (ms)"] = paper.cell(published[key].get(name))
            records.append(record)
        return records

    def figure(self, result: PredictorResult, path: Path) -> None:
        """Left: predicted against measured latency of held-out random networks here (layer model and MACs baseline,
        ONNX Runtime when timed). Right: share within ±10 % per device and predictor."""
        rows, table = result.rows, result.accuracy_table()
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
        devices = list(dict.fromkeys(rows[rows.device.str.startswith("this machine")].device))
        shown = next((d for d in devices if d.endswith("onnxruntime")), devices[0] if devices else None)
        if shown:
            held_out = rows[(rows.device == shown) & (rows.evaluation == "held-out random networks")]
            for kind, marker in (("kernels", "s"), ("layers", "o"), ("macs", "x")):
                part = held_out[held_out.kind == kind]
                left.scatter(part.measured_ms, part.predicted_ms, marker=marker, label=f"{kind} predictor", alpha=0.7)
            limits = [held_out.measured_ms.min() * 0.8, held_out.measured_ms.max() * 1.2]
            left.plot(limits, limits, color="black", lw=1)
            left.fill_between(limits, [v * 0.9 for v in limits], [v * 1.1 for v in limits], color="grey", alpha=0.2,
                              label="±10 %")
            left.set_xscale("log")
            left.set_yscale("log")
            left.set_xlabel(f"measured latency (ms), {shown}")
            left.set_ylabel("predicted latency (ms)")
            left.set_title("held-out random UIB networks")
            left.legend(fontsize=8)
        labels = [f"{d}\n{e}" for d, e in dict.fromkeys(zip(table.device, table.evaluation, strict=True))]
        kinds = list(dict.fromkeys(table.predictor))
        width = 0.8 / max(len(kinds), 1)
        for index, kind in enumerate(kinds):
            part = table[table.predictor == kind].set_index(["device", "evaluation"])
            values = [part["within ±10 %"].get((d, e), np.nan)
                      for d, e in dict.fromkeys(zip(table.device, table.evaluation, strict=True))]
            right.barh(np.arange(len(labels)) - 0.4 + width * (index + 0.5), values, width, label=kind)
        right.axvline(GOAL_WITHIN_10, color="black", ls="--", lw=1, label="goal here (90 %)")
        right.set_yticks(range(len(labels)), labels, fontsize=6)
        right.invert_yaxis()
        right.set_xlabel("share of unseen models predicted within ±10 %")
        right.legend(fontsize=7)
        right.grid(axis="x", alpha=0.3)
        fig.suptitle("Latency predictor: accuracy on models it never saw")
        save_figure(fig, path)


EXPERIMENT = LatencyPredictor()
