"""Stage `plan`: a full-int8 .tflite -> what the C runtime executes, decided entirely in Python.

The plan holds, per op, the kernel to call and every integer constant it needs (the fixed-point
multipliers and shifts, zero-point offsets, activation clamps), computed exactly as TFLM's
Prepare functions compute them; and one static memory plan: every non-constant tensor gets an
offset in a single arena, chosen by liveness, so the device allocates nothing at run time.

Arithmetic sources (TFLM semantics, restated in docs/runtime.md):
- `quantize_multiplier`: QuantizeMultiplier in quantization_util.cc (frexp, round half away
  from zero to Q31, the 2^31 carry, flush to zero below 2^-31).
- `multiply_by_quantized_multiplier`: the double-rounding variant in common.cc
  (SaturatingRoundingDoublingHighMul then RoundingDivideByPOT). The tflite_micro wheel is built
  without TFLITE_SINGLE_ROUNDING; the single-rounding formula differs by 1 LSB on ~1% of outputs.
- FULLY_CONNECTED: per-channel when the weights carry more than one scale (effective scale
  in_scale * w_scale[c] / out_scale in double); per-tensor otherwise (the product
  in_scale * w_scale rounded to float32 first, then divided in double), as
  CalculateOpDataFullyConnected does.
- Activation clamps: CalculateActivationRangeQuantized (float32 division, round half away).

`reference_forward` runs a plan in Python with the same integer steps as firmware/tlm_kernels.c:
a readable specification, and a second opinion when a C result differs from TFLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import tflite_model
from .errors import ExportError, TlmcError, UsageError
from .fsutil import sha256_bytes

SUPPORTED_OPS = ("FULLY_CONNECTED", "GATHER", "RESHAPE")
ALIGN = 4  # every arena tensor starts on a 4-byte boundary (int32 ids, word loads)
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_ACT_BOUNDS = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


# ---------------------------------------------------------------------------------------------
# Fixed-point arithmetic (integers as Python ints; each function names its TFLM counterpart)

def round_half_away(x: float) -> int:
    """std::round / TfLiteRound: halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (Q31 significand, power-of-two shift): real ~ m * 2^(shift - 31).

    TFLM's QuantizeMultiplier: significand from frexp in [0.5, 1), rounded half away from zero
    to 31 fractional bits; a significand that rounds up to 2^31 is halved and the shift
    incremented; shifts below -31 (real < ~2^-32) flush to (0, 0)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"multiplier {real} is not finite")
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def _wrap_int32(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp: the high 32 bits of 2*a*b, rounded to nearest (ties toward +infinity)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) >> 31  # C integer division truncates toward zero
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp: x / 2^exponent rounded to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLM's double-rounding MultiplyByQuantizedMultiplier (int32 x). A left shift wraps in
    32 bits, as the int32 multiplication does on every target TFLM runs on."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(_wrap_int32(x << left), multiplier), right)


