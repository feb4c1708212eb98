"""MobileOne Tabs. 2 and 3: latency of one probe network (`models/probes.py`) that differs only in its activation
(Tab. 2) or in an added architectural block (Tab. 3), on every backend here, next to the paper's iPhone 12 values.

Both tables are the same experiment over different variants, so they share this module; `table2.py` and
`table3.py` only name their variants. Every variant is built, counted, exported to Core ML (op census: how many
global poolings, i.e. synchronisation points, it adds) and timed in the same interleaved rounds. Agreement with the
paper is judged on ratios to the reference variant (ReLU / baseline), since absolute times on different hardware
are not comparable.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats as sps
from tqdm import tqdm

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments.common import (
    ExperimentResult,
    MeasurementSettings,
    latency_summary_header,
    measure,
    resolve_measurement,
    result_files,
    write_result,
)
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.measure.latency import one_line
from mobilerepro.models.probes import ProbeConfig, ProbeNetwork
from mobilerepro.profiles import profile_settings
from mobilerepro.report import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    Verdict,
    save_figure,
    terminal_table,
    verdict_lines,
)
from mobilerepro.results import default_output_dir, ensure_writable

WITHIN = 1.5  # "close to the reference": within 1.5x of its latency
MIN_RANKED = 5  # below 5 variants even a perfect Kendall tau cannot reach one-sided p < 0.05


@dataclass(frozen=True)
class ProbeTable:
    """Which paper table, which variants (name -> ProbeConfig fields), and the reference variant."""

    experiment: str
    title: str
    variants: dict[str, dict]
    reference: str

    @property
    def files(self) -> dict[str, str]:
        return result_files(self.experiment)

    def published(self) -> dict[str, float]:
        entries = paper.load("mobileone")[self.experiment]["latency_ms"]
        return {name: paper.value(entry) for name, entry in entries.items()}


@dataclass(frozen=True)
class ProbeRunConfig:
    profile: str
    variants: list[str]
    measurement: MeasurementSettings
    probe: dict = field(default_factory=dict)
    coreml_export: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def configure(
    table: ProbeTable,
    profile: str = "quick",
    *,
    variants: list[str] | None = None,
    depth: int = 30,
    width: float = 1.0,
    input_size: int = 224,
    coreml_export: bool | None = None,
    **measurement,
) -> ProbeRunConfig:
    """The profile's settings with any explicitly given value overriding it (`measurement`: see
    `experiments.common.resolve_measurement`). Validated here."""
    settings = profile_settings(table.experiment, profile)
    variants = list(variants or table.variants)
    unknown = [v for v in variants if v not in table.variants]
    if unknown:
        choices = ", ".join(table.variants)
        raise MobileReproError(f"unknown {table.experiment} variant {unknown[0]!r} (choose from: {choices})")
    if table.reference not in variants:
        variants.insert(0, table.reference)  # every ratio needs the reference
    probe = {"depth": depth, "width": width, "input_size": input_size}
    ProbeConfig(**probe).blocks()  # validates depth
    return ProbeRunConfig(
        profile=profile,
        variants=variants,
        measurement=resolve_measurement(settings, **measurement),
        probe=probe,
        coreml_export=settings["coreml_export"] if coreml_export is None else coreml_export,
    )


def _coreml_census(model, input_size, directory: Path) -> dict:
    from mobilerepro.export.coreml import BOOKKEEPING_OPS, export_package

    try:
        _, census = export_package(model, input_size, directory / "probe.mlpackage")
    except Exception as error:  # noqa: BLE001 - recorded per variant
        return {"coreml_status": "failed", "coreml_reason": one_line(error)}
    return {
        "coreml_status": "ok",
        "coreml_reason": "",
        "coreml_ops": sum(n for op, n in census.items() if op not in BOOKKEEPING_OPS),
        "coreml_global_pools": census.get("reduce_mean", 0),
        "coreml_census": dict(census),
    }


def run(table: ProbeTable, config: ProbeRunConfig, output_dir: str | Path | None = None, *,
        progress: bool = True) -> Path:
    import torch

    directory = ensure_writable(output_dir or default_output_dir(table.experiment, config.profile))
    models, variant_rows = {}, []
    with tempfile.TemporaryDirectory(prefix="mobilerepro-coreml-") as scratch:
        for variant in tqdm(config.variants, desc="building + counting + Core ML", unit="variant",
                            disable=not progress):
            torch.manual_seed(config.measurement.seed)
            model = ProbeNetwork(ProbeConfig(**{**config.probe, **table.variants[variant]})).eval()
            counts = measure_complexity(model, model.input_size)
            row = {"variant": variant, "params": counts.params, "macs": counts.macs}
            if config.coreml_export:
                row.update(_coreml_census(model, model.input_size, Path(scratch) / variant))
            variant_rows.append(row)
            models[variant] = (model, model.input_size)
    measurements = measure(models, config.measurement, progress=progress)
    frame = pd.DataFrame.from_records(
        [{"variant": m.model, **m.record(config.measurement.max_relative_iqr)} for m in measurements]
    )
    if not (frame.status == "ok").any():
        raise MobileReproError(f"nothing could be timed on any backend; see the 'reason' column of "
                               f"{table.files['rows']}")
    variants = pd.DataFrame.from_records(variant_rows)
    frame = frame.merge(variants[["variant", "params", "macs"]], on="variant")
    comparison = _comparison(table, config, frame)
    write_result(directory, table.files, frame, {
        **latency_summary_header(table.experiment, paper.load("mobileone")[table.experiment]["title"], config),
        "variants": variants.to_dict(orient="records"),
        "comparison": comparison,
        "verdicts": [v.as_dict() for v in _verdicts(table, comparison)],
    })
    _figure(table, comparison, directory / table.files["figure"])
    return directory


def _comparison(table: ProbeTable, config: ProbeRunConfig, frame: pd.DataFrame) -> dict:
    """Per backend: each variant's latency, spread and ratio to the reference, next to the paper's ratio."""
    published = table.published()
    stat = f"{config.measurement.latency_statistic}_ms"
    result = {}
    for backend, group in frame[frame.status == "ok"].groupby("backend", sort=False):
        group = group.set_index("variant")
        if table.reference not in group.index:
            continue
        reference = group.loc[table.reference, stat]
        result[backend] = [
            {
                "variant": variant,
                "latency_ms": group.loc[variant, stat],
                "p10_ms": group.loc[variant, "p10_ms"],
                "p90_ms": group.loc[variant, "p90_ms"],
                "ratio": group.loc[variant, stat] / reference,
                "paper_ms": published.get(variant),
                "paper_ratio": published[variant] / published[table.reference] if variant in published else None,
            }
            for variant in group.index
        ]
    return result


def _verdicts(table: ProbeTable, comparison: dict) -> list[Verdict]:
    verdicts = []
    for backend, rows in comparison.items():
        rows = [r for r in rows if r["paper_ratio"] is not None]
        ours = np.array([r["ratio"] for r in rows])
        theirs = np.array([r["paper_ratio"] for r in rows])
        if len(rows) >= MIN_RANKED:
            tau = sps.kendalltau(ours, theirs, alternative="greater")
            verdicts.append(Verdict(
                "ranking", "Latency ranking of the variants (paper's iPhone 12 order)", "transcribed", backend,
                f"Kendall τ = {tau.statistic:.2f} (one-sided p = {tau.pvalue:.3f}, {len(rows)} variants)",
                HELD if tau.pvalue < 0.05 else NOT_HELD if tau.statistic <= 0 else INCONCLUSIVE,
            ))
        close_here = {r["variant"] for r in rows if r["ratio"] <= WITHIN}
        close_there = {r["variant"] for r in rows if r["paper_ratio"] <= WITHIN}
        differ = sorted(close_here ^ close_there)
        verdicts.append(Verdict(
            "within", f"Which variants are within {WITHIN}x of {table.reference}", "transcribed", backend,
            f"here: {', '.join(sorted(close_here))}" + (f"; differs for {', '.join(differ)}" if differ else "; same"),
            HELD if not differ else NOT_HELD,
        ))
        by_variant = {r["variant"]: r for r in rows}
        reference = by_variant[table.reference]
        for variant, r in by_variant.items():
            if variant == table.reference or r["paper_ratio"] <= 1:
                continue
            clearly = HELD if r["p10_ms"] > reference["p90_ms"] else NOT_HELD if r["p90_ms"] < reference["p10_ms"] \
                else INCONCLUSIVE
            verdicts.append(Verdict(
                f"slower_{variant}", f"{variant} is slower than {table.reference} (paper: {r['paper_ratio']:.2f}x)",
                "transcribed", backend, f"{r['ratio']:.2f}x", clearly,
            ))
    return verdicts


def _figure(table: ProbeTable, comparison: dict, path: Path) -> Path:
    """Latency relative to the reference per backend, next to the paper's iPhone 12 ratio (log scale)."""
    backends = list(comparison)
    variants = [r["variant"] for r in next(iter(comparison.values()))]
    width = 0.8 / (len(backends) + 1)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(variants)), 4.4), constrained_layout=True)
    x = np.arange(len(variants))
    paper_ratio = [next(r["paper_ratio"] for r in comparison[backends[0]] if r["variant"] == v) for v in variants]
    ax.bar(x - 0.4 + width / 2, [np.nan if p is None else p for p in paper_ratio], width, color="white",
           edgecolor="black", hatch="//", label="paper (iPhone 12, Core ML)")
    for i, backend in enumerate(backends):
        rows = {r["variant"]: r for r in comparison[backend]}
        reference = rows[table.reference]["latency_ms"]
        values = np.array([rows[v]["ratio"] for v in variants])
        low = np.array([rows[v]["p10_ms"] / reference for v in variants])
        high = np.array([rows[v]["p90_ms"] / reference for v in variants])
        ax.bar(x - 0.4 + width * (i + 1.5), values, width, yerr=[values - np.minimum(low, values),
               np.maximum(high, values) - values], capsize=2, label=backend)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(WITHIN, color="grey", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(x, variants, rotation=20, ha="right")
    ax.set_ylabel(f"latency / {table.reference} latency (log)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3, which="both")
    return save_figure(fig, path)


class ProbeResult(ExperimentResult):
    table: ProbeTable

    def comparison_table(self) -> pd.DataFrame:
        """One row per variant: paper ms and ratio, ours (ms and ratio) per backend, Core ML census."""
        variants = pd.DataFrame.from_records(self.summary["variants"]).set_index("variant")
        records = []
        for variant in variants.index:
            record = {"variant": variant}
            for backend, rows in self.summary["comparison"].items():
                row = next(r for r in rows if r["variant"] == variant)
                if "paper iPhone 12 (ms)" not in record:
                    record["paper iPhone 12 (ms)"] = row["paper_ms"]
                    record["paper ×ref"] = row["paper_ratio"]
                record[f"{backend} (ms)"] = row["latency_ms"]
                record[f"{backend} ×ref"] = row["ratio"]
            if "coreml_status" in variants.columns:
                ok = variants.loc[variant, "coreml_status"] == "ok"
                record["Core ML ops"] = variants.loc[variant, "coreml_ops"] if ok else "export failed"
                record["global pools"] = variants.loc[variant, "coreml_global_pools"] if ok else ""
            records.append(record)
        return pd.DataFrame.from_records(records)

    def coreml_failures(self) -> list[str]:
        variants = self.summary["variants"]
        return [f"{v['variant']}: {v['coreml_reason']}" for v in variants if v.get("coreml_status") == "failed"]

    def summary_html(self) -> str:
        numbers = [f"reference: {self.table.reference}; ratios are latency / reference latency on the same backend"]
        for backend, rows in self.summary["comparison"].items():
            slowest = max(rows, key=lambda r: r["ratio"])
            numbers.append(f"{backend}: slowest {slowest['variant']} at {slowest['ratio']:.2f}x "
                           f"(paper: {slowest['paper_ratio']:.2f}x)")
        numbers += [f"Core ML export failed for {f}" for f in self.coreml_failures()]
        return self.summary_box(f"MobileOne {self.table.experiment.replace('table', 'Table ')} on this machine",
                                numbers)

    def terminal_report(self) -> str:
        return "\n".join([
            f"MobileOne {self.table.experiment.replace('table', 'Table ')} — {self.summary['title']} "
            f"(profile {self.summary['profile']}, {self.statistic} latency)",
            "",
            terminal_table(self.comparison_table(), float_format="{:.3g}"),
            "",
            "Paper's numbers vs ours:",
            *verdict_lines(self.verdicts()),
            "",
            f"environment: {self.environment_line()}",
        ])


def bind(table: ProbeTable):
    """The experiment interface (configure, run, load, FILES) of one probe table."""
    result = type(f"{table.experiment.title()}Result", (ProbeResult,), {"table": table, "files": table.files})

    def configure_table(profile: str = "quick", **kwargs) -> ProbeRunConfig:
        return configure(table, profile, **kwargs)

    def run_table(config: ProbeRunConfig, output_dir=None, *, progress: bool = True) -> Path:
        return run(table, config, output_dir, progress=progress)

    return configure_table, run_table, result.load, table.files
