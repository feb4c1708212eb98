"""The latency template: the pipeline every latency chapter shares, written once.

build each candidate (inference form) -> record its layers (params, MACs, the roofline's bytes) -> optionally export
it to Core ML and count its ops -> time all candidates on every backend in interleaved rounds, with this machine's
roofline calibration kernels in the same rounds -> the peaks from the kernels' best times -> one row per
(candidate, backend), each CPU timing with its roofline floor and its fraction of the roofline -> the chapter's own
analysis and evidence -> (base class) verdicts, result files, figure.

The floor is what the roofline allows on this machine (fp32): PeakMACs is the best MAC rate and PeakMemBW the best
byte rate of any calibration kernel (GEMMs; dense, pointwise and depthwise convolutions at mobile stage shapes and
the candidates' own heaviest convolution shapes; copies from L2-resident sizes to far beyond the caches) on any
backend, over all rounds. Timed beside the models, the
kernels meet the same busy and quiet moments. A timing below its floor still means the peaks were measured too
low: it is flagged as a calibration error in the rows and the summary box, never silently plotted.

A latency chapter is then its candidates (`candidates`), its analysis (`analyse`), its figure and its tables.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mobilerepro import MobileReproError
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.export.onnx import one_line
from mobilerepro.measure.complexity import LayerCost, count_params, layer_costs
from mobilerepro.measure.latency import (
    BACKENDS,
    CPU_BACKENDS,
    FP32_CPU_BACKENDS,
    TimingPlan,
    get_backend,
    measure_latency,
    time_callables,
)
from mobilerepro.measure.roofline import MachinePeaks, calibration_kernels, calibration_runners, heaviest_convolutions
from mobilerepro.verdicts import Interval, NotTestable, Spreads

ALL_BACKENDS = ["torch", "onnxruntime", "openvino", "cuda", "coreml"]
# The papers' own runtime, for the chapters that compare with phone numbers (a second environment: `litert-setup`).
LITERT_BACKENDS = ["litert", "litert_int8"]
# median_of_round_means: MobileNetV4's App. B protocol (the mean of each round, the median over rounds).
LATENCY_STATISTICS = ("min", "median", "median_of_round_means")


def timing_profiles(smoke: dict, quick: dict, full: dict | None = None, *, litert: bool = False) -> dict[str, dict]:
    """Profiles of a latency chapter: every backend (with `litert`, LiteRT fp32 and int8 too, at quick and full: a
    backend whose stack is absent is an 'unavailable' row, never a wait); smoke = a few runs; full = MobileOne's 1000
    timed runs per pair unless given."""
    timing = {
        "smoke": {"warmup": 1, "rounds": 2, "runs_per_round": 1},
        "quick": {"warmup": 3, "rounds": 10, "runs_per_round": 5},
        "full": {"warmup": 10, "rounds": 20, "runs_per_round": 50},
    }
    given = {"smoke": smoke, "quick": quick, "full": full if full is not None else quick}
    backends = {profile: ALL_BACKENDS + (LITERT_BACKENDS if litert and profile != "smoke" else [])
                for profile in timing}
    return {profile: {"backends": backends[profile], **timing[profile], **given[profile]} for profile in timing}


@dataclass(frozen=True)
class LatencyConfig(BaseConfig):
    """How a latency chapter times: backends, pinned threads, warm-up, interleaved rounds x runs, the statistic
    compared, and when a timing counts as too noisy to rank on (IQR / median)."""

    backends: list[str] | None = None
    threads: int = 1
    warmup: int = 3
    rounds: int = 10
    runs_per_round: int = 5
    latency_statistic: str = "min"
    max_relative_iqr: float = 0.15
    onnx_exporter: str = "torchscript"
    seed: int = 0

    @property
    def plan(self) -> TimingPlan:
        return TimingPlan(self.warmup, self.rounds, self.runs_per_round, self.threads, self.seed)

    @property
    def statistic_column(self) -> str:
        return f"{self.latency_statistic}_ms"


@dataclass
class Candidate:
    """One thing to time. `key` holds the columns that identify it (e.g. model, or variant + form), `meta` extra
    columns; `build` returns it in inference form and eval mode; `census` asks for a Core ML export + op count when
    the configuration's `coreml_export` is on."""

    key: dict
    build: Callable[[], object]
    input_size: tuple[int, int, int]
    meta: dict = field(default_factory=dict)
    census: bool = False

    @property
    def name(self) -> str:
        return "/".join(str(value) for value in self.key.values())