def activation_range(activation: str, scale: float, zero_point: int, qmin: int = -128,
                     qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: a fused activation as an integer clamp."""
    lo, hi = _ACT_BOUNDS[activation]
    s = np.float32(scale)

    def quantize(f: float) -> int:  # zero_point + round(f / scale), the division in float32
        return int(zero_point) + round_half_away(float(np.float32(f) / s))

    return (qmin if lo is None else max(qmin, quantize(lo)), qmax if hi is None else min(qmax, quantize(hi)))


# ---------------------------------------------------------------------------------------------
# The plan

@dataclass
class Buffer:
    """One non-constant tensor's place in the arena. Alias groups (RESHAPE) share an offset."""

    tensor: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    size: int  # bytes
    first: int  # index of the op that writes it (-1: a persistent model input)
    last: int  # index of the last op that reads it (len(ops): lives past the step)
    offset: int = -1
    alias_of: int | None = None  # tensor index whose bytes these are (RESHAPE)

    @property
    def persistent(self) -> bool:
        return self.first < 0


@dataclass
class Gather:
    """out[i, :] = table[ids[i], :] (int8 rows, int32 ids); an id out of range is an error."""

    op: int
    name: str
    table: np.ndarray  # int8 [rows, row_len]
    table_name: str
    ids: Buffer
    out: Buffer

    kernel = "gather"

    @property
    def rows(self) -> int:
        return int(self.table.shape[0])

    @property
    def row_len(self) -> int:
        return int(self.table.shape[1])

    @property
    def n_ids(self) -> int:
        return int(np.prod(self.ids.shape, dtype=np.int64))


@dataclass
class Reshape:
    """Same bytes, new shape: the output aliases the input; no code."""

    op: int
    name: str
    input: Buffer
    out: Buffer

    kernel = "alias"


@dataclass
class FullyConnected:
    """out[c] = clamp(out_zp + MBQM(bias[c] + sum_d w[c, d] * (x[d] + input_offset), m[c], s[c]))."""

    op: int
    name: str
    weights: np.ndarray  # int8 [out_features, in_features]
    weights_name: str
    bias: np.ndarray | None  # int32 [out_features]
    bias_name: str
    multiplier: np.ndarray  # int32 [out_features] per channel, or [1] per tensor
    shift: np.ndarray  # int32, same length
    input_offset: int  # -input zero point
    weights_offset: int  # -weights zero point (per-tensor only; 0 per channel, as TFLM)
    output_offset: int  # output zero point
    act_min: int
    act_max: int
    activation: str
    input: Buffer
    out: Buffer

    kernel = "fully_connected"

    @property
    def per_channel(self) -> bool:
        return len(self.multiplier) > 1

    @property
    def out_features(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.weights.shape[1])


Step = Gather | Reshape | FullyConnected


@dataclass
class Plan:
    steps: list[Step]
    buffers: dict[int, Buffer]  # tensor index -> place
    arena_bytes: int  # the whole arena: persistent part + activations
    persistent_bytes: int  # the window of ids (and, later, recurrent state)
    input: Buffer  # int32 [1, K] token ids: the context window
    output: Buffer  # int8 [1, V] logits
    output_scale: float
    output_zero_point: int
    model_hash: str
    description: str = ""
    op_counts: dict[str, int] = field(default_factory=dict)

    @property
    def context(self) -> int:
        return int(self.input.shape[-1])

    @property
    def vocab(self) -> int:
        return int(self.output.shape[-1])

    def ops(self) -> list[str]:
        return sorted(self.op_counts)

    def weight_bytes(self) -> int:
        n = 0
        for s in self.steps:
            if isinstance(s, Gather):
                n += s.table.nbytes
            elif isinstance(s, FullyConnected):
                n += s.weights.nbytes + (s.bias.nbytes if s.bias is not None else 0) + 8 * len(s.multiplier)
        return n


# ---------------------------------------------------------------------------------------------
# Checks: one line naming the tensor/op and what to do

def _check_int8_model(m: tflite_model.Model, where: str) -> None:
    used = {i for op in m.ops for i in op.inputs + op.outputs if i >= 0} | set(m.inputs) | set(m.outputs)
    floats = [m.tensors[i] for i in sorted(used) if m.tensors[i].dtype in ("FLOAT32", "FLOAT16", "FLOAT64")]
    if not floats:
        return
    act = [t for t in floats if not t.is_const]
    int8_consts = any(t.is_const and t.dtype == "INT8" for t in m.tensors)
    t = (act or floats)[0]
    user = next((o for o in m.ops if t.index in o.outputs + o.inputs), None)
    around = f" at op {user.name} (#{user.index})" if user else ""
    kind = "a hybrid model (int8 weights, float activations)" if act and int8_consts else "a float model"
    raise ExportError(f"{where}: {kind}: tensor {t.name!r} is {t.dtype}{around}; tlmc compiles full-int8 "
                      "models only: run 'tlmc quantize' (full int8 with representative data)")


def _check_ops(m: tflite_model.Model, where: str) -> None:
    for op in m.ops:
        if op.name not in SUPPORTED_OPS:
            out = m.tensors[op.outputs[0]].name if op.outputs else "?"
            raise ExportError(f"{where}: op {op.name} (#{op.index}, output {out!r}) is not in the tlmc runtime "
                              f"(it runs {', '.join(SUPPORTED_OPS)}); change the architecture or add a kernel "
                              "(docs/runtime.md, 'Adding an op')")


def _fail(where: str, op: tflite_model.Op, what: str, fix: str = "re-export the model with 'tlmc quantize'") -> ExportError:
    return ExportError(f"{where}: op {op.name} (#{op.index}): {what}; {fix}")


def _quant(t: tflite_model.Tensor, where: str, op: tflite_model.Op) -> tuple[float, int]:
    if len(t.scale) == 0 or len(t.zero_point) == 0:
        raise _fail(where, op, f"tensor {t.name!r} has no quantization parameters")
    s = float(t.scale[0])
    if not (math.isfinite(s) and s > 0):
        raise _fail(where, op, f"tensor {t.name!r} has scale {s}")
    return s, int(t.zero_point[0])


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


# ---------------------------------------------------------------------------------------------
# Building the plan

def load(path: Path | str) -> tflite_model.Model:
    return parse(tflite_model.read_bytes(path), str(path))


def parse(buf: bytes, where: str = "model") -> tflite_model.Model:
    """tflite_model.parse, with any failure inside the flatbuffer reader turned into one line."""
    try:
        m = tflite_model.parse(buf, where)
    except TlmcError:
        raise
    except Exception as e:  # a corrupted flatbuffer can fail anywhere in the generated reader
        raise UsageError(f"{where}: corrupted TFLite flatbuffer ({type(e).__name__}); re-export it") from None
    n = len(m.tensors)
    for op in m.ops:
        for i in op.inputs + op.outputs:
            if not -1 <= i < n:
                raise UsageError(f"{where}: corrupted TFLite flatbuffer (op #{op.index} names tensor {i} of {n}); re-export it")
    for i in m.inputs + m.outputs:
        if not 0 <= i < n:
            raise UsageError(f"{where}: corrupted TFLite flatbuffer (graph input/output {i} of {n}); re-export it")
    for t in m.tensors:
        if any(d < 0 for d in t.shape):
            raise UsageError(f"{where}: tensor {t.name!r} has a dynamic shape {list(t.shape)}; export with fixed shapes")
    return m


def build(model: tflite_model.Model | bytes, where: str = "model", model_hash: str | None = None) -> Plan:
    """The plan for a parsed model (or .tflite bytes). ExportError/UsageError, one line, if the
    runtime cannot run it exactly."""
    if isinstance(model, (bytes, bytearray)):
        model_hash = model_hash or sha256_bytes(bytes(model))[:16]
        model = parse(bytes(model), where)
    m = model
    _check_int8_model(m, where)
    _check_ops(m, where)
    if len(m.inputs) != 1 or len(m.outputs) != 1:
        raise ExportError(f"{where}: {len(m.inputs)} inputs and {len(m.outputs)} outputs; the runtime runs "
                          "single-step models with one input (token ids) and one output (logits)")
    tin, tout = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    if tin.dtype != "INT32" or len(tin.shape) != 2 or tin.shape[0] != 1 or tin.shape[1] < 1:
        raise ExportError(f"{where}: input {tin.name!r} is {tin.dtype} {list(tin.shape)}; the runtime expects "
                          "int32 token ids [1, K]")
    if tout.dtype != "INT8" or len(tout.shape) != 2 or tout.shape[0] != 1 or tout.shape[1] < 1:
        raise ExportError(f"{where}: output {tout.name!r} is {tout.dtype} {list(tout.shape)}; the runtime expects "
                          "int8 logits [1, V] (set inference_output_type to int8)")
    if len(tout.scale) == 0:
        raise ExportError(f"{where}: output {tout.name!r} has no quantization parameters; re-export it")

    buffers = _lifetimes(m)
    steps: list[Step] = []
    counts: dict[str, int] = {}
    for op in m.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
        if op.name == "GATHER":
            steps.append(_gather(m, op, buffers, where))
        elif op.name == "RESHAPE":
            steps.append(_reshape(m, op, buffers, where))
        else:
            steps.append(_fully_connected(m, op, buffers, where))
    arena, persistent = place(list(buffers.values()))
    return Plan(steps=steps, buffers=buffers, arena_bytes=arena, persistent_bytes=persistent,
                input=buffers[m.inputs[0]], output=buffers[m.outputs[0]],
                output_scale=float(tout.scale[0]), output_zero_point=int(tout.zero_point[0]),
                model_hash=model_hash or "unknown", description=m.description, op_counts=counts)


def _lifetimes(m: tflite_model.Model) -> dict[int, Buffer]:
    """A Buffer for every non-constant tensor: written by op `first`, last read by op `last`."""
    end = len(m.ops)
    bufs: dict[int, Buffer] = {}

    def buf(i: int) -> Buffer:
        if i not in bufs:
            t = m.tensors[i]
            size = _numel(t.shape) * np.dtype(tflite_model._NP_TYPES.get(t.dtype, np.uint8)).itemsize
            bufs[i] = Buffer(i, t.name, t.dtype, tuple(t.shape), int(size), first=end, last=-1)
        return bufs[i]

    for i in m.inputs:
        b = buf(i)
        b.first, b.last = -1, end  # the window: persists across steps
    for op in m.ops:
        for i in op.outputs:
            if i >= 0 and not m.tensors[i].is_const:
                b = buf(i)
                b.first = min(b.first, op.index)
                b.last = max(b.last, op.index)
        for i in op.inputs:
            if i >= 0 and not m.tensors[i].is_const:
                b = buf(i)
                b.last = max(b.last, op.index)
    for i in m.outputs:
        buf(i).last = end
    for b in bufs.values():  # a tensor read before anything writes it: treat as persistent state
        b.first = min(b.first, b.last)
    return bufs


def _gather(m, op, buffers, where) -> Gather:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 2 and 1)")
    table, ids, out = m.tensors[op.inputs[0]], m.tensors[op.inputs[1]], m.tensors[op.outputs[0]]
    if op.options.get("axis", 0) != 0 or op.options.get("batchDims", 0) != 0:
        raise _fail(where, op, f"axis {op.options.get('axis')} / batch_dims {op.options.get('batchDims')}",
                    "the runtime gathers rows (axis 0, batch_dims 0) only")
    if not table.is_const or table.dtype != "INT8" or len(table.shape) < 1:
        raise _fail(where, op, f"table {table.name!r} is a {'constant' if table.is_const else 'computed'} "
                    f"{table.dtype} tensor", "the runtime gathers from constant int8 tables only")
    if ids.dtype != "INT32" or ids.is_const:
        raise _fail(where, op, f"indices {ids.name!r} are {'constant ' if ids.is_const else ''}{ids.dtype}",
                    "feed int32 token ids")
    if out.dtype != "INT8":
        raise _fail(where, op, f"output {out.name!r} is {out.dtype}")
    rows = int(table.shape[0])
    row_len = _numel(table.shape[1:])
    if _numel(out.shape) != _numel(ids.shape) * row_len:
        raise _fail(where, op, f"output {out.name!r} {list(out.shape)} does not hold {list(ids.shape)} rows of {row_len}")
    # TFLM's GATHER copies bytes: the output must share the table's quantization
    if len(out.scale) and len(table.scale) and (out.scale[0] != table.scale[0] or out.zero_point[0] != table.zero_point[0]):
        raise _fail(where, op, f"output {out.name!r} is quantized unlike table {table.name!r}")
    return Gather(op.index, out.name, table.data.reshape(rows, row_len).astype(np.int8), table.name,
                  buffers[op.inputs[1]], buffers[op.outputs[0]])


