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
    target, passed to `add`."""

    def __init__(self, parts: dict[str, np.ndarray] | None = None, token_chars: np.ndarray | None = None):
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
                 parts: dict[str, np.ndarray] | None = None, token_chars: np.ndarray | None = None) -> dict:
    """The figures over (target positions, logits [n, V]) pieces of a token stream, such as
    `predict.stream_logits` and `export.stream.step_logits` yield."""
    stream = np.asarray(stream)
    s = Scorer(parts, token_chars)
    for pos, logits in pieces:
        s.add(logits, stream[pos], pos)
    return s.result()
