"""A network as the kernels a backend runs (nn-Meter's kernel detection), and each kernel rebuilt to be timed alone.

`trace` records every aten op of one eval-mode forward pass with its operands' shapes, which operands are the
model's constants (parameters and buffers) and which earlier op wrote each operand. `network_kernels` then applies a
backend's fusion rules (`fusion_rules.yaml`, data): an eval-mode BatchNorm folded into the convolution before it,
activations, a residual add or a multiply by a constant absorbed by the convolution or matmul whose output nothing
else reads, element-wise chains run as one kernel. What is left is a list of `Kernel`s — a type (dense, pointwise,
depthwise and grouped convolutions apart; matmul, attention, normalisation, element-wise, reduction, pooling,
softmax, concatenation, copy, resize) and the shape features its latency depends on — plus, on a backend that runs
some ops in a blocked channel layout, the elements reordered where a tensor crosses in or out of it.

`standalone` builds a kernel back as a one-kernel torch module with its input size, so that the kernel timing set
(`measure.kernel_timing`) can time it alone on any backend through the same protocol as a network.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from importlib import resources

import torch
import torch.nn.functional as F
import yaml
from torch.utils._python_dispatch import TorchDispatchMode

from mobilerepro import MobileReproError

CONVOLUTION_TYPES = ("conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped")
KERNEL_TYPES = (*CONVOLUTION_TYPES, "matmul", "attention", "batch_norm", "layer_norm", "group_norm", "unary",
                "binary", "reduce", "pool", "softmax", "concat", "copy", "resize")

# aten op name -> category. Ops absent here and in NO_KERNEL are element-wise (`unary` / `binary` by operands).
_CATEGORY = {
    "aten.convolution": "convolution",
    **{f"aten.{op}": "matmul" for op in ("addmm", "mm", "bmm", "baddbmm", "matmul")},
    **{f"aten.{op}": "attention" for op in ("_scaled_dot_product_flash_attention_for_cpu",
                                            "_scaled_dot_product_efficient_attention",
                                            "_scaled_dot_product_flash_attention")},
    **{f"aten.{op}": "batch_norm" for op in ("native_batch_norm", "_native_batch_norm_legit_no_training",
                                             "_native_batch_norm_legit")},
    "aten.native_layer_norm": "layer_norm",
    "aten.native_group_norm": "group_norm",
    **{f"aten.{op}": "reduce" for op in ("mean", "sum", "amax", "amin", "max", "var_mean", "var", "std")},
    **{f"aten.{op}": "pool" for op in ("avg_pool2d", "max_pool2d_with_indices", "max_pool2d",
                                       "_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")},
    **{f"aten.{op}": "softmax" for op in ("_softmax", "_safe_softmax", "softmax")},
    **{f"aten.{op}": "concat" for op in ("cat", "stack")},
    **{f"aten.{op}": "copy" for op in ("clone", "_to_copy", "copy_", "constant_pad_nd", "index", "roll", "flip",
                                       "gather", "index_select", "repeat")},
    **{f"aten.{op}": "resize" for op in ("upsample_nearest2d", "upsample_bilinear2d", "_upsample_bilinear2d_aa",
                                         "_upsample_nearest_exact2d", "upsample_bicubic2d")},
}
# Views, allocations and bookkeeping: no kernel runs (a view's reader reads its base's storage).
NO_KERNEL = {f"aten.{op}" for op in (
    "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "alias", "as_strided", "as_strided_",
    "select", "slice", "split", "split_with_sizes", "unbind", "unsqueeze", "squeeze", "unflatten", "flatten",
    "chunk", "narrow", "detach", "lift_fresh", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones",
    "ones_like", "full", "full_like", "randn", "rand", "arange", "scalar_tensor", "fill_", "zero_", "new_empty",
    "new_zeros", "new_ones", "_local_scalar_dense", "item", "sym_size", "is_same_size", "view_as_real",
    "_reshape_alias", "movedim", "diagonal", "sort", "argmax", "topk")}


@dataclass
class Op:
    """One traced aten op: its category, input shapes, constant operands, the ops that wrote its inputs."""

    name: str
    category: str
    shapes: list[tuple[int, ...]]  # every tensor operand, in order
    constant: list[bool]  # operand i is a parameter or buffer of the model
    producers: list[int | None]  # the op that last wrote operand i (None: the input or a constant)
    output_shape: tuple[int, ...]
    arguments: dict = field(default_factory=dict)  # the non-tensor settings a kernel needs (stride, groups, ...)
    readers: int = 0


def _storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _layout(tensor: torch.Tensor) -> str:
    """How a matmul operand sits in memory: broadcast over its batch (an expanded key of multi-query attention),
    transposed (kᵀ as a view), or plain. Runtimes take different paths for each."""
    if tensor.dim() >= 3 and any(s == 0 and n > 1 for s, n in zip(tensor.stride()[:-2], tensor.shape[:-2],
                                                                  strict=True)):
        return "broadcast"
    if tensor.dim() >= 2 and tensor.stride()[-2] == 1 and tensor.shape[-1] > 1 and tensor.stride()[-1] != 1:
        return "transposed"
    return "plain"


def _settings(name: str, args: tuple, kwargs: dict) -> dict:
    """The settings of an op that shape its kernel."""
    if name == "aten.convolution":
        return {"stride": list(args[3]), "padding": list(args[4]), "dilation": list(args[5]), "groups": int(args[8]),
                "transposed": bool(args[6])}
    if name in ("aten.avg_pool2d", "aten.max_pool2d_with_indices", "aten.max_pool2d"):
        kernel = list(args[1]) if len(args) > 1 else [1, 1]
        stride = list(args[2]) if len(args) > 2 and args[2] else kernel
        padding = list(args[3]) if len(args) > 3 else [0, 0]
        return {"kind": "max" if "max" in name else "avg", "kernel": kernel, "stride": stride, "padding": padding}
    if "adaptive" in name:
        return {"kind": "adaptive_max" if "max" in name else "adaptive_avg"}
    if name in ("aten.mean", "aten.sum", "aten.amax", "aten.amin", "aten.max", "aten.var", "aten.std",
                "aten.var_mean"):
        dims = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple, int)) else kwargs.get("dim")
        return {"kind": name.removeprefix("aten."), "dims": [dims] if isinstance(dims, int) else list(dims or [])}
    if name in ("aten._softmax", "aten._safe_softmax", "aten.softmax"):
        return {"dim": int(args[1])}
    if name in ("aten.cat", "aten.stack"):
        return {"dim": int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0))}
    if name == "aten.native_group_norm":
        return {"groups": int(args[6])}
    if "upsample" in name:
        return {"mode": "nearest" if "nearest" in name else ("bicubic" if "bicubic" in name else "bilinear")}
    return {}


class _Tracer(TorchDispatchMode):
    def __init__(self, constants: set[int]):
        super().__init__()
        self.constants = constants
        self.ops: list[Op] = []
        self.writer: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = str(func.overloadpacket)
        if name in NO_KERNEL:
            return out
        inputs = _tensors(list(args) + list(kwargs.values()))
        outputs = _tensors(out)
        if not outputs:
            return out
        pointers = [_storage(t) for t in inputs]
        producers = [None if p in self.constants else self.writer.get(p) for p in pointers]
        for producer in dict.fromkeys(p for p in producers if p is not None):
            self.ops[producer].readers += 1
        category = _CATEGORY.get(name)
        if category is None:
            category = "binary" if sum(t.numel() > 1 for t in inputs) >= 2 else "unary"
        settings = _settings(name, args, kwargs)
        if category == "matmul":
            settings["layouts"] = [_layout(t) for t in inputs]
        self.ops.append(Op(name, category, [tuple(t.shape) for t in inputs], [p in self.constants for p in pointers],
                           producers, tuple(outputs[0].shape), settings))
        for tensor in outputs:
            self.writer[_storage(tensor)] = len(self.ops) - 1
        return out


def trace(model: torch.nn.Module, input_size: tuple[int, ...]) -> list[Op]:
    """The aten ops of one eval-mode batch-1 forward pass on a random input, in execution order."""
    was_training = model.training
    model.eval()
    constants = {_storage(t) for t in (*model.parameters(), *model.buffers())}
    tracer = _Tracer(constants)
    try:
        with torch.no_grad():
            example = torch.randn(1, *input_size)
            with tracer:
                model(example)
    finally:
        model.train(was_training)
    return tracer.ops


# Kernels -------------------------------------------------------------------------------------------------------------
@dataclass
class Kernel:
    """One kernel a backend runs: its type, the op that anchors it, the ops fused into it (`epilogue`), its input
    and output shapes and the settings `standalone` needs to rebuild it."""

    type: str
    op: str
    shapes: list[tuple[int, ...]]
    constant: list[bool]
    output_shape: tuple[int, ...]
    arguments: dict
    epilogue: list[str] = field(default_factory=list)
    blocked: bool = False  # runs in the backend's blocked channel layout

    def key(self) -> str:
        """Identical kernels (same type, shapes, settings and epilogue) share one key and one timing."""
        return repr((self.type, self.op, self.shapes, self.constant, self.output_shape,
                     sorted(self.arguments.items()), self.epilogue))

    def as_dict(self) -> dict:
        return {"type": self.type, "op": self.op, "shapes": [list(s) for s in self.shapes],
                "constant": self.constant, "output_shape": list(self.output_shape), "arguments": self.arguments,
                "epilogue": self.epilogue, "blocked": self.blocked}

    @classmethod
    def from_dict(cls, data: dict) -> Kernel:
        return cls(data["type"], data["op"], [tuple(s) for s in data["shapes"]], list(data["constant"]),
                   tuple(data["output_shape"]), dict(data["arguments"]), list(data["epilogue"]),
                   bool(data.get("blocked", False)))

    def features(self) -> dict[str, float]:
        """Shape features of the kernel for its type's regressor: sizes, MACs, elements moved, epilogue length."""
        out = math.prod(self.output_shape)
        activations = [math.prod(s) for s, c in zip(self.shapes, self.constant, strict=True) if not c]
        weights = [math.prod(s) for s, c in zip(self.shapes, self.constant, strict=True) if c]
        found = {"output_elements": float(out), "input_elements": float(sum(activations)),
                 "weight_elements": float(sum(weights)), "epilogue_ops": float(len(self.epilogue)),
                 "macs": float(kernel_macs(self))}
        if self.type in CONVOLUTION_TYPES:
            cin, h, w = self.shapes[0][1:4]
            cout, _, kh, kw = self.shapes[1]
            found.update(cin=cin, cout=cout, height=h, width=w, kernel=kh * kw, stride=self.arguments["stride"][0],
                         groups=self.arguments["groups"], out_height=self.output_shape[2],
                         residual=float("residual_add" in self.epilogue))
        elif self.type in ("matmul", "attention"):
            first = self.shapes[0] if self.op != "aten.addmm" else self.shapes[1]
            found.update(rows=math.prod(first[:-1]), depth=first[-1], columns=self.output_shape[-1],
                         batch=math.prod(self.output_shape[:-2]) if len(self.output_shape) > 2 else 1)
        else:
            found.update(channels=self.output_shape[1] if len(self.output_shape) > 1 else 1,
                         last_dim=self.output_shape[-1] if self.output_shape else 1, operands=len(self.shapes))
        return found


