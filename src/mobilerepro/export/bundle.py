"""Bring your phone's numbers: a bundle of Core ML packages to time on a real device, and the import of the results.

    python -m mobilerepro export-bundle [--models ...] [--precisions fp16 fp32] [--out DIR]
    python -m mobilerepro import-latency RESULTS.json [--bundle DIR]

`export-bundle` writes every zoo model as an ML program (`<model>-<precision>.mlpackage`) and `manifest.json`: for
each package its model, precision, input, op count and SHA-256 digest, plus the bundle's digest and the two timing
protocols the papers use. A user times the packages on an iPhone (Xcode's performance report, or an app such as
ModelBench) and writes a results file (`RESULTS_SCHEMA`, an example is `example_results()`); `import-latency`
checks it completely — schema, bundle digest, every id and package digest, compute units, protocol, units,
values — before it writes anything, and stores it as a device under `results/devices/`, where the chapters and the
latency predictor find it. Exporting is resumable: packages already written whole are kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from mobilerepro import MobileReproError
from mobilerepro.export.coreml import DEPLOYMENT_TARGET, PRECISIONS
from mobilerepro.results import read_user_json, results_root, write_atomically

BUNDLE_SCHEMA = "mobilerepro-coreml-bundle/1"
RESULTS_SCHEMA = "mobilerepro-device-latency/1"
COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")
PROTOCOLS = {
    "mobileone": "MobileOne §3.5: one warm-up, then 1000 runs, the minimum",
    "modelbench": "ModelBench: 1 warm-up, 20 rounds x 50 runs, the 10 lowest and 10 highest runs of each round "
                  "dropped, the mean",
}
# The same protocols as a timing plan (warm-up, rounds x runs) and the statistic each reports.
PROTOCOL_PLANS = {"mobileone": {"warmup": 1, "rounds": 1, "runs_per_round": 1000, "statistic": "min"},
                  "modelbench": {"warmup": 1, "rounds": 20, "runs_per_round": 50, "statistic": "trimmed_mean"}}
UNITS_TO_MS = {"ms": 1.0, "us": 1e-3, "s": 1e3}


def default_bundle_dir() -> Path:
    return results_root() / "coreml_bundle"


def devices_dir() -> Path:
    return results_root() / "devices"


def package_digest(path: Path) -> str:
    """SHA-256 over the package's files (relative path and bytes, in sorted order)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        digest.update(file.read_bytes())
    return "sha256:" + digest.hexdigest()


def input_dtype(path: Path) -> str:
    """The package's input type (an fp16 ML program for iOS 16 takes fp16 input)."""
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    kind = spec.description.input[0].type.multiArrayType.dataType
    return {ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16: "float16",
            ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32: "float32"}.get(kind, str(kind))


def bundle_digest(packages: list[dict]) -> str:
    """The bundle's identity: the digest of its packages' ids and digests."""
    listing = json.dumps(sorted((p["id"], p["digest"]) for p in packages))
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def export_bundle(models: list[str], out: Path | None = None, precisions: tuple[str, ...] = PRECISIONS,
                  progress: bool = True) -> Path:
    """Export every model at every precision into `out` and write its manifest; returns the manifest's path."""
    import coremltools as ct

    from mobilerepro.export.coreml import BOOKKEEPING_OPS, export_package
    from mobilerepro.export.onnx import one_line
    from mobilerepro.models import zoo
    from mobilerepro.reparam import reparameterize_model

    for precision in precisions:
        if precision not in PRECISIONS:
            raise MobileReproError(f"unknown precision {precision!r} (choose from: {', '.join(PRECISIONS)})")
    specs = [zoo.get_spec(name) for name in models]
    out = Path(out or default_bundle_dir())
    out.mkdir(parents=True, exist_ok=True)
    packages, failed = [], []
    work = [(spec, precision) for spec in specs for precision in precisions]
    for spec, precision in tqdm(work, desc="Core ML bundle", unit="package", disable=not progress):
        package_id = f"{spec.name}-{precision}"
        path = out / f"{package_id}.mlpackage"
        census_path = out / f".{package_id}.ops.json"
        if not (path.exists() and census_path.exists()):  # a package without its census was cut short
            shutil.rmtree(path, ignore_errors=True)
            partial = out / f".{package_id}.partial.mlpackage"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                model = reparameterize_model(zoo.build_model(spec.name, seed=0))
                _, census = export_package(model, spec.input_size, partial, precision)
            except Exception as error:  # noqa: BLE001 - recorded in the manifest
                shutil.rmtree(partial, ignore_errors=True)
                failed.append({"model": spec.name, "precision": precision, "reason": one_line(error)})
                continue
            partial.rename(path)
            census_path.write_text(json.dumps({op: n for op, n in census.items() if op not in BOOKKEEPING_OPS}))
        ops = json.loads(census_path.read_text())
        packages.append({"id": package_id, "model": spec.name, "precision": precision, "package": path.name,
                         "digest": package_digest(path), "bytes": sum(f.stat().st_size for f in path.rglob("*")
                                                                      if f.is_file()),
                         "input": {"name": "input", "shape": [1, *spec.input_size], "dtype": input_dtype(path)},
                         "ops": sum(ops.values()), "census": ops})
    manifest = {
        "schema": BUNDLE_SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "coremltools": ct.__version__, "deployment_target": DEPLOYMENT_TARGET, "format": "mlprogram",
        "bundle_digest": bundle_digest(packages), "packages": packages, "failed": failed,
        "timing": {"protocols": PROTOCOLS, "compute_units": list(COMPUTE_UNITS),
                   "results_schema": RESULTS_SCHEMA, "example_results": example_results(packages[:1])},
    }
    target = out / "manifest.json"
    write_atomically(target, json.dumps(manifest, indent=1).encode())
    return target


