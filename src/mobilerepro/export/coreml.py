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

# Ops that only hold constants or reshape metadata: not work the device schedules.
BOOKKEEPING_OPS = frozenset({"const"})


def convert(model: torch.nn.Module, input_size: tuple[int, int, int], *, compute_units: str = "ALL"):
    """The Core ML ML program of `model` (eval mode, batch 1, fp16 compute as Core ML does by default, deployment
    target iOS 16); `compute_units` is coremltools' ComputeUnit name (ALL, CPU_ONLY, CPU_AND_NE, CPU_AND_GPU), used
    when the package is loaded for prediction on macOS."""
    import coremltools as ct

    example = torch.randn(1, *input_size)
    with torch.no_grad():
        traced = torch.jit.trace(model.eval(), example)
    # coremltools reports every graph pass on stderr/logging; keep the notebook readable.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name="input", shape=example.shape)],
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS16,
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


def export_package(model: torch.nn.Module, input_size: tuple[int, int, int], path: Path) -> tuple[Path, Counter]:
    """Convert, save as .mlpackage, load it back and check its input; returns (path, op census)."""
    import coremltools as ct

    mlmodel = convert(model, input_size)
    path = Path(path)
    mlmodel.save(str(path))
    reloaded = ct.models.MLModel(str(path), skip_model_load=True)
    inputs = {i.name: tuple(i.type.multiArrayType.shape) for i in reloaded.get_spec().description.input}
    if inputs != {"input": (1, *input_size)}:
        raise RuntimeError(f"exported Core ML package has unexpected inputs {inputs}")
    return path, op_census(reloaded)