def kernel_macs(kernel: Kernel) -> int:
    """Multiply-accumulates of a convolution, matmul or attention kernel (0 for the others)."""
    if kernel.type in CONVOLUTION_TYPES:
        cout, cin_per_group, kh, kw = kernel.shapes[1]
        return math.prod(kernel.output_shape) * cin_per_group * kh * kw
    if kernel.type == "matmul":
        first = kernel.shapes[1] if kernel.op == "aten.addmm" else kernel.shapes[0]
        return math.prod(kernel.output_shape) * first[-1]
    if kernel.type == "attention":
        query, key = kernel.shapes[0], kernel.shapes[1]
        return 2 * math.prod(query[:-1]) * key[-2] * query[-1]
    return 0


@functools.cache
def fusion_rules() -> dict[str, dict]:
    return yaml.safe_load((resources.files("mobilerepro.measure") / "fusion_rules.yaml").read_text())


def rules_of(backend: str) -> dict:
    rules = fusion_rules()
    if backend not in rules:
        raise MobileReproError(f"no fusion rules for backend {backend!r} (rules exist for: {', '.join(rules)})")
    return rules[backend]


def _convolution_type(op: Op) -> str:
    cout, cin_per_group, kh, kw = op.shapes[1]
    groups = op.arguments["groups"]
    if groups > 1:
        return "conv_depthwise" if cin_per_group == 1 else "conv_grouped"
    return "conv_pointwise" if kh * kw == 1 else "conv_dense"