@dataclass
class Prepared:
    """A built candidate: the model in inference form, its input size and its multiplying layers."""

    model: object
    input_size: tuple[int, int, int]
    layers: list[LayerCost]


def zoo_candidate(name: str, seed: int, meta: dict | None = None, *, census: bool = False) -> Candidate:
    """A zoo model in inference form (reparameterised, eval mode), keyed by its name."""
    from mobilerepro.models import zoo
    from mobilerepro.reparam import reparameterize_model

    spec = zoo.get_spec(name)
    return Candidate({"model": name}, lambda: reparameterize_model(zoo.build_model(name, seed=seed)),
                     spec.input_size, meta or {}, census)


MIN_RANKED_MODELS = 3  # fewer models give no rank correlation at all (the claims ask for far more to judge)


def ranked_population(names: list[str], chapter: str) -> list[str]:
    """Zoo names resolved to their canonical form; a rank correlation needs at least three models (the claims ask
    for more before they give a verdict)."""
    from mobilerepro.models import zoo

    models = [zoo.get_spec(name).name for name in names]
    if len(models) < MIN_RANKED_MODELS:
        raise MobileReproError(f"{chapter} needs at least {MIN_RANKED_MODELS} models for a rank correlation, got "
                               f"{len(models)}")
    return models


def coreml_census(model, input_size, directory: Path) -> dict:
    """Export to a Core ML ML program and count its operations (Core ML converts on any OS)."""
    from mobilerepro.export.coreml import BOOKKEEPING_OPS, export_package

    try:
        _, census = export_package(model, input_size, directory / "model.mlpackage")
    except Exception as error:  # noqa: BLE001 - recorded per candidate
        return {"coreml_status": "failed", "coreml_reason": one_line(error)}
    ops = {op: n for op, n in census.items() if op not in BOOKKEEPING_OPS}
    return {"coreml_status": "ok", "coreml_reason": "", "coreml_ops": sum(ops.values()),
            "coreml_global_pools": ops.get("reduce_mean", 0),
            "coreml_census": dict(sorted(ops.items(), key=lambda kv: -kv[1]))}


