"""Cross-entropy, perplexity and next-token accuracy: the one scorer behind every quality
figure (validation during training, `tlmc eval`, the float vs int8 report of `tlmc quantize`).

Logits are scored in float64: log-softmax after subtracting each row's max, the target's
negative log-probability summed over batches. A <pad> target is never counted (what follows a
document is not a prediction the model is asked for).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..data.tokenizer import PAD


class Scorer:
    """Accumulates batches of (logits, targets); `result()` gives the figures.

    `parts` (name -> bool mask over stream positions) adds `ce_<name>`, the CE of the targets
    in that part; `token_chars` (characters each id prints as) adds `bpc`, bits per character
    of the text predicted, comparable across tokenizers. Both need the stream position of each
    target, passed to `add`. `per_target`, a list, receives each added batch's per-target
    negative log-likelihoods (nats, <pad> targets left out), in order."""

    def __init__(self, parts: dict[str, np.ndarray] | None = None, token_chars: np.ndarray | None = None,
                 per_target: list | None = None):
        self.per_target = per_target
        self.parts = dict(parts or {})
        self.token_chars = None if token_chars is None else np.asarray(token_chars)
        self.nll = 0.0  # nats, summed over counted targets
        self.correct = 0
        self.count = 0
        self.chars = 0
        self.part_nll = {k: 0.0 for k in self.parts}
        self.part_n = {k: 0 for k in self.parts}

    def add(self, logits: np.ndarray, targets: np.ndarray, positions: np.ndarray | None = None) -> None:
        """Score logits [..., V] against target ids [...]; `positions` [...] says where each
        target sits in the stream (needed with `parts`)."""
        if self.parts and positions is None:
            raise ValueError("Scorer.add: parts need the stream positions of the targets")
        z = np.asarray(logits, np.float64)
        z = z.reshape(-1, z.shape[-1])
        y = np.asarray(targets).reshape(-1)
        keep = y != PAD
        if positions is not None:
            positions = np.asarray(positions).reshape(-1)[keep]
        if not keep.all():
            z, y = z[keep], y[keep]
        if len(y) == 0:
            return
        z = z - z.max(axis=1, keepdims=True)
        # -log_softmax(z)[y] = log(sum(exp(z))) - z[y]
        nll = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]
        if self.per_target is not None:
            self.per_target.append(nll)
        self.nll += float(nll.sum())
        self.correct += int((z.argmax(axis=1) == y).sum())
        self.count += len(y)
        if self.token_chars is not None:
            self.chars += int(self.token_chars[y].sum())
        for k, mask in self.parts.items():
            m = mask[positions]
            self.part_nll[k] += float(nll[m].sum())
            self.part_n[k] += int(m.sum())

    def result(self) -> dict:
        """{"ce" (nats per target), "ppl", "acc", "n" (targets counted)} and, when asked,
        "ce_<part>" and "bpc"."""
        ce = self.nll / max(1, self.count)
        out = {"ce": ce, "ppl": float(np.exp(ce)), "acc": self.correct / max(1, self.count), "n": self.count}
        for k in self.parts:
            out[f"ce_{k}"] = self.part_nll[k] / max(1, self.part_n[k])
        if self.token_chars is not None:
            out["bpc"] = self.nll / np.log(2) / max(1, self.chars)
        return out


def score_batches(logits_fn: Callable[[np.ndarray], np.ndarray],
                  batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict:
    """The figures of a batched logits function over (inputs, targets) batches."""
    s = Scorer()
    for x, y in batches:
        s.add(logits_fn(x), y)
    return s.result()


def score_stream(pieces: Iterable[tuple[np.ndarray, np.ndarray]], stream: np.ndarray,
                 parts: dict[str, np.ndarray] | None = None, token_chars: np.ndarray | None = None,
                 per_target: list | None = None) -> dict:
    """The figures over (target positions, logits [n, V]) pieces of a token stream, such as
    `predict.stream_logits` and `export.stream.step_logits` yield (`per_target`: see Scorer)."""
    stream = np.asarray(stream)
    s = Scorer(parts, token_chars, per_target)
    for pos, logits in pieces:
        s.add(logits, stream[pos], pos)
    return s.result()


def ce_difference(base: list, other: list, bins: int = 41) -> dict:
    """How the per-target CE of `other` (int8) differs from `base`'s (float) on the same targets:
    both are lists of per-target NLL arrays (Scorer's `per_target`). Returns the mean, median,
    5th/95th percentile, largest |difference|, the shares of targets where int8 is worse, better
    and equal (within 1e-9 nats), and a histogram (`edges`, `counts`) over a range symmetric
    around 0 that holds the 1st to 99th percentiles (the rest counted in the outer bins)."""
    a = np.concatenate([np.asarray(x, np.float64) for x in base]) if base else np.zeros(0)
    b = np.concatenate([np.asarray(x, np.float64) for x in other]) if other else np.zeros(0)
    if len(a) != len(b):
        raise ValueError(f"ce_difference: {len(a)} and {len(b)} targets; score the same targets")
    if len(a) == 0:
        return {"n": 0}
    d = b - a
    lim = float(max(np.abs(np.percentile(d, [1, 99])).max(), 1e-3))
    edges = np.linspace(-lim, lim, bins + 1)
    counts, _ = np.histogram(np.clip(d, -lim, lim), edges)
    return {"n": int(len(d)), "mean": float(d.mean()), "median": float(np.median(d)),
            "p05": float(np.percentile(d, 5)), "p95": float(np.percentile(d, 95)),
            "max_abs": float(np.abs(d).max()), "worse": float((d > 1e-9).mean()), "better": float((d < -1e-9).mean()),
            "equal": float((np.abs(d) <= 1e-9).mean()),
            "hist": {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}}