def _epilogue_kind(op: Op) -> str | None:
    """How a fusing backend sees an op that follows a convolution or matmul."""
    if op.category == "unary":
        return "activation"
    if op.category == "binary":
        if any(op.constant) or any(math.prod(s) == 1 for s in op.shapes):
            return "constant_affine"
        if op.name in ("aten.add", "aten.add_") and len({s for s in op.shapes}) == 1:
            return "residual_add"
        return "elementwise"
    return None


@dataclass
class NetworkKernels:
    """A network on one backend: its kernels and the elements reordered between layouts (a count and a size)."""

    backend: str
    kernels: list[Kernel]
    reorders: int = 0
    reordered_elements: int = 0

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for kernel in self.kernels:
            found[kernel.type] = found.get(kernel.type, 0) + 1
        return found


def network_kernels(model: torch.nn.Module, input_size: tuple[int, ...], backend: str) -> NetworkKernels:
    """The kernels `backend` runs for `model` at `input_size`, by its fusion rules."""
    return fuse(trace(model, input_size), backend)


def fuse(ops: list[Op], backend: str) -> NetworkKernels:
    rules = rules_of(backend)
    kernel_of: dict[int, int] = {}
    last_op: dict[int, int] = {}  # kernel -> the last op it ran
    kernels: list[Kernel] = []
    for index, op in enumerate(ops):
        target = _absorbing_kernel(op, ops, kernel_of, last_op, kernels, rules)
        if target is not None:
            kernels[target].epilogue.append(_epilogue_name(op))
            kernels[target].output_shape = op.output_shape
            kernel_of[index], last_op[target] = target, index
            continue
        kind = _convolution_type(op) if op.category == "convolution" else op.category
        blocked = ("convolution" if op.category == "convolution" else op.category) in rules["blocked_layout"]
        kernels.append(Kernel(kind, op.name, list(op.shapes), list(op.constant), op.output_shape,
                              dict(op.arguments), [], blocked))
        kernel_of[index] = len(kernels) - 1
        last_op[len(kernels) - 1] = index
        if kind == "matmul" and "constant_affine" in rules.get("linear_prologue", []):
            for producer in op.producers:
                _absorb_prologue(producer, ops, kernel_of, kernels, len(kernels) - 1)
    kept = [k for k in kernels if k.type != ABSORBED]
    if len(kept) < len(kernels):
        renumber = {old: new for new, old in enumerate(i for i, k in enumerate(kernels) if k.type != ABSORBED)}
        kernel_of = {op_index: renumber[k] for op_index, k in kernel_of.items()}
        kernels = kept
    found = NetworkKernels(backend, kernels)
    if rules["blocked_layout"]:
        _count_reorders(ops, kernel_of, kernels, found)
    return found


