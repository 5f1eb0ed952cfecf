"""Fixed-point arithmetic on plain Python ints, each function named after its TFLM counterpart.

TFLM semantics (restated in docs/runtime.md):
- `quantize_multiplier`: QuantizeMultiplier in quantization_util.cc (frexp, round half away
  from zero to Q31, the 2^31 carry, flush to zero below 2^-31).
- `multiply_by_quantized_multiplier`: the double-rounding variant in common.cc
  (SaturatingRoundingDoublingHighMul then RoundingDivideByPOT). The tflite_micro wheel is built
  without TFLITE_SINGLE_ROUNDING; the single-rounding formula differs by 1 LSB on ~1% of outputs.
- `activation_range`: CalculateActivationRangeQuantized (float32 division, round half away).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
# fused activation -> its real clamp (None: unbounded on that side)
ACTIVATION_BOUNDS = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


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


def wrap_int32(x: int) -> int:
    """x modulo 2^32 as a signed int32: what int32 addition and left shifts do in C."""
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
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap_int32(x << left), multiplier), right)


def rescale_int8(q: np.ndarray, input_offset: int, output_offset: int, multiplier: int, shift: int) -> np.ndarray:
    """int8 values in one quantization -> another: clamp(output_offset + MBQM(q + input_offset,
    multiplier, shift), -128, 127), element by element (a state fed back, docs/state.md)."""
    q = np.asarray(q)
    out = [output_offset + multiply_by_quantized_multiplier(int(v) + input_offset, multiplier, shift) for v in q.reshape(-1)]
    return np.clip(np.array(out, np.int64), -128, 127).reshape(q.shape)


def activation_range(activation: str, scale: float, zero_point: int, qmin: int = -128,
                     qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: a fused activation as an integer clamp."""
    lo, hi = ACTIVATION_BOUNDS[activation]
    s = np.float32(scale)

    def quantize(f: float) -> int:  # zero_point + round(f / scale), the division in float32
        return int(zero_point) + round_half_away(float(np.float32(f) / s))

    return (qmin if lo is None else max(qmin, quantize(lo)), qmax if hi is None else min(qmax, quantize(hi)))
