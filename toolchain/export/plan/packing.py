"""FULLY_CONNECTED constants as the `optimized` kernel set reads them (layout TLM_FC_PACKED4,
firmware/tlm_kernels.h): the input offset folded into the bias, rows interleaved by four."""

from __future__ import annotations

import numpy as np


def _wrap32(a: np.ndarray) -> np.ndarray:
    return ((np.asarray(a, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def fold_fc_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, weights_offset: int) -> np.ndarray:
    """int32 [C]: bias[c] + input_offset * sum_d w[c, d] + D * input_offset * weights_offset,
    wrapped to int32: every term of TFLM's sum that does not depend on the input, so the
    kernel's inner loop is a pure int8 dot product. Addition mod 2^32 is associative, so
    kernel sum + folded bias equals TFLM's wrapping int32 accumulator bit for bit. (The
    input-dependent weights_offset * sum(x) stays in the kernel; 0 for per-channel weights.)
    Plus the one weight-only term of the packed stream's own sum (packed_sum_weight_term)."""
    acc = np.asarray(weights, np.int64).sum(axis=1) * int(input_offset)
    acc += np.asarray(weights).shape[1] * int(input_offset) * int(weights_offset)
    acc -= packed_sum_weight_term(weights)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return _wrap32(acc)


def packed_sum_weight_term(w: np.ndarray) -> np.ndarray:
    """int64 [C]: what the kernels' sum over a TLM_FC_PACKED4 stream adds to dot(w, x) that
    depends on the weights alone: -128 * (w[c, 4g] + w[c, 4g + 2]) over the groups. The
    kernels' sum over the groups of four columns is dot + 128 * (x[4g+1] + x[4g+3]) - 128 *
    (w[4g] + w[4g+2]) (firmware/kernels/tlm_fc_dsp.c says why); they subtract the input part
    themselves, the folded bias cancels this part. The D % 4 tail columns add nothing."""
    w = np.asarray(w, np.int64)
    g = w.shape[1] // 4
    return -128 * w[:, :4 * g].reshape(len(w), g, 4)[:, :, 0::2].sum(axis=(1, 2))


def pack_fc_weights(w: np.ndarray) -> np.ndarray:
    """int8 [C, D] -> TLM_FC_PACKED4: zero rows pad C to a multiple of 4; each block of 4 rows
    is D // 4 groups of 16 bytes (group g: for each row, its bytes 4g+1 ^ 0x80, 4g, 4g+3 ^
    0x80, 4g+2: each 16-bit half of the word is then exactly 256 * w[2k] + w[2k+1] + 128,
    which kernels/tlm_fc_dsp.c multiplies as it stands), then the D % 4 tail columns row by
    row, unchanged. A kernel loading one input word serves four rows with it."""
    c, d = w.shape
    blocks = np.zeros((-(-c // 4) * 4, d), np.int8)
    blocks[:c] = w
    blocks = blocks.reshape(-1, 4, d)
    g = d // 4
    main = blocks[:, :, :4 * g].reshape(len(blocks), 4, g, 4)[..., [1, 0, 3, 2]].transpose(0, 2, 1, 3)
    main = main ^ np.array([-128, 0, -128, 0], np.int8)     # 0x80 flips the sign bit
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