ABSORBED = "absorbed"  # a kernel merged into the one after it


def _absorb_prologue(producer: int | None, ops: list[Op], kernel_of: dict, kernels: list[Kernel], into: int) -> None:
    """A multiply of a matmul's operand by a scalar (attention's 1/√d) becomes the matmul's scale factor."""
    if producer is None or ops[producer].readers != 1:
        return
    source = kernel_of[producer]
    kernel = kernels[source]
    if kernel.type == "unary" and not kernel.epilogue and kernel.op in ("aten.mul", "aten.div", "aten.mul_"):
        kernels[into].epilogue.insert(0, f"prologue:{kernel.op.removeprefix('aten.').rstrip('_')}")
        kernel.type = ABSORBED
        for op_index, k in kernel_of.items():
            if k == source:
                kernel_of[op_index] = into


def _epilogue_name(op: Op) -> str:
    kind = _epilogue_kind(op)
    if op.category == "batch_norm":
        return "batch_norm"
    return f"{kind}:{op.name.removeprefix('aten.').rstrip('_')}"


def _absorbing_kernel(op: Op, ops: list[Op], kernel_of: dict, last_op: dict, kernels: list[Kernel],
                      rules: dict) -> int | None:
    """The kernel that `op` fuses into on this backend, or None when `op` is a kernel of its own."""
    candidates = [p for p in dict.fromkeys(op.producers) if p is not None and ops[p].readers == 1]
    for producer in candidates:
        kernel = kernels[kernel_of[producer]]
        # A kernel absorbs only ops on its own output: the op it last absorbed, or its anchor.
        if last_op[kernel_of[producer]] != producer:
            continue
        anchor = kernel.type
        if op.category == "batch_norm":
            if rules["fold_batch_norm"] and anchor in CONVOLUTION_TYPES and not kernel.epilogue:
                return kernel_of[producer]
            continue
        kind = _epilogue_kind(op)
        if kind is None:
            continue
        if anchor in CONVOLUTION_TYPES:
            allowed = rules["conv_epilogue"]
        elif anchor == "matmul":
            allowed = rules["linear_epilogue"]
        elif anchor in ("unary", "binary") and rules["elementwise_chains"]:
            allowed = ["activation", "constant_affine", "residual_add", "elementwise"]
        else:
            continue
        if kind == "residual_add" and any(e.startswith("residual_add") for e in kernel.epilogue):
            continue
        fusable = rules.get("activations")
        if kind == "activation" and fusable is not None and op.name.removeprefix("aten.").rstrip("_") not in fusable:
            continue
        if kind in allowed or ("elementwise" in allowed and kind != "residual_add"):
            return kernel_of[producer]
    return None


