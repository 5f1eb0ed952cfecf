"""Float models over token streams: the one place that turns a Keras model (a student, a teacher,
or a user's saved model) into logits for every position of a stream, greedy decodes and samples.

Two kinds of model, told apart by their output rank:
- window: [B, K] ids -> [B, V]; position t is predicted from stream[t-K:t].
- sequence: [B, T] ids -> [B, T, V], causal; position t is predicted from the output at t - 1.
  A stream is cut into documents at each run of <pad> (a document starts with its pads, as a
  device starts from RESET), long documents into chunks that re-read `warm` tokens before them.
  Pieces are batched with right padding, which a causal model never sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import UsageError
from ..data.tokenizer import PAD
from ..core.tfenv import tf as _tf


@dataclass
class FloatLM:
    model: object  # keras.Model
    kind: str  # "window" | "sequence"
    context: int  # window: K; sequence: 0
    vocab: int
    name: str = "model"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False), np.float32)


def wrap(model, name: str = "model") -> FloatLM:
    shape_in, shape_out = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(shape_out) == 2:
        if len(shape_in) != 2 or shape_in[1] is None:
            raise UsageError(f"{name}: a [batch, vocab] output needs a fixed [batch, K] input, not {shape_in}")
        return FloatLM(model, "window", int(shape_in[1]), int(shape_out[1]), name)
    if len(shape_out) == 3:
        return FloatLM(model, "sequence", 0, int(shape_out[2]), name)
    raise UsageError(f"{name}: output shape {shape_out} is neither [batch, vocab] nor [batch, time, vocab]; "
                     f"a language model must output logits")


def load(path: Path, vocab: int | None = None) -> FloatLM:
    """A saved .keras model as a FloatLM; checks that it speaks this project's vocabulary."""
    tf = _tf()
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such Keras model file; train it first or fix the path")
    try:
        model = tf.keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - any loader failure is the file's problem
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: cannot load as a Keras model ({first[:160]}); save it with model.save('x.keras')") from None
    lm = wrap(model, str(path))
    if vocab is not None and lm.vocab != vocab:
        raise UsageError(f"{path}: outputs {lm.vocab} logits but this project's vocabulary has {vocab} tokens; "
                         f"train it on build/data/tokenizer.json's ids")
    return lm


def _doc_pieces(stream: np.ndarray, chunk: int, warm: int) -> list[tuple[int, int, int]]:
    """(start, keep_from, end): run the model on stream[start:end], keep outputs at >= keep_from."""
    n = len(stream)
    is_pad = stream == PAD
    # a document starts at the first <pad> of each run of <pad>s (and at 0)
    starts = np.flatnonzero(is_pad & np.concatenate([[True], ~is_pad[:-1]]))
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    ends = np.concatenate([starts[1:], [n]])
    pieces = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        for c in range(s, e, chunk):
            pieces.append((max(s, c - warm), c, min(e, c + chunk)))
    return pieces


