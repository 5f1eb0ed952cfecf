"""Tokenizers: a learned character vocabulary, or raw bytes.

Id 0 is always <pad>: the value a fresh context window holds before any text (the device's
RESET state). A char tokenizer reserves id 1 for <unk>, which any character outside its
vocabulary maps to; the byte tokenizer maps byte b to id b + 1 and needs no <unk>.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import UsageError
from .fsutil import atomic_write_json

PAD = 0
UNK = 1
UNK_TEXT = "\ufffd"


@dataclass
class Tokenizer:
    kind: str  # "char" | "byte"
    chars: list[str]  # char: the vocabulary, index = id (ids 0 and 1 are "" placeholders)

    @property
    def vocab_size(self) -> int:
        return 257 if self.kind == "byte" else len(self.chars)

    @classmethod
    def learn(cls, texts: Iterable[str], kind: str = "char", max_vocab: int = 96) -> "Tokenizer":
        """Build from training text: the most frequent characters (ties: lowest code point) up
        to max_vocab - 2 of them, then sorted by code point so ids are stable and readable."""
        if kind == "byte":
            return cls(kind="byte", chars=[])
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], ord(kv[0])))
        keep = sorted(c for c, _ in ranked[: max(0, max_vocab - 2)])
        return cls(kind="char", chars=["", ""] + keep)

    def __post_init__(self) -> None:
        self._index = {c: i for i, c in enumerate(self.chars) if i >= 2}

    def encode(self, text: str) -> np.ndarray:
        if self.kind == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + 1
        idx = self._index
        return np.fromiter((idx.get(c, UNK) for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Text of `ids` (<pad> dropped). Byte level: invalid UTF-8 is replaced, or raises
        UnicodeDecodeError with errors="strict"."""
        ids = [int(i) for i in ids]
        if self.kind == "byte":
            return bytes(i - 1 for i in ids if 1 <= i <= 256).decode("utf-8", errors=errors)
        out = []
        for i in ids:
            if i == PAD:
                continue
            out.append(self.chars[i] if 2 <= i < len(self.chars) else UNK_TEXT)
        return "".join(out)

    def token_text(self, i: int) -> bytes:
        """UTF-8 bytes one id prints as (the device's token table uses this)."""
        if self.kind == "byte":
            return bytes([i - 1]) if 1 <= i <= 256 else b""
        if i == PAD:
            return b""
        return (self.chars[i] if 2 <= i < len(self.chars) else UNK_TEXT).encode("utf-8")

    def to_json(self) -> dict:
        return {"kind": self.kind, "chars": self.chars[2:] if self.kind == "char" else []}

    @classmethod
    def from_json(cls, obj: dict) -> "Tokenizer":
        if obj["kind"] == "byte":
            return cls(kind="byte", chars=[])
        return cls(kind="char", chars=["", ""] + list(obj["chars"]))

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(f"{path}: unreadable tokenizer ({e}); rerun 'tlmc train' to rebuild it") from None