def _count_reorders(ops: list[Op], kernel_of: dict, kernels: list[Kernel], found: NetworkKernels) -> None:
    """A tensor written by a blocked-layout kernel and read by another layout (or the reverse) is reordered once per
    producer and direction; the network's output leaves the blocked layout too."""
    crossings: set[tuple[int, bool]] = set()
    for index, op in enumerate(ops):
        consumer = kernels[kernel_of[index]]
        for producer in op.producers:
            if producer is None or kernel_of[producer] == kernel_of[index]:
                continue
            source = kernels[kernel_of[producer]]
            if source.blocked != consumer.blocked:
                crossings.add((kernel_of[producer], consumer.blocked))
    last = kernels[-1] if kernels else None
    if last is not None and last.blocked:
        crossings.add((len(kernels) - 1, False))
    found.reorders = len(crossings)
    found.reordered_elements = sum(math.prod(kernels[k].output_shape) for k, _ in crossings)


# Rebuilding a kernel alone -------------------------------------------------------------------------------------------
_UNARY = {
    "relu": torch.relu, "hardtanh": lambda x: F.hardtanh(x, 0.0, 6.0), "clamp": lambda x: x.clamp(0.0, 6.0),
    "clamp_min": lambda x: x.clamp_min(0.0), "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
    "sigmoid": torch.sigmoid, "silu": F.silu, "gelu": F.gelu, "tanh": torch.tanh, "leaky_relu": F.leaky_relu,
    "elu": F.elu, "mish": F.mish, "sqrt": lambda x: x.abs().sqrt(), "rsqrt": lambda x: x.abs().add(1).rsqrt(),
    "exp": torch.exp, "erf": torch.erf, "abs": torch.abs, "neg": torch.neg, "softplus": F.softplus,
}
_BINARY = {"add": torch.add, "mul": torch.mul, "sub": torch.sub, "div": lambda a, b: a / (b.abs() + 1),
           "maximum": torch.maximum, "minimum": torch.minimum}


