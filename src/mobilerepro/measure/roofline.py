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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mobilerepro.measure.complexity import LayerCost, layer_costs  # noqa: F401 - layer_costs is part of this API


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


# Kernels that reach a backend's compute peak: square GEMMs, and dense 3x3 and 1x1 convolutions at the stage sizes of
# mobile backbones (a backend may run a 3x3 convolution faster than its GEMM, e.g. with Winograd, and that counts:
# the peak is the rate of nominal MACs). Every backend runs every kernel; its peak is its best, the machine's peak
# the best of any backend.
GEMM_SIZES = (256, 512, 1024)
CONVOLUTIONS = (  # (in, out, kernel, spatial): the widths of MobileOne, RepVGG and MobileNet stages
    (32, 32, 3, 112), (48, 48, 3, 56), (64, 64, 3, 56), (96, 96, 3, 28), (128, 128, 3, 28), (192, 192, 3, 14),
    (256, 256, 3, 14), (256, 256, 1, 56), (512, 512, 1, 28),
)
COPY_MEGABYTES = (256, 512)  # well beyond the last-level cache of a laptop or server CPU


@dataclass(frozen=True)
class MachinePeaks:
    """This machine's measured compute and memory peaks (fp32, the given threads): PeakMACs is the best any backend's
    GEMM or convolution kernels reached, PeakMemBW the best copy beyond the caches; `by_backend` keeps each
    backend's own compute peak (MAC/s) and `kernels` every measurement."""

    peak_macs: float  # MAC/s
    peak_bandwidth: float  # byte/s
    threads: int
    by_backend: dict = field(default_factory=dict)
    kernels: list = field(default_factory=list)

    @property
    def ridge_point(self) -> float:
        return self.peak_macs / self.peak_bandwidth

    def floor_ms(self, layers: Sequence[LayerCost], bytes_per_element: float = 4) -> float:
        """The roofline floor of a model: no correct timing on this machine can be faster."""
        return 1e3 * model_time(layers, self.peak_macs, self.peak_bandwidth, bytes_per_element)


def _onnx_kernel(kind: str, shape: tuple) -> bytes:
    """A one-node ONNX model: MatMul of two n x n inputs, or Conv of an input with a constant weight."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if kind == "gemm":
        n = shape[0]
        inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in ("a", "b")]
        node, initializers = helper.make_node("MatMul", ["a", "b"], ["y"]), []
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    else:
        cin, cout, k, hw = shape
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, cin, hw, hw])]
        weight = np.random.default_rng(0).standard_normal((cout, cin, k, k)).astype(np.float32)
        initializers = [numpy_helper.from_array(weight, "w")]
        node = helper.make_node("Conv", ["a", "w"], ["y"], pads=[k // 2] * 4)
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, hw, hw])
    graph = helper.make_graph([node], kind, inputs, [output], initializer=initializers)
    return onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _kernels() -> list[tuple[str, tuple, int]]:
    """(kind, shape, MACs) of every kernel the peaks are measured with."""
    gemms = [("gemm", (n,), n**3) for n in GEMM_SIZES]
    convs = [("conv", c, c[0] * c[1] * c[2] ** 2 * c[3] ** 2) for c in CONVOLUTIONS]
    return gemms + convs


def _runner(backend: str, kind: str, shape: tuple, threads: int):
    """A function that runs the kernel once on `backend`, inputs already in place; None when the backend is not
    installed here."""
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "gemm":
        feed = {"a": rng.standard_normal(shape * 2, dtype=np.float32),
                "b": rng.standard_normal(shape * 2, dtype=np.float32)}
    else:
        feed = {"a": rng.standard_normal((1, shape[0], shape[3], shape[3]), dtype=np.float32)}
    if backend == "torch":
        import torch.nn.functional as F

        tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
        if kind == "gemm":
            return lambda: torch.mm(tensors["a"], tensors["b"])
        weight = torch.randn(shape[1], shape[0], shape[2], shape[2])
        return lambda: F.conv2d(tensors["a"], weight, padding=shape[2] // 2)
    model = _onnx_kernel(kind, shape)
    if backend == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return lambda: session.run(None, feed)
    if backend == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(model, b""), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        values = list(feed.values())
        return lambda: request.infer(values)
    return None


def measure_peaks(backends: Sequence[str] = ("torch", "onnxruntime", "openvino"), *, threads: int = 1,
                  repeats: int = 20) -> MachinePeaks:
    """Compute peaks per backend from every kernel (the best of `repeats` runs after a warm-up: the same statistic
    as a timing's minimum), the machine's PeakMACs as the best of them, and PeakMemBW as the best large copy (read +
    write). A backend that cannot run here is skipped."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    kernels, by_backend = [], {}
    try:
        for backend in backends:
            for kind, shape, macs in _kernels():
                try:
                    run = _runner(backend, kind, shape, threads)
                except ImportError:
                    run = None
                if run is None:
                    break
                run()
                seconds = min(_seconds(run) for _ in range(repeats))
                kernels.append({"backend": backend, "kernel": f"{kind} {'x'.join(map(str, shape))}",
                                "macs": macs, "mac_per_s": macs / seconds})
                by_backend[backend] = max(by_backend.get(backend, 0.0), macs / seconds)
        bandwidth = 0.0
        for megabytes in COPY_MEGABYTES:
            source = torch.empty(megabytes * 2**20 // 4)
            target = torch.empty_like(source)
            target.copy_(source)
            seconds = min(_seconds(lambda: target.copy_(source)) for _ in range(repeats))  # noqa: B023
            bandwidth = max(bandwidth, 2 * source.numel() * 4 / seconds)
    finally:
        torch.set_num_threads(previous)
    return MachinePeaks(max(by_backend.values()), bandwidth, threads, by_backend, kernels)


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
