"""Integer-only token sampling, reproducible bit for bit on a microcontroller.

The algorithm is specified in docs/sampling.md; the C runtime implements the same steps
(firmware/tlm_sample.c) and the tests hold the two equal. Everything here is integer arithmetic
on the int8 logits; the only real numbers are folded into one integer constant per model
(`logit_k`) and one 256-entry table (`POW2_FRAC_Q16`) that Python computes and the generator
emits as C data, so the device never evaluates exp().
"""

from __future__ import annotations

import math

import numpy as np

U32 = 0xFFFFFFFF
SEED_ZERO = 0x9E3779B9  # replaces a zero seed: xorshift32 never leaves state 0

# The ranges a device's GEN accepts (firmware/tlm_protocol.c, docs/protocol.md); the host
# generates under the same ones, so a setting that works on the host works on the device.
GEN_TOKENS = (1, 4096)
GEN_SEED = (0, 2**31 - 1)
GEN_TEMPERATURE = (0.0, 100.0)  # sent in thousandths: temp_milli 0..100000
GEN_TOP_K = (0, 65535)


def check_generation(tokens: int, seed: int, temperature: float, top_k: int, *, min_tokens: int = GEN_TOKENS[0]) -> None:
    """UsageError (one line, exit 2) unless every setting is within the device's range."""
    from ..core.errors import UsageError

    def bad(option, value, lo, hi, what=""):
        raise UsageError(f"{option} {value}: must be from {lo} to {hi}{what} (the range a device accepts, "
                         f"docs/protocol.md)")

    if not min_tokens <= tokens <= GEN_TOKENS[1]:
        bad("--tokens", tokens, min_tokens, GEN_TOKENS[1])
    if not GEN_SEED[0] <= seed <= GEN_SEED[1]:
        bad("--seed", seed, *GEN_SEED)
    if not (math.isfinite(temperature) and GEN_TEMPERATURE[0] <= temperature <= GEN_TEMPERATURE[1]):
        bad("--temperature", temperature, GEN_TEMPERATURE[0], GEN_TEMPERATURE[1], ", 0 for greedy")
    if not GEN_TOP_K[0] <= top_k <= GEN_TOP_K[1]:
        bad("--top-k", top_k, GEN_TOP_K[0], GEN_TOP_K[1], ", 0 for all")


# 2^(-i/256) in Q16, i = 0..255: 65536 .. 32857
POW2_FRAC_Q16 = [int(round(65536 * 2.0 ** (-i / 256.0))) for i in range(256)]


def logit_k(output_scale: float) -> int:
    """scale * log2(e) * 2^16 * 1000, rounded: with temperature in thousandths, the per-LSB
    exponent step in Q16 is logit_k // temp_milli."""
    return int(round(output_scale * math.log2(math.e) * 65536 * 1000))


class XorShift32:
    """Marsaglia's xorshift32 (13, 17, 5)."""

    def __init__(self, seed: int):
        seed &= U32
        self.state = seed if seed else SEED_ZERO

    def next(self) -> int:
        x = self.state
        x ^= (x << 13) & U32
        x ^= x >> 17
        x ^= (x << 5) & U32
        self.state = x
        return x


def argmax(logits: np.ndarray) -> int:
    """Greedy: the largest logit, the lowest id on ties."""
    return int(np.argmax(np.asarray(logits, np.int32)))


def weights(logits: np.ndarray, temp_milli: int, top_k: int, k_const: int) -> list[int]:
    """Unnormalised integer weights (Q16) per id; 0 outside the top-k."""
    q = [int(v) for v in logits]
    n = len(q)
    keep = [True] * n
    if 0 < top_k < n:
        # the k largest; among equal logits the lower ids win
        order = sorted(range(n), key=lambda i: (-q[i], i))
        keep = [False] * n
        for i in order[:top_k]:
            keep[i] = True
    m = max(q[i] for i in range(n) if keep[i])
    step = k_const // temp_milli  # Q16 exponent (base 2) per logit LSB
    w = [0] * n
    for i in range(n):
        if not keep[i]:
            continue
        e = (m - q[i]) * step  # Q16, >= 0
        ip = e >> 16
        w[i] = 0 if ip >= 17 else POW2_FRAC_Q16[(e >> 8) & 0xFF] >> ip
    return w


def sample(logits: np.ndarray, rng: XorShift32, temp_milli: int, top_k: int, k_const: int) -> int:
    """One token id from int8 logits. temp_milli == 0 is greedy and draws no random number."""
    if temp_milli <= 0:
        return argmax(logits)
    w = weights(logits, temp_milli, top_k, k_const)
    total = sum(w)  # >= 65536: the maximum always weighs 2^16
    r = (rng.next() * total) >> 32
    acc = 0
    for i, wi in enumerate(w):
        acc += wi
        if r < acc:
            return i
    return len(w) - 1  # unreachable: r < total


def sample_float(logits: np.ndarray, rng: XorShift32, temperature: float, top_k: int) -> int:
    """Float-model sampling with the same PRNG (host only; not bit-matched to a device)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = np.asarray(logits, np.float64) / temperature
    if 0 < top_k < len(z):
        cut = np.sort(z)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    r = rng.next() / 2.0 ** 32
    return int(min(np.searchsorted(np.cumsum(p), r, side="right"), len(p) - 1))