def _unary(name: str, x: torch.Tensor) -> torch.Tensor:
    return _UNARY.get(name, lambda t: t * 0.5)(x)


PACKED_TYPES = ("matmul", "attention", "binary", "concat")


class Standalone(torch.nn.Module):
    """One kernel as a module: `anchor` runs the kernel's own op on its operands; its epilogue follows. A kernel
    timed alone has one input: the model's constants among its operands become constants of the module, and where
    several operands are activations (attention's q·kᵀ, an add of two branches) they arrive packed in one flat input
    and are sliced apart, so that the runtime sees activations, not weights it could pre-pack."""

    def __init__(self, kernel: Kernel):
        super().__init__()
        self.kernel = kernel
        generator = torch.Generator().manual_seed(0)
        self.packed = [i for i in range(1, len(kernel.shapes)) if not kernel.constant[i]] \
            if kernel.type in PACKED_TYPES else []
        values = [torch.randn(*shape, generator=generator) * 0.1 if shape else torch.tensor(0.5)
                  for i, shape in enumerate(kernel.shapes) if i > 0 and i not in self.packed]
        if kernel.type == "batch_norm" and len(values) >= 2:
            values[-1] = values[-1].abs() + 1  # a running variance
        self.constants = torch.nn.ParameterList([torch.nn.Parameter(v, requires_grad=False) for v in values])
        self.register_buffer("operand", torch.full((1,), 0.5))
        if "batch_norm" in kernel.epilogue:
            self.norm = torch.nn.BatchNorm2d(kernel.output_shape[1]).eval()

    def input_size(self) -> tuple[int, ...]:
        if self.packed:
            return (sum(math.prod(self.kernel.shapes[i]) for i in [0, *self.packed]),)
        shape = self.kernel.shapes[0]
        return tuple(shape[1:]) if len(shape) > 1 and shape[0] == 1 else tuple(shape)

    def operands(self, x) -> list[torch.Tensor]:
        """Every operand in the kernel's order: the input (or its packed parts) and the module's constants."""
        found, constants = [], iter(self.constants)
        if self.packed:
            offset, parts = 0, {}
            for i in [0, *self.packed]:
                size = math.prod(self.kernel.shapes[i])
                parts[i] = self._laid_out(x[0, offset:offset + size], i)
                offset += size
            return [parts[i] if i in parts else next(constants) for i in range(len(self.kernel.shapes))]
        found = [x]
        found += list(constants)
        return found

    def _laid_out(self, flat: torch.Tensor, index: int) -> torch.Tensor:
        """A packed operand in the memory layout it had in the network (see `_layout`)."""
        shape = tuple(self.kernel.shapes[index])
        layout = self.kernel.arguments.get("layouts", [])
        broadcast = "broadcast" in layout
        layout = layout[index] if index < len(layout) else "plain"
        if layout == "broadcast":
            # kept with a batch of one, so that the runtime multiplies with broadcasting as in the network (ONNX
            # Runtime's broadcasting MatMul is many times slower than a batched one over an expanded copy)
            return flat[:math.prod(shape[-2:])].reshape(1, 1, *shape[-2:])
        lead = (1,) if broadcast else ()
        if layout == "transposed":
            return flat.reshape(*lead, *shape[:-2], shape[-1], shape[-2]).transpose(-1, -2)
        return flat.reshape(*lead, *shape)

    def forward(self, x):
        operands = self.operands(x)
        y = self.anchor(operands)
        first = operands[0]
        for name in self.kernel.epilogue:
            kind, _, op = name.partition(":")
            if name == "batch_norm":
                y = self.norm(y)
            elif kind == "activation":
                y = _unary(op, y)
            elif kind == "prologue":
                continue  # a scale the matmul applies as it multiplies: nothing to run apart
            elif kind == "residual_add":
                y = y + (first if first.shape == y.shape else y * 0.5)
            else:
                y = _BINARY.get(op, torch.mul)(y, self.operand)
        return y

    def anchor(self, operands: list[torch.Tensor]):
        kernel, settings = self.kernel, self.kernel.arguments
        x, constants = operands[0], operands[1:]
        if kernel.type in CONVOLUTION_TYPES:
            bias = constants[1] if len(constants) > 1 else None
            return F.conv2d(x, constants[0], bias, settings["stride"], settings["padding"], settings["dilation"],
                            settings["groups"])
        if kernel.type == "matmul":
            if kernel.op == "aten.addmm":
                return torch.addmm(constants[0], x.flatten(0, -2), constants[1]).reshape(kernel.output_shape)
            return torch.matmul(x, constants[0])
        if kernel.type == "attention":
            return F.scaled_dot_product_attention(x, constants[0], constants[1])
        if kernel.type == "batch_norm":
            weight, bias = (constants[0], constants[1]) if len(constants) == 4 else (None, None)
            return F.batch_norm(x, constants[-2], constants[-1], weight, bias)
        if kernel.type == "layer_norm":
            return F.layer_norm(x, kernel.shapes[1] if len(kernel.shapes) > 1 else x.shape[-1:],
                                *(constants[:2] if len(constants) >= 2 else (None, None)))
        if kernel.type == "group_norm":
            return F.group_norm(x, settings["groups"], *(constants[:2] if len(constants) >= 2 else (None, None)))
        if kernel.type == "unary":
            return _unary(kernel.op.removeprefix("aten.").rstrip("_"), x)
        if kernel.type == "binary":
            other = constants[0] if constants else x
            return _BINARY.get(kernel.op.removeprefix("aten.").rstrip("_"), torch.add)(x, other)
        if kernel.type == "reduce":
            dims = settings.get("dims") or list(range(1, x.dim()))
            keep = len(kernel.output_shape) == x.dim()
            return x.amax(dims, keepdim=keep) if "max" in settings.get("kind", "") else x.mean(dims, keepdim=keep)
        if kernel.type == "pool":
            kind = settings.get("kind", "avg")
            if kind.startswith("adaptive"):
                pool = F.adaptive_max_pool2d if kind == "adaptive_max" else F.adaptive_avg_pool2d
                return pool(x, kernel.output_shape[2:])
            pool = F.max_pool2d if kind == "max" else F.avg_pool2d
            return pool(x, settings["kernel"], settings["stride"], settings["padding"])
        if kernel.type == "softmax":
            return torch.softmax(x, settings.get("dim", -1))
        if kernel.type == "concat":
            parts = [x] + [c for c in constants if c.dim() == x.dim()]
            return torch.cat(parts, settings.get("dim", 1))
        if kernel.type == "resize":
            mode = settings.get("mode", "nearest")
            return F.interpolate(x, size=tuple(kernel.output_shape[2:]), mode=mode,
                                 **({} if mode == "nearest" else {"align_corners": False}))
        # copy: a transposing copy of the input (ONNX: a Transpose; eager: a contiguous clone)
        return x.transpose(-1, -2).contiguous() if x.dim() >= 2 else x.clone()


