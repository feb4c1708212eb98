"""Core ML export (PyTorch -> TorchScript trace -> coremltools mlprogram) and an op census of the package.

coremltools converts on Linux but can only run predictions on macOS, so on Linux a package is exported and validated
(it saves, loads back, and has the expected input) but not timed; the `coreml` latency backend reports itself
unavailable there. The op census counts the ML program's operations by type: it shows, for example, how many global
poolings (`reduce_mean`) a dynamic activation adds — the synchronisation points MobileOne blames for their latency.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from pathlib import Path

import torch

from mobilerepro import MobileReproError

# Ops that only hold constants or reshape metadata: not work the device schedules.
BOOKKEEPING_OPS = frozenset({"const"})


DEPLOYMENT_TARGET = "iOS16"  # ML programs with fp16 compute need iOS 15+; 16 is what current phones run at least
PRECISIONS = ("fp16", "fp32")


def convert(model: torch.nn.Module, input_size: tuple[int, int, int], *, compute_units: str = "ALL",
            precision: str = "fp16"):
    """The Core ML ML program of `model` (eval mode, batch 1, deployment target iOS 16) computing in `precision`
    (fp16, Core ML's default and MNv4 Tab. 6's, or fp32); `compute_units` is coremltools' ComputeUnit name (ALL,
    CPU_ONLY, CPU_AND_NE, CPU_AND_GPU), used when the package is loaded for prediction on macOS."""
    import coremltools as ct

    if precision not in PRECISIONS:
        raise MobileReproError(f"unknown Core ML precision {precision!r} (choose from: {', '.join(PRECISIONS)})")

    example = torch.randn(1, *input_size)
    with torch.no_grad():
        model.eval()(example)  # builds what a model creates in its first forward (timm's ConViT: relative indices)
        traced = torch.jit.trace(model, example)
    # coremltools reports every graph pass on stderr/logging; keep the notebook readable.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name="input", shape=example.shape)],
            convert_to="mlprogram",
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            compute_units=ct.ComputeUnit[compute_units],
        )


def op_census(mlmodel) -> Counter:
    """Operation types of the package's main program and their counts (nested blocks included)."""
    census: Counter = Counter()

    def walk(operations):
        for operation in operations:
            census[operation.type] += 1
            for block in operation.blocks:
                walk(block.operations)

    for function in mlmodel.get_spec().mlProgram.functions.values():
        for block in function.block_specializations.values():
            walk(block.operations)
    return census


def export_package(model: torch.nn.Module, input_size: tuple[int, int, int], path: Path,
                   precision: str = "fp16") -> tuple[Path, Counter]:
    """Convert, save as .mlpackage, load it back and check its input; returns (path, op census)."""
    import coremltools as ct

    mlmodel = convert(model, input_size, precision=precision)
    path = Path(path)
    mlmodel.save(str(path))
    reloaded = ct.models.MLModel(str(path), skip_model_load=True)
    inputs = {i.name: tuple(i.type.multiArrayType.shape) for i in reloaded.get_spec().description.input}
    if inputs != {"input": (1, *input_size)}:
        raise RuntimeError(f"exported Core ML package has unexpected inputs {inputs}")
    return path, op_census(reloaded)
