"""A grid of training runs: every arm x seed, each in the folder its configuration's digest names, trained unless a
finished run is already there, so that a table that needs a run another table trained reuses it and an interrupted
grid resumes where it stopped. The ablation, distillation and dense-training chapters all train this way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mobilerepro.train import trainer


@dataclass(frozen=True)
class GridRun:
    """One finished run of the grid."""

    arm: str
    seed: int
    settings: object  # what `plan` returned; its `output_dir` is the run's folder
    run: trainer.TrainingRun
    reused: bool  # finished before this grid started


def finished_run(folder: Path) -> trainer.TrainingRun | None:
    """The run in `folder` if it has finished."""
    if not (folder / trainer.RUN_SUMMARY).exists():
        return None
    run = trainer.TrainingRun.load(folder)
    return run if run.complete else None


def run_grid(arms: Iterable[str], seeds: Iterable[int], plan: Callable[[str, int], object],
             train: Callable[[object], object], *, describe: Callable[[str, int], str] | None = None,
             progress: bool = True) -> tuple[list[GridRun], str | None]:
    """Every run of the grid, seed by seed (so that an interruption leaves whole pairs): `plan(arm, seed)` gives the
    run's settings, `train(settings)` trains it. The arms' order turns by one from a seed to the next: the first run
    of a seed starts colder (its images not yet in the page cache) and is measurably slower, so a fixed order would
    put that cost into every paired ratio of training times. After a stop request (`TrainingInterrupted`) nothing
    more is trained, but runs already finished are still read. Returns the finished runs and the interruption's
    message, if any."""
    arms = list(arms)
    finished, interrupted = [], None
    for position, seed in enumerate(seeds):
        turn = position % len(arms) if arms else 0
        for arm in arms[turn:] + arms[:turn]:
            settings = plan(arm, seed)
            folder = Path(settings.output_dir)
            run = finished_run(folder)
            reused = run is not None
            if run is None and interrupted is None:
                if progress and describe is not None:
                    print(f"{describe(arm, seed)} -> {folder}", flush=True)
                try:
                    train(settings)
                except trainer.TrainingInterrupted as stop:
                    interrupted = str(stop)
                run = finished_run(folder)
            if run is not None:
                finished.append(GridRun(arm, seed, settings, run, reused))
    return finished, interrupted