def standalone(kernel: Kernel) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """The kernel as a one-kernel module and its input size without the batch dimension. The first operand is the
    kernel's largest activation (an add of a per-channel scale reads the feature map, not the scale)."""
    order = list(range(len(kernel.shapes)))
    if kernel.op == "aten.addmm":
        order = [1, 0, 2]
    elif kernel.type in ("unary", "binary", "concat") and not all(kernel.constant):
        first = max((i for i, c in enumerate(kernel.constant) if not c), key=lambda i: math.prod(kernel.shapes[i]))
        order = [first] + [i for i in order if i != first]
    arranged = Kernel(kernel.type, kernel.op, [kernel.shapes[i] for i in order], [kernel.constant[i] for i in order],
                      kernel.output_shape, kernel.arguments, kernel.epilogue, kernel.blocked)
    module = Standalone(arranged).eval()
    return module, module.input_size()


def standalone_digest() -> str:
    """A digest of the code that rebuilds a kernel alone: a kernel timing set is valid for this code only."""
    import hashlib
    import inspect

    source = "".join(inspect.getsource(item) for item in (Standalone, standalone, _unary, _layout))
    source += repr(sorted(_UNARY)) + repr(sorted(_BINARY))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# Checking the rules against the runtimes' own graphs ------------------------------------------------------
