"""The LiteRT side of the `litert` backends: runs in the LiteRT environment (.venv-litert), not in the project's.

It imports only torch, numpy and the LiteRT packages (the project is not installed there) and is started by file
path. It reads one JSON request per line on stdin and answers one JSON line on the protocol stream, a duplicate of
the original stdout: the converter prints its own logs to fd 1, which is pointed at stderr so that they cannot
corrupt an answer.

Requests (each answered {"ok": true, ...} or {"ok": false, "error": "..."}):
  load    id, program (a torch.export archive), tflite (where the converted model is kept), quantize,
          calibration (an .npy of N x C x H x W inputs, for int8), threads, input (.npy): convert when the .tflite
          does not exist yet, then build an interpreter with the input in place; answers converted, seconds, ops
          (the converted model's op counts by type)
  run     id: one inference
  timed   id, n: n inferences, each timed alone; answers samples_ms
  output  id, path: the output of one inference (dequantised to float32) written as .npy
  close   id: drop the interpreter
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "ai-edge-litert", "litert-torch")}


def _convert(program: str, target: str, inputs: str, quantize: bool, calibration: str | None) -> None:
    import litert_torch
    import numpy as np
    import torch

    module = torch.export.load(program).module()
    example = (torch.from_numpy(np.load(inputs)),)
    options = {}
    if quantize:
        if calibration is None:
            raise ValueError("int8 conversion needs calibration inputs; none were given")
        samples = np.load(calibration)
        from litert_torch.quantize import pt2e_quantizer, quant_config
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
        module = prepare_pt2e(torch.export.export(module, example).module(), quantizer)
        with torch.no_grad():
            for sample in samples:
                module(torch.from_numpy(sample[None]))
        module = convert_pt2e(module, fold_quantize=False)
        options["quant_config"] = quant_config.QuantConfig(pt2e_quantizer=quantizer)
    edge_model = litert_torch.convert(module, example, **options)
    partial = f"{target}.{os.getpid()}.part"
    edge_model.export(partial)
    os.replace(partial, target)  # a killed conversion leaves no half-written model behind


class Loaded:
    def __init__(self, tflite: str, threads: int, inputs: str):
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        self.path = tflite
        self.interpreter = Interpreter(model_path=tflite, num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        x = np.load(inputs)
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            limits = np.iinfo(detail["dtype"])
            x = np.clip(np.round(x / scale) + zero_point, limits.min, limits.max)
        self.interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
        self.output_detail = self.interpreter.get_output_details()[0]

    def op_census(self) -> dict[str, int]:
        """How many ops of each type the converted model holds (e.g. QUANTIZE/DEQUANTIZE: where int8 falls back to
        float), read before any delegate takes them over. The interpreter's op list is not public API: {} when it
        is not there."""
        from collections import Counter

        from ai_edge_litert.interpreter import Interpreter

        details = getattr(Interpreter(model_path=self.path), "_get_ops_details", None)
        return dict(Counter(op["op_name"] for op in details())) if details else {}

    def timed(self, n: int) -> list[float]:
        invoke, clock, samples = self.interpreter.invoke, time.perf_counter_ns, []
        for _ in range(n):
            start = clock()
            invoke()
            samples.append((clock() - start) / 1e6)
        return samples

    def output(self, path: str) -> None:
        import numpy as np

        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output_detail["index"]).astype(np.float32)
        scale, zero_point = self.output_detail["quantization"]
        if scale:
            y = (y - zero_point) * scale
        np.save(path, y)


def serve(protocol) -> None:
    loaded: dict[str, Loaded] = {}

    def answer(payload: dict) -> None:
        protocol.write(json.dumps(payload) + "\n")
        protocol.flush()

    answer({"ok": True, "ready": True, "versions": _versions()})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            op, key = request["op"], request.get("id")
            reply: dict = {}
            if op == "load":
                started = time.perf_counter()
                converted = not os.path.exists(request["tflite"])
                if converted:
                    _convert(request["program"], request["tflite"], request["input"], request["quantize"],
                             request["calibration"])
                loaded[key] = Loaded(request["tflite"], request["threads"], request["input"])
                reply = {"converted": converted, "seconds": time.perf_counter() - started,
                         "ops": loaded[key].op_census()}
            elif op == "run":
                loaded[key].interpreter.invoke()
            elif op == "timed":
                reply = {"samples_ms": loaded[key].timed(request["n"])}
            elif op == "output":
                loaded[key].output(request["path"])
            elif op == "close":
                loaded.pop(key, None)
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as error:  # noqa: BLE001 - the answer carries it; the worker serves the next request
            traceback.print_exc(file=sys.stderr)
            message = " ".join(f"{type(error).__name__}: {error}".split())
            answer({"ok": False, "error": message})
        else:
            answer({"ok": True, **reply})


if __name__ == "__main__":
    protocol_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(protocol_stream)
