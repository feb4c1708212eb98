"""LiteRT (the TFLite runtime, XNNPACK on CPU) as a latency backend: the runtime the NAS papers and MobileNetV4's
CPU column were measured with.

The LiteRT stack (litert-torch, ai-edge-litert and what they pull: jax, transformers, torchao) cannot share the
project's venv (see `requirements-litert.txt`), so it lives in its own environment, `.venv-litert`, installed by
`make litert-setup`. This module drives it from the project's environment:

1. here, the model (inference form) is exported with `torch.export` — the same torch 2.12.1 on both sides;
2. a worker process in the LiteRT environment (`_litert_worker.py`, started once and kept) converts the exported
   program with `litert_torch.convert` — fp32, or int8 by the stack's own post-training quantisation (PT2E,
   symmetric per-channel weights, calibrated on ImageNet val images from the data root when they are there) —
   and times `ai_edge_litert`'s interpreter with the pinned thread count, XNNPACK being its default CPU delegate;
3. each inference is timed inside the worker, so the pipe between the processes is never in a sample.

A converted model is kept in a cache (`~/.cache/mobilerepro/litert`, or `MOBILEREPRO_LITERT_CACHE`) named by the
digest of the exported program's bytes, the precision, the calibration inputs and the LiteRT versions: a second
run converts nothing.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from mobilerepro import MobileReproError
from mobilerepro.measure.backend import Availability, Backend
from mobilerepro.results import content_digest, file_sha256, project_root

SETUP_HINT = "run `make litert-setup` (a second environment, .venv-litert; about 2 minutes and 6 GB, once)"
CALIBRATION_IMAGES = 32
CALIBRATION_DATA = "imagenet-val-1300/dataset.txt"
PACKAGES = ("torch", "ai-edge-litert", "litert-torch")


def litert_python() -> Path:
    """The LiteRT environment's interpreter: `$MOBILEREPRO_LITERT_PYTHON`, else `<project>/.venv-litert`."""
    default = project_root() / ".venv-litert" / "bin" / "python"
    return Path(os.environ.get("MOBILEREPRO_LITERT_PYTHON", default))


def cache_dir() -> Path:
    return Path(os.environ.get("MOBILEREPRO_LITERT_CACHE", Path.home() / ".cache" / "mobilerepro" / "litert"))


def _clean_environment() -> dict:
    # The worker's packages are its own venv's: a PYTHONPATH pointing into this environment would mix the two.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


