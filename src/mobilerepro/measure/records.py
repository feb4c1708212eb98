"""One results format for latency on any machine: a record per model x runtime x precision x threads x protocol.

The format is `latency_records.schema.json` beside this module (in the spirit of MLPerf Inference's system
description and FBNet's percentile latency tables): the machine (CPU or SoC, cores, OS, accelerator, who), and per
record the model with a digest of the architecture as timed, the runtime (name, version, backend, precision,
threads, layout), the protocol (warm-up, rounds x runs, the statistic compared) and the result (min, median, p10,
p90, IQR in ms, n), with its provenance (chapter, commit, time).

`chapter_records` turns a latency chapter's run into records (`crosshardware.export_machine` writes a machine's
file from every chapter's); `import_machine` checks another machine's file (schema, model digests against this
checkout's zoo, finite positive and ordered times, duplicates: every problem one line) and stores it under
`results/machines/` only when all of it is valid; `imported_machines` reads those and every phone's (the Core ML
bundle's timings, `import-latency`, are one producer of the format).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path

from mobilerepro import MobileReproError
from mobilerepro.results import content_digest, read_json, read_user_json, results_root, write_atomically

FORMAT = "mobilerepro-latency/1"
SCHEMA_PATH = Path(__file__).with_name("latency_records.schema.json")
# What a chapter's rows hold of a timing, in the order the values must keep (the IQR apart).
ORDERED_TIMES = ("min_ms", "p10_ms", "median_ms", "p90_ms")
TIMING_COLUMNS = (*ORDERED_TIMES, "median_of_round_means_ms", "iqr_ms")
# A record is one timing of one model; these fields tell two timings of one model apart.
IDENTITY = (("runtime", "name"), ("runtime", "backend"), ("runtime", "precision"), ("runtime", "threads"),
            ("protocol", "warmup"), ("protocol", "rounds"), ("protocol", "runs_per_round"),
            ("protocol", "statistic"))


@dataclass(frozen=True)
class Runtime:
    name: str
    package: str  # whose version is the runtime's
    precision: str


# The project's backends as runtimes; every one of them is fed batch-1 NCHW tensors.
RUNTIMES = {
    "torch": Runtime("PyTorch eager", "torch", "fp32"),
    "cuda": Runtime("PyTorch eager (CUDA)", "torch", "fp32"),
    "onnxruntime": Runtime("ONNX Runtime", "onnxruntime", "fp32"),
    "openvino": Runtime("OpenVINO", "openvino", "fp32"),
    "coreml": Runtime("Core ML", "coremltools", "fp16"),
    "litert": Runtime("LiteRT (XNNPACK)", "ai-edge-litert", "fp32"),
    "litert_int8": Runtime("LiteRT (XNNPACK)", "ai-edge-litert", "int8"),
}


def machines_dir() -> Path:
    return results_root() / "machines"


@cache
def model_digest(name: str) -> str:
    """The zoo model `name` as it is timed (inference form): its modules, their types and parameter shapes, and its
    input size. Two machines with the same digest timed the same network; weights do not enter (latency does not
    depend on them)."""
    from mobilerepro.models import zoo
    from mobilerepro.reparam import reparameterize_model

    model = reparameterize_model(zoo.build_model(name, seed=0))
    structure = [(path, type(module).__name__, [list(p.shape) for p in module.parameters(recurse=False)])
                 for path, module in model.named_modules()]
    return content_digest({"modules": structure, "input": list(zoo.get_spec(name).input_size)})


def machine_slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")[:80]
    return slug or "machine"


def this_machine(who: str = "", name: str | None = None) -> dict:
    from mobilerepro.measure.environment import cpu_model

    cpu, cores = cpu_model(), os.cpu_count() or 1
    return {"id": machine_slug(name or f"{cpu}-{cores}-cores-{platform.system()}"),
            "device": {"cpu": cpu, "cores": cores, "os": platform.platform(), "accelerator": None},
            "exported": datetime.now(UTC).isoformat(timespec="seconds"), "who": who}


def chapter_records(result) -> list[dict]:
    """The records of one latency chapter's run: every timed zoo model on every backend that ran."""
    from mobilerepro.models import zoo

    if "model" not in result.rows:
        return []  # a chapter of probe networks or variants: no zoo model to compare across machines
    summary, parameters = result.summary, result.summary["parameters"]
    environment, plan = summary["environment"], summary["timing"]
    records = []
    for row in result.ok().itertuples(index=False):
        runtime = RUNTIMES.get(row.backend)
        if runtime is None or row.model not in zoo.model_names():
            continue
        version = environment["packages"].get(runtime.package, "not recorded")
        records.append({
            "model": row.model, "model_digest": model_digest(row.model),
            "input": list(zoo.get_spec(row.model).input_size),
            "runtime": {"name": runtime.name, "version": version, "backend": row.backend,
                        "precision": runtime.precision, "threads": int(row.threads), "layout": "NCHW"},
            "protocol": {"warmup": int(plan["warmup"]), "rounds": int(plan["rounds"]),
                         "runs_per_round": int(plan["runs_per_round"]),
                         "statistic": parameters.get("latency_statistic", "min")},
            "result": {**{column: float(getattr(row, column)) for column in TIMING_COLUMNS
                          if column in result.rows and math.isfinite(getattr(row, column))}, "n": int(row.n)},
            "provenance": {"chapter": result.experiment.id, "commit": environment["git_commit"],
                           "time": environment["timestamp"]},
        })
    return records