def _reshape(m, op, buffers, where) -> Reshape:
    if len(op.inputs) < 1 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs")
    src, out = m.tensors[op.inputs[0]], m.tensors[op.outputs[0]]
    if src.is_const:
        raise _fail(where, op, f"reshapes the constant {src.name!r}", "fold it in the exporter")
    if src.dtype != out.dtype or _numel(src.shape) != _numel(out.shape):
        raise _fail(where, op, f"{src.dtype} {list(src.shape)} -> {out.dtype} {list(out.shape)} changes the data")
    if op.outputs[0] in m.inputs:
        raise _fail(where, op, "writes a model input")
    b_in, b_out = buffers[op.inputs[0]], buffers[op.outputs[0]]
    b_out.alias_of = b_in.alias_of if b_in.alias_of is not None else b_in.tensor
    return Reshape(op.index, out.name, b_in, b_out)


def _fully_connected(m, op, buffers, where) -> FullyConnected:
    if len(op.inputs) < 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs")
    x, w, out = m.tensors[op.inputs[0]], m.tensors[op.inputs[1]], m.tensors[op.outputs[0]]
    b = m.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    act = op.options.get("fusedActivationFunction", "NONE")
    if act not in _ACT_BOUNDS:
        raise _fail(where, op, f"fused activation {act}", "use NONE, RELU, RELU6 or RELU_N1_TO_1")
    if op.options.get("weightsFormat", 0) != 0:
        raise _fail(where, op, "shuffled weights format", "convert with the default weights format")
    if op.options.get("asymmetricQuantizeInputs", False):
        raise _fail(where, op, "hybrid (asymmetric_quantize_inputs)", "quantize to full int8")
    if x.dtype != "INT8" or out.dtype != "INT8":
        raise _fail(where, op, f"input {x.name!r} is {x.dtype}, output {out.name!r} is {out.dtype}",
                    "the runtime's FULLY_CONNECTED is int8 in, int8 out")
    if not w.is_const or w.dtype != "INT8" or len(w.shape) != 2:
        raise _fail(where, op, f"weights {w.name!r} are {'' if w.is_const else 'non-constant '}{w.dtype} {list(w.shape)}",
                    "the runtime needs constant int8 [out, in] weights")
    n_out, n_in = int(w.shape[0]), int(w.shape[1])
    if _numel(x.shape) != n_in or _numel(out.shape) != n_out:
        raise _fail(where, op, f"input {list(x.shape)} x weights {list(w.shape)} -> output {list(out.shape)}",
                    "the runtime runs one batch row per step")
    if b is not None:
        if not b.is_const or b.dtype != "INT32" or _numel(b.shape) != n_out:
            raise _fail(where, op, f"bias {b.name!r} is {b.dtype} {list(b.shape)}", "the runtime needs int32 bias [out]")
    in_scale, in_zp = _quant(x, where, op)
    out_scale, out_zp = _quant(out, where, op)
    w_scales = np.asarray(w.scale, np.float32)
    if len(w_scales) == 0:
        raise _fail(where, op, f"weights {w.name!r} have no quantization parameters")
    # int32 accumulation must be exact: |sum| <= in * 127 * 255 + |bias|
    bias_max = int(np.abs(b.data.astype(np.int64)).max()) if b is not None and n_out else 0
    if n_in * 127 * 255 + bias_max > INT32_MAX:
        raise _fail(where, op, f"{n_in} inputs can overflow the int32 accumulator", "make the layer narrower")
    mults, shifts = [], []
    if len(w_scales) > 1:  # per channel (TFLM: more than one scale)
        if len(w_scales) != n_out or w.quantized_dim != 0:
            raise _fail(where, op, f"weights {w.name!r} have {len(w_scales)} scales on axis {w.quantized_dim}",
                        "per-channel weights need one scale per output row")
        if np.any(np.asarray(w.zero_point) != 0):
            raise _fail(where, op, f"weights {w.name!r} have nonzero zero points", "use symmetric weights")
        for s in w_scales:
            mq, sh = quantize_multiplier(float(in_scale) * float(s) / float(out_scale))
            mults.append(mq)
            shifts.append(sh)
        w_offset = 0
    else:  # per tensor: the scale product in float32 first, as GetQuantizedConvolutionMultipler
        prod = float(np.float32(in_scale) * w_scales[0])
        mq, sh = quantize_multiplier(prod / float(out_scale))
        mults, shifts = [mq], [sh]
        w_offset = -int(w.zero_point[0]) if len(w.zero_point) else 0
    if any(mq < 0 for mq in mults):
        raise _fail(where, op, "a negative scale")
    lo, hi = activation_range(act, out_scale, out_zp)
    return FullyConnected(
        op=op.index, name=out.name, weights=w.data.astype(np.int8), weights_name=w.name,
        bias=None if b is None else b.data.reshape(-1).astype(np.int32), bias_name="" if b is None else b.name,
        multiplier=np.asarray(mults, np.int32), shift=np.asarray(shifts, np.int32),
        input_offset=-in_zp, weights_offset=w_offset, output_offset=out_zp, act_min=lo, act_max=hi,
        activation=act, input=buffers[op.inputs[0]], out=buffers[op.outputs[0]])


