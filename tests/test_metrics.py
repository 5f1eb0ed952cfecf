"""The one scorer (toolchain/train/metrics.py) and the one int8 figure of a project."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolchain.export import stream as stream_mod
from toolchain.train import metrics, predict

V = 12


def _log_softmax_nll(row: np.ndarray, target: int) -> float:
    top = max(row)
    return math.log(sum(math.exp(v - top) for v in row)) - (row[target] - top)


def test_scorer_equals_a_direct_log_softmax_and_skips_pad_targets():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (5, 7, V)).astype(np.float32)
    targets = rng.integers(0, V, (5, 7))
    targets[0, :3] = 0
    positions = np.arange(35).reshape(5, 7)
    part = rng.random(35) < 0.4
    chars = rng.integers(1, 4, V)
    s = metrics.Scorer(parts={"x": part}, token_chars=chars)
    s.add(logits[:2], targets[:2], positions[:2])
    s.add(logits[2:], targets[2:], positions[2:])
    r = s.result()

    rows = [(logits[i, j].astype(np.float64), int(targets[i, j]), int(positions[i, j]))
            for i in range(5) for j in range(7) if targets[i, j] != 0]
    nll = [_log_softmax_nll(z, y) for z, y, _ in rows]
    assert r["n"] == len(rows)
    assert r["ce"] == pytest.approx(sum(nll) / len(rows), rel=1e-12)
    assert r["ppl"] == pytest.approx(math.exp(r["ce"]), rel=1e-12)
    assert r["acc"] == sum(int(np.argmax(z) == y) for z, y, _ in rows) / len(rows)
    in_part = [n for n, (_, _, p) in zip(nll, rows) if part[p]]
    assert r["ce_x"] == pytest.approx(sum(in_part) / len(in_part), rel=1e-12)
    assert r["bpc"] == pytest.approx(sum(nll) / math.log(2) / sum(chars[y] for _, y, _ in rows), rel=1e-12)


def test_scorer_of_nothing_is_zero_not_an_error():
    assert metrics.Scorer().result() == {"ce": 0.0, "ppl": 1.0, "acc": 0.0, "n": 0}


def test_scorer_refuses_parts_without_positions():
    s = metrics.Scorer(parts={"x": np.ones(4, bool)})
    with pytest.raises(ValueError):
        s.add(np.zeros((2, V)), np.array([1, 2]))


class _CountingRunner:
    """A stand-in step model: its logits favour (tokens stepped since the last reset) mod V."""

    def __init__(self):
        self.n = 0

    def reset(self) -> None:
        self.n = 0

    def step(self, token: int) -> np.ndarray:
        self.n += 1
        row = np.zeros(V, np.float32)
        row[self.n % V] = 5.0
        return row


def test_step_logits_scores_the_positions_the_float_models_are_scored_on():
    rng = np.random.default_rng(5)
    stream = rng.integers(1, V, 400)
    stream[rng.random(400) < 0.1] = 0
    stream[:3] = 0
    window = predict.FloatLM(lambda x, training=False: np.zeros((len(x), V), np.float32), "window", 4, V)
    for limit in (1, 2, 150, 400, 10_000):
        want = np.concatenate([p for p, _ in predict.stream_logits(window, stream, limit=limit)] or [np.zeros(0)])
        pieces = list(stream_mod.step_logits(_CountingRunner(), stream, limit, block=32))
        got = np.concatenate([p for p, _ in pieces] or [np.zeros(0)])
        assert got.tolist() == want.tolist()
        assert all(z.dtype == np.float64 and z.shape == (len(p), V) for p, z in pieces)


def test_step_logits_starts_a_document_at_every_pad():
    stream = np.array([0, 0, 5, 6, 7, 0, 8, 9])
    (pos, z), = stream_mod.step_logits(_CountingRunner(), stream, len(stream))
    assert pos.tolist() == [2, 3, 4, 6, 7]
    # steps since the last reset when each target is predicted: the pad, then its text
    assert z.argmax(axis=1).tolist() == [1, 2, 3, 1, 2]


@pytest.mark.slow
def test_eval_shows_the_int8_figure_quantize_reported(tiny_quantized):
    from toolchain.quality import evaluate

    p, _, report = tiny_quantized
    r = evaluate.run(p.cfg, p.build, tokens=p.cfg["quantize"]["eval_samples"])
    e = r["entries"]["scratch_int8"]
    assert (e["ce"], e["ppl"], e["acc"], e["n"]) == (report["int8_ce"], report["int8_ppl"], report["int8_acc"],
                                                     report["eval_windows"])
