"""Parses of a commands project (a grammar, the built-in one included): `<utterance> => <command>` lines, decoded greedily.

A device answers `CMD <utterance>` (docs/protocol.md) by resetting the model, pushing the tokens
of `utterance + " =>"` and decoding greedily until the token for LF or `MAX_TOKENS` tokens; the
answer is the decoded text without the LF and without the one space that follows the separator.
The prompt stops before that space because a word or BPE tokenizer makes it part of the
command's first token (" oven"), so a prompt ending in a lone " " would be text the model never
saw. `decode_int8` is the host reference: the same loop as `tlmc generate --int8` (generate.py)
on TFLM with the int8 model, the arithmetic the device runs, so the two agree byte for byte.
`heldout_commands` reads the held-out (utterance, command) pairs the data stage wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..export import generate
from ..export import interp
from ..data import lines
from ..export import sampling
from ..export import stream
from ..export import tflite_model
from ..core.errors import TlmcError
from ..data.tokenizer import Tokenizer

MAX_TOKENS = 64  # firmware/tlm_protocol.c MAX_CMD_TOKENS; a device reports its own as INFO cmd_max


@dataclass
class Parse:
    text: str  # the decoded command, the final LF excluded
    ids: list[int]  # every decoded id, the final LF included
    complete: bool  # decoding stopped at the LF token (not at max_tokens)


def prompt(utterance: str) -> str:
    """The text pushed before decoding: what the model saw before each command in training."""
    return utterance + lines.PROMPT_END


def command_text(decoded: str) -> str:
    """The command in the decoded continuation of a prompt: up to the first LF, the space
    after the separator dropped."""
    text = decoded.split("\n", 1)[0]
    return text[1:] if text.startswith(" ") else text


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
        return Parse(command_text(self.tok.decode(out[:-1] if complete else out)), out, complete)


def decode_int8_parses(build: Path, utterances: list[str], max_tokens: int = MAX_TOKENS) -> list[Parse]:
    dec = Int8Decoder(build)
    return [dec(u, max_tokens) for u in utterances]


def decode_int8(build: Path, utterances: list[str], max_tokens: int = MAX_TOKENS) -> list[str]:
    """The command text a device's `CMD <utterance>` answers, for each utterance."""
    return [p.text for p in decode_int8_parses(build, utterances, max_tokens)]


def heldout_commands(build: Path, split: str = "random", limit: int | None = None) -> list[tuple[str, str]]:
    """(utterance, command) pairs the data stage held out (build/data/heldout.json): split
    "random" (validation lines whose utterance never occurs word for word in training) or
    "compositional" (held-out (command, target) pairs). [] when absent (not a commands
    project, or a split it does not have)."""
    path = Path(build) / "data" / "heldout.json"
    if not path.is_file():
        return []
    from ..core.fsutil import read_json

    try:
        pairs = read_json(path).get(split, [])
    except (ValueError, AttributeError):
        raise TlmcError(f"{path}: unreadable; rerun 'tlmc train' to rebuild the data stage") from None
    return [(str(u), str(c)) for u, c in pairs[:limit]]