ORT_CONVOLUTIONS = {"Conv", "FusedConv"}
ORT_REORDERS = {"ReorderInput", "ReorderOutput"}
ORT_NO_KERNEL = {"Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze", "Shape", "Constant"}


def onnxruntime_graph_check(model: torch.nn.Module, input_size: tuple[int, ...]) -> dict:
    """Our ONNX Runtime kernels of `model` next to the nodes of the graph ORT itself runs after its optimisations
    (ORT_ENABLE_ALL, written with `optimized_model_filepath`): convolutions, everything else, layout reorders."""
    import tempfile
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    from mobilerepro.export.onnx import export_onnx

    ours = network_kernels(model, input_size, "onnxruntime")
    with tempfile.TemporaryDirectory(prefix="mobilerepro-ort-graph-") as directory:
        exported = export_onnx(model, torch.randn(1, *input_size), Path(directory) / "model.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(directory) / "optimized.onnx")
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        ort.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"])
        nodes = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    convolutions = sum(k.type in CONVOLUTION_TYPES or (k.type == "batch_norm" and k.blocked) for k in ours.kernels)
    return {"backend": "onnxruntime", "convolutions": convolutions,
            "runtime_convolutions": sum(n in ORT_CONVOLUTIONS for n in nodes),
            "other": len(ours.kernels) - convolutions,
            "runtime_other": sum(n not in ORT_CONVOLUTIONS | ORT_REORDERS | ORT_NO_KERNEL for n in nodes),
            "reorders": ours.reorders, "runtime_reorders": sum(n in ORT_REORDERS for n in nodes)}


OPENVINO_NO_KERNEL = {"Input", "Output", "Parameter", "Result", "Const", "Constant", "Reshape"}


def openvino_graph_check(model: torch.nn.Module, input_size: tuple[int, ...]) -> dict:
    """Our OpenVINO kernels of `model` next to the nodes of the runtime graph OpenVINO's CPU plugin executes
    (`CompiledModel.get_runtime_model()`, each node's `layerType`): convolutions, everything else, reorders."""
    import tempfile
    from pathlib import Path

    import openvino as ov

    from mobilerepro.export.onnx import export_onnx

    ours = network_kernels(model, input_size, "openvino")
    with tempfile.TemporaryDirectory(prefix="mobilerepro-ov-graph-") as directory:
        exported = export_onnx(model, torch.randn(1, *input_size), Path(directory) / "model.onnx")
        compiled = ov.Core().compile_model(str(exported), "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                                  "INFERENCE_PRECISION_HINT": "f32"})
        kinds = [node.get_rt_info()["layerType"].astype(str) for node in compiled.get_runtime_model().get_ops()]
    convolutions = sum(k.type in CONVOLUTION_TYPES for k in ours.kernels)
    return {"backend": "openvino", "convolutions": convolutions,
            "runtime_convolutions": sum(k == "Convolution" for k in kinds),
            "other": len(ours.kernels) - convolutions,
            "runtime_other": sum(k not in OPENVINO_NO_KERNEL | {"Convolution", "Reorder"} for k in kinds),
            "reorders": ours.reorders, "runtime_reorders": sum(k == "Reorder" for k in kinds)}


GRAPH_CHECKS = {"onnxruntime": onnxruntime_graph_check, "openvino": openvino_graph_check}
