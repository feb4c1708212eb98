"""Exercises for teachers: a chapter's questions as data, a check a student calls on an answer, a student copy.

An exercise lives in its chapter's paper data (`exercises:` of the chapter's section) and in its notebook (the
question in an `{exercise}` block, which asks for a prediction first and says what to run; the solution between
`{solution-start}` and `{solution-end}`, an executed cell). The data says what the answer is about: a `quantity`
the chapter's result measures (`Result.exercise_estimate`: the value with the interval its own noise allows — the
bootstrap interval of a correlation, the ratio the two timing spreads allow), the kind of answer (`number`: inside
that interval; `direction`: `up`, `down` or `same` against a reference value the data names), and why an answer
is off (`too_high`, `too_low`). `check` judges an answer against the latest run of the chapter on this machine and
never prints the measured value; the solution cell (`Result.show_solution`) does.

`student_copy` writes a notebook with every solution replaced by a stub that calls the check, the nbgrader way.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from mobilerepro import MobileReproError, paper

KINDS = ("number", "direction")
DIRECTIONS = ("up", "down", "same")


@dataclass(frozen=True)
class Estimate:
    """A measured quantity and the interval its noise allows."""

    value: float
    low: float
    high: float
    what: str

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise MobileReproError(f"{self.what}: no interval was measured to judge an answer against")


@dataclass(frozen=True)
class Exercise:
    chapter: str
    name: str
    kind: str
    quantity: dict
    too_high: str
    too_low: str
    # direction: what 'up' and 'down' are counted from — a number, or another quantity of the same result
    reference: float | dict | None = None

    @property
    def label(self) -> str:
        return f"{self.chapter}-{self.name}".replace("/", "-").replace("_", "-")


def exercises_of(chapter: str) -> dict[str, Exercise]:
    """The exercises of a chapter (`<paper>/<section>`), from its paper data."""
    found = {}
    for name, entry in (paper.chapter_section(chapter).get("exercises") or {}).items():
        entry = dict(entry)
        kind = entry.pop("kind", None)
        if kind not in KINDS:
            raise MobileReproError(f"exercise {chapter}/{name}: kind is one of {', '.join(KINDS)}, got {kind!r}")
        reference = entry.pop("reference", None)
        if kind == "direction" and reference is None:
            raise MobileReproError(f"exercise {chapter}/{name}: a direction needs the reference it is counted from")
        try:
            found[name] = Exercise(chapter, name, kind, entry.pop("quantity"), entry.pop("too_high"),
                                   entry.pop("too_low"), reference)
        except KeyError as missing:
            raise MobileReproError(f"exercise {chapter}/{name} has no {missing.args[0]}") from None
        if entry:
            raise MobileReproError(f"exercise {chapter}/{name}: unknown fields {', '.join(sorted(entry))}")
    return found


def get(chapter: str, name: str) -> Exercise:
    exercises = exercises_of(chapter)
    if name not in exercises:
        raise MobileReproError(f"{chapter} has no exercise {name!r} (its exercises: {', '.join(exercises) or 'none'})")
    return exercises[name]


@dataclass(frozen=True)
class Feedback:
    accepted: bool
    message: str

    def _repr_markdown_(self) -> str:
        return ("**Accepted.** " if self.accepted else "**Not yet.** ") + self.message


def direction_of(estimate: Estimate, reference: float) -> str:
    if estimate.low > reference:
        return "up"
    if estimate.high < reference:
        return "down"
    return "same"


def check(exercise: Exercise, answer, estimate: Estimate, reference: float | None = None) -> Feedback:
    """Whether `answer` agrees with what this machine measured; if not, which way it is off and why, without the
    measured value. A direction is counted from `reference`: the exercise's reference as measured when it names a
    quantity (`Result.check` measures it)."""
    if exercise.kind == "direction":
        given = str(answer).strip().lower()
        if given not in DIRECTIONS:
            raise MobileReproError(f"answer one of {', '.join(DIRECTIONS)}, got {answer!r}")
        if reference is None:
            raise MobileReproError(f"exercise {exercise.name}: a direction needs the value it is counted from")
        measured = direction_of(estimate, reference)
        if given == measured:
            return Feedback(True, f"'{given}' agrees with this machine's measurement of {estimate.what}.")
        order = ("down", "same", "up")
        hint = exercise.too_high if order.index(given) > order.index(measured) else exercise.too_low
        return Feedback(False, f"'{given}' does not agree with this machine's measurement of {estimate.what}. "
                               f"Think again: {hint}")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise MobileReproError(f"answer a number, got {answer!r}") from None
    if estimate.low <= value <= estimate.high:
        return Feedback(True, f"{value:g} lies inside the interval this machine's measurement of {estimate.what} "
                              "allows.")
    side, hint = ("above", exercise.too_high) if value > estimate.high else ("below", exercise.too_low)
    return Feedback(False, f"{value:g} lies {side} what this machine's measurement of {estimate.what} allows. "
                           f"Think again: {hint}")


# The student copy ------------------------------------------------------------------------------------------------
SOLUTION_START, SOLUTION_END = "```{solution-start}", "```{solution-end}"
SOLVES = re.compile(r'show_solution\("([a-z0-9_]+)"\)')


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def student_copy(notebook: Path, destination: Path) -> int:
    """`notebook` with every solution (the cells from a solution-start block to the markdown cell that closes it
    with a solution-end, both included) replaced by one stub cell that checks the student's answer; returns how
    many were replaced."""
    book = json.loads(Path(notebook).read_text())
    cells, solution = [], None
    replaced = 0
    for cell in book["cells"]:
        text = _source(cell).lstrip()
        if cell["cell_type"] == "markdown" and text.startswith(SOLUTION_START):
            solution = []
            continue
        if solution is None:
            cells.append(cell)
            continue
        solution.append(cell)
        if cell["cell_type"] == "markdown" and SOLUTION_END in text:
            names = [match for c in solution for match in SOLVES.findall(_source(c))]
            if len(names) != 1:
                raise MobileReproError(f"{notebook}: a solution must show exactly one exercise, found {names}")
            cells.append({"cell_type": "code", "execution_count": None, "id": f"student-{replaced}",
                          "metadata": {"tags": ["student"]}, "outputs": [],
                          "source": f"answer = ...  # your prediction, before you run anything\n"
                                    f'result.check("{names[0]}", answer)'})
            replaced += 1
            solution = None
    if solution is not None:
        raise MobileReproError(f"{notebook}: a solution-start has no solution-end")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps({**book, "cells": cells}, indent=1))
    return replaced
