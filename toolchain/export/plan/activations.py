"""LOGISTIC and TANH for int8: gemmlowp's fixed-point functions, tabulated per input value.

TFLM semantics: CalculateArithmeticOpDataLogistic / TanhPrepare (input multiplier from
frexp(scale * 2^27), CalculateInputRadius) and reference_integer_ops::Logistic / Tanh, which
evaluate gemmlowp's fixed-point logistic / tanh (fixedpoint/fixedpoint.h) on a Q4.27 input. An
int8 input has 256 values, so the plan evaluates that algorithm once per value and the C
runtime looks the answer up (a 256-byte table per op): bit-exact by construction, and no 64-bit
arithmetic on the device.

A raw int32 with k integer bits represents raw / 2^(31 - k). Additions wrap like int32.
"""

from __future__ import annotations

import math

import numpy as np

from .fixedpoint import (INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier, round_half_away,
                         rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap_int32)


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
    x = wrap_int32(a + (1 << 28))
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap_int32(mul(wrap_int32(x4_over_4 + x3), one_third) + x2), 1)
    return wrap_int32(constant_term + mul(constant_term, wrap_int32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))  # (e, exp(-2^e) in Q0.31)


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 with `integer_bits` (4 or 5) integer bits -> Q0.31."""
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = wrap_int32((a & (quarter - 1)) - quarter)
    result = _exp_on_quarter_interval(_sat_rounding_mul_by_pot(a_mod, integer_bits))
    remainder = wrap_int32(a_mod - a)
    for e, m in _EXP_BARREL:
        if integer_bits > e and remainder & (1 << (frac + e)):
            result = saturating_rounding_doubling_high_mul(result, m)
    return INT32_MAX if a == 0 else result


def _newton_reciprocal(a: int) -> int:
    """1 / (1 + a) for a in (0, 1) Q0.31, as Q2.29: three Newton-Raphson steps."""
    mul = saturating_rounding_doubling_high_mul
    total = a + INT32_MAX  # RoundingHalfSum(a, One): (sum + sign) / 2, truncating
    half_den = (total + 1) // 2 if total >= 0 else -((1 - total) // 2)
    x = wrap_int32(1515870810 + mul(half_den, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - mul(half_den, x))
        x = wrap_int32(x + _sat_rounding_mul_by_pot(mul(x, one_minus), 2))
    return x


def fixed_logistic(a: int) -> int:
    """gemmlowp::logistic of a Q4.27 raw value, a Q0.31 raw result."""
    if a == 0:
        return 1 << 30
    positive = a > 0
    e = _exp_on_negative_values(wrap_int32(-a) if positive else a, 4)
    result = _sat_rounding_mul_by_pot(_newton_reciprocal(e), 1)  # 1 / (1 + e)
    return result if positive else wrap_int32(INT32_MAX - result)


def fixed_tanh(a: int) -> int:
    """gemmlowp::tanh of a Q4.27 raw value, a Q0.31 raw result."""
    if a == 0:
        return 0
    negative = a < 0
    e = _exp_on_negative_values(a if negative else wrap_int32(-a), 5)  # exp(-2|x|): the same raw, Q5.26
    t = _sat_rounding_mul_by_pot(wrap_int32(_newton_reciprocal(e) - (1 << 29)), 2)  # (1 - e) / (1 + e)
    return wrap_int32(-t) if negative else t


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
