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
- ADD / SUB / MUL (int8): CalculateOpDataAdd / CalculateOpDataSub / CalculateOpDataMul. ADD
  rescales both inputs to twice the larger input scale in double; SUB computes the same
  ratios in float32 (TFLM's sub_common.cc declares them float); MUL one multiplier in double.
- LOGISTIC / TANH (int8): CalculateArithmeticOpDataLogistic / TanhPrepare (input multiplier
  from frexp(scale * 2^27), CalculateInputRadius) and reference_integer_ops::Logistic / Tanh,
  which evaluate gemmlowp's fixed-point logistic / tanh on a Q4.27 input. An int8 input has
  256 values, so the plan evaluates that algorithm once per value and the C runtime looks the
  answer up (a 256-byte table per op): bit-exact by construction, and no 64-bit arithmetic on
  the device.
- State feedback (docs/state.md): a state output whose quantization differs from its input's
  is rescaled with QuantizeMultiplier(scale_out / scale_in) and the double-rounding MBQM.

`reference_forward` runs a plan in Python with the same integer steps as firmware/tlm_kernels.c:
a readable specification, and a second opinion when a C result differs from TFLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from . import tflite_model
from ..core.errors import ExportError, TlmcError, UsageError
from ..core.fsutil import sha256_bytes

SUPPORTED_OPS = ("FULLY_CONNECTED", "GATHER", "RESHAPE", "ADD", "SUB", "MUL", "LOGISTIC", "TANH")
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
# gemmlowp's fixed-point logistic and tanh (fixedpoint/fixedpoint.h), on plain Python ints.
# A raw int32 with k integer bits represents raw / 2^(31 - k). Additions wrap like int32.

def _sat_rounding_mul_by_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT: a saturating left shift, or a rounding right shift."""
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def _exp_on_quarter_interval(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31: a Taylor series around -1/8."""
    mul = saturating_rounding_doubling_high_mul
    constant_term, one_third = 1895147668, 715827883  # exp(-1/8), 1/3
    x = _wrap_int32(a + (1 << 28))
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_wrap_int32(mul(_wrap_int32(x4_over_4 + x3), one_third) + x2), 1)
    return _wrap_int32(constant_term + mul(constant_term, _wrap_int32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))  # (e, exp(-2^e) in Q0.31)


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 with `integer_bits` (4 or 5) integer bits -> Q0.31."""
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _wrap_int32((a & (quarter - 1)) - quarter)
    result = _exp_on_quarter_interval(_sat_rounding_mul_by_pot(a_mod, integer_bits))
    remainder = _wrap_int32(a_mod - a)
    for e, m in _EXP_BARREL:
        if integer_bits > e and remainder & (1 << (frac + e)):
            result = saturating_rounding_doubling_high_mul(result, m)
    return INT32_MAX if a == 0 else result


def _newton_reciprocal(a: int) -> int:
    """1 / (1 + a) for a in (0, 1) Q0.31, as Q2.29: three Newton-Raphson steps."""
    mul = saturating_rounding_doubling_high_mul
    total = a + INT32_MAX  # RoundingHalfSum(a, One): (sum + sign) / 2, truncating
    half_den = (total + 1) // 2 if total >= 0 else -((1 - total) // 2)
    x = _wrap_int32(1515870810 + mul(half_den, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = _wrap_int32((1 << 29) - mul(half_den, x))
        x = _wrap_int32(x + _sat_rounding_mul_by_pot(mul(x, one_minus), 2))
    return x


def fixed_logistic(a: int) -> int:
    """gemmlowp::logistic of a Q4.27 raw value, a Q0.31 raw result."""
    if a == 0:
        return 1 << 30
    positive = a > 0
    e = _exp_on_negative_values(_wrap_int32(-a) if positive else a, 4)
    result = _sat_rounding_mul_by_pot(_newton_reciprocal(e), 1)  # 1 / (1 + e)
    return result if positive else _wrap_int32(INT32_MAX - result)


def fixed_tanh(a: int) -> int:
    """gemmlowp::tanh of a Q4.27 raw value, a Q0.31 raw result."""
    if a == 0:
        return 0
    negative = a < 0
    e = _exp_on_negative_values(a if negative else _wrap_int32(-a), 5)  # exp(-2|x|): the same raw, Q5.26
    t = _sat_rounding_mul_by_pot(_wrap_int32(_newton_reciprocal(e) - (1 << 29)), 2)  # (1 - e) / (1 + e)
    return _wrap_int32(-t) if negative else t


def activation_table(kind: str, scale: float, zero_point: int) -> np.ndarray:
    """int8 LOGISTIC or TANH as a 256-entry table (index: input + 128), computed as TFLM's
    Prepare (input multiplier, shift, range radius) and reference_integer_ops::Logistic / Tanh
    compute each value. ValueError for an input scale TFLM cannot represent."""
    q, shift = math.frexp(float(scale) * float(1 << 27))
    multiplier = round_half_away(q * (1 << 31))
    if multiplier >= 1 << 31 or shift < 0 or shift > 62:
        raise ValueError(f"input scale {scale} is outside what TFLM's {kind} handles")
    radius = int(math.floor(15.0 * (1 << 27) / (1 << shift)))  # CalculateInputRadius(4, shift, 31)
    table = np.empty(256, np.int8)
    for v in range(-128, 128):
        x = v - int(zero_point)
        if x <= -radius:
            out = -128
        elif x >= radius:
            out = 127
        else:
            q4 = multiply_by_quantized_multiplier(x, multiplier, shift)
            if kind == "LOGISTIC":  # Q0.31 -> 1/256 steps, zero point -128
                out = rounding_divide_by_pot(fixed_logistic(q4), 23) - 128
            else:  # Q0.31 -> 1/128 steps, zero point 0
                out = rounding_divide_by_pot(fixed_tanh(q4), 24)
            out = min(max(out, -128), 127)
        table[v + 128] = out
    return table


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

    # What the `optimized` kernel set reads (layout TLM_FC_PACKED4, firmware/tlm_kernels.h)

    def folded_bias(self) -> np.ndarray:
        """int32 [C]: every term of TFLM's sum that does not depend on the input (fold_fc_bias)."""
        return fold_fc_bias(self.weights, self.bias, self.input_offset, self.weights_offset)

    def packed_weights(self) -> np.ndarray:
        """The weights as the TLM_FC_PACKED4 byte stream, int8 [4 * ceil(C / 4) * D]."""
        return pack_fc_weights(self.weights)

    def packed_rows(self) -> np.ndarray:
        """int32 [C, 5]: TLM_FC_PACKED4's TlmFcRow per output row (pack_fc_rows)."""
        return pack_fc_rows(self.folded_bias(), self.multiplier, self.shift)


