"""Limits checked before work: a model this machine cannot train, or that cannot fit the
project's board, is refused from its config alone, before TensorFlow starts.

Every field of tlm.toml has its own range, but fields within their ranges can still multiply
to a model no one can train here: context 512 x embed 1024 x hidden [4096] x 8 is 2.27
billion parameters. `check` estimates the parameters (train/models.py's shapes, nothing
allocated) and the memory training takes, and refuses (ConfigError, exit 2) with the numbers
and the fields to shrink:

- at most MAX_PARAMS parameters: tlmc compiles every weight into C arrays for a
  microcontroller (the largest board holds about 2 MB); a teacher is trained on the host only
  but the same bound keeps it a tiny model's teacher;
- training memory (float32 weights, gradients and Adam's two moments: 16 B per parameter,
  plus a batch of activations) within what this machine has available;
- the deployed student's int8 weights (about a byte per parameter) within the flash budget of
  `[board] id`, when that board has one.
"""

from __future__ import annotations

import os

import numpy as np

from ..core.config import WINDOW_ARCHS
from ..core.errors import ConfigError
from . import models

MAX_PARAMS = 100_000_000
BYTES_PER_PARAM = 16  # float32 weight, gradient and two Adam moments
ACTIVATION_COPIES = 3  # forward activations, their gradients, and the logits' softmax


def estimate(m: dict, vocab: int) -> tuple[int, int]:
    """(params, MACs per token) of a model config, with stand-in arrays that allocate nothing."""
    arch = models.get(m["arch"])
    stand_in = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), shape=s, strides=(0,) * len(s))
                for k, s in arch.shapes(m, vocab).items()}
    return arch.count(stand_in, m)


def training_bytes(m: dict, t: dict, vocab: int, params: int) -> int:
    """About how much memory training takes: the optimizer's state plus one batch's activations."""
    width = m["embed"] + sum(m["hidden"]) * (3 if m["arch"] in ("gru", "lstm") else 1) + vocab
    if m["arch"] in WINDOW_ARCHS:
        per_example = m["context"] * m["embed"] + width
    else:
        per_example = t["seq_len"] * width
    return BYTES_PER_PARAM * params + 4 * ACTIVATION_COPIES * t["batch"] * per_example


def available_bytes() -> int | None:
    """Memory this machine can give a new process now (MemAvailable), else its physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def _model_fields(section: str, m: dict, vocab_field: str) -> str:
    hidden = m["hidden"]
    h = f"{len(hidden)} x {hidden[0]}" if len(set(hidden)) == 1 and len(hidden) > 1 else str(hidden)
    parts = [f"hidden ({h})", f"embed ({m['embed']})"]
    if m["arch"] in WINDOW_ARCHS:
        parts.append(f"context ({m['context']})")
    return f"{section} " + ", ".join(parts) + f" or {vocab_field}"


def check(m: dict, t: dict, vocab: int, *, section: str = "[model]", train_section: str = "[train]",
          where: str = "tlm.toml", board=None, vocab_field: str = "[tokenizer] vocab_size") -> dict:
    """Refuse (ConfigError) a model too big to train here, or for `board` (a core.boards.Board
    whose flash budget bounds the int8 weights; None: no board check). Returns the estimate:
    {params, macs_per_token, training_bytes}."""
    params, macs = estimate(m, vocab)
    need = training_bytes(m, t, vocab, params)
    have = available_bytes()
    fields = _model_fields(section, m, vocab_field)
    if params > MAX_PARAMS:
        raise ConfigError(f"{where}: {section} is too big: about {params:,} parameters, tlmc trains at most "
                          f"{MAX_PARAMS:,} (training would take about {_gb(need)}); shrink {fields}")
    if have is not None and need > have:
        batch = f"{train_section} batch ({t['batch']})" + (f" or seq_len ({t['seq_len']})"
                                                            if m["arch"] not in WINDOW_ARCHS else "")
        raise ConfigError(f"{where}: training {section} takes about {_gb(need)} of memory ({params:,} parameters), "
                          f"this machine has {_gb(have)} available; lower {batch}, or shrink {fields}")
    if board is not None:
        flash = board.budget(core_linked=False)["flash_bytes"]
        if flash is not None and params > flash:
            raise ConfigError(f"{where}: {section} does not fit board {board.id}: about {params:,} B of int8 "
                              f"weights, the board has {flash:,} B of flash for the application; shrink {fields}, "
                              f"or pick a bigger board ([board] id)")
    return {"params": params, "macs_per_token": macs, "training_bytes": need}