def stream_logits(lm: FloatLM, stream: np.ndarray, batch: int = 256, chunk: int = 256,
                  warm: int = 64, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (target positions, logits [n, V]) for every position t >= 1 of `stream[:limit]`
    whose token is not <pad>; each position predicted from what precedes it in its document
    (window models: the last K tokens, which the <pad>s before a document fill)."""
    stream = np.asarray(stream, np.int64)
    n = len(stream) if limit is None else min(len(stream), limit)
    if lm.kind == "window":
        k = lm.context
        padded = np.concatenate([np.zeros(k, np.int64), stream[:n]])
        pos = np.flatnonzero(stream[:n] != PAD)
        pos = pos[pos >= 1]
        for s in range(0, len(pos), batch * 4):
            p = pos[s:s + batch * 4]
            x = padded[p[:, None] + np.arange(k)[None, :]].astype(np.int32)  # stream[p-k:p]
            yield p, lm(x)
        return
    pieces = _doc_pieces(stream[:n], chunk, warm)
    pieces.sort(key=lambda q: q[2] - q[0])  # similar lengths batch together
    for s in range(0, len(pieces), batch):
        group = pieces[s:s + batch]
        width = max(e - a for a, _, e in group)
        x = np.zeros((len(group), width), np.int32)
        for i, (a, _, e) in enumerate(group):
            x[i, :e - a] = stream[a:e]
        out = lm(x)
        tpos, rows = [], []
        for i, (a, keep, e) in enumerate(group):
            inp = np.arange(keep, e)  # input positions whose output we keep
            tgt = inp + 1
            ok = (tgt < n)
            inp, tgt = inp[ok], tgt[ok]
            ok = stream[tgt] != PAD
            inp, tgt = inp[ok], tgt[ok]
            tpos.append(tgt)
            rows.append(out[i, inp - a])
        if tpos:
            yield np.concatenate(tpos), np.concatenate(rows)


def _next_logits(lm: FloatLM, seqs: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Logits for the token after each row's first `lens[i]` ids (rows are right-padded)."""
    if lm.kind == "window":
        k = lm.context
        x = np.zeros((len(seqs), k), np.int32)
        for i, L in enumerate(lens):
            w = seqs[i, max(0, L - k):L]
            x[i, k - len(w):] = w
        return lm(x)
    width = int(lens.max())
    out = lm(seqs[:, :width].astype(np.int32))
    return out[np.arange(len(seqs)), lens - 1]


def decode(lm: FloatLM, prompts: list[list[int]], max_tokens: int, stop_id: int | None = None,
           batch: int = 128, temperature: float = 0.0, rng: np.random.Generator | None = None,
           banned: tuple[int, ...] = ()) -> list[list[int]]:
    """Continue every prompt (each starts as a device does after RESET: <pad> first for sequence
    models, an all-<pad> window for window models) for up to `max_tokens`, stopping a row at
    `stop_id` (kept). temperature 0: greedy (lowest id on ties); else sampled with `rng`.
    `banned` ids are never picked."""
    results: list[list[int]] = [[] for _ in prompts]
    lead = 1 if lm.kind == "sequence" else 0
    for s in range(0, len(prompts), batch):
        group = prompts[s:s + batch]
        width = lead + max(len(p) for p in group) + max_tokens
        seqs = np.zeros((len(group), width), np.int32)
        lens = np.zeros(len(group), np.int64)
        for i, p in enumerate(group):
            seqs[i, lead:lead + len(p)] = p
            lens[i] = lead + len(p)
        live = np.ones(len(group), bool)
        for _ in range(max_tokens):
            idx = np.flatnonzero(live)
            if len(idx) == 0:
                break
            logits = _next_logits(lm, seqs[idx], lens[idx]).astype(np.float64)
            if banned:
                logits[:, list(banned)] = -np.inf
            if temperature <= 0:
                picks = logits.argmax(axis=1)
            else:
                z = logits / temperature
                z -= z.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                u = rng.random(len(idx))[:, None]
                picks = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), p.shape[1] - 1)
            for j, i in enumerate(idx):
                seqs[i, lens[i]] = picks[j]
                lens[i] += 1
                results[s + i].append(int(picks[j]))
                if stop_id is not None and picks[j] == stop_id:
                    live[i] = False
    return results


class Stepper:
    """A registry architecture run one token at a time on a batch of rows (float, from its
    weights): O(1) work per token where re-reading a sequence is O(length). Window models keep
    the last K ids per row; step models keep their state rings (docs/state.md)."""

    def __init__(self, arch_name: str, weights: dict[str, np.ndarray], model_cfg: dict):
        from . import models

        tf = _tf()
        self.tf = tf
        self.arch = models.get(arch_name)
        self.m = model_cfg
        self.fn = self.arch.step_fn(weights, model_cfg, None)
        self.vocab = int(weights["logits/bias"].shape[0])

    def reset(self, rows: int) -> np.ndarray:
        """Start `rows` fresh documents; returns the logits for their first token."""
        if self.arch.kind == "window":
            self.window = np.zeros((rows, self.m["context"]), np.int32)
            return self._window_logits()
        self.rings = [[np.zeros((rows, w), np.float32) for _ in range(d)] for _, w, d in self.arch.states(self.m)]
        return self.step(np.zeros(rows, np.int32))

    def _window_logits(self) -> np.ndarray:
        return self.fn(self.tf.constant(self.window))["logits"].numpy()

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per row; returns the logits for the next one [rows, V]."""
        tokens = np.asarray(tokens, np.int32)
        if self.arch.kind == "window":
            self.window = np.concatenate([self.window[:, 1:], tokens[:, None]], axis=1)
            return self._window_logits()
        out = self.fn(self.tf.constant(tokens[:, None]), *[self.tf.constant(r[0]) for r in self.rings])
        for j, r in enumerate(self.rings):
            r.pop(0)
            r.append(out[f"s{j:02d}"].numpy())
        return out["a_logits"].numpy()


def sample_rows(stepper: Stepper, rows: int, max_tokens: int, rng: np.random.Generator, temperature: float,
                stop_id: int | None, banned: tuple[int, ...] = (), prompts: np.ndarray | None = None) -> np.ndarray:
    """Sample `rows` fresh documents of up to `max_tokens` ids ([rows, max_tokens], -1 after a
    row's `stop_id`, which is kept). `prompts` [rows, P] are fed first and not returned."""
    logits = stepper.reset(rows)
    if prompts is not None:
        for j in range(prompts.shape[1]):
            logits = stepper.step(prompts[:, j])
    out = np.full((rows, max_tokens), -1, np.int64)
    live = np.ones(rows, bool)
    for t in range(max_tokens):
        z = logits.astype(np.float64) / temperature
        if banned:
            z[:, list(banned)] = -np.inf
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random(rows)[:, None]
        picks = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), p.shape[1] - 1)
        out[live, t] = picks[live]
        if stop_id is not None:
            live &= picks != stop_id
        if not live.any():
            break
        logits = stepper.step(picks)
    return out
