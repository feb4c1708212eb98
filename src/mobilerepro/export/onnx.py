"""ONNX export: one file per model, shared by every backend that reads ONNX (ONNX Runtime, OpenVINO)."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import torch

from mobilerepro import MobileReproError


def one_line(error: BaseException) -> str:
    """`Type: first line of the message`, for a table cell."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}".strip().rstrip(":")


class OnnxExports:
    """ONNX files exported once per model and shared by the backends that read ONNX.

    A failed export is remembered, so every backend that needs it reports the same reason.
    """

    def __init__(self, directory: Path, exporter: str = "torchscript", opset: int = 17):
        if exporter not in ("torchscript", "dynamo"):
            raise MobileReproError(f"unknown ONNX exporter {exporter!r}; choose 'torchscript' or 'dynamo'")
        self.directory = Path(directory)
        self.exporter = exporter
        self.opset = opset
        self._paths: dict[str, Path | BaseException] = {}

    def path(self, key: str, model: torch.nn.Module, example: torch.Tensor) -> Path:
        if key not in self._paths:
            target = self.directory / f"{key}.onnx"
            try:
                export_onnx(model, example, target, exporter=self.exporter, opset=self.opset)
                self._paths[key] = target
            except Exception as error:  # noqa: BLE001 - any exporter failure becomes the row's reason
                self._paths[key] = error
        result = self._paths[key]
        if isinstance(result, BaseException):
            raise RuntimeError(f"ONNX export failed: {one_line(result)}") from result
        return result


def export_onnx(
    model: torch.nn.Module, example: torch.Tensor, path: Path, *, exporter: str = "torchscript", opset: int = 17
) -> Path:
    """Export `model` (eval mode) to ONNX with a fixed batch-1 input named `input`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=exporter == "dynamo",
            opset_version=max(opset, 18) if exporter == "dynamo" else opset,
            input_names=["input"],
            output_names=["output"],
            **({"verbose": False} if exporter == "dynamo" else {}),
        )
    return path
