"""The course: lessons of chapters (`course.yaml`), what each needs installed and how long it takes here.

A lesson's needs are read from its chapters (the dense stack, LiteRT, the datasets they declare); its time is the
sum of the chapters' last quick runs on this machine, as their result files record them. `lesson_report` is what
`python -m mobilerepro lesson N` prints and the book's course page shows; a lesson whose chapters take longer than
the lesson itself says so: its runs should start before class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from mobilerepro import MobileReproError, exercises, experiments
from mobilerepro.results import read_json


@dataclass(frozen=True)
class Lesson:
    number: int
    title: str
    question: str
    chapters: tuple[str, ...]


@cache
def syllabus() -> tuple[int, tuple[Lesson, ...]]:
    data = yaml.safe_load((resources.files("mobilerepro") / "course.yaml").read_text())
    lessons = tuple(Lesson(i, entry["title"], entry["question"], tuple(entry["chapters"]))
                    for i, entry in enumerate(data["lessons"], 1))
    return int(data["minutes"]), lessons


def lesson(number: int) -> Lesson:
    _, lessons = syllabus()
    if not 1 <= number <= len(lessons):
        raise MobileReproError(f"there are lessons 1 to {len(lessons)}, not {number}")
    return lessons[number - 1]


def needs(chapter) -> list[str]:
    found = []
    if chapter.needs_dense_stack:
        found.append("the dense stack (`make dense-setup`)")
    if chapter.needs_litert_stack:
        found.append("LiteRT (`make litert-setup`)")
    found += [f"data `{name}` (`make data`)" for name in chapter.datasets]
    return found


def seconds_here(chapter) -> float | None:
    path = chapter.default_output_dir("quick") / chapter.files["summary"]
    return read_json(path).get("seconds") if path.exists() else None


def lesson_report(number: int) -> dict:
    """A lesson's chapters with their commands, needs, exercises and measured times, and its total here."""
    minutes, _ = syllabus()
    found = lesson(number)
    rows = []
    for chapter_id in found.chapters:
        chapter = experiments.get(chapter_id)
        rows.append({"chapter": chapter_id, "title": chapter.title, "command": f"make replicate-{chapter.target}",
                     "needs": needs(chapter), "exercises": list(exercises.exercises_of(chapter_id)),
                     "seconds_here": seconds_here(chapter)})
    timed = [r["seconds_here"] for r in rows if r["seconds_here"] is not None]
    total = sum(timed) if len(timed) == len(rows) else None
    return {"lesson": found, "minutes": minutes, "chapters": rows, "seconds_here": total,
            "too_long": total is not None and total > minutes * 60}


def _duration(seconds: float | None) -> str:
    return "not run here yet" if seconds is None else f"{seconds / 60:.1f} min"


def lesson_lines(number: int) -> list[str]:
    report = lesson_report(number)
    found = report["lesson"]
    lines = [f"Lesson {found.number}: {found.title} — {found.question}"]
    for row in report["chapters"]:
        needs_text = "; ".join(row["needs"]) or "nothing beyond `make setup`"
        exercises_text = ", ".join(row["exercises"]) or "none yet"
        lines.append(f"  {row['command']}: {row['title']} (here: {_duration(row['seconds_here'])}; needs "
                     f"{needs_text}; exercises: {exercises_text})")
    if report["seconds_here"] is None:
        lines.append("  time on this machine: unknown until every chapter of the lesson has run here once")
    else:
        lines.append(f"  time on this machine: {_duration(report['seconds_here'])} of the lesson's "
                     f"{report['minutes']} min" + (" — TOO SLOW for the lesson itself: run the chapters before "
                                                   "class" if report["too_long"] else ""))
    return lines


def markdown() -> str:
    """The book's course page."""
    minutes, lessons = syllabus()
    lines = ["# Course", "",
             f"The chapters ordered into {len(lessons)} lessons of {minutes} minutes. Each lesson's chapters end "
             "with exercises: a prediction first, a short run, then a check (`python -m mobilerepro exercise`) "
             "that says whether the answer agrees with what the laptop measured. `python -m mobilerepro lesson N` "
             "prepares a laptop for lesson N and says what it lacks and how long its runs take there; "
             "`python -m mobilerepro student-copy CHAPTER` writes a chapter without its solutions.", "",
             "Times below are those of the machine that built this book (its chapters' last quick runs).", ""]
    for found in lessons:
        lines += [f"## Lesson {found.number}: {found.title}", "", f"*{found.question}*", "",
                  "| chapter | command | needs | exercises | time here |", "|---|---|---|---|---|"]
        report = lesson_report(found.number)
        for row in report["chapters"]:
            lines.append(f"| {row['title']} | `{row['command']}` | {'; '.join(row['needs']) or '—'} | "
                         f"{', '.join(row['exercises']) or '—'} | {_duration(row['seconds_here'])} |")
        total = (f"{_duration(report['seconds_here'])} of the lesson's {minutes} min"
                 + (": longer than the lesson, so run its chapters before class" if report["too_long"] else "")
                 if report["seconds_here"] is not None else "unknown until every chapter of the lesson has run")
        lines += ["", f"Its runs on this machine: {total}.", ""]
    return "\n".join(lines) + "\n"