def compared_ms(record: dict) -> float:
    """The record's latency as its protocol compares it (its statistic)."""
    return record["result"][f"{record['protocol']['statistic']}_ms"]


def device_records(device: dict) -> list[dict]:
    """An imported phone's timings of the Core ML bundle (`import-latency`) as records of this format."""
    from mobilerepro.export.bundle import PROTOCOL_PLANS
    from mobilerepro.models import zoo

    found = []
    for timing in device["records"]:
        protocol = PROTOCOL_PLANS[timing["protocol"]]
        found.append({
            "model": timing["model"], "model_digest": model_digest(timing["model"]),
            "input": list(zoo.get_spec(timing["model"]).input_size),
            "runtime": {"name": RUNTIMES["coreml"].name, "version": device["tool"],
                        "backend": f"coreml {timing['compute_units']}", "precision": timing["precision"],
                        "threads": None, "layout": "NCHW"},
            "protocol": protocol,
            "result": {f"{protocol['statistic']}_ms": timing["latency_ms"], "n": protocol["rounds"]
                       * protocol["runs_per_round"]},
            "provenance": {"chapter": "import-latency", "commit": device["bundle_digest"], "time": device["imported"]},
        })
    return found


def identity(record: dict) -> tuple:
    return (record["model"], *(record[section][field] for section, field in IDENTITY))


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def problems_of(payload) -> list[str]:
    """Every reason `payload` is not a valid machine file for this checkout, one line each."""
    from jsonschema import Draft202012Validator

    from mobilerepro.models import zoo

    validator = Draft202012Validator(schema())
    problems = [f"{'/'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
                for error in sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))]
    if problems:
        return problems
    seen: dict[tuple, int] = {}
    for index, record in enumerate(payload["records"]):
        where = f"records/{index} ({record['model']}, {record['runtime']['backend']})"
        if record["model"] not in zoo.model_names():
            problems.append(f"{where}: {record['model']!r} is not a model of this checkout's zoo")
        elif record["model_digest"] != model_digest(record["model"]):
            problems.append(f"{where}: model_digest {record['model_digest']} is not this checkout's "
                            f"{record['model']} ({model_digest(record['model'])}): another architecture was timed")
        times = record["result"]
        ordered = [times[name] for name in ORDERED_TIMES if name in times]
        if not all(math.isfinite(value) for value in times.values()):
            problems.append(f"{where}: a time is not a finite number")
        elif f"{record['protocol']['statistic']}_ms" not in times:
            problems.append(f"{where}: the result lacks its protocol's statistic "
                            f"({record['protocol']['statistic']}_ms)")
        elif ordered != sorted(ordered):
            problems.append(f"{where}: times out of order (min <= p10 <= median <= p90 must hold)")
        key = identity(record)
        if key in seen:
            problems.append(f"{where}: the same timing as records/{seen[key]} (model, runtime, precision, threads "
                            "and protocol)")
        seen.setdefault(key, index)
    return problems


def import_machine(path: Path) -> Path:
    """Check another machine's file and store it as a machine; nothing is written unless all of it is valid."""
    path = Path(path)
    payload = read_user_json(path, "machine file")
    problems = problems_of(payload)
    if problems:
        shown = "\n".join(f"  {line}" for line in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise MobileReproError(f"{path}: {len(problems)} problem(s), nothing imported:\n{shown}{more}")
    target = machines_dir() / f"{payload['machine']['id']}.json"
    write_atomically(target, json.dumps(payload, indent=1).encode())
    return target


def imported_machines() -> dict[str, dict]:
    """Every machine file imported here and every phone imported with `import-latency`, by machine id."""
    from mobilerepro.export import bundle

    found = {}
    for name, device in bundle.imported_devices().items():
        found[machine_slug(name)] = {
            "format": FORMAT, "records": device_records(device),
            "machine": {"id": machine_slug(name), "device": {"cpu": name, "cores": None,
                                                             "os": device.get("os") or "iOS",
                                                             "accelerator": "Core ML compute units"},
                        "exported": device["imported"], "who": ""}}
    for stored in sorted(machines_dir().glob("*.json")) if machines_dir().exists() else []:
        payload = read_json(stored)
        found[payload["machine"]["id"]] = payload
    return found
