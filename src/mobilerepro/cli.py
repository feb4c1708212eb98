"""Command line: `python -m mobilerepro <command>`. Every notebook step can also be run from a shell.

    replicate EXPERIMENT [--profile P] [-p NAME VALUE ...] [--output-dir DIR]   run a chapter's notebook
    replicate-all [--profile P]                                                 run every chapter
    experiments                                                                 list the chapters (ids, targets)
    claims                                                                      every claim, its test and verdicts
    train --train-data D [--model M] [--recipe R] [--epochs N] --output-dir DIR [--resume]   train a classifier
    book                                                                        build the Jupyter Book
    reference save [CHAPTER ...] | reference check                              the committed reference run
    data [DATASET ...] [--source DIR] [--list]                                  prepare datasets (README, "Data")
    models                                                                      list the model zoo
    backends                                                                    which latency backends run here
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from mobilerepro import MobileReproError


def _parse_parameters(pairs: list[list[str]]) -> dict:
    # Values are YAML, like papermill's -p/-y: `-p threads 2`, `-p models "[mobileone_s0, mobilenet_v2]"`.
    return {name: yaml.safe_load(value) for name, value in pairs}


def _replicate(name: str, parameters: dict, *, output_dir=None, publish: bool = True, quiet: bool = False) -> None:
    from mobilerepro import experiments, notebook

    experiment = experiments.get(name)
    directory = notebook.execute(experiment.id, parameters, output_dir=output_dir, publish=publish,
                                 log_output=not quiet)
    result = experiment.load(directory)
    print()
    print(result.terminal_report())
    print()
    print(f"results:  {directory}/ ({', '.join(experiment.files.values())})")
    print(f"figure:   {result.figure_path}")
    print(f"notebook: {directory / experiment.files['notebook']}")
    if not publish:
        return
    if parameters["profile"] in notebook.UNPUBLISHED_PROFILES:
        print(f"chapter:  not published (a {parameters['profile']} run never replaces a chapter of the book)")
    else:
        print(f"chapter:  {notebook.chapter_path(experiment)} (`make book` renders it)")


def cmd_replicate(args) -> int:
    parameters = _parse_parameters(args.parameter)
    parameters["profile"] = args.profile
    _replicate(args.experiment, parameters, output_dir=args.output_dir, publish=not args.no_publish,
               quiet=args.quiet)
    return 0


def cmd_replicate_all(args) -> int:
    """Every chapter in book order; one that fails is reported and the others still run; one already run with this
    chapter code and the profile's parameters is skipped, so an interrupted run goes on where it stopped."""
    from mobilerepro import experiments

    failed = []
    for experiment in experiments.registry().values():
        print(f"\n>> {experiment.id} (make replicate-{experiment.target}, profile {args.profile})", flush=True)
        if not args.rerun and experiment.run_is_current(args.profile):
            print("   already run with this chapter code and the profile's parameters: skipped (--rerun runs it again)")
            continue
        try:
            _replicate(experiment.id, {"profile": args.profile}, quiet=args.quiet)
        except MobileReproError as error:
            print(f"error: {experiment.id}: {error}", file=sys.stderr)
            failed.append(experiment.id)
    if failed:
        print(f"\n{len(failed)} chapter(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_experiments(args) -> int:
    from mobilerepro import experiments

    if args.needs_dense_stack:
        return 0 if experiments.get(args.needs_dense_stack).needs_dense_stack else 1
    if args.needs_litert_stack:
        return 0 if experiments.get(args.needs_litert_stack).needs_litert_stack else 1
    for experiment in experiments.registry().values():
        if args.make_help:
            print(f"  {'replicate-' + experiment.target:26s} {experiment.description}")
        else:
            print(f"{experiment.id:26s} make replicate-{experiment.target:22s} {experiment.title}")
    return 0


def cmd_claims(args) -> int:
    from mobilerepro import dashboard

    print(dashboard.terminal(dashboard.claims_table()))
    return 0


def cmd_times(args) -> int:
    from mobilerepro import dashboard

    print(dashboard.times_terminal(dashboard.times_table(args.profile)))
    return 0


def _settings(pairs: list[str], what: str) -> dict:
    settings = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise MobileReproError(f"{what} {pair!r} is not NAME=VALUE")
        settings[name] = yaml.safe_load(value)
    return settings


def cmd_train(args) -> int:
    """One training run; torchrun-able (`torchrun --nproc-per-node N -m mobilerepro train ...`)."""
    from mobilerepro.train import trainer

    config = trainer.TrainConfig(
        output_dir=args.output_dir, train_data=args.train_data, val_data=args.val_data, model=args.model,
        recipe=args.recipe, recipe_overrides=_settings(args.set, "--set"),
        model_options=_settings(args.model_option, "--model-option"), train_split=args.train_split,
        val_split=args.val_split, val_fraction=args.val_fraction, per_class_limit=args.per_class_limit,
        epochs=args.epochs, batch_size=args.batch_size, max_steps_per_epoch=args.max_steps_per_epoch,
        num_workers=args.workers, device=args.device, threads=args.threads, seed=args.seed,
        checkpoint_every_steps=args.checkpoint_every_steps, progress=not args.quiet,
        soft_labels=args.soft_labels, teacher=args.teacher,
        **({"crop_scale": tuple(args.crop_scale)} if args.crop_scale else {}),
    )
    try:
        directory = trainer.train(config, resume=args.resume)
    except trainer.TrainingInterrupted as stopped:
        print(f"interrupted: {stopped}", file=sys.stderr)
        return 143
    run = trainer.TrainingRun.load(directory)
    if int(os.environ.get("RANK", "0")) == 0:
        print(run.history.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"\nrun: {directory}/ ({trainer.FINAL_WEIGHTS}, {trainer.HISTORY}, {trainer.RUN_SUMMARY})")
    return 0


def cmd_book(args) -> int:
    from mobilerepro import book

    print(f"\nbook: {book.build()}")
    return 0


def cmd_publish(args) -> int:
    from mobilerepro import publish

    checked = publish.publish(Path(args.output), build=not args.no_build)
    browser = (f"{checked['pages_opened']} pages opened in {checked['browser']}, no image missing, no table cut off "
               f"({checked['scrolling_tables']} wide tables scroll)"
               if checked["browser"] else
               "not opened in a browser: none found (`apt-get install chromium` adds the check)")
    print(f"\nsite: {checked['site']}/index.html ({checked['pages']} pages, "
          f"{checked['chapters_with_results']} chapters with results)\n"
          f"links: {checked['internal_links']} inside the site resolve; {checked['external_links']} leave it "
          f"(not fetched)\nbrowser: {browser}")
    return 0


def cmd_models(args) -> int:
    from mobilerepro.models import zoo

    for name in zoo.model_names(variants=True):
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


def cmd_data(args) -> int:
    """Prepare the named datasets (default: those the chapters read); list every dataset's state with --list."""
    from pathlib import Path

    from mobilerepro import experiments
    from mobilerepro.data import data_root, prepare

    readers = experiments.dataset_readers()
    if args.list:
        for row in prepare.status(readers):
            state = "prepared" if row["prepared"] else f"needs {row['needs']}"
            print(f"{row['dataset']:18s} {state:70s} {row['folder']}  (used by: {row['used by']})")
        return 0
    names = args.datasets or [d.name for d in prepare.DATASETS.values() if d.folder in readers]
    source = Path(args.source).expanduser() if args.source else None
    if source is not None and not source.is_dir():
        raise MobileReproError(f"--source {source} is not a folder")
    print(f"data root: {data_root()} (DATA= or MOBILEREPRO_DATA to change it); archives are looked for in "
          f"{source or prepare.downloads_folder(data_root())}")
    failed = 0
    for name in names:
        try:
            print(prepare.prepare(name, source))
        except MobileReproError as error:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
    return 2 if failed else 0


def cmd_export_bundle(args) -> int:
    """Core ML packages of the zoo + a manifest, to time on a phone."""
    from mobilerepro.export import bundle
    from mobilerepro.models import zoo

    manifest = bundle.export_bundle(args.models or zoo.model_names(), args.out, tuple(args.precisions))
    written = bundle.load_manifest(manifest.parent)
    print(f"{len(written['packages'])} packages in {manifest.parent} (bundle {written['bundle_digest'][:19]}...); "
          f"{len(written['failed'])} failed to convert" + "".join(f"\n  {f['model']} {f['precision']}: {f['reason']}"
                                                                 for f in written["failed"]))
    print(f"time them on your device, write the results as {manifest} describes under 'timing' "
          "(schema, an example), then: python -m mobilerepro import-latency RESULTS.json")
    return 0


def cmd_results(args) -> int:
    """This machine's latency records to one file, or another machine's file checked and added."""
    from mobilerepro import crosshardware
    from mobilerepro.measure import records

    if args.action == "export":
        destination = Path(args.output or f"{records.this_machine(name=args.name)['id']}.latency.json")
        payload = crosshardware.export_machine(destination, who=args.who, name=args.name)
        chapters = sorted({r["provenance"]["chapter"] for r in payload["records"]})
        print(f"{destination}: {len(payload['records'])} latency records of {payload['machine']['id']} from "
              f"{len(chapters)} chapter(s) ({', '.join(chapters)})")
        return 0
    if not args.file:
        raise MobileReproError("results import needs the machine file to import")
    stored = records.import_machine(Path(args.file))
    payload = json.loads(stored.read_text())
    print(f"imported {len(payload['records'])} latency records of {payload['machine']['id']} into {stored}")
    return 0


def cmd_reference(args) -> int:
    """Save this machine's quick runs as its reference run, or check every committed reference run."""
    from mobilerepro import reference
    from mobilerepro.results import read_json

    if args.action == "save":
        folder = reference.save(args.chapters or None, machine=args.machine)
        manifest = read_json(folder / reference.MANIFEST)
        print(f"{folder}: {len(manifest['chapters'])} chapter(s), {manifest['bytes'] / 2**20:.1f} MiB; commit it")
        return 0
    if args.chapters:
        raise MobileReproError("reference check takes no chapters: it checks every machine's folder")
    problems, chapters = [], 0
    for folder in reference.machine_folders():
        covered = read_json(folder / reference.MANIFEST)["chapters"]
        chapters += len(covered)
        print(f"{folder.name}: {', '.join(covered)}")
        problems += [f"{folder.name}: {line}" for line in reference.check(folder)]
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(reference.machine_folders())} reference machine(s), {chapters} chapter run(s): "
          + (f"{len(problems)} problem(s)" if problems else "every file is what its run wrote, every run's chapter "
             "code is this checkout's"))
    return 1 if problems else 0


