"""The reference run: chapters' quick-profile results as one machine's runs wrote them, committed under
`reference/<machine>/`, so that a reader of a fresh clone gets every chapter rendered with its results and verdicts
without running anything (`make book`).

A machine's folder mirrors the results folder (`<chapter id>/quick/`: the summary, the rows, the figure, the executed
notebook and the chapter's other files) beside `manifest.json`: the machine, and per chapter the commit its run
names, the digest of its code, the run's seconds and every file's SHA-256. `python -m mobilerepro reference save`
copies this machine's runs in (never edits them); `reference check` recomputes every checksum and proves that each
run was made by a commit whose chapter code (`chapter_code`) is this checkout's; a chapter changed since its
reference run needs that run again (`make replicate-<target>`, then `reference save`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from mobilerepro import MobileReproError, chapter_code, experiments
from mobilerepro.measure.records import this_machine
from mobilerepro.results import project_root, read_json, write_atomically

PROFILE = "quick"
MANIFEST = "manifest.json"


def reference_root() -> Path:
    """The committed reference runs; MOBILEREPRO_REFERENCE points elsewhere (the tests: an empty folder)."""
    return Path(os.environ.get("MOBILEREPRO_REFERENCE", project_root() / "reference"))


def machine_label(machine: dict) -> str:
    """A reader's name for a reference machine, '2-core Intel Xeon', from its CPU model and cores."""
    cpu = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b|\b\d+-Core\b|@.*$", " ", machine["device"]["cpu"])
    return f"{machine['device']['cores']}-core {' '.join(cpu.split())}"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run_files(directory: Path) -> list[Path]:
    """A run folder's files, without the hidden ones (temporary names, caches)."""
    return sorted(path for path in directory.rglob("*")
                  if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts))


def _problem_with_run(experiment) -> str | None:
    """Why this machine's run of `experiment` cannot be a reference run, or None."""
    if experiment.shows_dataset_images:
        return "its figures show images of its dataset, which the repository must not hold"
    stale = experiment.why_not_current(PROFILE)
    if stale is not None:
        return stale
    if not (experiment.default_output_dir(PROFILE) / experiment.files["notebook"]).exists():
        return "its run has no executed notebook"
    return None


def save(chapter_ids: list[str] | None = None, *, machine: str | None = None) -> Path:
    """Copy this machine's quick runs of `chapter_ids` (default: every chapter that has one) into its reference
    folder; nothing is written unless every chapter asked for can be."""
    chosen = ([experiments.get(i) for i in chapter_ids] if chapter_ids else
              [e for e in experiments.registry().values() if e.default_output_dir(PROFILE).is_dir()])
    if not chosen:
        raise MobileReproError("no chapter has a quick run here: `make replicate-all` first")
    problems = [f"{e.id}: {problem}" for e in chosen
                if (problem := _problem_with_run(e)) is not None]
    if problems:
        raise MobileReproError("nothing saved:\n" + "\n".join(f"  {line}" for line in problems))
    identity = this_machine(name=machine)
    folder = reference_root() / identity["id"]
    manifest_path = folder / MANIFEST
    manifest = read_json(manifest_path) if manifest_path.exists() else {"chapters": {}}
    manifest["machine"] = identity
    for experiment in chosen:
        source, target = experiment.default_output_dir(PROFILE), folder / experiment.id / PROFILE
        staging = target.with_name(f".{PROFILE}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        for file in _run_files(source):
            (staging / file.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, staging / file.relative_to(source))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        summary = read_json(target / experiment.files["summary"])
        manifest["chapters"][experiment.id] = {
            "profile": PROFILE, "commit": summary["environment"]["git_commit"], "code": chapter_code.digest(experiment),
            "timestamp": summary["environment"]["timestamp"], "seconds": summary.get("seconds"),
            "files": {str(file.relative_to(folder)): sha256(file) for file in _run_files(target)}}
    manifest["chapters"] = dict(sorted(manifest["chapters"].items()))
    manifest["bytes"] = sum((folder / name).stat().st_size for entry in manifest["chapters"].values()
                            for name in entry["files"])
    write_atomically(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return folder


def machine_folders() -> list[Path]:
    root = reference_root()
    return sorted(path.parent for path in root.glob(f"*/{MANIFEST}")) if root.is_dir() else []


def check(folder: Path) -> list[str]:
    """Every problem with one machine's reference folder, one line each (none: every file is what its run wrote, and
    every run was made by a commit whose chapter code is this checkout's)."""
    manifest = read_json(folder / MANIFEST)
    problems, listed = [], set()
    for chapter_id, entry in manifest["chapters"].items():
        try:
            experiment = experiments.get(chapter_id)
        except MobileReproError:
            problems.append(f"{chapter_id}: no such chapter in this checkout")
            continue
        for name, expected in entry["files"].items():
            listed.add(name)
            path = folder / name
            if not path.is_file():
                problems.append(f"{chapter_id}: {name} is missing")
            elif sha256(path) != expected:
                problems.append(f"{chapter_id}: {name} is not the file its run wrote (checksum differs)")
        summary_path = folder / chapter_id / PROFILE / experiment.files["summary"]
        named = read_json(summary_path)["environment"]["git_commit"] if summary_path.is_file() else None
        if named != entry["commit"]:
            problems.append(f"{chapter_id}: its summary names commit {named}, the manifest {entry['commit']}")
        known = subprocess.run(["git", "cat-file", "-e", f"{entry['commit']}^{{commit}}"], cwd=project_root(),
                               capture_output=True).returncode == 0
        if not known:
            problems.append(f"{chapter_id}: commit {entry['commit']} is not in this clone's history")
        elif not chapter_code.unchanged_since(experiment, entry["commit"]):
            problems.append(f"{chapter_id}: its code changed since the reference run at {entry['commit']}: "
                            f"make replicate-{experiment.target}, then python -m mobilerepro reference save")
    for path in _run_files(folder):
        name = str(path.relative_to(folder))
        if name != MANIFEST and name not in listed:
            problems.append(f"{name}: not listed in the manifest")
    return problems


def runs(experiment) -> list[tuple[dict, Path]]:
    """(machine, run folder) of every reference run of `experiment`."""
    found = []
    for folder in machine_folders():
        manifest = read_json(folder / MANIFEST)
        if experiment.id in manifest["chapters"]:
            found.append((manifest["machine"], folder / experiment.id / PROFILE))
    return found