@functools.cache
def stack_versions() -> dict | str:
    """The LiteRT environment's package versions, or why it cannot be used (a one-line reason)."""
    python = litert_python()
    if not python.exists():
        return f"the LiteRT stack is not installed ({python} does not exist): {SETUP_HINT}"
    code = ("import json, importlib.metadata as m; "
            f"print(json.dumps({{p: m.version(p) for p in {PACKAGES!r}}}))")
    try:
        found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120,
                               env=_clean_environment())
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the LiteRT environment's Python does not run ({error}): {SETUP_HINT}"
    if found.returncode:
        last = (found.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the LiteRT environment lacks a package ({last}): {SETUP_HINT}"
    versions = json.loads(found.stdout)
    ours = torch.__version__.split("+")[0]
    if versions["torch"].split("+")[0] != ours:
        return (f"the LiteRT environment has torch {versions['torch']}, this one {torch.__version__}: an exported "
                f"program moves only between equal versions; {SETUP_HINT}")
    return versions


def program_digest(archive: Path) -> str:
    """The digest of an exported program by its contents: every member of the archive but the random id that
    `torch.export.save` writes into each one (with it, the same model saved twice never has the same digest, and no
    conversion would ever be found in the cache) and the example input's values (a chapter draws them in its own
    order; the graph keeps their shape, and the converted model does not depend on them)."""
    import hashlib
    import zipfile

    digest = hashlib.sha256()
    with zipfile.ZipFile(archive) as members:
        for name in sorted(members.namelist()):
            if name.endswith("serialization_id") or "/sample_inputs/" in name:
                continue
            digest.update(name.encode() + b"\0")
            digest.update(members.read(name))
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """The worker process (started on first use, stopped at exit; restarted after a crash)."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None

    def request(self, **payload) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise MobileReproError(self._died(f"while answering {payload['op']!r}"))
        answer = json.loads(line)
        if not answer.get("ok"):
            raise MobileReproError(f"LiteRT: {answer.get('error', 'no reason given')}")
        return answer

    def _start(self) -> None:
        cache_dir().mkdir(parents=True, exist_ok=True)
        for stale in cache_dir().glob("worker-*.log"):  # left by a process killed before its exit handler ran
            pid = stale.stem.removeprefix("worker-")
            if pid.isdigit() and not _alive(int(pid)):
                stale.unlink(missing_ok=True)
        self.log = cache_dir() / f"worker-{os.getpid()}.log"
        worker = Path(__file__).with_name("_litert_worker.py")
        with self.log.open("w") as log:
            self.process = subprocess.Popen([str(litert_python()), str(worker)], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True, env=_clean_environment())
        line = self.process.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise MobileReproError(self._died("while starting"))

    def _died(self, when: str) -> str:
        code = self.process.wait() if self.process else None
        self.process = None
        tail = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()][-1:] \
            if self.log and self.log.exists() else []
        return f"the LiteRT worker exited (code {code}) {when}: {tail[0] if tail else 'no message'} (log: {self.log})"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        if self.log is not None:
            self.log.unlink(missing_ok=True)


WORKER = Worker()
atexit.register(WORKER.stop)


class LiteRTRunner:
    """One converted model in the worker: calling it runs one inference (warm-up); `timed(n)` returns n samples
    timed inside the worker; `output()` is its output as float32; `ops` its op counts by type."""

    def __init__(self, key: str, converted: bool, seconds: float, ops: dict[str, int]):
        self.key, self.converted, self.load_seconds, self.ops = key, converted, seconds, ops

    def __call__(self) -> None:
        WORKER.request(op="run", id=self.key)

    def timed(self, n: int) -> list[float]:
        return WORKER.request(op="timed", id=self.key, n=n)["samples_ms"]

    def output(self) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="mobilerepro-litert-") as scratch:
            path = Path(scratch) / "output.npy"
            WORKER.request(op="output", id=self.key, path=str(path))
            return np.load(path)


def calibration_samples():
    """The ImageNet val images int8 conversions are calibrated on, or None when the data root lacks them."""
    from mobilerepro.data.datasets import open_samples

    try:
        return open_samples(CALIBRATION_DATA)
    except MobileReproError:
        return None


def calibration_source() -> str:
    if calibration_samples() is None:
        return (f"{CALIBRATION_IMAGES} seeded normal tensors (no {CALIBRATION_DATA} under the data root; `make data` "
                "provides it)")
    return f"{CALIBRATION_IMAGES} ImageNet val images (a seeded draw from {CALIBRATION_DATA}, eval transform)"


@functools.cache
def calibration_inputs(height: int, width: int) -> np.ndarray:
    """Inputs the int8 conversion is calibrated on (`calibration_source` says which): a seeded draw of ImageNet val
    images through the eval transform at this size, else seeded normal tensors."""
    from PIL import Image

    from mobilerepro.data.transforms import EvalTransform

    samples = calibration_samples()
    if samples is None:
        generator = torch.Generator().manual_seed(0)
        return torch.randn(CALIBRATION_IMAGES, 3, height, width, generator=generator).numpy()
    chosen = sorted(np.random.default_rng(0).choice(len(samples), CALIBRATION_IMAGES, replace=False))
    transform = EvalTransform(size=min(height, width), crop_pct=1.0).build()
    images = [transform(Image.open(samples.samples[i][0]).convert("RGB")) for i in chosen]
    resized = torch.nn.functional.interpolate(torch.stack(images), (height, width), mode="bilinear")
    return resized.numpy()


class LiteRTBackend(Backend):
    """LiteRT on the CPU (XNNPACK), fp32 or int8 (post-training, the stack's own PT2E quantiser)."""

    def __init__(self, name: str, quantize: bool):
        self.name, self.quantize = name, quantize

    @property
    def description(self) -> str:
        if not self.quantize:
            return "LiteRT (TFLite runtime), XNNPACK CPU delegate, fp32 (litert-torch conversion)"
        return ("LiteRT (TFLite runtime), XNNPACK CPU delegate, int8 weights and activations (post-training PT2E "
                f"quantisation, symmetric per-channel weights, calibrated on {calibration_source()}; ops the "
                "quantiser does not annotate, hard-swish among them, stay float between QUANTIZE/DEQUANTIZE)")

    def availability(self) -> Availability:
        versions = stack_versions()
        if isinstance(versions, str):
            return Availability(self.name, False, versions)
        return Availability(self.name, True)

    def prepare(self, key, model, example, *, threads, exports=None) -> LiteRTRunner:
        versions = stack_versions()
        if isinstance(versions, str):
            raise MobileReproError(versions)
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mobilerepro-litert-", dir=directory) as scratch:
            program = Path(scratch) / "program.pt2"
            with torch.no_grad():
                torch.export.save(torch.export.export(model.eval(), (example,)), program)
            inputs = Path(scratch) / "input.npy"
            np.save(inputs, example.numpy())
            identity = {"program": program_digest(program), "quantize": self.quantize, "versions": versions}
            calibration = None
            if self.quantize:
                calibration = Path(scratch) / "calibration.npy"
                np.save(calibration, calibration_inputs(*example.shape[-2:]))
                identity["calibration"] = file_sha256(calibration)
            tflite = directory / f"{content_digest(identity)}.tflite"
            runner_key = f"{self.name}/{key}/{tflite.stem}"
            loaded = WORKER.request(op="load", id=runner_key, program=str(program), tflite=str(tflite),
                                    quantize=self.quantize, calibration=str(calibration) if calibration else None,
                                    threads=threads, input=str(inputs))
        return LiteRTRunner(runner_key, loaded["converted"], loaded["seconds"], loaded.get("ops", {}))


def main() -> int:
    """`python -m mobilerepro.measure.litert`: whether the LiteRT backends can run here, and why not."""
    versions = stack_versions()
    if isinstance(versions, str):
        print(f"LiteRT: unavailable: {versions}", file=sys.stderr)
        return 1
    print("LiteRT: available (" + ", ".join(f"{k} {v}" for k, v in versions.items()) + f") in {litert_python()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