def cmd_import_latency(args) -> int:
    """A device's measured latencies, checked against the bundle, stored for the chapters and the predictor."""
    from mobilerepro.export import bundle

    stored = bundle.import_latency(args.results, args.bundle)
    device = json.loads(stored.read_text())
    print(f"imported {len(device['records'])} timings of {device['device']} into {stored}")
    return 0


def cmd_predict(args) -> int:
    """A device's predicted latency for a model, with its interval and the predictor's measured accuracy."""
    from mobilerepro import experiments
    from mobilerepro.measure.predictor import predict

    chapter = experiments.get("deploy/latency_predictor")
    fitted = next(iter(chapter.runs_here()), None)  # the most thorough run here
    if fitted is None:
        raise MobileReproError("no fitted latency predictor here: run `make replicate-latency-predictor` first")
    found = predict(args.device, args.model, fitted)
    low, high = found["interval_ms"]
    interval = (f"90 % interval {low:.3g}-{high:.3g} ms from the errors on {found['held_out_models']} unseen models"
                if low == low else "no interval: too few unseen models")
    print(f"{found['model']} ({found['input'][1]} px) on {found['device']}: {found['predicted_ms']:.3g} ms "
          f"({interval})")
    for evaluation, scores in found["accuracy"].items():
        print(f"  this predictor ({found['kind']}), {evaluation}: {scores['within_10_percent']:.0%} of {scores['n']} "
              f"unseen models within ±10 %, RMSPE {scores['rmspe_percent']:.1f} %")
    if found["dominant_kernels"]:
        print("  where the time goes: " + ", ".join(f"{kind} {share:.0%} ({count} kernels)"
                                                   for kind, share, count in found["dominant_kernels"]))
    print(f"  fitted in {found['source']}")
    return 0