class LatencyExperiment(Experiment):
    config_type = LatencyConfig

    def validate(self, config: LatencyConfig) -> LatencyConfig:
        for name in config.backends:
            get_backend(name)
        if config.latency_statistic not in LATENCY_STATISTICS:
            raise MobileReproError(f"unknown latency_statistic {config.latency_statistic!r} "
                                   f"(choose one of: {', '.join(LATENCY_STATISTICS)})")
        config.plan  # noqa: B018 - validates the timing settings
        return config

    # Hooks ---------------------------------------------------------------------------------------------------------
    def candidates(self, config: LatencyConfig) -> list[Candidate]:
        raise NotImplementedError

    def companion_timings(self, config: LatencyConfig, prepared: dict[str, Prepared]) -> dict[str, dict]:
        """Work timed beside the models with the same plan, one extra 'backend' column per label: {label: {candidate
        name: callable}} (e.g. a detector's post-processing); none by default."""
        return {}

    def analyse(self, config: LatencyConfig, frame: pd.DataFrame, prepared: dict[str, Prepared],
                peaks: MachinePeaks) -> tuple[dict, list]:
        """The chapter's own summary fields and its evidence, from the rows, the prepared candidates (by name) and
        this machine's peaks."""
        raise NotImplementedError

    # The pipeline ----------------------------------------------------------------------------------------------------
    def measure(self, config: LatencyConfig, directory: Path, progress: bool) -> Outcome:
        candidates = self.candidates(config)
        exporting = getattr(config, "coreml_export", False) and any(c.census for c in candidates)
        prepared, records = {}, []
        with tempfile.TemporaryDirectory(prefix="mobilerepro-coreml-") as scratch:
            description = "building + counting" + (" + Core ML" if exporting else "")
            for candidate in tqdm(candidates, desc=description, unit="model", disable=not progress):
                record = {**candidate.key, **candidate.meta}
                try:
                    model = candidate.build()
                    layers = layer_costs(model, candidate.input_size)
                except Exception as error:  # noqa: BLE001 - recorded on the candidate's rows
                    record["error"] = f"build/count failed: {one_line(error)}"
                else:
                    record.update(params=count_params(model), macs=sum(layer.macs for layer in layers))
                    if exporting and candidate.census:
                        record.update(coreml_census(model, candidate.input_size, Path(scratch) / candidate.name))
                    prepared[candidate.name] = Prepared(model, candidate.input_size, layers)
                records.append(record)
        smoke = config.profile == "smoke"  # its numbers mean nothing: one calibration kernel of each kind
        kernels = calibration_kernels([] if smoke else heaviest_convolutions(
            [(p.model, p.input_size) for p in prepared.values()]), minimal=smoke)
        calibration = calibration_runners([b for b in config.backends if b in FP32_CPU_BACKENDS] or ["torch"],
                                          config.threads, kernels)
        measurements = {(m.model, m.backend): m for m in measure_latency(
            {name: (p.model, p.input_size) for name, p in prepared.items()}, config.backends, config.plan,
            onnx_exporter=config.onnx_exporter, progress=progress, beside=calibration)}
        kernel_timings = [measurements.pop(key) for key in calibration]
        peaks = MachinePeaks.from_timings({(m.model, m.backend): min(m.samples_ms) / 1e3 for m in kernel_timings
                                           if m.status == "ok" and m.samples_ms}, config.threads, kernels)
        companions = self.companion_timings(config, prepared)
        for label, calls in companions.items():
            measurements.update({(m.model, m.backend): m
                                 for m in time_callables(calls, label, config.plan, progress=progress)})
        floors = {name: peaks.floor_ms(p.layers) for name, p in prepared.items()}
        frame = self._rows(config, candidates, records, measurements, floors, [*config.backends, *companions])
        if not (frame.status == "ok").any():
            raise MobileReproError(f"nothing could be timed on any backend; see the 'reason' column of "
                                   f"{self.files['rows']}")
        analysis, evidence = self.analyse(config, frame, prepared, peaks)
        backends = [{**asdict(BACKENDS[name].availability()), "description": BACKENDS[name].description}
                    for name in config.backends]
        return Outcome(frame, {"backends": backends, "candidates": records,
                               "peaks": {**asdict(peaks), "ridge_point_fp32": peaks.ridge_point}, **analysis},
                       evidence)

    def _rows(self, config, candidates, records, measurements, floors, timed_as) -> pd.DataFrame:
        """One row per (candidate, backend or companion timing); a CPU timing of the model carries its roofline floor
        and its fraction of it."""
        from mobilerepro.measure.latency import Measurement

        rows = []
        for candidate, record in zip(candidates, records, strict=True):
            identity = {k: v for k, v in record.items() if not k.startswith("coreml") and k != "error"}
            for backend in timed_as:
                measurement = measurements.get((candidate.name, backend)) or Measurement(
                    candidate.name, backend, "failed", record.get("error", ""))
                floor = floors.get(candidate.name) if backend in FP32_CPU_BACKENDS else None
                rows.append({**identity, "threads": config.threads, **measurement.record(config.max_relative_iqr),
                             "roofline_floor_ms": floor})
        frame = pd.DataFrame.from_records(rows)
        frame["fraction_of_roofline"] = frame.roofline_floor_ms / frame.min_ms
        frame["below_floor"] = frame.fraction_of_roofline > 1
        return frame

    def header(self, config: LatencyConfig) -> dict:
        return {**super().header(config), "timing": asdict(config.plan)}


def spread_evidence(frame: pd.DataFrame, backend: str, key: str, candidate: str, reference: str) -> Spreads | None:
    """Spreads (p10-p90) of `candidate` and `reference` (values of column `key`) on `backend`, or None when either
    was not timed there."""
    ok = frame[(frame.backend == backend) & (frame.status == "ok")].set_index(key)
    if candidate not in ok.index or reference not in ok.index:
        return None
    c, r = ok.loc[candidate], ok.loc[reference]
    return Spreads((c.p10_ms, c.p90_ms), (r.p10_ms, r.p90_ms), int(min(c.n, r.n)),
                   f"{candidate} p10-p90 {c.p10_ms:.3g}-{c.p90_ms:.3g} ms vs {reference} "
                   f"{r.p10_ms:.3g}-{r.p90_ms:.3g} ms")


