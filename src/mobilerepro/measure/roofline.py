"""The roofline latency model of MobileNetV4 (§3 and App. F), and Pareto fronts over it.

For every layer that multiplies (convolutions, linear layers, attention matmuls):

    MACTime  = LayerMACs / PeakMACs
    MemTime  = (WeightBytes + ActivationBytes) / PeakMemBW
    ModelTime = sum over layers of max(MACTime, MemTime)

The ridge point RP = PeakMACs / PeakMemBW (MACs per byte) is the only hardware parameter that matters for ranking
models: ModelTime * PeakMACs = sum max(MACs, RP * bytes). RP = 0 ranks by MACs alone. Bytes per element is a
parameter: 1 for the paper's INT8 targets (its natural reading; the paper does not state it), 4 for fp32 here.
Activation bytes are the layer's input activations plus its output; weight bytes are its parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mobilerepro import MobileReproError
from mobilerepro.measure.complexity import LayerCost, layer_costs  # noqa: F401 - layer_costs is part of this API
from mobilerepro.measure.latency import FP32_CPU_BACKENDS, get_backend, timed_runs, torch_threads


def model_time(layers: Sequence[LayerCost], peak_macs: float, peak_bandwidth: float,
               bytes_per_element: float) -> float:
    """Roofline ModelTime in seconds, given PeakMACs (MAC/s) and PeakMemBW (byte/s); the MACs are the necessary ones
    (taps on zero padding are work no kernel has to do)."""
    return sum(max(layer.necessary_macs / peak_macs, layer.bytes(bytes_per_element) / peak_bandwidth)
               for layer in layers)


def ridge_cost(layers: Sequence[LayerCost], ridge_point: float, bytes_per_element: float) -> float:
    """ModelTime x PeakMACs at ridge point RP: sum of max(MACs, RP x bytes). Ranks models exactly as ModelTime."""
    return sum(max(layer.macs, ridge_point * layer.bytes(bytes_per_element)) for layer in layers)


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> np.ndarray:
    """Mask of the points no other point dominates (lower-or-equal cost and higher-or-equal accuracy, one strictly)."""
    costs, accuracies = np.asarray(costs, float), np.asarray(accuracies, float)
    mask = np.ones(len(costs), bool)
    for i in range(len(costs)):
        no_worse = (costs <= costs[i]) & (accuracies >= accuracies[i])
        strictly_better = (costs < costs[i]) | (accuracies > accuracies[i])
        mask[i] = not np.any(no_worse & strictly_better)
    return mask


# The calibration kernels. Each is counted the way the roofline counts a layer (its MACs and its bytes: weights,
# inputs, output), and PeakMACs / PeakMemBW are the best MAC rate and the best byte rate any kernel reaches on any
# backend, so every kernel's own timing lies on or above its floor by construction, and a model's layers, which are
# such kernels, should too. The set covers what the zoo runs at batch 1: square GEMMs; dense 3x3 convolutions (a
# backend may run them faster than its GEMM, e.g. with Winograd, and that counts: the peak is the rate of nominal
# MACs); 1x1 convolutions at the channel counts of MobileNet, MobileOne and MNv4 stages; depthwise 3x3 convolutions,
# whose rate is set by bytes; and copies from a size that stays in a core's L2 cache to one far beyond any
# last-level cache — a small layer's activations never leave the caches, so DRAM bandwidth alone is no bound.
GEMM_SIZES = (256, 512, 1024)
CONVOLUTIONS = (  # (in, out, kernel, spatial, groups)
    (32, 32, 3, 112, 1), (48, 48, 3, 56, 1), (64, 64, 3, 56, 1), (96, 96, 3, 28, 1), (128, 128, 3, 28, 1),
    (192, 192, 3, 14, 1), (256, 256, 3, 14, 1),
    (24, 144, 1, 56, 1), (48, 48, 1, 56, 1), (48, 128, 1, 56, 1), (32, 192, 1, 28, 1), (128, 128, 1, 28, 1),
    (128, 256, 1, 28, 1), (64, 384, 1, 14, 1), (256, 256, 1, 14, 1), (256, 256, 1, 56, 1), (512, 512, 1, 28, 1),
    (160, 960, 1, 7, 1), (1024, 1024, 1, 7, 1), (960, 1280, 1, 7, 1),
    (96, 96, 3, 112, 96), (144, 144, 3, 56, 144), (384, 384, 3, 14, 384), (960, 960, 3, 7, 960),
)
COPY_KILOBYTES = (64, 256, 1024, 4096, 32768, 262144)
DRAM_COPY = f"copy {COPY_KILOBYTES[-1]}"  # beyond the caches: its rate is the DRAM bandwidth (reported, not a peak)


@dataclass(frozen=True)
class Kernel:
    """One calibration kernel with the work the roofline counts for it (`macs`; `bytes` in fp32)."""

    kind: str  # gemm | conv | copy
    shape: tuple
    macs: int
    bytes: int

    @property
    def name(self) -> str:
        return f"{self.kind} {'x'.join(map(str, self.shape))}"


def conv_kernel(cin: int, cout: int, k: int, hw: int, groups: int) -> Kernel:
    """A stride-1 'same' convolution on an hw x hw input, counted as `LayerCost` counts it (fp32 bytes)."""
    weights, activations = cout * (cin // groups) * k * k, (cin + cout) * hw * hw
    return Kernel("conv", (cin, cout, k, hw, groups), weights * hw * hw, 4 * (weights + activations))


def calibration_kernels(convolutions: Sequence[tuple] = (), *, minimal: bool = False) -> list[Kernel]:
    """Every kernel the peaks are measured with: the fixed set above and `convolutions` (e.g. the heaviest of the
    models being timed, `heaviest_convolutions`), each once. `minimal`: one kernel of each kind, for a smoke run
    (whose numbers mean nothing) to exercise the path quickly."""
    gemms, convs, copies = GEMM_SIZES, [*CONVOLUTIONS, *convolutions], COPY_KILOBYTES
    if minimal:
        gemms, convs, copies = gemms[:1], convs[:1], copies[2:3]
    kernels = [Kernel("gemm", (n,), n**3, 3 * n * n * 4) for n in gemms]
    kernels += [conv_kernel(*shape) for shape in dict.fromkeys(convs)]
    kernels += [Kernel("copy", (kb,), 0, 2 * kb * 1024) for kb in copies]  # read + write
    return kernels


def heaviest_convolutions(models: Sequence[tuple[torch.nn.Module, tuple[int, int, int]]], count: int = 12
                          ) -> list[tuple]:
    """The `count` dense convolution shapes with the most MACs over the given (model, input size) pairs, as
    stride-1 kernels at their output size: the shapes whose rate sets the floor of compute-bound models."""
    totals: dict[tuple, int] = {}

    def record(module, inputs, output):
        if module.groups == 1 and module.kernel_size[0] == module.kernel_size[1] and output.dim() == 4:
            shape = (module.in_channels, module.out_channels, module.kernel_size[0], output.shape[-1], 1)
            if output.shape[-1] == output.shape[-2]:
                totals[shape] = totals.get(shape, 0) + conv_kernel(*shape).macs

    for model, input_size in models:
        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        try:
            with torch.inference_mode():
                model(torch.zeros(1, *input_size))
        finally:
            for hook in hooks:
                hook.remove()
    return sorted(totals, key=totals.get, reverse=True)[:count]


@dataclass(frozen=True)
class MachinePeaks:
    """This machine's measured compute and memory peaks (fp32, the given threads): PeakMACs is the best MAC rate and
    PeakMemBW the best byte rate any calibration kernel reached on any backend; `by_backend` keeps each backend's own
    compute peak (MAC/s), `dram_bandwidth` the rate of the largest copy (beyond the caches), `kernels` every
    measurement."""

    peak_macs: float  # MAC/s
    peak_bandwidth: float  # byte/s
    threads: int
    by_backend: dict = field(default_factory=dict)
    kernels: list = field(default_factory=list)
    dram_bandwidth: float | None = None  # byte/s

    @property
    def ridge_point(self) -> float:
        return self.peak_macs / self.peak_bandwidth

    def floor_ms(self, layers: Sequence[LayerCost], bytes_per_element: float = 4) -> float:
        """The roofline floor of a model: no correct timing on this machine can be faster."""
        return 1e3 * model_time(layers, self.peak_macs, self.peak_bandwidth, bytes_per_element)

    @classmethod
    def from_timings(cls, best_seconds: dict[tuple[str, str], float], threads: int,
                     kernels: Sequence[Kernel] | None = None) -> MachinePeaks:
        """The peaks from the best time of each (kernel name, backend) pair of `kernels` (the fixed set by default)."""
        kernels = {kernel.name: kernel for kernel in (kernels or calibration_kernels())}
        records, by_backend = [], {}
        for (name, backend), seconds in best_seconds.items():
            kernel = kernels[name]
            records.append({"backend": backend, "kernel": name, "macs": kernel.macs, "bytes": kernel.bytes,
                            "seconds": seconds, "mac_per_s": kernel.macs / seconds,
                            "byte_per_s": kernel.bytes / seconds})
            if kernel.macs:
                by_backend[backend] = max(by_backend.get(backend, 0.0), kernel.macs / seconds)
        if not by_backend or not any(r["byte_per_s"] for r in records):
            raise MobileReproError("the roofline needs at least one compute kernel and one copy that ran")
        dram = [r["byte_per_s"] for r in records if r["kernel"] == DRAM_COPY]
        return cls(max(by_backend.values()), max(r["byte_per_s"] for r in records), threads, by_backend, records,
                   max(dram) if dram else None)


def _onnx_kernel(kernel: Kernel) -> bytes:
    """A one-node ONNX model: MatMul of two n x n inputs, or Conv of an input with a constant weight."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if kernel.kind == "gemm":
        n = kernel.shape[0]
        inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in ("a", "b")]
        node, initializers = helper.make_node("MatMul", ["a", "b"], ["y"]), []
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    else:
        cin, cout, k, hw, groups = kernel.shape
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, cin, hw, hw])]
        weight = np.random.default_rng(0).standard_normal((cout, cin // groups, k, k)).astype(np.float32)
        initializers = [numpy_helper.from_array(weight, "w")]
        node = helper.make_node("Conv", ["a", "w"], ["y"], pads=[k // 2] * 4, group=groups)
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, hw, hw])
    graph = helper.make_graph([node], kernel.kind, inputs, [output], initializer=initializers)
    return onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


class _KernelModule(torch.nn.Module):
    """A calibration kernel as a module, for the backends that convert a whole model (LiteRT): a GEMM with a
    constant right-hand side (as a linear layer's), or the convolution with channels-last input and output — the
    converter cancels the two layout changes against its own, so that nothing but the convolution is timed."""

    def __init__(self, kernel: Kernel):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        if kernel.kind == "gemm":
            n = kernel.shape[0]
            self.register_buffer("right", torch.randn(n, n, generator=generator))
            self.conv = None
        else:
            cin, cout, k, _, groups = kernel.shape
            self.conv = torch.nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False)

    def forward(self, x):
        if self.conv is None:
            return x @ self.right
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    @staticmethod
    def example(kernel: Kernel, feed: dict) -> torch.Tensor:
        inputs = torch.from_numpy(feed["a"])
        return inputs if kernel.kind == "gemm" else inputs.permute(0, 2, 3, 1).contiguous()


def kernel_runner(backend: str, kernel: Kernel, threads: int):
    """A function that runs the kernel once on `backend`, inputs already in place; None when the backend does not
    run this kind of kernel (copies run on torch only) or is not installed here."""
    if kernel.kind == "copy":
        if backend != "torch":
            return None
        source = torch.empty(kernel.shape[0] * 1024 // 4)
        target = torch.empty_like(source)
        return lambda: target.copy_(source)
    rng = np.random.default_rng(0)
    if kernel.kind == "gemm":
        n = kernel.shape[0]
        feed = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    else:
        cin, _, _, hw, _ = kernel.shape
        feed = {"a": rng.standard_normal((1, cin, hw, hw), dtype=np.float32)}
    try:
        if backend == "torch":
            return _torch_runner(kernel, feed)
        if backend == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            options.log_severity_level = 3
            session = ort.InferenceSession(_onnx_kernel(kernel), options, providers=["CPUExecutionProvider"])
            return lambda: session.run(None, feed)
        if backend == "openvino":
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(core.read_model(_onnx_kernel(kernel), b""), "CPU", {
                "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
            request = compiled.create_infer_request()
            values = list(feed.values())
            return lambda: request.infer(values)
        if backend == "litert":
            litert = get_backend("litert")
            if not litert.availability().available:
                return None
            return litert.prepare(kernel.name, _KernelModule(kernel).eval(), _KernelModule.example(kernel, feed),
                                  threads=threads)
    except ImportError:
        return None
    return None


def _torch_runner(kernel: Kernel, feed: dict):
    import torch.nn.functional as F

    tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
    if kernel.kind == "gemm":
        return lambda: torch.mm(tensors["a"], tensors["b"])
    cin, cout, k, _, groups = kernel.shape
    weight = torch.randn(cout, cin // groups, k, k)

    def run():
        with torch.inference_mode():
            return F.conv2d(tensors["a"], weight, padding=k // 2, groups=groups)

    return run


def calibration_runners(backends: Sequence[str], threads: int, kernels: Sequence[Kernel] | None = None
                        ) -> dict[tuple[str, str], object]:
    """{(kernel name, backend): runner} for every kernel each backend can run here; a latency chapter times them in
    the same interleaved rounds as its models, so a busy moment hits the peaks and the models alike."""
    runners = {}
    for backend in backends:
        for kernel in kernels or calibration_kernels():
            run = kernel_runner(backend, kernel, threads)
            if run is not None:
                runners[(kernel.name, backend)] = run
    return runners


def measure_peaks(backends: Sequence[str] = FP32_CPU_BACKENDS, *, threads: int = 1,
                  repeats: int = 20) -> MachinePeaks:
    """The peaks on their own (outside a chapter): every kernel of every backend in `repeats` interleaved rounds
    after a warm-up, the best time of each."""
    with torch_threads(threads):
        runners = calibration_runners(backends, threads)
        for run in runners.values():
            run()
        best = dict.fromkeys(runners, float("inf"))
        for _ in range(repeats):
            for key, run in runners.items():
                best[key] = min(best[key], timed_runs(run, 1)[0] / 1e3)
    return MachinePeaks.from_timings(best, threads)