# ---------------------------------------------------------------------------------------------
# Static memory plan

def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def place(buffers: list[Buffer]) -> tuple[int, int]:
    """Give every buffer an offset; returns (arena bytes, persistent bytes).

    Persistent buffers (the model input: the window of ids) come first and are never reused.
    Alias groups (RESHAPE chains) are one block living from the first write to the last read
    of any member. The rest are placed greedily, each at the lowest offset whose bytes no
    live-at-the-same-time block uses; three orders are tried (largest first, longest-lived
    first, first-written first) and the smallest arena wins."""
    groups: dict[int, list[Buffer]] = {}
    for b in buffers:
        groups.setdefault(b.alias_of if b.alias_of is not None else b.tensor, []).append(b)
    blocks = []  # (size, first, last, root)
    for root, members in groups.items():
        blocks.append((max(x.size for x in members), min(x.first for x in members),
                       max(x.last for x in members), root))
    offset = 0
    fixed: dict[int, int] = {}
    for size, first, _last, root in sorted(blocks, key=lambda k: k[3]):
        if first < 0:
            fixed[root] = offset
            offset += _align(size)
    persistent = offset
    rest = [k for k in blocks if k[3] not in fixed]
    orders = [lambda k: (-k[0], k[1], k[3]), lambda k: (-(k[2] - k[1]), -k[0], k[3]), lambda k: (k[1], -k[0], k[3])]
    best: tuple[int, dict[int, int]] | None = None
    for order in orders:
        placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
        where: dict[int, int] = {}
        for size, first, last, root in sorted(rest, key=order):
            live = sorted((o, s) for o, s, f, la in placed if f <= last and first <= la)
            at = persistent
            for o, s in live:
                if at + size <= o:
                    break
                at = max(at, _align(o + s))
            where[root] = at
            placed.append((at, size, first, last))
        top = max([persistent] + [o + s for o, s, _f, _l in placed])
        if best is None or top < best[0]:
            best = (top, where)
    assert best is not None
    fixed.update(best[1])
    for root, members in groups.items():
        for b in members:
            b.offset = fixed[root]
    return _align(best[0]), persistent