def cmd_exercise(args) -> int:
    """A student's answer to an exercise, checked against the chapter's latest run here."""
    from mobilerepro import exercises, experiments

    chapter = experiments.get(args.chapter)
    if args.answer is None:
        for name, exercise in exercises.exercises_of(chapter.id).items():
            kind = "up, down or same" if exercise.kind == "direction" else "a number"
            print(f"{name}: answer {kind} (its question: the chapter's notebook, label {exercise.label})")
        return 0
    feedback = chapter.latest_result().check(args.name, args.answer)
    print(("accepted: " if feedback.accepted else "not yet: ") + feedback.message)
    return 0 if feedback.accepted else 1


def cmd_student_copy(args) -> int:
    """A chapter's notebook without its solutions, each replaced by a stub that checks an answer."""
    from mobilerepro import experiments
    from mobilerepro.exercises import student_copy

    chapter = experiments.get(args.chapter)
    destination = Path(args.out or Path("student") / f"{chapter.id}.ipynb")
    replaced = student_copy(chapter.notebook, destination)
    print(f"{destination}: {replaced} solution(s) replaced by stubs")
    return 0


def cmd_lesson(args) -> int:
    """A lesson's chapters, what they need and how long they take here; the setup targets or missing data."""
    from mobilerepro import course, experiments
    from mobilerepro.data import data_root

    chapters = [experiments.get(c) for c in course.lesson(args.number).chapters]
    if args.setup_targets:
        print(" ".join(dict.fromkeys(t for c in chapters for t, needed in (("dense-setup", c.needs_dense_stack),
                                                                          ("litert-setup", c.needs_litert_stack))
                                     if needed)))
        return 0
    print("\n".join(course.lesson_lines(args.number)))
    missing = sorted({d for c in chapters for d in c.datasets if not (data_root() / d).exists()})
    for dataset in missing:
        print(f"  missing data: {dataset} under {data_root()} (`make data`, README section 'Data')")
    return 1 if missing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mobilerepro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    replicate = sub.add_parser("replicate", help="run an experiment's notebook and print its table")
    replicate.add_argument("experiment", help="an id or a target, e.g. mobileone/table1 or table1")
    replicate.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), help="smoke | quick | full")
    replicate.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override a notebook parameter (VALUE is YAML)",
    )
    replicate.add_argument("--output-dir", default=None, help="default: results/<experiment>/<profile>")
    replicate.add_argument("--no-publish", action="store_true", help="do not copy the executed notebook into book/")
    replicate.add_argument("--quiet", action="store_true", help="do not stream the notebook's output")
    replicate.set_defaults(func=cmd_replicate)

    replicate_all = sub.add_parser("replicate-all", help="run every chapter's notebook, in book order")
    replicate_all.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), help="smoke | quick | full")
    replicate_all.add_argument("--quiet", action="store_true", help="do not stream the notebooks' output")
    replicate_all.add_argument("--rerun", action="store_true", help="run every chapter, also those already run at "
                               "this commit with the profile's parameters")
    replicate_all.set_defaults(func=cmd_replicate_all)

    listing = sub.add_parser("experiments", help="list the chapters: id, make target, title")
    listing.add_argument("--make-help", action="store_true", help="as lines of `make help`")
    listing.add_argument("--needs-dense-stack", metavar="CHAPTER",
                         help="exit 0 when the chapter is built on mmdet/mmseg, 1 otherwise (the Makefile asks)")
    listing.add_argument("--needs-litert-stack", metavar="CHAPTER",
                         help="exit 0 when the chapter's claims are about LiteRT, 1 otherwise (the Makefile asks)")
    listing.set_defaults(func=cmd_experiments)

    sub.add_parser("claims", help="every claim of the papers with its provenance, chapter and verdicts").set_defaults(
        func=cmd_claims)

    times = sub.add_parser("times", help="what each chapter's last run took on this machine, and the total")
    times.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"))
    times.set_defaults(func=cmd_times)
    sub.add_parser("book", help="build the Jupyter Book from the chapters that have run (others get a page saying "
                   "how to run them)").set_defaults(func=cmd_book)

    publish_site = sub.add_parser("publish", help="build the book, check its links in a browser, write the static "
                                  "site to one folder")
    publish_site.add_argument("--output", default="site", help="the folder to write (replaced whole); default site/")
    publish_site.add_argument("--no-build", action="store_true", help="publish the book as last rendered")
    publish_site.set_defaults(func=cmd_publish)

    train = sub.add_parser("train", help="train a zoo model with a recipe preset (torchrun-able)")
    train.add_argument("--train-data", required=True, help="ImageFolder root, ImageNet root (with --train-split) "
                       "or a '<path> <label>' file list; relative paths are looked up under $MOBILEREPRO_DATA")
    train.add_argument("--val-data", default=None, help="default: hold out --val-fraction of --train-data")
    train.add_argument("--train-split", default=None, help="e.g. train, for an ImageNet root")
    train.add_argument("--val-split", default=None, help="e.g. val, for an ImageNet root")
    train.add_argument("--val-fraction", type=float, default=0.2)
    train.add_argument("--per-class-limit", type=int, default=None)
    train.add_argument("--model", default="mobileone_s0")
    train.add_argument("--model-option", action="append", default=[], metavar="NAME=VALUE",
                       help="a model switch, e.g. num_conv_branches=1 or stem_stride=1")
    train.add_argument("--recipe", default="mobileone_s0s1", help="a preset of mobilerepro/paper/recipes.yaml")
    train.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="override a recipe setting, e.g. final_weight_decay=null")
    train.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    train.add_argument("--batch-size", type=int, default=128, help="per process")
    train.add_argument("--max-steps-per-epoch", type=int, default=None)
    train.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    train.add_argument("--workers", type=int, default=0)
    train.add_argument("--device", default="auto")
    train.add_argument("--threads", type=int, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint-every-steps", type=int, default=None)
    train.add_argument("--output-dir", required=True)
    train.add_argument("--resume", action="store_true", help="continue from <output-dir>/checkpoint.pt")
    train.add_argument("--soft-labels", nargs="+", default=None, metavar="STORE",
                       help="distil: soft-label store folder(s) made from the training split (D1, D2 or both)")
    train.add_argument("--teacher", default=None, help="the digest of the teacher the stores must come from")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    data = sub.add_parser("data", help="prepare datasets from their official archives or your own copy")
    data.add_argument("datasets", nargs="*", help="default: the datasets the chapters read")
    data.add_argument("--source", default=None, help="folder with the archives or your own copy (default: "
                      "<data root>/downloads)")
    data.add_argument("--list", action="store_true", help="every dataset, whether it is prepared, what it needs")
    data.set_defaults(func=cmd_data)

    export_bundle = sub.add_parser("export-bundle", help="Core ML packages of zoo models + a manifest, to time on an "
                                   "iPhone")
    export_bundle.add_argument("--models", nargs="*", default=None, help="zoo names (default: the whole zoo)")
    export_bundle.add_argument("--precisions", nargs="+", default=["fp16", "fp32"], help="fp16 and/or fp32")
    export_bundle.add_argument("--out", default=None, help="default: results/coreml_bundle")
    export_bundle.set_defaults(func=cmd_export_bundle)

    import_latency = sub.add_parser("import-latency", help="a device's latencies of the bundle's packages, checked "
                                    "and stored as a device")
    import_latency.add_argument("results", help="the results file (JSON; see the bundle manifest's 'timing')")
    import_latency.add_argument("--bundle", default=None, help="the bundle folder (default: results/coreml_bundle)")
    import_latency.set_defaults(func=cmd_import_latency)

    results = sub.add_parser("results", help="latency records in the shared format: export this machine's, import "
                             "another machine's (checked; nothing is written unless all of it is valid)")
    results.add_argument("action", choices=("export", "import"))
    results.add_argument("file", nargs="?", help="import: the machine file")
    results.add_argument("--output", default=None, help="export: where to write (default: <machine>.latency.json)")
    results.add_argument("--who", default="", help="export: who ran it")
    results.add_argument("--name", default=None, help="export: the machine's name (default: CPU, cores, OS)")
    results.set_defaults(func=cmd_results)

    reference_runs = sub.add_parser("reference", help="the reference run: save this machine's quick runs into "
                                    "reference/<machine>/ (all-or-nothing), or check every committed one")
    reference_runs.add_argument("action", choices=("save", "check"))
    reference_runs.add_argument("chapters", nargs="*", help="save: ids or targets (default: every chapter with a "
                                "quick run here)")
    reference_runs.add_argument("--machine", default=None, help="save: the machine's name (default: CPU, cores, OS)")
    reference_runs.set_defaults(func=cmd_reference)

    predict = sub.add_parser("predict", help="a device's predicted latency for a model (zoo, timm or torchvision "
                             "name), with its interval and the predictor's accuracy")
    predict.add_argument("--device", required=True, help="e.g. 'iphone12', 'onnxruntime', an imported device")
    predict.add_argument("--model", required=True, help="a zoo name, or any timm / torchvision architecture")
    predict.set_defaults(func=cmd_predict)

    exercise = sub.add_parser("exercise", help="check an answer to a chapter's exercise against its latest run "
                              "here (without an answer: list the chapter's exercises)")
    exercise.add_argument("chapter", help="an id or a target, e.g. mobileone/table1")
    exercise.add_argument("name", nargs="?", help="the exercise, e.g. rho_at_224px")
    exercise.add_argument("answer", nargs="?", help="a number, or up / down / same")
    exercise.set_defaults(func=cmd_exercise)
    copy = sub.add_parser("student-copy", help="a chapter's notebook without its solutions (stubs that check an "
                          "answer instead)")
    copy.add_argument("chapter", help="an id or a target")
    copy.add_argument("--out", default=None, help="default: student/<chapter id>.ipynb")
    copy.set_defaults(func=cmd_student_copy)

    lesson = sub.add_parser("lesson", help="a lesson of the course: its chapters, what they need, their time here")
    lesson.add_argument("number", type=int)
    lesson.add_argument("--setup-targets", action="store_true", help="print the make targets that install its stacks")
    lesson.set_defaults(func=cmd_lesson)

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