def fold_fc_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, weights_offset: int) -> np.ndarray:
    """int32 [C]: bias[c] + input_offset * sum_d w[c, d] + D * input_offset * weights_offset,
    wrapped to int32: every term of TFLM's sum that does not depend on the input, so the
    kernel's inner loop is a pure int8 dot product. Addition mod 2^32 is associative, so
    kernel sum + folded bias equals TFLM's wrapping int32 accumulator bit for bit. (The
    input-dependent weights_offset * sum(x) stays in the kernel; 0 for per-channel weights.)"""
    acc = np.asarray(weights, np.int64).sum(axis=1) * int(input_offset)
    acc += np.asarray(weights).shape[1] * int(input_offset) * int(weights_offset)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return _wrap32(acc)


def pack_fc_weights(w: np.ndarray) -> np.ndarray:
    """int8 [C, D] -> TLM_FC_PACKED4: zero rows pad C to a multiple of 4; each block of 4 rows
    is D // 4 groups of 16 bytes (group g: for each row, its bytes 4g+1, 4g, 4g+3, 4g+2: the
    order kernels/tlm_fc_dsp.c unpacks with one instruction per 16-bit pair), then the D % 4
    tail columns row by row. A kernel loading one input word serves four rows with it."""
    c, d = w.shape
    blocks = np.zeros((-(-c // 4) * 4, d), np.int8)
    blocks[:c] = w
    blocks = blocks.reshape(-1, 4, d)
    g = d // 4
    main = blocks[:, :, :4 * g].reshape(len(blocks), 4, g, 4)[..., [1, 0, 3, 2]].transpose(0, 2, 1, 3)
    tail = blocks[:, :, 4 * g:]
    return np.concatenate([main.reshape(len(blocks), -1), tail.reshape(len(blocks), -1)], axis=1).reshape(-1)


def pack_fc_rows(bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int32 [C, 5], a TlmFcRow per output row: folded bias, multiplier, ~shift (a per-tensor
    rescale repeated), and for shift < 0 the rounding constant 2^30 + 2^(30 - shift) of both
    MBQM roundings at once as low and high word (0 for shift >= 0, which takes the general
    path). Why that constant is exact: firmware/kernels/tlm_fc_common.h, fc_rescale_down."""
    c = len(bias)
    mult = np.resize(np.asarray(multiplier, np.int64), c)
    shift = np.resize(np.asarray(shift, np.int64), c)
    rnd = [(1 << 30) + (1 << (30 - int(sh))) if sh < 0 else 0 for sh in shift]
    lo = np.array([r & 0xFFFFFFFF for r in rnd], np.int64)
    hi = np.array([r >> 32 for r in rnd], np.int64)
    return _wrap32(np.stack([np.asarray(bias, np.int64), mult, ~shift, lo, hi], axis=1))


def _wrap32(a: np.ndarray) -> np.ndarray:
    return ((np.asarray(a, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


@dataclass
class Operand:
    """An input of an elementwise op: an arena tensor, or constant data in flash."""

    buffer: Buffer | None  # the arena tensor, or None for a constant
    const: np.ndarray | None  # int8 constant data (flattened), or None
    const_name: str
    size: int  # elements: n, or 1 (broadcast to every element)


@dataclass
class Add:
    """ADD / SUB (TFLM reference_integer_ops::AddFunc, reference_ops::SubElementwise):
    a' = MBQM((a + a_offset) << left_shift, a_m, a_s), b' likewise,
    out = clamp(out_offset + MBQM(a' +- b', out_m, out_s), act_min, act_max)."""

    op: int
    name: str
    subtract: bool
    a: Operand
    b: Operand
    n: int
    a_offset: int
    b_offset: int
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int
    activation: str
    out: Buffer

    kernel = "add"


@dataclass
class Mul:
    """MUL (TFLM reference_integer_ops::MulElementwise):
    out = clamp(out_offset + MBQM((a + a_offset) * (b + b_offset), m, s), act_min, act_max)."""

    op: int
    name: str
    a: Operand
    b: Operand
    n: int
    a_offset: int
    b_offset: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int
    activation: str
    out: Buffer

    kernel = "mul"


@dataclass
class Lookup:
    """LOGISTIC / TANH as out[i] = table[in[i] + 128]: the table holds TFLM's fixed-point
    result for each of the 256 int8 inputs (activation_table)."""

    op: int
    name: str
    function: str  # "LOGISTIC" or "TANH"
    table: np.ndarray  # int8 [256]
    n: int
    input: Buffer
    out: Buffer

    kernel = "lookup"


Step = Gather | Reshape | FullyConnected | Add | Mul | Lookup


@dataclass
class Requantize:
    """int8 in one quantization -> int8 in another (docs/state.md):
    out = clamp(output_offset + MBQM(in + input_offset, multiplier, shift), -128, 127)."""

    input_offset: int  # -(zero point of the values coming in: the state output's)
    output_offset: int  # zero point of the values going out: the state input's
    multiplier: int
    shift: int


@dataclass
class State:
    """A state carried between steps (docs/state.md): the model reads `input` (the value
    `output` had `delay` steps ago); the runtime keeps the delay - 1 newer values in a ring."""

    name: str
    input: Buffer  # int8 [1, n] state input: persistent, read by the step
    output: Buffer  # int8 [1, n] state output: written by the step
    delay: int
    zero: int  # the state input's zero point: the int8 of real 0.0, what a reset fills in
    requantize: Requantize | None  # None when output and input are quantized alike (copy)
    ring: Buffer | None = None  # (delay - 1) * n bytes, persistent; None when delay == 1

    @property
    def size(self) -> int:
        return self.input.size


@dataclass
class Plan:
    steps: list[Step]
    buffers: dict[int, Buffer]  # tensor index -> place
    arena_bytes: int  # the whole arena: persistent part + activations
    persistent_bytes: int  # the window of ids, the states, their rings and the control words
    input: Buffer  # int32 [1, K] token ids: the context window (a step model: [1, 1])
    output: Buffer  # int8 [1, V] logits
    output_scale: float
    output_zero_point: int
    model_hash: str
    description: str = ""
    op_counts: dict[str, int] = field(default_factory=dict)
    states: list[State] = field(default_factory=list)  # step models (docs/state.md); [] for a window
    control: Buffer | None = None  # step models: uint32 words [pending, head of each state]
    ring: EmbeddingRing | None = None  # window models with use_embedding_ring(): the GATHER's ring

    @property
    def kind(self) -> str:
        return "step" if self.states else "window"

    @property
    def state_bytes(self) -> int:
        """Persistent bytes of the states: their inputs, rings and the control words."""
        n = sum(s.input.size + (s.ring.size if s.ring is not None else 0) for s in self.states)
        return n + (self.control.size if self.control is not None else 0)

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
            elif isinstance(s, Lookup):
                n += s.table.nbytes
            elif isinstance(s, (Add, Mul)):
                n += sum(o.const.nbytes for o in (s.a, s.b) if o.const is not None)
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


def build(model: tflite_model.Model | bytes, where: str = "model", model_hash: str | None = None,
          signature: dict | None = None) -> Plan:
    """The plan for a parsed model (or .tflite bytes). ExportError/UsageError, one line, if the
    runtime cannot run it exactly. `signature`: the model's signature.json (docs/state.md);
    None or {"kind": "window"} for a window model."""
    if isinstance(model, (bytes, bytearray)):
        model_hash = model_hash or sha256_bytes(bytes(model))[:16]
        model = parse(bytes(model), where)
    m = model
    _check_int8_model(m, where)
    _check_ops(m, where)
    token_pos, logits_pos, state_specs = _signature(m, signature, where)
    tin, tout = m.tensors[m.inputs[token_pos]], m.tensors[m.outputs[logits_pos]]
    if tin.dtype != "INT32" or len(tin.shape) != 2 or tin.shape[0] != 1 or tin.shape[1] < 1:
        raise ExportError(f"{where}: input {tin.name!r} is {tin.dtype} {list(tin.shape)}; the runtime expects "
                          "int32 token ids [1, K]")
    if state_specs and tuple(tin.shape) != (1, 1):
        raise ExportError(f"{where}: token input {tin.name!r} is {list(tin.shape)}; a step model reads one token "
                          "[1, 1] (docs/state.md)")
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
        steps.append(_step(m, op, buffers, where))
    states = [_state(m, spec, buffers, where) for spec in state_specs]
    control = _state_blocks(states, len(m.ops), buffers)
    arena, persistent = place(list(buffers.values()))
    return Plan(steps=steps, buffers=buffers, arena_bytes=arena, persistent_bytes=persistent,
                input=buffers[m.inputs[token_pos]], output=buffers[m.outputs[logits_pos]],
                output_scale=float(tout.scale[0]), output_zero_point=int(tout.zero_point[0]),
                model_hash=model_hash or "unknown", description=m.description, op_counts=counts,
                states=states, control=control)


def _step(m: tflite_model.Model, op: tflite_model.Op, buffers: dict[int, Buffer], where: str) -> Step:
    if op.name == "GATHER":
        return _gather(m, op, buffers, where)
    if op.name == "RESHAPE":
        return _reshape(m, op, buffers, where)
    if op.name in ("ADD", "SUB"):
        return _add(m, op, buffers, where)
    if op.name == "MUL":
        return _mul(m, op, buffers, where)
    if op.name in ("LOGISTIC", "TANH"):
        return _lookup(m, op, buffers, where)
    return _fully_connected(m, op, buffers, where)


def op_step(model: tflite_model.Model | bytes, index: int = 0, where: str = "model") -> Step:
    """The Step (kernel and constants) of one op of any int8 model, outside a whole plan (no
    arena offsets): the kernel tests run single-op models through it."""
    m = parse(bytes(model), where) if isinstance(model, (bytes, bytearray)) else model
    _check_ops(m, where)
    return _step(m, m.ops[index], _lifetimes(m), where)


MAX_DELAY = 1 << 16


def _signature(m: tflite_model.Model, sig: dict | None, where: str) -> tuple[int, int, list[dict]]:
    """(token input position, logits output position, state specs) from signature.json."""
    fix = "re-run 'tlmc quantize' (it writes quantize/signature.json, docs/state.md)"
    kind = (sig or {}).get("kind", "window")
    if kind == "window":
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise ExportError(f"{where}: {len(m.inputs)} inputs and {len(m.outputs)} outputs but no step-model "
                              f"signature; the runtime runs a window model (one input: token ids, one output: "
                              f"logits) or a step model described by signature.json; {fix}")
        return 0, 0, []
    if kind != "step":
        raise ExportError(f"{where}: signature kind {kind!r} is neither 'window' nor 'step'; {fix}")
    try:
        tok, logits = int(sig["token_input"]), int(sig["logits_output"])
        specs = [{"name": str(st.get("name", f"s{i}")), "input": int(st["input"]), "output": int(st["output"]),
                  "delay": int(st.get("delay", 1))} for i, st in enumerate(sig["states"])]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ExportError(f"{where}: step signature is malformed ({type(e).__name__}: {e}); {fix}") from None
    ins = [tok] + [st["input"] for st in specs]
    outs = [logits] + [st["output"] for st in specs]
    if sorted(ins) != list(range(len(m.inputs))):
        raise ExportError(f"{where}: step signature names inputs {ins} but the model has {len(m.inputs)}: each "
                          f"input must be the token or one state; {fix}")
    if sorted(outs) != list(range(len(m.outputs))):
        raise ExportError(f"{where}: step signature names outputs {outs} but the model has {len(m.outputs)}: each "
                          f"output must be the logits or one state; {fix}")
    if not specs:
        raise ExportError(f"{where}: step signature without states; export a window model instead")
    for st in specs:
        if not 1 <= st["delay"] <= MAX_DELAY:
            raise ExportError(f"{where}: state {st['name']!r} has delay {st['delay']} (1..{MAX_DELAY}); {fix}")
    return tok, logits, specs


def _state(m: tflite_model.Model, spec: dict, buffers: dict[int, Buffer], where: str) -> State:
    ti, to = m.tensors[m.inputs[spec["input"]]], m.tensors[m.outputs[spec["output"]]]
    name = spec["name"]
    for t, what in ((ti, "input"), (to, "output")):
        if t.dtype != "INT8" or len(t.shape) != 2 or t.shape[0] != 1 or len(t.scale) == 0:
            raise ExportError(f"{where}: state {name!r} {what} {t.name!r} is {t.dtype} {list(t.shape)}; states are "
                              "quantized int8 [1, n] (docs/state.md)")
    if ti.shape != to.shape:
        raise ExportError(f"{where}: state {name!r} is {list(ti.shape)} in but {list(to.shape)} out; they must match")
    b_in, b_out = buffers[m.inputs[spec["input"]]], buffers[m.outputs[spec["output"]]]
    root = b_out.alias_of if b_out.alias_of is not None else b_out.tensor
    if buffers[root].persistent:
        raise ExportError(f"{where}: state {name!r} output {to.name!r} is a model input passed through; "
                          "compute the state in the model or drop it")
    s_in, zp_in = float(ti.scale[0]), int(ti.zero_point[0])
    s_out, zp_out = float(to.scale[0]), int(to.zero_point[0])
    requant = None
    if s_in != s_out or zp_in != zp_out:
        mult, shift = quantize_multiplier(s_out / s_in)
        requant = Requantize(input_offset=-zp_out, output_offset=zp_in, multiplier=mult, shift=shift)
    return State(name=name, input=b_in, output=b_out, delay=spec["delay"], zero=zp_in, requantize=requant)


def _state_blocks(states: list[State], n_ops: int, buffers: dict[int, Buffer]) -> Buffer | None:
    """Persistent arena blocks beside the state inputs: each ring (delay - 1 entries) and the
    control words (pending flag + one ring head per state). Keys < 0: they are no tensors."""
    if not states:
        return None
    control = Buffer(-1, "<control: pending, ring heads>", "UINT32", (1 + len(states),), 4 * (1 + len(states)),
                     first=-1, last=n_ops)
    buffers[-1] = control
    for i, s in enumerate(states):
        if s.delay > 1:
            s.ring = Buffer(-2 - i, f"<ring of state {s.name}>", "INT8", (s.delay - 1, s.size), (s.delay - 1) * s.size,
                            first=-1, last=n_ops)
            buffers[s.ring.tensor] = s.ring
    return control


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


def _operand(m, op, k: int, n: int, buffers, where) -> tuple[Operand, float, int]:
    """Input k of an elementwise op: an arena tensor or an int8 constant of n elements or one
    (broadcast); with its scale and zero point."""
    t = m.tensors[op.inputs[k]]
    if t.dtype != "INT8":
        raise _fail(where, op, f"input {t.name!r} is {t.dtype}", "the runtime's elementwise ops are int8")
    scale, zp = _quant(t, where, op)
    size = _numel(t.shape)
    if size not in (n, 1):
        raise _fail(where, op, f"input {t.name!r} {list(t.shape)} broadcasts to {n} elements",
                    "the runtime broadcasts only equal sizes or a single element")
    if t.is_const:
        return Operand(None, t.data.reshape(-1).astype(np.int8), t.name, size), scale, zp
    return Operand(buffers[op.inputs[k]], None, "", size), scale, zp


def _binary(m, op, where):
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 2 and 1)")
    out = m.tensors[op.outputs[0]]
    if out.dtype != "INT8":
        raise _fail(where, op, f"output {out.name!r} is {out.dtype}", "the runtime's elementwise ops are int8")
    act = op.options.get("fusedActivationFunction", "NONE")
    if act not in _ACT_BOUNDS:
        raise _fail(where, op, f"fused activation {act}", "use NONE, RELU, RELU6 or RELU_N1_TO_1")
    n = _numel(out.shape)
    if max(_numel(m.tensors[i].shape) for i in op.inputs) != n:
        raise _fail(where, op, f"output {out.name!r} {list(out.shape)} is not the size of its inputs")
    out_scale, out_zp = _quant(out, where, op)
    lo, hi = activation_range(act, out_scale, out_zp)
    return out, act, n, out_scale, out_zp, lo, hi


def _add(m, op, buffers, where) -> Add:
    """ADD / SUB: CalculateOpDataAdd (ratios in double) / CalculateOpDataSub (ratios in float32).
    Both inputs are rescaled to twice the larger input scale with 20 bits of headroom."""
    out, act, n, out_scale, out_zp, lo, hi = _binary(m, op, where)
    a, s1, z1 = _operand(m, op, 0, n, buffers, where)
    b, s2, z2 = _operand(m, op, 1, n, buffers, where)
    left_shift = 20  # int8; TFLM uses 15 for int16
    f1, f2 = np.float32(s1), np.float32(s2)
    if op.name == "ADD":
        twice_max = 2.0 * float(max(f1, f2))
        reals = (float(f1) / twice_max, float(f2) / twice_max, twice_max / ((1 << left_shift) * out_scale))
    else:  # sub_common.cc declares twice_max_input_scale a float and divides in float
        twice = np.float32(2.0) * max(f1, f2)
        reals = (float(np.float32(f1 / twice)), float(np.float32(f2 / twice)),
                 float(np.float32(twice / (np.float32(1 << left_shift) * np.float32(out_scale)))))
    quantized = []
    for what, real in zip(("input 1", "input 2", "output"), reals):
        mult, shift = quantize_multiplier(real)
        if not 0.0 < real < 1.0 or shift > 0:  # QuantizeMultiplierSmallerThanOneExp's checks (TFLM aborts)
            raise _fail(where, op, f"{what} rescale {real:.6g} is not below 1 (output scale {out_scale:.6g} is "
                        f"too small for input scales {s1:.6g}, {s2:.6g})", "TFLM refuses it too; re-export the model")
        quantized.append((mult, shift))
    (m1, sh1), (m2, sh2), (mo, sho) = quantized
    return Add(op=op.index, name=out.name, subtract=op.name == "SUB", a=a, b=b, n=n, a_offset=-z1, b_offset=-z2,
               left_shift=left_shift, a_multiplier=m1, a_shift=sh1, b_multiplier=m2, b_shift=sh2,
               output_multiplier=mo, output_shift=sho, output_offset=out_zp, act_min=lo, act_max=hi,
               activation=act, out=buffers[op.outputs[0]])


def _mul(m, op, buffers, where) -> Mul:
    """MUL: CalculateOpDataMul, real multiplier in1_scale * in2_scale / out_scale in double."""
    out, act, n, out_scale, out_zp, lo, hi = _binary(m, op, where)
    a, s1, z1 = _operand(m, op, 0, n, buffers, where)
    b, s2, z2 = _operand(m, op, 1, n, buffers, where)
    mult, shift = quantize_multiplier(float(s1) * float(s2) / float(out_scale))
    return Mul(op=op.index, name=out.name, a=a, b=b, n=n, a_offset=-z1, b_offset=-z2, output_multiplier=mult,
               output_shift=shift, output_offset=out_zp, act_min=lo, act_max=hi, activation=act,
               out=buffers[op.outputs[0]])


# the output quantization TFLM's int8 kernels assume (LOGISTIC checks the zero point only,
# TANH nothing; the converter always writes these)
_LOOKUP_OUTPUT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


def _lookup(m, op, buffers, where) -> Lookup:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 1 and 1)")
    x, out = m.tensors[op.inputs[0]], m.tensors[op.outputs[0]]
    if x.dtype != "INT8" or out.dtype != "INT8" or x.is_const:
        raise _fail(where, op, f"{x.dtype} {'constant ' if x.is_const else ''}-> {out.dtype}",
                    "the runtime's LOGISTIC and TANH are int8 in, int8 out")
    if _numel(x.shape) != _numel(out.shape):
        raise _fail(where, op, f"input {list(x.shape)} and output {list(out.shape)} differ in size")
    in_scale, in_zp = _quant(x, where, op)
    out_scale, out_zp = _quant(out, where, op)
    want_scale, want_zp = _LOOKUP_OUTPUT[op.name]
    if out_zp != want_zp or not math.isclose(out_scale, want_scale, rel_tol=1e-6):
        raise _fail(where, op, f"output {out.name!r} has scale {out_scale:.6g} and zero point {out_zp}; TFLM's int8 "
                    f"{op.name} produces scale {want_scale:.6g} and zero point {want_zp} whatever the tensor says")
    try:
        table = activation_table(op.name, in_scale, in_zp)
    except ValueError as e:
        raise _fail(where, op, str(e)) from None
    return Lookup(op=op.index, name=out.name, function=op.name, table=table, n=_numel(x.shape),
                  input=buffers[op.inputs[0]], out=buffers[op.outputs[0]])


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
    for size, first, _last, root in sorted(blocks, key=lambda k: (k[3] < 0, abs(k[3]))):
        if first < 0:  # model inputs first (the window at 0), then state control words and rings
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
# The embedding ring (window models): copy one embedding row per token, not K per step


@dataclass
class EmbeddingRing:
    """The window's embedding rows kept in the arena from step to step (docs/runtime.md): the
    runtime's tlm_push copies the new id's row (twice: the ring is mirrored so the K rows are
    always contiguous) and the plan's FULLY_CONNECTED steps read them in place."""

    gather: Gather  # the GATHER the ring replaces (its table, row length)
    buffer: Buffer  # persistent: uint32 head + (2K, E) int8 rows
    readers: list[int]  # ops (FULLY_CONNECTED) that read the window's rows from the ring


def _reads(step) -> list[Buffer]:
    """The arena buffers a step reads (its `out` excluded)."""
    found = []
    for f in fields(step):
        v = getattr(step, f.name)
        if f.name != "out" and isinstance(v, Buffer):
            found.append(v)
        elif isinstance(v, Operand) and v.buffer is not None:
            found.append(v.buffer)
    return found


def use_embedding_ring(p: Plan) -> bool:
    """Replace the window's GATHER by an embedding ring where that is exact: a window model
    whose K ids feed one GATHER and whose gathered rows (through RESHAPEs) are read only by
    FULLY_CONNECTED steps, never the output. Then the GATHER emits no code, its output leaves
    the activation area and the ring (4 + 2*K*E bytes) joins the persistent part: more arena,
    K - 1 fewer row copies per token. Re-places the arena; True if the plan changed."""
    if p.kind != "window" or p.ring is not None:
        return False

    def root(b: Buffer) -> int:
        return b.alias_of if b.alias_of is not None else b.tensor

    gathers = [s for s in p.steps if isinstance(s, Gather) and root(s.ids) == root(p.input)]
    if len(gathers) != 1 or gathers[0].n_ids != p.context:
        return False
    g = gathers[0]
    rows = root(g.out)
    if rows == root(p.output):
        return False
    readers = []
    for s in p.steps:
        if s is g or isinstance(s, Reshape):
            continue
        if any(root(b) == rows for b in _reads(s)):
            if not isinstance(s, FullyConnected) or root(s.input) != rows:
                return False
            readers.append(s.op)
    if not readers:
        return False
    size = 4 + 2 * p.context * g.row_len
    ring = Buffer(-1000, "<embedding ring: head, 2K rows>", "UINT8", (size,), size, first=-1, last=len(p.steps))
    for key in [k for k, b in p.buffers.items() if root(b) == rows]:
        del p.buffers[key]
    p.buffers[ring.tensor] = ring
    p.arena_bytes, p.persistent_bytes = place(list(p.buffers.values()))
    p.ring = EmbeddingRing(gather=g, buffer=ring, readers=readers)
    return True


# ---------------------------------------------------------------------------------------------
# A Python run of the plan: the same integer steps as firmware/tlm_kernels.c

def _root(b: Buffer) -> int:
    return b.alias_of if b.alias_of is not None else b.tensor


def requantize(q: np.ndarray, r: Requantize) -> np.ndarray:
    """A state output in its state input's quantization (docs/state.md)."""
    out = [r.output_offset + multiply_by_quantized_multiplier(int(v) + r.input_offset, r.multiplier, r.shift)
           for v in np.asarray(q).reshape(-1)]
    return np.clip(np.array(out, np.int64), -128, 127)


def reference_sequence(plan: Plan, ids) -> np.ndarray:
    """A step model run over a token sequence from the zero state (docs/state.md, "A
    sequence"): int8 logits after every token [T, V], states carried through rings as the C
    runtime carries them."""
    history = [[np.full(s.size, s.zero, np.int64)] * s.delay for s in plan.states]  # oldest first
    rows = []
    for token in ids:
        logits, outs = reference_forward(plan, [token], [h[0] for h in history], return_states=True)
        for s, h, v in zip(plan.states, history, outs):
            h.append(requantize(v, s.requantize) if s.requantize is not None else v)
            del h[0]
        rows.append(logits)
    return np.stack(rows) if rows else np.zeros((0, plan.vocab), np.int8)


def reference_forward(plan: Plan, ids: np.ndarray, states: list[np.ndarray] | None = None,
                      return_states: bool = False):
    """int8 logits [V] for one window of K ids (a step model: one id, and the value of each
    state input, zero state by default), computed from the plan alone. With return_states,
    (logits, [state outputs])."""
    root = _root
    vals = {root(plan.input): np.asarray(ids, np.int64).reshape(-1)}
    for i, st in enumerate(plan.states):
        v = np.full(st.size, st.zero, np.int64) if states is None else np.asarray(states[i], np.int64).reshape(-1)
        vals[root(st.input)] = v

    def operand(o: Operand, n: int) -> np.ndarray:
        v = o.const.astype(np.int64) if o.const is not None else vals[root(o.buffer)]
        return np.broadcast_to(v, (n,)) if o.size == 1 else v

    for s in plan.steps:
        if isinstance(s, Add):
            a, b = operand(s.a, s.n) + s.a_offset, operand(s.b, s.n) + s.b_offset
            out = np.empty(s.n, np.int64)
            for i in range(s.n):
                x = multiply_by_quantized_multiplier(int(a[i]) << s.left_shift, s.a_multiplier, s.a_shift)
                y = multiply_by_quantized_multiplier(int(b[i]) << s.left_shift, s.b_multiplier, s.b_shift)
                v = multiply_by_quantized_multiplier(x - y if s.subtract else x + y, s.output_multiplier,
                                                     s.output_shift)
                out[i] = min(max(v + s.output_offset, s.act_min), s.act_max)
            vals[root(s.out)] = out
            continue
        if isinstance(s, Mul):
            a, b = operand(s.a, s.n) + s.a_offset, operand(s.b, s.n) + s.b_offset
            out = np.array([multiply_by_quantized_multiplier(int(x) * int(y), s.output_multiplier, s.output_shift)
                            for x, y in zip(a, b)], np.int64)
            vals[root(s.out)] = np.clip(out + s.output_offset, s.act_min, s.act_max)
            continue
        if isinstance(s, Lookup):
            vals[root(s.out)] = s.table[vals[root(s.input)] + 128].astype(np.int64)
            continue
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
    logits = vals[root(plan.output)].astype(np.int8)
    if return_states:
        return logits, [vals[root(st.output)].astype(np.int8) for st in plan.states]
    return logits
