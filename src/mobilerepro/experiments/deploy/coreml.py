"""iPhone latency via Core ML: every zoo model as a Core ML ML program, its op census, timing where Core ML runs,
and the phone numbers of the papers and of devices users brought.

Both papers' headline latencies are phone latencies through Core ML (MobileOne: iPhone 12, minimum of 1000 runs;
MobileNetV4 Tab. 6: iPhone 13, fp16). Every zoo model is exported (the bundle of `export-bundle`: fp16 and fp32, iOS
16 ML programs, validated by loading them back) and its operations counted; a model that does not convert is listed
with the converter's reason. On macOS each package is timed for each compute-unit setting with both protocols
(MobileOne's and ModelBench's, `export.bundle.PROTOCOLS`) and the per-op placement of `MLComputePlan` is counted; on
any other OS those rows are recorded as skipped with the reason — Core ML converts everywhere but predicts only on
macOS. Devices imported with `import-latency` (timings of this bundle on real phones) appear next to the published
iPhone numbers. The chapter has no verdicts of its own: the published numbers are context, the measurements are
what a Mac or a phone adds.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter
from tqdm.auto import tqdm

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.export import bundle, coreml
from mobilerepro.report import save_figure

PUBLISHED_DEVICES = ("iphone12", "iphone13")  # keys of paper/deploy.yaml


@dataclass(frozen=True)
class CoreMLConfig(BaseConfig):
    models: list[str] | None = None
    precisions: list[str] | None = None
    compute_units: list[str] | None = None
    protocols: list[str] | None = None
    mobileone_runs: int = 1000
    modelbench_rounds: int = 20
    modelbench_runs_per_round: int = 50
    modelbench_trim: int = 10


def protocol_settings(config: CoreMLConfig) -> dict:
    return {"mobileone_runs": config.mobileone_runs, "modelbench_rounds": config.modelbench_rounds,
            "modelbench_runs_per_round": config.modelbench_runs_per_round, "modelbench_trim": config.modelbench_trim}


class CoreMLResult(Result):
    terminal_tables = ("census", "phones")

    def census_table(self) -> pd.DataFrame:
        records = []
        for package in self.summary["packages"]:
            top = ", ".join(f"{op} {n}" for op, n in sorted(package["census"].items(), key=lambda kv: -kv[1])[:5])
            records.append({"model": package["model"], "precision": package["precision"], "Core ML ops": package["ops"],
                            "most frequent": top})
        records += [{"model": f["model"], "precision": f["precision"], "Core ML ops": "failed", "most frequent":
                     f["reason"]} for f in self.summary["failed"]]
        return pd.DataFrame.from_records(records)

    def timing_table(self) -> pd.DataFrame:
        """This Mac's timings, or one line saying why there are none."""
        columns = ["model", "precision", "compute_units", "protocol", "status", "latency_ms", "reason"]
        if len(self.rows) and (self.rows.status == "skipped").all():
            return pd.DataFrame([{**dict.fromkeys(columns, ""), "model": "(every package)", "status": "skipped",
                                  "reason": self.rows.reason.iloc[0]}])
        return self.rows[columns]

    def phones_table(self) -> pd.DataFrame:
        """Published iPhone latencies of the zoo's models and every imported device's (fp16, all compute units,
        MobileOne's protocol), with our MAC count."""
        records = []
        for model, row in self.summary["models"].items():
            record = {"model": model, "MACs (M, ours)": row["macs"] / 1e6}
            for key in PUBLISHED_DEVICES:
                record[f"published {paper.devices()[key]['text']} (ms)"] = paper.cell(row["published"].get(key))
            for device, latencies in self.summary["devices"].items():
                record[f"{device} (imported, ms)"] = latencies.get(model)
            records.append(record)
        return pd.DataFrame.from_records(records)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"census": self.census_table(), "timing": self.timing_table(), "phones": self.phones_table()}

    def exercise_estimate(self, quantity: dict):
        """`ops`: how many operations the Core ML program of `model` at `precision` holds, an exact count (its
        interval is the count itself)."""
        from mobilerepro.exercises import Estimate

        if quantity.get("name") != "ops":
            return super().exercise_estimate(quantity)
        model, precision = quantity["model"], quantity["precision"]
        found = [p["ops"] for p in self.summary["packages"] if p["model"] == model and p["precision"] == precision]
        if not found:
            raise MobileReproError(f"{model} was not converted at {precision} in this run")
        return Estimate(found[0], found[0], found[0], f"Core ML ops of {model} ({precision})")

    def summary_numbers(self) -> list[str]:
        converted = {p["model"] for p in self.summary["packages"]}
        failed = sorted({f["model"] for f in self.summary["failed"]})
        lines = [f"{len(converted)} models converted to Core ML ML programs ({', '.join(self.summary['precisions'])}, "
                 f"{self.summary['deployment_target']}); failed: {', '.join(failed) or 'none'}"]
        skipped = self.rows[self.rows.status == "skipped"]
        if len(skipped):
            lines.append(f"timing skipped: {skipped.reason.iloc[0]}")
        lines.append(f"bundle for your phone: {self.summary['bundle']} (import its timings with "
                     "`python -m mobilerepro import-latency`); imported devices: "
                     f"{', '.join(self.summary['devices']) or 'none yet'}")
        return lines


