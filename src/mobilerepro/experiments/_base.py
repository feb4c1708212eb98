"""The experiment contract: one object per chapter.

An `Experiment` has an id namespaced by paper (`mobileone/table1`), a configuration dataclass whose fields are the
notebook's parameters, its profiles beside it, and three steps:

- `configure(profile, **overrides)` — the profile's settings, any non-None override on top, validated;
- `run(config, output_dir)` — measure (the subclass's `measure`), judge every piece of evidence against its claim
  with the one verdict engine, write `<name>.csv` + `<name>.json` (stamped with the environment), then draw the
  figure from what was written;
- `load(directory)` — the finished run as a `Result`: its tables, its summary box, its terminal report.

A chapter is its experiment module (which defines `EXPERIMENT`), its notebook `notebooks/<id>.ipynb` and its paper
data (claims included); the registry (`mobilerepro.experiments`) finds the module, and the CLI, the Makefile's
pattern rule, the book's table of contents and the contract tests all read the registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from mobilerepro import MobileReproError, chapter_code, claims, paper
from mobilerepro.measure import environment
from mobilerepro.measure.latency import CPU_BACKENDS
from mobilerepro.profiles import check_profile
from mobilerepro.report import html_table, summary_box, terminal_table, verdict_lines
from mobilerepro.results import ensure_writable, project_root, read_json, results_root, write_csv, write_json
from mobilerepro.verdicts import Evidence, Verdict, judge_chapter


def chapter_id(module: str) -> str:
    """`mobilerepro.experiments.mobileone.table1` -> `mobileone/table1`: a chapter module's family folder and name.
    A template (a name with a leading underscore) is no chapter."""
    parts = module.split(".")
    if len(parts) < 3 or any(p.startswith("_") for p in parts[-2:]):
        raise MobileReproError(f"{module} is not a chapter module: a chapter lies at experiments/<family>/<name>.py "
                               "(templates start with an underscore)")
    return "/".join(parts[-2:])


@dataclass(frozen=True)
class BaseConfig:
    """Every configuration has a profile; subclasses add their fields, each with a default."""

    profile: str = "quick"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Outcome:
    """What `Experiment.measure` hands back: the rows, the experiment's own summary fields, and its evidence as
    (claim name, scope, evidence) triples for the verdict engine."""

    rows: pd.DataFrame
    summary: dict
    evidence: list[tuple[str, str, Evidence]] = field(default_factory=list)


class Result:
    """A finished run read back from its files: what notebooks, the book and the terminal show."""
    # The family's standard sections, written once: table -> (heading, what a reader needs to read it);
    # a notebook shows one with `show_section(table)`, a subclass adds its own.
    sections = {
        "verdicts": ("Verdicts",
            "Each claim as tested here, the evidence and the rule that turned it into a verdict."),
    }

    # Which of `tables()` the terminal report prints, in order.
    terminal_tables: tuple[str, ...] = ()

    def __init__(self, experiment: Experiment, directory: Path, summary: dict, rows: pd.DataFrame):
        self.experiment, self.directory, self.summary, self.rows = experiment, directory, summary, rows

    @classmethod
    def load(cls, experiment: Experiment, directory: str | Path) -> Result:
        directory = Path(directory)
        summary_path = directory / experiment.files["summary"]
        if not summary_path.exists():
            raise MobileReproError(f"no result of {experiment.id} in {str(directory)!r} (expected "
                                   f"{experiment.files['summary']}); run `make replicate-{experiment.target}`")
        return cls(experiment, directory, read_json(summary_path), pd.read_csv(directory / experiment.files["rows"]))

    @property
    def figure_path(self) -> Path:
        return self.directory / self.experiment.files["figure"]

    def path(self, kind: str) -> Path:
        return self.directory / self.experiment.files[kind]

    def verdicts(self) -> list[Verdict]:
        return [Verdict(**v) for v in self.summary["verdicts"]]

    def verdicts_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records([
            {"claim tested": v.claim, "where": v.scope, "ours": v.ours, "verdict": v.verdict, "n": v.n, "rule": v.rule}
            for v in self.verdicts()])

    def environment_line(self) -> str:
        return environment.describe(self.summary["environment"])

    # Hooks of the subclasses -------------------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        return {}

    def summary_numbers(self) -> list[str]:
        """Our headline numbers, one line each, for the summary box."""
        return []

    def interrupted(self) -> str | None:
        """A warning when the run stopped before doing what its profile asks for."""
        return None

    def notes(self) -> list[str]:
        """Extra lines for the summary box (unavailable backends, failed exports, ...)."""
        return []

    setup_title = "Setup"

    def setup_lines(self) -> list[str]:
        """How the run was set up, one line each: the chapter's setup list."""
        return []

    def setup_markdown(self) -> str:
        return f"**{self.setup_title}.**\n\n" + "\n".join(f"- {line}" for line in self.setup_lines())

    # What every chapter shows --------------------------------------------------------------------------------------
    def summary_html(self) -> str:
        numbers = [*self.summary_numbers(), *self.notes()]
        warning = self.interrupted()
        if warning:
            numbers = [warning, *numbers]
        if self.summary["profile"] == "smoke":
            numbers = ["SMOKE PROFILE: a test run of the code path; its numbers mean nothing", *numbers]
        return summary_box(f"{self.experiment.title} — on this machine", self.verdicts(), numbers,
                           self.environment_line())

    def terminal_report(self) -> str:
        tables = self.tables()
        lines = [f"{self.experiment.title} (profile {self.summary['profile']})", ""]
        for name in self.terminal_tables:
            if name in tables and not tables[name].empty:
                lines += [terminal_table(tables[name], float_format="{:.4g}"), ""]
        lines += [*self.summary_numbers(), *self.notes()]
        if self.verdicts():
            lines += ["", "The paper's claims vs this machine:", *verdict_lines(self.verdicts())]
        warning = self.interrupted()
        lines += ["", *([warning] if warning else []), f"environment: {self.environment_line()}"]
        return "\n".join(lines)

    # Notebook cells ----------------------------------------------------------------------------------------------
    def show_summary(self):
        from IPython.display import HTML, display

        display(HTML(self.summary_html()))

    def show(self, table: str):
        """A table of `tables()` (or `verdicts`) for the book: no index, compact numbers."""
        frame = self.verdicts_table() if table == "verdicts" else self.tables()[table]
        return html_table(frame)

    def section_texts(self) -> dict[str, tuple[str, str]]:
        """Every standard section this result has: its family's, its parents' and its own `sections`."""
        texts: dict[str, tuple[str, str]] = {}
        for cls in reversed(type(self).__mro__):
            texts.update(vars(cls).get("sections", {}))
        return texts

    def show_section(self, table: str):
        """A standard section of the family: its heading and sentence, then the table."""
        from IPython.display import display

        heading, text = self.section_texts()[table]
        self.show_markdown(f"## {heading}\n\n{text}")
        display(self.show(table))

    def show_figure(self, kind: str = "figure"):
        from IPython.display import Image, display

        display(Image(filename=str(self.path(kind))))

    def show_markdown(self, text: str):
        from IPython.display import Markdown, display

        display(Markdown(text))

    # Exercises (`mobilerepro.exercises`) -------------------------------------------------------------------------
    def exercises_markdown(self) -> str:
        return (f"## Exercises\n\nEach exercise asks for a prediction first, then a short run (a few minutes on a "
                f"2-core laptop), then a check that says whether your answer agrees with what this machine measured — "
                f"never the measured value. `python -m mobilerepro student-copy {self.experiment.id}` writes this "
                f"notebook without the solutions; `python -m mobilerepro exercise {self.experiment.id} NAME ANSWER` "
                f"checks an answer from the terminal.")

    def exercise_estimate(self, quantity: dict):
        """The measured quantity an exercise asks about, with the interval its noise allows; each family names the
        quantities it measures."""
        raise MobileReproError(f"{self.experiment.id} measures no quantity {quantity.get('name')!r}")

    def _exercise(self, name: str):
        from mobilerepro import exercises

        exercise = exercises.get(self.experiment.id, name)
        reference = exercise.reference
        if isinstance(reference, dict):
            reference = self.exercise_estimate(reference).value
        return exercise, self.exercise_estimate(exercise.quantity), reference

    def check(self, name: str, answer):
        """A student's answer to exercise `name` against this run: accepted or which way it is off, never the value."""
        from mobilerepro import exercises

        exercise, estimate, reference = self._exercise(name)
        return exercises.check(exercise, answer, estimate, reference)

    def show_solution(self, name: str):
        """The solution cell of exercise `name`: what this run measured, with its interval."""
        try:
            exercise, estimate, reference = self._exercise(name)
        except MobileReproError as error:
            self.show_markdown(f"*Not measured in this run:* {error}")
            return
        text = (f"**Measured here:** {estimate.what} = {estimate.value:.3g}, the interval its noise allows "
                f"{estimate.low:.3g} – {estimate.high:.3g}")
        if exercise.kind == "direction":
            from mobilerepro.exercises import direction_of

            text += f"; against {reference:.3g} that is *{direction_of(estimate, reference)}*"
        self.show_markdown(text + ".")


