"""MobileOne Tab. 1: how well do MACs and parameter count rank the latency of efficient models?

The paper (§3.1, Tab. 1) exports recent efficient models from PyTorch through ONNX to Core ML, times them on an
iPhone 12 and on a desktop CPU, and reports Spearman's rank correlation of latency with FLOPs (= MACs) and with
parameter count. Its claims: moderate correlation with FLOPs and weak with params on mobile, even lower on desktop.

Here every zoo model is reparameterised to its inference form, its params and MACs are counted, and its latency is
measured on every backend available on this machine (interleaved rounds, fixed threads). Spearman's rho per backend
comes with a 95 % percentile bootstrap CI over models, and rho(MACs) - rho(params) with a paired bootstrap CI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
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
from mobilerepro.measure.latency import Measurement, one_line
from mobilerepro.measure.stats import paired_difference_ci, spearman_with_ci
from mobilerepro.models import zoo
from mobilerepro.profiles import profile_settings
from mobilerepro.reparam import reparameterize_model
from mobilerepro.report import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    NOT_TESTABLE,
    Verdict,
    at_most,
    band_upper,
    magnitude_interval,
    positive,
    save_figure,
    scatter_grid,
    strength,
    terminal_table,
    verdict_lines,
)
from mobilerepro.results import default_output_dir, ensure_writable

EXPERIMENT = "table1"
FILES = result_files(EXPERIMENT)


@dataclass(frozen=True)
class Table1Config:
    profile: str
    models: list[str]
    measurement: MeasurementSettings
    bootstrap_resamples: int = 2000

    def as_dict(self) -> dict:
        return asdict(self)


def configure(
    profile: str = "quick",
    *,
    models: list[str] | None = None,
    bootstrap_resamples: int | None = None,
    **measurement,
) -> Table1Config:
    """The profile's settings with any explicitly given value overriding it (`measurement`: backends, threads,
    warmup, rounds, runs_per_round, latency_statistic, max_relative_iqr, onnx_exporter, seed). Validated here."""
    settings = profile_settings(EXPERIMENT, profile)
    models = [zoo.get_spec(name).name for name in (models or settings["models"] or zoo.model_names())]
    if len(models) < 3:
        raise MobileReproError(f"Table 1 needs at least 3 models for a rank correlation, got {len(models)}")
    return Table1Config(
        profile=profile,
        models=models,
        measurement=resolve_measurement(settings, **measurement),
        bootstrap_resamples=bootstrap_resamples or settings["bootstrap_resamples"],
    )


@dataclass
class _ModelRow:
    name: str
    spec: zoo.ModelSpec
    params: int | None = None
    macs: int | None = None
    error: str = ""
    module: object = field(default=None, repr=False)


def _prepare_models(config: Table1Config, progress: bool) -> list[_ModelRow]:
    rows = []
    for name in tqdm(config.models, desc="building + counting", unit="model", disable=not progress):
        spec = zoo.get_spec(name)
        row = _ModelRow(name, spec)
        try:
            model = reparameterize_model(zoo.build_model(name, seed=config.measurement.seed))
            complexity = measure_complexity(model, spec.input_size)
            row.params, row.macs, row.module = complexity.params, complexity.macs, model
        except Exception as error:  # noqa: BLE001 - recorded on the model's rows
            row.error = f"build/count failed: {one_line(error)}"
        rows.append(row)
    return rows


def _rows_frame(config: Table1Config, models: list[_ModelRow], measurements: list[Measurement]) -> pd.DataFrame:
    by_key = {(m.model, m.backend): m for m in measurements}
    records = []
    for row in models:
        published = row.spec.published
        for backend in config.measurement.backends:
            measurement = by_key.get((row.name, backend)) or Measurement(row.name, backend, "failed", row.error)
            record = {
                "model": row.name,
                "family": row.spec.family,
                "source": row.spec.source,
                "input_size": "x".join(map(str, row.spec.input_size[1:])),
                "params": row.params,
                "macs": row.macs,
                "threads": config.measurement.plan.threads,
                **measurement.record(config.measurement.max_relative_iqr),
            }
            record["published_top1"] = paper.value(published.get("top1"))
            record["published_params_m"] = paper.value(published.get("params_m"))
            record["published_macs_m"] = paper.value(published.get("macs_m"))
            records.append(record)
    return pd.DataFrame.from_records(records)


def _correlations(config: Table1Config, frame: pd.DataFrame) -> dict:
    stat_column = f"{config.measurement.latency_statistic}_ms"
    result = {}
    for backend in config.measurement.backends:
        ok = frame[(frame.backend == backend) & (frame.status == "ok")]
        if len(ok) < 3:
            continue
        kwargs = {"resamples": config.bootstrap_resamples, "seed": config.measurement.seed}
        latency = ok[stat_column].to_numpy()
        macs = spearman_with_ci(latency, ok.macs.to_numpy(), **kwargs)
        params = spearman_with_ci(latency, ok.params.to_numpy(), **kwargs)
        difference = paired_difference_ci(latency, ok.macs.to_numpy(), ok.params.to_numpy(), **kwargs)
        result[backend] = {
            "n_models": int(len(ok)),
            "unstable_models": sorted(ok[ok.unstable].model),
            "macs": macs.as_dict(),
            "params": params.as_dict(),
            "macs_minus_params": {"value": difference[0], "ci_low": difference[1], "ci_high": difference[2]},
        }
    return result


def _format_rho(corr: dict) -> str:
    return f"ρ = {corr['rho']:.2f} [{corr['ci_low']:.2f}, {corr['ci_high']:.2f}] ({strength(corr['rho'])})"


def _verdicts(correlations: dict) -> list[Verdict]:
    """Our desktop measurements against the paper's claims.

    The paper measured a phone and a desktop CPU; we measure the backends available here. Its mobile claims say
    MACs correlate moderately and params weakly with latency, and that on a desktop CPU both are even lower. So on
    this (desktop/laptop) machine the paper predicts: rho(MACs) at most moderate, rho(params) at most weak, and —
    implicit in both orderings — MACs ranking latency better than params.
    """
    claims = paper.load("mobileone")["table1"]["claims"]
    verdicts = []
    for backend, corr in correlations.items():
        scope = backend
        macs, params, diff = corr["macs"], corr["params"], corr["macs_minus_params"]
        verdicts.append(
            Verdict(
                "mobile_macs",
                claims["mobile_macs"]["text"] + " (desktop prediction: at most moderate)",
                claims["mobile_macs"]["provenance"],
                scope,
                _format_rho(macs),
                at_most(
                    *magnitude_interval(macs["ci_low"], macs["ci_high"]),
                    band_upper(claims["mobile_macs"]["expected_strength"]),
                ),
            )
        )
        verdicts.append(
            Verdict(
                "mobile_params",
                claims["mobile_params"]["text"] + " (desktop prediction: at most weak)",
                claims["mobile_params"]["provenance"],
                scope,
                _format_rho(params),
                at_most(
                    *magnitude_interval(params["ci_low"], params["ci_high"]),
                    band_upper(claims["mobile_params"]["expected_strength"]),
                ),
            )
        )
        verdicts.append(
            Verdict(
                "macs_over_params",
                "MACs rank latency better than parameter count (implied by moderate vs weak).",
                "claim",
                scope,
                f"ρ(MACs) − ρ(params) = {diff['value']:+.2f} [{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]",
                positive(diff["ci_low"], diff["ci_high"]),
            )
        )
    verdicts.append(
        Verdict(
            "desktop_lower",
            claims["desktop_lower"]["text"],
            claims["desktop_lower"]["provenance"],
            "mobile vs desktop",
            "no phone measured here and the paper's coefficients are not available",
            NOT_TESTABLE,
        )
    )
    return verdicts


def run(config: Table1Config, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    """Measure, correlate, judge, and write table1.csv / table1.json / table1.png into `output_dir`."""
    directory = ensure_writable(output_dir or default_output_dir(EXPERIMENT, config.profile))
    models = _prepare_models(config, progress)
    measurable = {row.name: (row.module, row.spec.input_size) for row in models if row.module is not None}
    measurements = measure(measurable, config.measurement, progress=progress)
    frame = _rows_frame(config, models, measurements)
    if not (frame.status == "ok").any():
        raise MobileReproError("no model could be timed on any backend; see the 'reason' column of table1.csv")
    correlations = _correlations(config, frame)
    if not correlations:
        raise MobileReproError("fewer than 3 models were timed on every backend: no rank correlation possible")
    verdicts = _verdicts(correlations)
    write_result(
        directory,
        FILES,
        frame,
        {
            **latency_summary_header(EXPERIMENT, paper.load("mobileone")["table1"]["title"], config),
            "correlations": correlations,
            "verdicts": [v.as_dict() for v in verdicts],
            "mac_convention": "multiply-accumulates of conv, linear and attention matmuls; batch 1; inference form",
        },
    )
    _figure(frame, config, correlations, directory / FILES["figure"])
    return directory


def _figure(frame: pd.DataFrame, config: Table1Config, correlations: dict, path: Path) -> Path:
    stat_column = f"{config.measurement.latency_statistic}_ms"
    ok = frame[(frame.status == "ok") & frame.backend.isin(list(correlations))].copy()
    ok["MACs (M)"] = ok.macs / 1e6
    ok["params (M)"] = ok.params / 1e6
    titles = {}
    for backend, corr in correlations.items():
        titles[(backend, "MACs (M)")] = f"{backend}: latency vs MACs, ρ = {corr['macs']['rho']:.2f}"
        titles[(backend, "params (M)")] = f"{backend}: latency vs params, ρ = {corr['params']['rho']:.2f}"
    fig = scatter_grid(
        ok,
        y=stat_column,
        xs=[("MACs (M)", "MACs (M, log)"), ("params (M)", "parameters (M, log)")],
        panel="backend",
        label="model",
        colour_by="family",
        y_label=f"{config.measurement.latency_statistic} latency (ms, log)",
        titles=titles,
    )
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------------------------
# Reading a finished run back: what the notebook, the book and the terminal show.


class Table1Result(ExperimentResult):
    files = FILES

    def correlation_table(self) -> pd.DataFrame:
        """One row per backend; a backend that measured nothing says why."""
        records = []
        for entry in self.summary["backends"]:
            backend = entry["backend"]
            corr = self.summary["correlations"].get(backend)
            if corr is None:
                reason = entry["reason"] if not entry["available"] else "fewer than 3 models timed"
                records.append({"backend": backend, "models": 0, "ρ latency–MACs [95% CI]": f"not measured: {reason}"})
                continue
            records.append(
                {
                    "backend": backend,
                    "models": corr["n_models"],
                    "ρ latency–MACs [95% CI]": _format_rho(corr["macs"]),
                    "ρ latency–params [95% CI]": _format_rho(corr["params"]),
                    "ρ(MACs) − ρ(params)": "{value:+.2f} [{ci_low:+.2f}, {ci_high:+.2f}]".format(
                        **corr["macs_minus_params"]
                    ),
                    "noisy timings": str(len(corr["unstable_models"])),
                }
            )
        return pd.DataFrame.from_records(records).fillna("")

    def latency_table(self) -> pd.DataFrame:
        """One row per model: params, MACs, and the chosen latency statistic per measured backend (a failure says
        'failed'; its reason is in `failures()`). Backends unavailable on this machine are listed there too."""
        stat = f"{self.statistic}_ms"
        rows = self.rows[self.rows.backend.isin(self.measured_backends())].copy()
        rows["cell"] = [
            f"{getattr(r, stat):.2f}" + (" ⚠" if r.unstable else "") if r.status == "ok" else r.status
            for r in rows.itertuples()
        ]
        wide = rows.pivot(index="model", columns="backend", values="cell")
        meta = self.rows.drop_duplicates("model").set_index("model")[["family", "input_size", "params", "macs"]]
        table = meta.join(wide[self.measured_backends()])
        table["params"] = (table.params / 1e6).round(2)
        table["macs"] = (table.macs / 1e6).round(1)
        table = table.rename(columns={"params": "params (M)", "macs": "MACs (M)", "input_size": "input"})
        return table.sort_values("MACs (M)").reset_index()

    def summary_html(self) -> str:
        numbers = []
        for backend, corr in self.summary["correlations"].items():
            numbers.append(
                f"{backend} ({corr['n_models']} models, {self.statistic} latency): "
                f"latency–MACs {_format_rho(corr['macs'])}; latency–params {_format_rho(corr['params'])}"
            )
        return self.summary_box("MobileOne Table 1 on this machine", numbers)

    def terminal_report(self) -> str:
        table = self.correlation_table()
        measured = table[table.models > 0]
        lines = [
            f"MobileOne Table 1 — Spearman ρ of {self.statistic} latency with MACs and with params "
            f"(profile {self.summary['profile']})",
            "",
            terminal_table(measured),
            *(f"{r.backend}: {r['ρ latency–MACs [95% CI]']}" for _, r in table[table.models == 0].iterrows()),
            "",
            "Paper's claims vs this machine:",
            *verdict_lines(self.verdicts()),
            "",
            f"environment: {self.environment_line()}",
        ]
        return "\n".join(lines)


def load(directory: str | Path) -> Table1Result:
    return Table1Result.load(directory)


__all__ = ["FILES", "HELD", "INCONCLUSIVE", "NOT_HELD", "Table1Config", "configure", "load", "run"]
