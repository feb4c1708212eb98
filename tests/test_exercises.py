"""The teaching layer: exercises as data and notebook cells, the check a student calls, the student copy."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilerepro import MobileReproError, exercises, experiments
from mobilerepro.exercises import SOLVES, Estimate, Exercise, check, direction_of, student_copy

IDS = sorted(experiments.registry())
WITH_EXERCISES = [i for i in IDS if exercises.exercises_of(i)]


def cells(chapter: str) -> list[dict]:
    return json.loads(experiments.get(chapter).notebook.read_text())["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"])


def test_chapters_have_exercises():
    assert len(WITH_EXERCISES) >= 4
    assert all(len(exercises.exercises_of(c)) >= 2 for c in WITH_EXERCISES)


@pytest.mark.parametrize("chapter", IDS)
def test_every_exercise_has_its_question_and_one_executed_solution_in_the_notebook(chapter):
    data = exercises.exercises_of(chapter)
    notebook = cells(chapter)
    questions = [re.search(r":label: ([a-z0-9-]+)", text(c)).group(1) for c in notebook
                 if c["cell_type"] == "markdown" and text(c).startswith("```{exercise}")]
    starts = [text(c).split()[1] for c in notebook
              if c["cell_type"] == "markdown" and text(c).startswith("```{solution-start}")]
    assert sorted(questions) == sorted(e.label for e in data.values()) == sorted(starts)
    solved = [name for c in notebook if c["cell_type"] == "code" for name in SOLVES.findall(text(c))]
    assert sorted(solved) == sorted(data)


def number_exercise(**fields) -> Exercise:
    return Exercise("mobileone/table1", "x", "number", {"name": "rho"}, "too high because", "too low because",
                    **fields)


@settings(max_examples=200, deadline=None)
@given(st.floats(-5, 5), st.floats(0.001, 3), st.floats(0.001, 3), st.floats(-10, 10))
def test_a_number_is_accepted_exactly_inside_the_measured_interval_and_the_message_hides_the_value(
        value, below, above, answer):
    estimate = Estimate(value, value - below, value + above, "the quantity")
    feedback = check(number_exercise(), answer, estimate)
    assert feedback.accepted == (estimate.low <= answer <= estimate.high)
    for shown in (f"{value:.3g}", f"{value:.2f}", f"{estimate.low:.3g}", f"{estimate.high:.3g}"):
        if shown not in f"{answer:g}":
            assert shown not in feedback.message
    if not feedback.accepted:
        assert ("too high" if answer > estimate.high else "too low") in feedback.message


@pytest.mark.parametrize(("low", "high", "measured"), [(1.1, 1.3, "up"), (0.7, 0.9, "down"), (0.9, 1.1, "same")])
def test_a_direction_is_counted_from_the_reference(low, high, measured):
    exercise = Exercise("mobileone/table7", "x", "direction", {"name": "latency_ratio"}, "too high because",
                        "too low because", reference=1.0)
    estimate = Estimate((low + high) / 2, low, high, "a ratio")
    assert direction_of(estimate, 1.0) == measured
    for answer in ("up", "down", "same"):
        feedback = check(exercise, answer, estimate, exercise.reference)
        assert feedback.accepted == (answer == measured)
        order = ("down", "same", "up")
        if not feedback.accepted:
            expected = "too high" if order.index(answer) > order.index(measured) else "too low"
            assert expected in feedback.message
    with pytest.raises(MobileReproError, match="answer one of"):
        check(exercise, "faster", estimate, 1.0)
    with pytest.raises(MobileReproError, match="counted from"):
        check(exercise, "up", estimate)


def test_bad_answers_and_bad_exercise_data_are_one_line_errors(monkeypatch):
    with pytest.raises(MobileReproError, match="answer a number"):
        check(number_exercise(), "about two", Estimate(1, 0, 2, "q"))
    with pytest.raises(MobileReproError, match="no interval"):
        Estimate(1, float("nan"), 2, "q")
    with pytest.raises(MobileReproError, match="has no exercise"):
        exercises.get("mobileone/table2", "nothing")
    sections = {"kind": "number", "quantity": {"name": "rho"}, "too_high": "h", "too_low": "l", "colour": "red"}
    monkeypatch.setattr(exercises.paper, "chapter_section", lambda chapter: {"exercises": {"x": sections}})
    with pytest.raises(MobileReproError, match="unknown fields colour"):
        exercises.exercises_of("mobileone/table1")


@pytest.mark.parametrize("chapter", WITH_EXERCISES)
def test_the_student_copy_has_no_solution_and_a_stub_per_exercise(chapter, tmp_path):
    destination = tmp_path / "student.ipynb"
    replaced = student_copy(experiments.get(chapter).notebook, destination)
    copied = json.loads(destination.read_text())["cells"]
    assert replaced == len(exercises.exercises_of(chapter))
    assert not any("solution-start" in text(c) or "show_solution" in text(c) for c in copied)
    stubs = [text(c) for c in copied if "student" in c["metadata"].get("tags", [])]
    assert sorted(re.search(r'check\("([a-z0-9_]+)"', s).group(1) for s in stubs) == sorted(
        exercises.exercises_of(chapter))
    kept = [text(c) for c in cells(chapter) if "solution" not in text(c) and "show_solution" not in text(c)]
    assert len(copied) - len(stubs) <= len(kept)


def test_a_result_refuses_a_quantity_it_does_not_measure():
    from mobilerepro.experiments._base import Result

    result = Result(experiments.get("mobileone/table1"), None, {}, None)
    with pytest.raises(MobileReproError, match="measures no quantity"):
        result.exercise_estimate({"name": "colour"})


@pytest.mark.parametrize("chapter", WITH_EXERCISES)
def test_every_exercises_quantity_is_measured_or_said_missing_on_the_smoke_run(chapter, smoke_run):
    result = experiments.get(chapter).load(smoke_run(chapter))
    for name, exercise in exercises.exercises_of(chapter).items():
        try:
            estimate = result.exercise_estimate(exercise.quantity)
        except MobileReproError as missing:
            assert "this run" in str(missing) or "measured" in str(missing), name
        else:
            assert estimate.low <= estimate.value <= estimate.high or exercise.kind == "direction", name


def test_the_course_orders_existing_chapters_and_reads_what_they_need():
    from mobilerepro import course

    minutes, lessons = course.syllabus()
    ordered = [c for lesson in lessons for c in lesson.chapters]
    assert len(ordered) == len(set(ordered)) and set(ordered) <= set(IDS)
    page = course.markdown()
    assert all(f"## Lesson {lesson.number}: {lesson.title}" in page for lesson in lessons)
    for lesson in lessons:
        for row in course.lesson_report(lesson.number)["chapters"]:
            chapter = experiments.get(row["chapter"])
            assert any("LiteRT" in n for n in row["needs"]) == chapter.needs_litert_stack
            assert any("dense" in n for n in row["needs"]) == chapter.needs_dense_stack
            assert row["exercises"] == list(exercises.exercises_of(row["chapter"]))
    with pytest.raises(MobileReproError, match="there are lessons"):
        course.lesson(len(lessons) + 1)


def test_a_lesson_whose_runs_outlast_it_says_so(monkeypatch):
    from mobilerepro import course

    minutes, _ = course.syllabus()
    chapters = len(course.lesson(1).chapters)
    monkeypatch.setattr(course, "seconds_here", lambda chapter: None)
    assert course.lesson_report(1)["seconds_here"] is None
    monkeypatch.setattr(course, "seconds_here", lambda chapter: minutes * 60 / chapters + 1)
    report = course.lesson_report(1)
    assert report["too_long"] and any("TOO SLOW" in line for line in course.lesson_lines(1))
    monkeypatch.setattr(course, "seconds_here", lambda chapter: minutes * 60 / chapters - 1)
    assert not course.lesson_report(1)["too_long"]


def test_the_training_ablations_measure_paired_differences_and_training_time_by_seed():
    import pandas as pd

    from mobilerepro.experiments._training_ablation import AblationResult

    rows = pd.DataFrame.from_records([
        {"arm": arm, "seed": seed, "train_loss": loss, "train_images_per_s": speed, "top1": 10.0}
        for seed, (branch_speed, branch_loss) in enumerate([(100.0, 3.0), (50.0, 3.2), (125.0, 3.1)])
        for arm, speed, loss in (("branches", branch_speed, branch_loss), ("plain", 200.0, 2.4))])
    result = AblationResult(experiments.get("mobileone/table5"), None, {"parameters": {"weights": "raw"}}, rows)
    time = result.exercise_estimate({"name": "training_time_ratio", "candidate": "branches", "reference": "plain"})
    assert (time.value, time.low, time.high) == (2.0, 1.6, 4.0)  # the seeds' ratios 2, 4 and 1.6
    loss = result.exercise_estimate({"name": "paired_difference", "metric": "train_loss", "first": "branches",
                                     "second": "plain"})
    assert loss.value == pytest.approx(0.7) and 0 < loss.low < loss.value < loss.high
    assert result.check("branches_loss_short_run", "up").accepted
    with pytest.raises(MobileReproError, match="not trained in this run"):
        result.exercise_estimate({"name": "paired_difference", "metric": "top1", "first": "k5", "second": "plain"})


def test_the_core_ml_chapter_counts_a_programs_ops_exactly():
    from mobilerepro.experiments.deploy.coreml import CoreMLResult

    packages = [{"model": "mobileone_s0", "precision": p, "ops": n} for p, n in (("fp16", 90), ("fp32", 89))]
    result = CoreMLResult(experiments.get("deploy/coreml"), None, {"packages": packages}, None)
    assert result.check("fp16_program_ops", "up").accepted and not result.check("fp16_program_ops", "same").accepted
    with pytest.raises(MobileReproError, match="in this run"):
        result.exercise_estimate({"name": "ops", "model": "mobilenet_v2", "precision": "fp16"})