class Experiment:
    """One chapter. Subclasses set the class attributes and implement `measure` and `figure`.

    Where the chapter stands is read from where its module lies: `experiments/<family>/<name>.py` is the chapter
    `<family>/<name>`, its notebook `notebooks/<family>/<name>.ipynb`, its book part the title of the paper data file
    whose `paper.id` is the family, its make target `replicate-<the family's target_prefix><name with dashes>`.
    """

    title: str = ""
    description: str = ""  # one line for `make help` and the chapter placeholder
    config_type: type = BaseConfig
    profiles: dict[str, dict] = {}
    result_type: type = Result
    extra_files: dict[str, str] = {}
    # Datasets (relative to MOBILEREPRO_DATA) its smoke and quick profiles read; none for analytic or timing chapters.
    datasets: tuple[str, ...] = ()
    # Dataset folders its full profile reads (a user's own copy; never in the tests).
    full_datasets: tuple[str, ...] = ()
    # Built on mmdet/mmseg: its make target installs the dense stack first (`make dense-setup`).
    needs_dense_stack: bool = False
    # Its claims are about LiteRT: its make target installs the LiteRT environment first (`make litert-setup`).
    # Chapters where LiteRT is one column among others leave it False: the column is 'unavailable' without it.
    needs_litert_stack: bool = False
    # Its figures or notebook show images of its dataset: its runs stay on the machine that made them, never in the
    # committed reference run (the repository holds no dataset files).
    shows_dataset_images: bool = False

    @property
    def id(self) -> str:
        return chapter_id(type(self).__module__)

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[1]

    @property
    def paper(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def target(self) -> str:
        """What follows `make replicate-`."""
        return paper.family(self.paper).get("target_prefix", "") + self.name.replace("_", "-")

    @property
    def part(self) -> str:
        """The book part: the family's title."""
        return paper.family(self.paper)["title"]

    @property
    def files(self) -> dict[str, str]:
        base = {kind: f"{self.name}.{ext}" for kind, ext in
                (("rows", "csv"), ("summary", "json"), ("figure", "png"), ("notebook", "ipynb"))}
        return {**base, **self.extra_files}

    @property
    def notebook(self) -> Path:
        return project_root() / "notebooks" / f"{self.id}.ipynb"

    @property
    def claims(self) -> dict[str, claims.Claim]:
        return claims.claims_of(self.id)

    def parameter_names(self) -> list[str]:
        """The notebook's parameters: the configuration's fields and the output directory."""
        return [f.name for f in dataclasses.fields(self.config_type)] + ["output_dir"]

    def default_output_dir(self, profile: str) -> Path:
        return results_root() / self.id / profile

    def runs_here(self) -> list[Path]:
        """The summary files of this chapter's runs on this machine, the most thorough profile first."""
        summaries = [self.default_output_dir(p) / self.files["summary"] for p in ("full", "quick", "smoke")]
        return [path for path in summaries if path.exists()]

    def why_not_current(self, profile: str) -> str | None:
        """Why running this chapter's `profile` run again here would not redo the same (None: it would): the run
        must exist, name a clean commit whose chapter code is this checkout's (`chapter_code`), and have used the
        profile's own parameters (not an exercise's or a user's variation)."""
        path = self.default_output_dir(profile) / self.files["summary"]
        if not path.exists():
            return f"no {profile} run here: make replicate-{self.target}"
        summary = read_json(path)
        commit = summary.get("environment", {}).get("git_commit", "unknown")
        if commit == "unknown" or commit.endswith("+dirty"):
            return f"its run names no clean commit ({commit}): run it again from a clean checkout"
        if not chapter_code.unchanged_since(self, commit):
            return f"its code changed since the run at {commit}: run it again"
        if summary.get("parameters") != json.loads(json.dumps(self.configure(profile).as_dict(), default=str)):
            return "its run changed the profile's parameters (an exercise's or yours): run it again without them"
        return None

    def run_is_current(self, profile: str) -> bool:
        return self.why_not_current(profile) is None

    def latest_result(self) -> Result:
        """This chapter's most recent run on this machine, of any profile."""
        found = self.runs_here()
        if not found:
            raise MobileReproError(f"{self.id} has not run here: `make replicate-{self.target}` first")
        return self.load(max(found, key=lambda path: path.stat().st_mtime).parent)

    def configure(self, profile: str = "quick", **overrides) -> BaseConfig:
        """The profile's settings with every non-None override on top, validated."""
        check_profile(profile)
        known = {f.name for f in dataclasses.fields(self.config_type)} - {"profile"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MobileReproError(f"{self.id} has no parameter {unknown[0]!r}{hint} "
                                   f"(its parameters: {', '.join(sorted(known))})")
        values = {**self.profiles[profile], **{k: v for k, v in overrides.items() if v is not None}}
        return self.validate(self.config_type(profile=profile, **values))

    def validate(self, config: BaseConfig) -> BaseConfig:
        """Check and normalise a configuration (names resolved, lists filled in); raise one clear line if wrong."""
        return config

    def threads(self, config: BaseConfig) -> int:
        return getattr(config, "threads", 1)

    def header(self, config: BaseConfig) -> dict:
        """The fields every summary file starts with: what ran, with which parameters, where."""
        return {"experiment": self.id, "title": self.title, "profile": config.profile,
                "parameters": config.as_dict(),
                "environment": environment.environment_stamp(profile=config.profile, threads=self.threads(config))}

    def measure(self, config: BaseConfig, directory: Path, progress: bool) -> Outcome:
        raise NotImplementedError

    def figure(self, result: Result, path: Path) -> None:
        raise NotImplementedError

    def run(self, config: BaseConfig, output_dir: str | Path | None = None, *, progress: bool = True) -> Path:
        """Measure, judge, write the result files, draw the figure from them; returns the output directory."""
        directory = ensure_writable(output_dir or self.default_output_dir(config.profile))
        started = time.perf_counter()
        outcome = self.measure(config, directory, progress)
        chapter_claims = self.claims
        verdicts = judge_chapter(chapter_claims, outcome.evidence, CPU_BACKENDS)
        write_csv(directory / self.files["rows"], outcome.rows)
        # The run's own time (work reused from a cache, e.g. a finished training run, costs only its reading).
        write_json(directory / self.files["summary"],
                   {**self.header(config), **outcome.summary, "verdicts": [v.as_dict() for v in verdicts],
                    "seconds": time.perf_counter() - started})
        self.figure(self.load(directory), directory / self.files["figure"])
        return directory

    def load(self, directory: str | Path) -> Result:
        return self.result_type.load(self, directory)
