"""Parses of the commands recipe: `<utterance> => <command>` lines, decoded greedily.

A device answers `CMD <utterance>` (docs/protocol.md) by resetting the model, pushing the tokens
of `utterance + " => "` and decoding greedily until the token for LF or `MAX_TOKENS` tokens.
`decode_int8` is the host reference: the same loop as `tlmc generate --int8` (generate.py) on
TFLM with the int8 model, the arithmetic the device runs, so the two agree byte for byte.
`heldout_commands` reads (utterance, command) pairs back from a split the model did not train on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import generate, interp, recipes, sampling, stream, tflite_model
from .errors import TlmcError
from .tokenizer import PAD, UNK_TEXT, Tokenizer

MAX_TOKENS = 64  # firmware/tlm_protocol.c MAX_CMD_TOKENS; a device reports its own as INFO cmd_max


@dataclass
class Parse:
    text: str  # the decoded command, the final LF excluded
    ids: list[int]  # every decoded id, the final LF included
    complete: bool  # decoding stopped at the LF token (not at max_tokens)


def prompt(utterance: str) -> str:
    """The text pushed before decoding: what the model saw before each command in training."""
    return utterance + recipes.SEPARATOR


class Int8Decoder:
    """Greedy parses of one build's int8 model on TFLM; loads the model once."""

    def __init__(self, build: Path):
        build = Path(build)
        path = build / "quantize" / "model.tflite"
        if not path.is_file():
            raise TlmcError(f"{path}: not built; run 'tlmc quantize' first")
        self.tok = Tokenizer.load(build / "data" / "tokenizer.json")
        buf = path.read_bytes()
        model = tflite_model.parse(buf, str(path))
        sig = stream.read_signature(build)
        self.step_model = sig["kind"] == "step"
        if self.step_model:
            self.runner = stream.StepRunner(buf, sig, "tflm")
            logits_t = model.tensors[model.outputs[sig["logits_output"]]]
        else:
            self.runner = interp.Runner(buf, "tflm")
            self.context = model.tensors[model.inputs[0]].shape[-1]
            logits_t = model.tensors[model.outputs[0]]
        self.k_const = sampling.logit_k(float(logits_t.scale[0]))
        self.newline = {i for i in range(self.tok.vocab_size) if self.tok.token_text(i) == b"\n"}

    def pick(self, logits) -> int:
        # temperature 0: greedy, no random number drawn (docs/sampling.md), as GEN ... 0 0 picks
        return sampling.sample(logits, sampling.XorShift32(1), 0, 0, self.k_const)

    def __call__(self, utterance: str, max_tokens: int = MAX_TOKENS) -> Parse:
        if not utterance:
            raise ValueError("an empty utterance has no parse (the device answers ERR bad-args)")
        ids = self.tok.encode(prompt(utterance)).tolist()
        stop = self.newline.__contains__
        if self.step_model:
            out = generate.generate_steps(self.runner, ids, max_tokens, self.pick, stop)
        else:
            out = generate.generate_ids(self.runner, self.context, ids, max_tokens, self.pick, stop)
        complete = bool(out) and out[-1] in self.newline
        return Parse(self.tok.decode(out[:-1] if complete else out), out, complete)


def decode_int8_parses(build: Path, utterances: list[str], max_tokens: int = MAX_TOKENS) -> list[Parse]:
    dec = Int8Decoder(build)
    return [dec(u, max_tokens) for u in utterances]


def decode_int8(build: Path, utterances: list[str], max_tokens: int = MAX_TOKENS) -> list[str]:
    """The command text a device's `CMD <utterance>` answers, for each utterance."""
    return [p.text for p in decode_int8_parses(build, utterances, max_tokens)]


def heldout_commands(build: Path, split: str = "val", limit: int | None = None) -> list[tuple[str, str]]:
    """(utterance, command) pairs of the token stream `split` of build/data/streams.npz, in
    order: its documents (runs of ids between <pad>s) decoded and cut into LF-terminated lines;
    lines that are not `<utterance> => <command>` or hold an unknown character are skipped.
    [] if the stream or the file is absent (a project that is not a commands project)."""
    path = Path(build) / "data" / "streams.npz"
    if not path.is_file():
        return []
    with np.load(path) as z:
        if split not in z.files:
            return []
        ids = np.asarray(z[split])
    tok = Tokenizer.load(Path(build) / "data" / "tokenizer.json")
    text = (ids != PAD).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], text, [0]))))
    pairs: list[tuple[str, str]] = []
    for start, end in zip(edges[::2], edges[1::2]):
        for line in tok.decode(ids[start:end]).split("\n")[:-1]:  # the last piece has no LF
            if UNK_TEXT in line:
                continue
            try:
                utterance, command = recipes.parse_line(line)
            except ValueError:
                continue
            if utterance and command:
                pairs.append((utterance, command))
                if limit is not None and len(pairs) >= limit:
                    return pairs
    return pairs
