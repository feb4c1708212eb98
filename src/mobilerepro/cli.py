"""Command line: `python -m mobilerepro <command>`. Every notebook step can also be run from a shell.

    replicate EXPERIMENT [--profile P] [-p NAME VALUE ...] [--output-dir DIR]   run a table's notebook
    book                                                                        build the Jupyter Book
    models                                                                      list the model zoo
    backends                                                                    which latency backends run here
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

from mobilerepro import MobileReproError


def _parse_parameters(pairs: list[list[str]]) -> dict:
    # Values are YAML, like papermill's -p/-y: `-p threads 2`, `-p models "[mobileone_s0, mobilenet_v2]"`.
    return {name: yaml.safe_load(value) for name, value in pairs}


def cmd_replicate(args) -> int:
    from mobilerepro import notebook

    parameters = _parse_parameters(args.parameter)
    parameters["profile"] = args.profile
    directory = notebook.execute(
        args.experiment, parameters, output_dir=args.output_dir, publish=not args.no_publish,
        log_output=not args.quiet,
    )
    module = notebook.experiment_module(args.experiment)
    result = module.load(directory)
    print()
    print(result.terminal_report())
    if result.interrupted():
        print(f"\n{result.interrupted()}")
    print()
    print(f"results:  {directory}/ ({', '.join(module.FILES.values())})")
    print(f"figure:   {result.figure_path}")
    print(f"notebook: {directory / module.FILES['notebook']}")
    if not args.no_publish:
        print(f"chapter:  {notebook.chapters_dir() / module.FILES['notebook']} (`make book` renders it)")
    return 0


def cmd_book(args) -> int:
    from mobilerepro import notebook
    from mobilerepro.experiments import EXPERIMENTS
    from mobilerepro.results import project_root

    for experiment in EXPERIMENTS:
        chapter = notebook.chapters_dir() / f"{experiment}.ipynb"
        if not chapter.exists():
            print(f">> chapter {experiment} has not been run yet: running it (profile {args.profile})")
            notebook.execute(experiment, {"profile": args.profile}, publish=True)
    book = project_root() / "book"
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    completed = subprocess.run([str(jupyter_book), "build", str(book), "--builder", "html"], check=False)
    if completed.returncode != 0:
        raise MobileReproError("jupyter-book build failed (see its output above)")
    print(f"\nbook: {book / '_build' / 'html' / 'index.html'}")
    return 0


def cmd_models(args) -> int:
    from mobilerepro.models import zoo

    for name in zoo.model_names():
        spec = zoo.get_spec(name)
        print(f"{name:24s} {spec.family:18s} {spec.source:34s} {spec.input_size[1]}x{spec.input_size[2]}")
    return 0


def cmd_backends(args) -> int:
    from mobilerepro.measure.latency import BACKENDS

    for name, backend in BACKENDS.items():
        availability = backend.availability()
        state = "available" if availability.available else f"unavailable: {availability.reason}"
        print(f"{name:12s} {backend.description:70s} {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mobilerepro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    replicate = sub.add_parser("replicate", help="run an experiment's notebook and print its table")
    replicate.add_argument("experiment", help="e.g. table1")
    replicate.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), help="smoke | quick | full")
    replicate.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override a notebook parameter (VALUE is YAML)",
    )
    replicate.add_argument("--output-dir", default=None, help="default: results/<experiment>/<profile>")
    replicate.add_argument("--no-publish", action="store_true", help="do not copy the executed notebook into book/")
    replicate.add_argument("--quiet", action="store_true", help="do not stream the notebook's output")
    replicate.set_defaults(func=cmd_replicate)

    book = sub.add_parser("book", help="build the Jupyter Book (runs missing chapters first)")
    book.add_argument("--profile", default=os.environ.get("PROFILE", "quick"))
    book.set_defaults(func=cmd_book)

    sub.add_parser("models", help="list the model zoo").set_defaults(func=cmd_models)
    sub.add_parser("backends", help="latency backends and whether they run here").set_defaults(func=cmd_backends)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MobileReproError as error:
        print(f"error: {error}", file=sys.stderr)
        notebook_path = getattr(error, "notebook", None)
        if notebook_path is not None:
            print(f"open the executed notebook to see what happened: {notebook_path}", file=sys.stderr)
            return 1
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