def example_results(packages: list[dict], bundle: str = "sha256:<bundle_digest from manifest.json>") -> dict:
    """The shape of a results file (what `import-latency` reads)."""
    return {"schema": RESULTS_SCHEMA, "device": "iPhone 12", "os": "iOS 17.5", "tool": "Xcode performance report",
            "bundle_digest": bundle,
            "results": [{"id": p["id"], "digest": p["digest"], "compute_units": "ALL", "protocol": "mobileone",
                         "latency": 0.0, "unit": "ms"} for p in packages]}


def load_manifest(bundle: Path | None = None) -> dict:
    path = Path(bundle or default_bundle_dir()) / "manifest.json"
    if not path.exists():
        raise MobileReproError(f"no bundle manifest at {path}: run `python -m mobilerepro export-bundle` first")
    manifest = json.loads(path.read_text())
    if manifest.get("schema") != BUNDLE_SCHEMA:
        raise MobileReproError(f"{path} is not a {BUNDLE_SCHEMA} manifest (schema {manifest.get('schema')!r})")
    return manifest


def device_slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MobileReproError(f"device name {name!r} has no letters or digits")
    return slug


def validate_results(results: dict, manifest: dict) -> list[dict]:
    """Every record of a results file checked against the bundle, normalised to milliseconds; raises one line naming
    the first problem."""
    if not isinstance(results, dict) or results.get("schema") != RESULTS_SCHEMA:
        raise MobileReproError(f"not a results file: its schema must be {RESULTS_SCHEMA!r}")
    for field in ("device", "tool"):
        if not isinstance(results.get(field), str) or not results[field].strip():
            raise MobileReproError(f"results file: {field!r} must be a non-empty string")
    device_slug(results["device"])
    if results.get("bundle_digest") != manifest["bundle_digest"]:
        raise MobileReproError(f"results file was timed on another bundle (its bundle_digest "
                               f"{results.get('bundle_digest')!r}, this bundle's {manifest['bundle_digest']})")
    packages = {p["id"]: p for p in manifest["packages"]}
    records = results.get("results")
    if not isinstance(records, list) or not records:
        raise MobileReproError("results file: 'results' must be a non-empty list")
    seen, normalised = set(), []
    for index, record in enumerate(records):
        where = f"results[{index}]"
        if not isinstance(record, dict):
            raise MobileReproError(f"{where} must be an object")
        package = packages.get(record.get("id"))
        if package is None:
            raise MobileReproError(f"{where}: id {record.get('id')!r} is not in the bundle")
        if record.get("digest") != package["digest"]:
            raise MobileReproError(f"{where}: digest of {package['id']} does not match the bundle's package")
        if record.get("compute_units") not in COMPUTE_UNITS:
            raise MobileReproError(f"{where}: compute_units {record.get('compute_units')!r} is not one of "
                                   f"{', '.join(COMPUTE_UNITS)}")
        if record.get("protocol") not in PROTOCOLS:
            raise MobileReproError(f"{where}: protocol {record.get('protocol')!r} is not one of {', '.join(PROTOCOLS)}")
        if record.get("unit") not in UNITS_TO_MS:
            raise MobileReproError(f"{where}: unit {record.get('unit')!r} is not one of {', '.join(UNITS_TO_MS)}")
        latency = record.get("latency")
        if isinstance(latency, bool) or not isinstance(latency, int | float) or not math.isfinite(latency) \
                or latency <= 0:
            raise MobileReproError(f"{where}: latency must be a positive number, got {latency!r}")
        key = (package["id"], record["compute_units"], record["protocol"])
        if key in seen:
            raise MobileReproError(f"{where}: {'/'.join(key)} appears twice")
        seen.add(key)
        normalised.append({"model": package["model"], "precision": package["precision"], "id": package["id"],
                           "compute_units": record["compute_units"], "protocol": record["protocol"],
                           "latency_ms": latency * UNITS_TO_MS[record["unit"]]})
    return normalised


def import_latency(path: Path, bundle: Path | None = None) -> Path:
    """Validate a results file against the bundle and store it as a device; nothing is written unless all of it is
    valid. Returns the stored device file."""
    path = Path(path)
    results = read_user_json(path, "results file")
    manifest = load_manifest(bundle)
    records = validate_results(results, manifest)
    device = {"device": results["device"], "os": results.get("os", ""), "tool": results["tool"],
              "bundle_digest": manifest["bundle_digest"], "imported": datetime.now(UTC).isoformat(timespec="seconds"),
              "source": str(path.resolve()), "source_digest": "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(),
              "records": records}
    target = devices_dir() / f"{device_slug(results['device'])}.json"
    write_atomically(target, json.dumps(device, indent=1).encode())
    return target


def imported_devices() -> dict[str, dict]:
    """Every device imported here, by name."""
    folder = devices_dir()
    if not folder.exists():
        return {}
    return {device["device"]: device for device in (json.loads(p.read_text()) for p in sorted(folder.glob("*.json")))}


def headline_latencies(device: dict) -> dict[str, float]:
    """An imported device's latency per model in the papers' setting: fp16, all compute units, MobileOne's protocol."""
    return {r["model"]: r["latency_ms"] for r in device["records"]
            if r["precision"] == "fp16" and r["compute_units"] == "ALL" and r["protocol"] == "mobileone"}
