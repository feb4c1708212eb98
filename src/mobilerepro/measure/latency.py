"""Latency of models on several inference backends, measured the same way for all.

Protocol for every (model, backend) pair: batch 1, eval mode, the inference (reparameterised) form of the model,
a fixed and recorded thread count, warm-up runs, then timed runs of one full inference each (input already in
place, output materialised). Timing is done in **rounds that interleave all pairs** in a shuffled, seeded order,
so that slow drift of a shared machine (other jobs, thermal state) hits every model alike instead of whichever
model happened to run during the disturbance.

Backends: `torch` (PyTorch eager, CPU), `onnxruntime` (CPU execution provider), `openvino` (CPU, f32 precision
hint: its CPU default is bf16 where the hardware has it), `litert` and `litert_int8` (LiteRT, the TFLite runtime the
NAS papers used, on XNNPACK; fp32 and post-training int8, driven in a second environment: `measure.litert`),
`cuda` (PyTorch on the first GPU), `coreml`
(Core ML mlprogram; prediction exists only on macOS). A backend that cannot run here is reported *unavailable*
with its reason; a model that fails to export or run on a backend is reported *failed* with its reason. Neither
stops the measurement of the others.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from mobilerepro import MobileReproError
from mobilerepro.export.onnx import OnnxExports, one_line
from mobilerepro.measure.backend import Availability, Backend, Runner
from mobilerepro.measure.litert import LiteRTBackend
from mobilerepro.measure.stats import LatencySummary, median_of_round_means, summarize

# One machine's CPU run several ways: one machine's evidence. The fp32 ones are what the roofline (fp32) bounds.
DESKTOP_BACKENDS = ("torch", "onnxruntime", "openvino")
FP32_CPU_BACKENDS = (*DESKTOP_BACKENDS, "litert")
CPU_BACKENDS = (*FP32_CPU_BACKENDS, "litert_int8")


class TorchEagerBackend(Backend):
    name = "torch"
    description = "PyTorch eager, CPU, fp32"

    def prepare(self, key, model, example, *, threads, exports):
        model = model.eval()
        x = example.contiguous()

        def run():
            with torch.inference_mode():
                return model(x)

        return run


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    description = "ONNX Runtime, CPU execution provider, fp32, all graph optimisations"

    def availability(self):
        try:
            import onnxruntime  # noqa: F401
        except ImportError as error:
            return Availability(self.name, False, f"onnxruntime is not installed ({error})")
        return Availability(self.name, True)

    def prepare(self, key, model, example, *, threads, exports):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(exports.path(key, model, example)), options, providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: example.numpy()}
        return lambda: session.run(None, feed)


class OpenVinoBackend(Backend):
    name = "openvino"
    description = "OpenVINO, CPU plugin, f32 inference precision, latency hint"

    def availability(self):
        try:
            import openvino as ov
        except ImportError as error:
            return Availability(self.name, False, f"openvino is not installed ({error})")
        if "CPU" not in ov.Core().available_devices:
            return Availability(self.name, False, "OpenVINO sees no CPU device")
        return Availability(self.name, True)

    def prepare(self, key, model, example, *, threads, exports):
        import openvino as ov

        compiled = ov.Core().compile_model(
            str(exports.path(key, model, example)),
            "CPU",
            {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
        )
        request = compiled.create_infer_request()
        feed = {0: example.numpy()}
        return lambda: request.infer(feed)


class CudaBackend(Backend):
    name = "cuda"
    description = "PyTorch eager on the first CUDA GPU, fp32, synchronised per run"

    def availability(self):
        if not torch.cuda.is_available():
            return Availability(self.name, False, "no CUDA GPU visible to torch on this machine")
        return Availability(self.name, True)

    def prepare(self, key, model, example, *, threads, exports):
        device = torch.device("cuda")
        gpu_model = model.to(device).eval()
        x = example.to(device)

        def run():
            with torch.inference_mode():
                out = gpu_model(x)
            torch.cuda.synchronize(device)
            return out

        return run


class CoreMLBackend(Backend):
    name = "coreml"
    description = "Core ML mlprogram (PyTorch -> coremltools), all compute units, macOS only"

    def availability(self):
        if platform.system() != "Darwin":
            return Availability(
                self.name, False, f"Core ML prediction needs macOS; this is {platform.system()} (export still works)"
            )
        try:
            import coremltools  # noqa: F401
        except ImportError as error:
            return Availability(self.name, False, f"coremltools is not installed ({error})")
        return Availability(self.name, True)

    def prepare(self, key, model, example, *, threads, exports):
        from mobilerepro.export.coreml import convert

        # The same conversion as the op census (`export.coreml`), so the counted and the timed model are one.
        mlmodel = convert(model, tuple(example.shape[1:]), compute_units="ALL")
        feed = {"input": example.numpy()}
        return lambda: mlmodel.predict(feed)


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (TorchEagerBackend(), OnnxRuntimeBackend(), OpenVinoBackend(), LiteRTBackend("litert", False),
                    LiteRTBackend("litert_int8", True), CudaBackend(), CoreMLBackend())
}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, list(BACKENDS), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise MobileReproError(f"unknown backend {name!r}{hint} (known: {', '.join(BACKENDS)})")
    return BACKENDS[name]


def backend_availability(names=None) -> list[Availability]:
    return [get_backend(name).availability() for name in (names or list(BACKENDS))]


@dataclass
class Measurement:
    """Latency of one model on one backend. `status` is 'ok', 'failed' or 'unavailable'."""

    model: str
    backend: str
    status: str
    reason: str = ""
    samples_ms: list[float] = field(default_factory=list)
    rounds_completed: int = 0

    @property
    def summary(self) -> LatencySummary | None:
        return summarize(self.samples_ms) if self.samples_ms else None

    def record(self, max_relative_iqr: float) -> dict:
        """The columns every result table has for one timing: status, reason, n, statistics, noise flag."""
        summary = self.summary
        record = {"backend": self.backend, "status": self.status, "reason": self.reason}
        record["n"] = summary.n if summary else 0
        for stat in ("min", "median", "mean", "p10", "p90", "iqr"):
            record[f"{stat}_ms"] = getattr(summary, stat) if summary else None
        complete = self.rounds_completed and len(self.samples_ms) % self.rounds_completed == 0
        record["median_of_round_means_ms"] = (
            median_of_round_means(self.samples_ms, self.rounds_completed) if summary and complete else None)
        record["cv"] = summary.cv if summary else None
        record["relative_iqr"] = summary.relative_iqr if summary else None
        record["unstable"] = bool(summary and summary.relative_iqr > max_relative_iqr)
        record["rounds_completed"] = self.rounds_completed
        return record


@dataclass(frozen=True)
class TimingPlan:
    warmup: int
    rounds: int
    runs_per_round: int
    threads: int
    seed: int = 0

    def __post_init__(self):
        for name in ("warmup", "rounds", "runs_per_round", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "warmup" else 1):
                raise MobileReproError(f"timing plan: {name} must be a positive integer, got {value!r}")

    @property
    def runs(self) -> int:
        return self.rounds * self.runs_per_round


@contextlib.contextmanager
def torch_threads(threads: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


NORMALIZATIONS = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)


def without_dead_branches(model: torch.nn.Module) -> torch.nn.Module:
    """The model with every all-zero normalisation scale set to one (a copy; the model itself when it has none).

    timm zero-initialises the last norm of each residual branch (ResNets' `zero_init_last`, MobileViT's fusion
    conv), so at initialisation those branches output zeros. A converter that folds constants (LiteRT's does)
    then deletes them and times a different, much smaller network: ResNet-152 ran in a tenth of its roofline floor.
    The work of a branch does not depend on its scale's value, so a scale of one times the network as built."""
    dead = [m for m in model.modules() if isinstance(m, NORMALIZATIONS) and getattr(m, "weight", None) is not None
            and not torch.count_nonzero(m.weight)]
    if not dead:
        return model
    names = {id(m) for m in dead}
    revived = copy.deepcopy(model)
    with torch.no_grad():
        for original, module in zip(model.modules(), revived.modules(), strict=True):
            if id(original) in names:
                module.weight.fill_(1.0)
    return revived


def measure_latency(
    models: dict[str, tuple[torch.nn.Module, tuple[int, int, int]]],
    backends: list[str],
    plan: TimingPlan,
    *,
    onnx_exporter: str = "torchscript",
    workdir: Path | None = None,
    progress: bool = True,
    beside: dict[tuple[str, str], Runner] | None = None,
) -> list[Measurement]:
    """Time every model on every backend following `plan`; returns one Measurement per (model, backend).

    `models` maps a name to (model in inference form, input size C x H x W); a branch zero-initialised to output
    nothing is timed as built (`without_dead_branches`). `beside` maps (name, backend) to more runners (e.g. the
    roofline's calibration kernels) timed in the same interleaved rounds; their Measurements come back with the
    models'.
    """
    chosen = [get_backend(name) for name in backends]
    measurements: dict[tuple[str, str], Measurement] = {}
    runners: dict[tuple[str, str], Runner] = {}
    with contextlib.ExitStack() as stack, torch_threads(plan.threads):
        directory = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mobilerepro-onnx-")))
        exports = OnnxExports(Path(directory), exporter=onnx_exporter)
        generator = torch.Generator().manual_seed(plan.seed)
        preparing = tqdm(
            total=len(models) * len(chosen), desc="preparing", unit="pair", disable=not progress,
            file=sys.stderr, mininterval=_refresh_interval(),
        )
        for model_name, (model, input_size) in models.items():
            model = without_dead_branches(model)
            example = torch.randn(1, *input_size, generator=generator)
            for backend in chosen:
                key = (model_name, backend.name)
                availability = backend.availability()
                if not availability.available:
                    measurements[key] = Measurement(model_name, backend.name, "unavailable", availability.reason)
                    preparing.update()
                    continue
                preparing.set_postfix_str(f"{model_name} / {backend.name}")
                try:
                    runner = backend.prepare(model_name, model, example, threads=plan.threads, exports=exports)
                    for _ in range(max(plan.warmup, 1)):
                        runner()
                except Exception as error:  # noqa: BLE001 - the row records why; the table still completes
                    measurements[key] = Measurement(model_name, backend.name, "failed", one_line(error))
                else:
                    runners[key] = runner
                    measurements[key] = Measurement(model_name, backend.name, "ok")
                preparing.update()
        preparing.close()
        _warm_up(beside or {}, runners, measurements, plan)
        _timed_rounds(runners, measurements, plan, progress)
    return list(measurements.values())


def time_callables(calls: dict[str, Callable[[], object]], label: str, plan: TimingPlan, *,
                   progress: bool = True) -> list[Measurement]:
    """Time plain Python callables (e.g. post-processing on fixed inputs) with the same plan, thread pinning and
    interleaved rounds as the models; `label` is the backend column of their rows."""
    measurements, runners = {}, {}
    with torch_threads(plan.threads):
        _warm_up({(name, label): call for name, call in calls.items()}, runners, measurements, plan)
        _timed_rounds(runners, measurements, plan, progress)
    return list(measurements.values())


def _warm_up(calls: dict[tuple[str, str], Runner], runners: dict, measurements: dict, plan: TimingPlan) -> None:
    """Run each (name, backend) call the plan's warm-up times: one that raises is recorded as failed with why, the
    others join `runners` for the timed rounds."""
    for key, call in calls.items():
        try:
            for _ in range(max(plan.warmup, 1)):
                call()
        except Exception as error:  # noqa: BLE001 - the row records why; the others go on
            measurements[key] = Measurement(*key, "failed", one_line(error))
        else:
            runners[key], measurements[key] = call, Measurement(*key, "ok")


def _refresh_interval() -> float:
    # In a terminal the bar redraws in place; in a notebook log every redraw is a new line, so redraw rarely.
    return 0.5 if sys.stderr.isatty() else 15.0


def timed_runs(runner: Runner, n: int) -> list[float]:
    """`n` runs of `runner`, each timed alone (ms): by the runner itself when it has `timed` (it runs in another
    process, LiteRT, whose pipe must not be in a sample), else by the clock around each call."""
    if hasattr(runner, "timed"):
        return runner.timed(n)
    clock, samples = time.perf_counter_ns, []
    for _ in range(n):
        start = clock()
        runner()
        samples.append((clock() - start) / 1e6)
    return samples


def _timed_rounds(runners, measurements, plan: TimingPlan, progress: bool) -> None:
    """Run the interleaved rounds. An interrupt (Ctrl-C, a notebook's interrupt button) ends the timing early but
    keeps every sample taken so far: each measurement records how many rounds it completed."""
    order = list(runners)
    shuffler = random.Random(plan.seed)
    bar = tqdm(
        total=plan.rounds * len(order), desc="timing", unit="batch", disable=not progress or not order,
        file=sys.stderr, mininterval=_refresh_interval(),
    )
    completed = 0
    try:
        for round_index in range(plan.rounds):
            shuffler.shuffle(order)
            bar.set_postfix_str(f"round {round_index + 1}/{plan.rounds}")
            failed = []
            for key in order:
                runner, samples = runners[key], measurements[key].samples_ms
                try:
                    samples.extend(timed_runs(runner, plan.runs_per_round))
                except Exception as error:  # noqa: BLE001 - the row records why; the others go on
                    measurements[key] = Measurement(key[0], key[1], "failed", one_line(error))
                    failed.append(key)
                bar.update()
            order = [key for key in order if key not in failed]
            completed = round_index + 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: keeping the {completed} complete round(s) of {plan.rounds} measured so far",
              file=sys.stderr)
    finally:
        bar.close()
    for key in runners:
        if measurements[key].status == "ok":
            measurements[key].rounds_completed = completed
            del measurements[key].samples_ms[completed * plan.runs_per_round:]  # an interrupted round's runs