def ratio_evidence(frame: pd.DataFrame, backend: str, key: str, candidate: str, reference: str) -> Interval | None:
    """`candidate`'s latency relative to `reference`'s on `backend` as a relative change: the medians' ratio - 1, with
    the interval the two p10-p90 spreads allow (p10 / p90 to p90 / p10, - 1); None when either was not timed there.
    For a claim "A is x % faster than B", judged on its direction with the published ratio beside."""
    ok = frame[(frame.backend == backend) & (frame.status == "ok")].set_index(key)
    if candidate not in ok.index or reference not in ok.index:
        return None
    c, r = ok.loc[candidate], ok.loc[reference]
    ratio, low, high = c.median_ms / r.median_ms, c.p10_ms / r.p90_ms, c.p90_ms / r.p10_ms
    return Interval(ratio - 1, low - 1, high - 1, int(min(c.n, r.n)),
                    f"{candidate} / {reference} latency {ratio:.2f}x (medians; spreads allow {low:.2f}-{high:.2f}x)")


def ratio_claim_evidence(claim: str, frame: pd.DataFrame, key: str, candidate: str, reference: str) -> list:
    """A latency-ratio claim's evidence on every CPU backend that timed both; not testable when none did (e.g. a
    run over a subset of the models)."""
    found = [(claim, backend, evidence) for backend in CPU_BACKENDS
             if (evidence := ratio_evidence(frame, backend, key, candidate, reference)) is not None]
    return found or [(claim, "this run", NotTestable(f"{candidate} and {reference} were not both timed in this run"))]


