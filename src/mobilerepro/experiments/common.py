"""What every experiment shares: resolving a profile's timing settings, backend availability, result files, and
reading a finished run back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mobilerepro import MobileReproError
from mobilerepro.measure import environment
from mobilerepro.measure.latency import BACKENDS, TimingPlan, get_backend, measure_latency
from mobilerepro.report import Verdict, summary_box
from mobilerepro.results import read_json, write_csv, write_json

LATENCY_STATISTICS = ("min", "median")


def result_files(experiment: str) -> dict[str, str]:
    """The files every experiment writes into its output directory."""
    return {kind: f"{experiment}.{ext}" for kind, ext in
            (("rows", "csv"), ("summary", "json"), ("figure", "png"), ("notebook", "ipynb"))}


@dataclass(frozen=True)
class MeasurementSettings:
    """How every experiment times its models: which backends, the timing plan, which statistic, and when a timing
    counts as too noisy to rank on."""

    backends: list[str]
    plan: TimingPlan
    latency_statistic: str = "min"
    max_relative_iqr: float = 0.15
    onnx_exporter: str = "torchscript"
    seed: int = 0


def resolve_measurement(
    settings: dict,
    *,
    backends: list[str] | None = None,
    threads: int = 1,
    warmup: int | None = None,
    rounds: int | None = None,
    runs_per_round: int | None = None,
    latency_statistic: str = "min",
    max_relative_iqr: float = 0.15,
    onnx_exporter: str = "torchscript",
    seed: int = 0,
) -> MeasurementSettings:
    """The profile's measurement settings with any explicitly given value overriding it, validated."""
    chosen = list(backends or settings["backends"])
    for name in chosen:
        get_backend(name)
    if latency_statistic not in LATENCY_STATISTICS:
        raise MobileReproError(
            f"unknown latency_statistic {latency_statistic!r} (choose one of: {', '.join(LATENCY_STATISTICS)})"
        )
    plan = TimingPlan(
        warmup=settings["warmup"] if warmup is None else warmup,
        rounds=settings["rounds"] if rounds is None else rounds,
        runs_per_round=settings["runs_per_round"] if runs_per_round is None else runs_per_round,
        threads=threads,
        seed=seed,
    )
    return MeasurementSettings(chosen, plan, latency_statistic, max_relative_iqr, onnx_exporter, seed)


def measure(models: dict, measurement: MeasurementSettings, *, progress: bool = True):
    """`measure_latency` with an experiment's settings."""
    return measure_latency(models, measurement.backends, measurement.plan, onnx_exporter=measurement.onnx_exporter,
                           progress=progress)


def backend_entries(backends: list[str]) -> list[dict]:
    """Availability of each requested backend, with its reason and description, for the summary file."""
    return [
        {**asdict(BACKENDS[name].availability()), "description": BACKENDS[name].description} for name in backends
    ]


def summary_header(experiment: str, title: str, config, *, threads: int, backends: list | None = None) -> dict:
    """The fields every summary file starts with: what ran, with which parameters, where."""
    return {
        "experiment": experiment,
        "title": title,
        "profile": config.profile,
        "parameters": config.as_dict(),
        "environment": environment.environment_stamp(profile=config.profile, threads=threads),
        "backends": backends or [],
    }


def latency_summary_header(experiment: str, title: str, config) -> dict:
    """`summary_header` of a latency experiment: its threads and the availability of its backends."""
    return summary_header(experiment, title, config, threads=config.measurement.plan.threads,
                          backends=backend_entries(config.measurement.backends))


def write_result(directory: Path, files: dict, frame: pd.DataFrame, summary: dict) -> None:
    write_csv(directory / files["rows"], frame)
    write_json(directory / files["summary"], summary)


@dataclass
class ExperimentResult:
    """A finished run read back from its files: what notebooks, the book and the terminal show."""

    directory: Path
    summary: dict
    rows: pd.DataFrame
    files = {}

    @classmethod
    def load(cls, directory: str | Path):
        directory = Path(directory)
        summary_path = directory / cls.files["summary"]
        if not summary_path.exists():
            raise MobileReproError(f"no {cls.__name__} in {str(directory)!r} (expected {cls.files['summary']})")
        return cls(directory, read_json(summary_path), pd.read_csv(directory / cls.files["rows"]))

    @property
    def figure_path(self) -> Path:
        return self.directory / self.files["figure"]

    @property
    def statistic(self) -> str:
        return self.summary["parameters"]["measurement"]["latency_statistic"]

    def verdicts(self) -> list[Verdict]:
        return [Verdict(**v) for v in self.summary["verdicts"]]

    def environment_line(self) -> str:
        return environment.describe(self.summary["environment"])

    def unavailable_backends(self) -> list[str]:
        return [f"{b['backend']} ({b['reason']})" for b in self.summary["backends"] if not b["available"]]

    def interrupted(self) -> str | None:
        """A warning when the timing was interrupted before the profile's rounds were done (None for experiments
        that time nothing)."""
        if "measurement" not in self.summary["parameters"]:
            return None
        planned = self.summary["parameters"]["measurement"]["plan"]["rounds"]
        ok = self.rows[self.rows.status == "ok"]
        done = int(ok.rounds_completed.min()) if len(ok) else planned
        if done < planned:
            return f"INTERRUPTED: timing stopped after {done} of {planned} rounds; fewer runs than the profile asks for"
        return None

    def summary_box(self, title: str, numbers: list[str]) -> str:
        """The chapter's summary box: our numbers, the unavailable backends, the verdicts, the environment."""
        unavailable = self.unavailable_backends()
        if unavailable:
            numbers = [*numbers, "unavailable here: " + "; ".join(unavailable)]
        warning = self.interrupted()
        if warning:
            numbers = [warning, *numbers]
        return summary_box(title, self.verdicts(), numbers, self.environment_line())

    def failures(self) -> pd.DataFrame:
        """Every timing that did not happen: failures one per row, an unavailable backend once."""
        keys = [c for c in ("model", "variant", "form") if c in self.rows.columns]
        failed = self.rows[self.rows.status == "failed"][[*keys, "backend", "status", "reason"]]
        unavailable = self.rows[self.rows.status == "unavailable"].drop_duplicates("backend")
        unavailable = unavailable[["backend", "status", "reason"]].assign(**{keys[0]: "(every model)"})
        table = pd.concat([unavailable, failed])[[*keys, "backend", "status", "reason"]]
        return table.fillna("").reset_index(drop=True)

    def measured_backends(self) -> list[str]:
        statuses = self.rows.groupby("backend", sort=False).status
        return [backend for backend, status in statuses if (status != "unavailable").any()]