# ---------------------------------------------------------------------------------------------
# A Python run of the plan: the same integer steps as firmware/tlm_kernels.c

def reference_forward(plan: Plan, ids: np.ndarray) -> np.ndarray:
    """int8 logits [V] for one window of K ids, computed from the plan alone."""
    def root(b: Buffer) -> int:
        return b.alias_of if b.alias_of is not None else b.tensor

    vals = {root(plan.input): np.asarray(ids, np.int64).reshape(-1)}
    for s in plan.steps:
        if isinstance(s, Gather):
            idx = vals[root(s.ids)]
            if np.any((idx < 0) | (idx >= s.rows)):
                raise ValueError("id out of range")
            vals[root(s.out)] = s.table[idx].reshape(-1).astype(np.int64)
        elif isinstance(s, FullyConnected):
            x = vals[root(s.input)]
            acc = (s.weights.astype(np.int64) + s.weights_offset) @ (x + s.input_offset)
            if s.bias is not None:
                acc = acc + s.bias
            out = np.empty(s.out_features, np.int64)
            for c in range(s.out_features):
                k = c if s.per_channel else 0
                v = multiply_by_quantized_multiplier(int(acc[c]), int(s.multiplier[k]), int(s.shift[k]))
                out[c] = min(max(v + s.output_offset, s.act_min), s.act_max)
            vals[root(s.out)] = out
    return vals[root(plan.output)].astype(np.int8)
