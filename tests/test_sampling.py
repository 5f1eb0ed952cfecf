"""The integer sampler: deterministic, distribution-shaped, and greedy at temperature 0."""

from __future__ import annotations

import math

import numpy as np

from toolchain.export import sampling


def test_xorshift32_known_sequence():
    r = sampling.XorShift32(1)
    assert [r.next() for _ in range(3)] == [270369, 67634689, 2647435461]


def test_zero_seed_is_replaced():
    assert sampling.XorShift32(0).state == sampling.SEED_ZERO


def test_pow2_table_endpoints():
    t = sampling.POW2_FRAC_Q16
    assert t[0] == 65536 and len(t) == 256 and all(a > b for a, b in zip(t, t[1:]))


def test_greedy_breaks_ties_by_lowest_id():
    assert sampling.argmax(np.array([3, 7, 7, -1], np.int8)) == 1
    r = sampling.XorShift32(5)
    assert sampling.sample(np.array([3, 7, 7], np.int8), r, 0, 0, 1000) == 1
    assert r.state == 5  # greedy draws nothing


def test_top_k_excludes_the_rest():
    logits = np.array([10, 50, 40, 49, -128], np.int8)
    w = sampling.weights(logits, 1000, 2, sampling.logit_k(0.1))
    assert [i for i, x in enumerate(w) if x] == [1, 3]


def test_empirical_distribution_follows_softmax():
    scale, temp = 0.05, 1.0
    logits = np.array([0, 10, 20, 30], np.int8)
    k = sampling.logit_k(scale)
    r = sampling.XorShift32(123)
    n = 40000
    counts = np.bincount([sampling.sample(logits, r, 1000, 0, k) for _ in range(n)], minlength=4)
    p = np.exp(logits * scale / temp)
    p /= p.sum()
    assert np.allclose(counts / n, p, atol=0.01), (counts / n, p)


def test_logit_k_value():
    assert sampling.logit_k(1.0) == round(math.log2(math.e) * 65536 * 1000)
