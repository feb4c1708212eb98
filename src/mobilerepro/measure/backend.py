"""What a latency backend is: whether it can run here (and why not), and how it builds a runner for one model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobilerepro.export.onnx import OnnxExports

Runner = Callable[[], object]


@dataclass(frozen=True)
class Availability:
    backend: str
    available: bool
    reason: str = ""


class Backend:
    """One way of running a model. Subclasses say whether they can run here and build a runner."""

    name: str = ""
    description: str = ""

    def availability(self) -> Availability:
        return Availability(self.name, True)

    def prepare(
        self, key: str, model: torch.nn.Module, example: torch.Tensor, *, threads: int, exports: OnnxExports
    ) -> Runner:
        raise NotImplementedError