class LatencyResult(Result):
    """What every latency chapter shows besides its own tables: failures, unavailable backends, interruptions."""
    # This family's standard sections (see `Result.sections`).
    sections = {
        "roofline": ("Roofline floor and fraction of the roofline",
            "For every CPU timing: the fastest this machine's roofline allows (fp32 bytes; PeakMACs and PeakMemBW "
            "are the best MAC and byte rates any backend's calibration kernels reached — GEMMs, the models' own "
            "heaviest convolution shapes, copies — timed in the same rounds as the models at the pinned thread "
            "count, see the summary box) and the fraction of it the measured minimum reaches (1 = at the "
            "roofline). A fraction above 1 would be a timing below the floor: a calibration error, flagged in the "
            "summary box."),
        "failures": ("Failures and unavailable backends",
            "Every (model, backend) pair that did not produce a timing, with its reason."),
    }

    @property
    def statistic(self) -> str:
        return self.summary["parameters"]["latency_statistic"]

    @property
    def stat_column(self) -> str:
        return f"{self.statistic}_ms"

    def candidates(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["candidates"])

    def measured_backends(self) -> list[str]:
        statuses = self.rows.groupby("backend", sort=False).status
        return [backend for backend, status in statuses if (status != "unavailable").any()]

    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows.status == "ok"]

    @property
    def key_columns(self) -> list[str]:
        """The columns that name a candidate in this chapter's rows."""
        return [c for c in ("model", "variant", "form", "backbone") if c in self.rows.columns]

    def failures(self) -> pd.DataFrame:
        """Every timing that did not happen: failures one per row, an unavailable backend once."""
        keys = self.key_columns
        failed = self.rows[self.rows.status == "failed"][[*keys, "backend", "status", "reason"]]
        unavailable = self.rows[self.rows.status == "unavailable"].drop_duplicates("backend")
        unavailable = unavailable[["backend", "status", "reason"]].assign(**{keys[0]: "(every model)"})
        return pd.concat([unavailable, failed])[[*keys, "backend", "status", "reason"]].fillna("").reset_index(
            drop=True)

    def coreml_failures(self) -> list[str]:
        return [f"{'/'.join(str(v) for k, v in c.items() if k in ('model', 'variant'))}: {c['coreml_reason']}"
                for c in self.summary["candidates"] if c.get("coreml_status") == "failed"]

    def coreml_table(self) -> pd.DataFrame:
        """Per candidate exported to Core ML: its op count and most frequent ops, or why the export failed."""
        records = []
        for candidate in self.summary["candidates"]:
            if "coreml_status" not in candidate:
                continue
            record = {key: candidate[key] for key in self.key_columns if key in candidate}
            if candidate["coreml_status"] == "ok":
                record.update({"Core ML ops": candidate["coreml_ops"], "most frequent": ", ".join(
                    f"{op} {n}" for op, n in list(candidate["coreml_census"].items())[:6])})
            else:
                record.update({"Core ML ops": "export failed", "most frequent": candidate["coreml_reason"]})
            records.append(record)
        return pd.DataFrame.from_records(records)

    def roofline_errors(self) -> pd.DataFrame:
        """Timings faster than this machine's roofline allows: the peaks were measured too low."""
        return self.rows[self.rows.below_floor.fillna(False).astype(bool)]

    def notes(self) -> list[str]:
        unavailable = [f"{b['backend']} ({b['reason']})" for b in self.summary["backends"] if not b["available"]]
        lines = ["unavailable here: " + "; ".join(unavailable)] if unavailable else []
        lines.append(self.peaks_line())
        errors = self.roofline_errors()
        if len(errors):
            lines.append(f"CALIBRATION ERROR: {len(errors)} timing(s) below their roofline floor (the measured peaks "
                         "are too low); see the roofline table")
        return lines + [f"Core ML export failed for {failure}" for failure in self.coreml_failures()]

    def roofline_table(self) -> pd.DataFrame:
        """Per CPU timing: the roofline floor on this machine and the fraction of it the measured minimum reaches."""
        keys = self.key_columns
        ok = self.ok()[self.ok().roofline_floor_ms.notna()]
        wide = ok.pivot_table(index=keys, columns="backend", values="fraction_of_roofline", sort=False)
        floors = ok.drop_duplicates(keys).set_index(keys).roofline_floor_ms.rename("roofline floor (ms)")
        table = pd.concat([floors, wide.add_prefix("fraction of roofline, ")], axis=1).reset_index()
        return table

    def peaks_line(self) -> str:
        peaks = self.summary["peaks"]
        per_backend = ", ".join(f"{b} {v / 1e9:.1f}" for b, v in peaks["by_backend"].items())
        return (f"roofline here ({peaks['threads']} thread(s), fp32): PeakMACs {peaks['peak_macs'] / 1e9:.1f} GMAC/s "
                f"(best kernel of any backend; per backend {per_backend}), PeakMemBW "
                f"{peaks['peak_bandwidth'] / 1e9:.1f} GB/s (best kernel; beyond the caches "
                f"{(peaks.get('dram_bandwidth') or float('nan')) / 1e9:.1f}), ridge point "
                f"{peaks['ridge_point_fp32']:.2f} MACs/byte")

    def interrupted(self) -> str | None:
        planned = self.summary["timing"]["rounds"]
        ok = self.ok()
        done = int(ok.rounds_completed.min()) if len(ok) else planned
        if done < planned:
            return f"INTERRUPTED: timing stopped after {done} of {planned} rounds; fewer runs than the profile asks for"
        return None

    def exercise_estimate(self, quantity: dict):
        """`latency_ratio`: `candidate`'s latency over `reference`'s on `backend` (rows told apart by the column `key`,
        after keeping the rows whose columns equal `where`), the medians' ratio with the ratios the two p10-p90 spreads
        allow."""
        from mobilerepro.exercises import Estimate

        if quantity.get("name") != "latency_ratio":
            return super().exercise_estimate(quantity)
        rows = self.rows
        for column, value in (quantity.get("where") or {}).items():
            rows = rows[rows[column] == value]
        found = ratio_evidence(rows, quantity["backend"], quantity.get("key", "model"), quantity["candidate"],
                               quantity["reference"])
        if found is None:
            raise MobileReproError(f"{quantity['candidate']} and {quantity['reference']} were not both timed on "
                                   f"{quantity['backend']} in this run")
        return Estimate(found.estimate + 1, found.low + 1, found.high + 1,
                        f"{quantity['candidate']} / {quantity['reference']} latency on {quantity['backend']}")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"failures": self.failures(), "roofline": self.roofline_table()}