class CoreMLLatency(Experiment):
    title = "iPhone latency via Core ML"
    description = "every zoo model as a Core ML ML program (fp16/fp32): op census, macOS timing, your phone's numbers"
    config_type = CoreMLConfig
    result_type = CoreMLResult
    profiles = {
        "smoke": {"models": ["mobileone_s0"], "precisions": ["fp16"], "compute_units": ["ALL"],
                  "protocols": ["mobileone"], "mobileone_runs": 5, "modelbench_rounds": 2,
                  "modelbench_runs_per_round": 5, "modelbench_trim": 1},
        "quick": {"models": None, "precisions": ["fp16", "fp32"], "compute_units": ["ALL", "CPU_ONLY", "CPU_AND_NE"],
                  "protocols": ["mobileone", "modelbench"], "mobileone_runs": 200, "modelbench_rounds": 5,
                  "modelbench_runs_per_round": 50, "modelbench_trim": 10},
        "full": {"models": None, "precisions": ["fp16", "fp32"], "compute_units": ["ALL", "CPU_ONLY", "CPU_AND_NE"],
                 "protocols": ["mobileone", "modelbench"]},
    }

    def validate(self, config: CoreMLConfig) -> CoreMLConfig:
        from dataclasses import replace

        from mobilerepro.export.coreml import PRECISIONS
        from mobilerepro.models import zoo

        models = [zoo.get_spec(name).name for name in (config.models or zoo.model_names())]
        for values, allowed, what in ((config.precisions, PRECISIONS, "precision"),
                                      (config.compute_units, bundle.COMPUTE_UNITS, "compute_units"),
                                      (config.protocols, tuple(bundle.PROTOCOLS), "protocol")):
            unknown = [v for v in values or [] if v not in allowed]
            if unknown or not values:
                raise MobileReproError(f"{what} must be among {', '.join(allowed)}, got {values!r}")
        if 2 * config.modelbench_trim >= config.modelbench_runs_per_round or min(
                config.mobileone_runs, config.modelbench_rounds) < 1:
            raise MobileReproError("modelbench_trim must leave runs in a round after trimming both ends, and "
                                   "mobileone_runs and modelbench_rounds must be at least 1")
        return replace(config, models=models)

    def measure(self, config: CoreMLConfig, directory: Path, progress: bool) -> Outcome:
        from mobilerepro.measure.complexity import count_macs
        from mobilerepro.measure.latency import get_backend
        from mobilerepro.models import zoo
        from mobilerepro.reparam import reparameterize_model

        manifest = bundle.load_manifest(bundle.export_bundle(config.models, bundle.default_bundle_dir(),
                                                             tuple(config.precisions), progress).parent)
        availability = get_backend("coreml").availability()
        packages = [p for p in manifest["packages"] if p["model"] in config.models
                    and p["precision"] in config.precisions]
        rows, placements = [], {}
        work = [(p, units, protocol) for p in packages for units in config.compute_units
                for protocol in config.protocols]
        for package, units, protocol in tqdm(work, desc="Core ML timing", unit="run",
                                             disable=not progress or not availability.available):
            row = {"model": package["model"], "precision": package["precision"], "compute_units": units,
                   "protocol": protocol, "latency_ms": np.nan}
            if not availability.available:
                rows.append({**row, "status": "skipped", "reason": availability.reason})
                continue
            path = bundle.default_bundle_dir() / package["package"]
            try:
                row["latency_ms"] = coreml.time_package(path, package["input"], units, protocol,
                                                           **protocol_settings(config))
                placements[f"{package['id']}/{units}"] = coreml.placement(path, units)
            except Exception as error:  # noqa: BLE001 - recorded per row
                from mobilerepro.export.onnx import one_line

                rows.append({**row, "status": "failed", "reason": one_line(error)})
                continue
            rows.append({**row, "status": "ok", "reason": ""})
        devices = {}
        for name, device in bundle.imported_devices().items():
            if device["bundle_digest"] != manifest["bundle_digest"]:
                continue  # timed on another export of the zoo
            devices[name] = bundle.headline_latencies(device)
        models, published = {}, paper.published_latencies(config.models, PUBLISHED_DEVICES)
        for name in config.models:
            spec = zoo.get_spec(name)
            inference_form = reparameterize_model(zoo.build_model(name, seed=0))  # what was exported and is counted
            macs = sum(count_macs(inference_form, spec.input_size).values())
            models[name] = {"macs": macs, "published": {key: published[key].get(name) for key in PUBLISHED_DEVICES}}
        return Outcome(pd.DataFrame.from_records(rows), {
            "bundle": str(bundle.default_bundle_dir()), "bundle_digest": manifest["bundle_digest"],
            "deployment_target": manifest["deployment_target"], "coremltools": manifest["coremltools"],
            "precisions": config.precisions, "packages": packages, "failed": manifest["failed"],
            "placements": placements, "devices": devices, "models": models,
            "timing_here": {"available": availability.available, "reason": availability.reason,
                            "os": platform.system()}})

    def figure(self, result: CoreMLResult, path: Path) -> None:
        """Left: Core ML ops per model (fp16). Right: published and imported iPhone latency against our MACs."""
        census = result.census_table()
        census = census[(census.precision == "fp16") & (census["Core ML ops"] != "failed")]
        phones = result.phones_table()
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
        left.barh(census.model, census["Core ML ops"].astype(float), color="#1565c0")
        left.set_xlabel("Core ML operations (fp16 ML program)")
        left.invert_yaxis()
        left.tick_params(axis="y", labelsize=7)
        left.grid(axis="x", alpha=0.3)
        columns = [c for c in phones.columns if c.endswith("(ms)")]
        for column, marker in zip(columns, "os^vD<>", strict=False):
            values = pd.to_numeric(phones[column], errors="coerce")
            keep = values.notna()
            if keep.any():
                right.scatter(phones["MACs (M, ours)"][keep], values[keep], marker=marker, label=column)
                for model, x, y in zip(phones.model[keep], phones["MACs (M, ours)"][keep], values[keep], strict=True):
                    right.annotate(model, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
        right.set_xscale("log")
        right.xaxis.set_minor_formatter(NullFormatter())  # the decade labels are enough
        right.set_xlabel("MACs (M), our count")
        right.set_ylabel("latency on the phone (ms)")
        if columns:
            right.legend(fontsize=7)
        right.grid(alpha=0.3)
        fig.suptitle("Core ML: what each model becomes, and what phones measure")
        save_figure(fig, path)


EXPERIMENT = CoreMLLatency()
