"""What each folder of build/ is, which command rebuilds it, and how two stage inputs differ.

Every stage writes its outputs into one folder of build/ and a `stamp.json` there last
(core/fsutil.py): the hash of its inputs, the inputs themselves and the content hash of each
file it wrote. This module holds the facts about stages that the readers need to word their
errors: the command that rebuilds a folder, the shape each artifact must have, and which
input changed between a stamp and tlm.toml as it is now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# stage folder -> the command that rebuilds it from scratch
REBUILD = {
    "data": "tlmc train",  # the data stage checks its own files and prepares again when one is damaged
    "train": "tlmc train --force",
    "teacher": "tlmc train --teacher --force",
    "distill": "tlmc distill --force",
    "synth": "tlmc synth --force",
    "quantize": "tlmc quantize --force",
}

# The shape of an artifact: for JSON, the type and the keys it must hold; for .npz, the arrays
# and how many dimensions each has (None: any). Looked up as "<stage>/<file>", then "<file>".
JSON_KEYS: dict[str, tuple[str, ...]] = {
    "stamp.json": ("hash",),
    "quantize/report.json": ("model_hash",),  # readers needing more name it (read_json keys=)
    "metrics.json": ("arch", "params", "vocab_size", "val_ce", "val_ppl", "val_acc"),
    "signature.json": ("kind",),
    "signature_float.json": ("kind",),
    "data/heldout.json": ("random", "compositional"),
    "data/tokenizer.json": (),
    "checkpoint.json": ("hash", "step", "n_weights"),
}
NPZ_ARRAYS: dict[str, dict[str, int | None]] = {
    "data/streams.npz": {"train": 1, "val": 1},
    "weights.npz": {"embedding": 2, "logits/kernel": 2, "logits/bias": 1},
    "quantize/golden.npz": {"inputs": None, "outputs": None},
    "distill/soft_targets.npz": {"ids": 2, "logits": 2},
    "synth/synth.npz": {"stream": 1},
}


def stage_of(path: Path | str) -> tuple[str | None, str | None]:
    """(stage folder, board id) of a path inside a build folder: ("train", None) for
    build/train/weights.npz, (None, "host") for build/host/tlm, (None, None) elsewhere."""
    parts = Path(path).parts
    dirs = parts[:-1]
    if "build" in dirs:
        i = len(dirs) - 1 - dirs[::-1].index("build")
        if i + 1 < len(dirs):
            first = dirs[i + 1]
            return (first, None) if first in REBUILD else (None, first)
    parent = Path(path).parent.name
    return (parent, None) if parent in REBUILD else (None, None)


def rebuild_command(path: Path | str) -> str:
    """The command that rebuilds the artifact at `path`."""
    stage, board = stage_of(path)
    if stage:
        return REBUILD[stage]
    if board:
        return f"tlmc build --board {board}"
    return "tlmc build"


def make_command(path: Path | str) -> str:
    """The command that makes the artifact at `path` (reusing what is current)."""
    return rebuild_command(path).replace(" --force", "")


def shape_key(path: Path | str, table: dict) -> Any:
    p = Path(path)
    return table.get(f"{p.parent.name}/{p.name}", table.get(p.name))


def _flat(obj: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(obj, dict) and obj:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, prefix + (str(k),)))
        return out
    return {prefix: obj}


def _show(v: Any) -> str:
    s = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:37] + "..."


def describe_change(old: dict | None, new: dict, labels: dict[str, str] | None = None, limit: int = 3) -> str:
    """Which inputs differ between a stamp's `old` inputs and the `new` ones, as people read
    them: "[model] hidden changed ([48] -> [64]), [train] steps changed (240 -> 300)". A
    top-level key that is a tlm.toml section reads as "[section] field"; other keys read as
    `labels` names them (a hash of an earlier stage: "the training data"). `old` None (a
    stamp from before tlmc recorded inputs): "its inputs changed"."""
    if not isinstance(old, dict):
        return "its inputs changed"
    from .config import SCHEMA

    labels = labels or {}
    a, b = _flat(old), _flat(new)
    parts: list[str] = []
    for key in sorted(set(a) | set(b), key=lambda k: (k[0] not in SCHEMA, k)):
        if a.get(key, "<none>") == b.get(key, "<none>"):
            continue
        top = key[0] if key else ""
        if top in labels:
            text = f"{labels[top]} changed"
        elif top in SCHEMA and len(key) >= 2:
            text = (f"[{top}] {'.'.join(key[1:])} changed ({_show(a.get(key, 'unset'))} -> "
                    f"{_show(b.get(key, 'unset'))})")
        else:
            text = f"{'.'.join(key) or 'its inputs'} changed"
        if text not in parts:
            parts.append(text)
    if not parts:
        return "its inputs changed"
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more
