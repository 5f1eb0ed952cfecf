"""Tokenizers: characters, bytes, words or BPE subwords (docs/tokenizers.md is the contract).

Id 0 is always <pad>: the value a fresh context window holds before any text (the device's
RESET state). Id 1 is <unk> for every kind but `byte`, which maps byte b to id b + 1.

- `char`: a learned character vocabulary; any other character is <unk>.
- `byte`: the 256 byte values.
- `word`: every piece of the pre-tokenization below is one token, or <unk> when it is not in
  the vocabulary (seen fewer than `min_count` times, or beyond `vocab_size`).
- `bpe`: the pieces are split into characters and merged by learned merge ranks, as the
  HuggingFace `tokenizers` BPE model does; characters never seen in training are <unk>.

Word and BPE vocabularies are trained, and text encoded, by HuggingFace `tokenizers`; its own
tokenizer.json is the saved file, so the library is the host reference the device must match.
The pre-tokenization is one regular expression, simple enough to reproduce in C:

    PIECE = " ?[A-Za-z]+| ?[0-9]| ?[^A-Za-z0-9 ]| "

a run of ASCII letters, one digit or one other character, each with the space before it
if there is one; a space not followed by such a piece stands alone. With `lowercase`, ASCII
A-Z become a-z first (and only those: the device folds no other letters). Decoding is the
same for every kind: the concatenated UTF-8 bytes of the ids' token texts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..core.errors import UsageError
from ..core.fsutil import atomic_write_json

PAD = 0
UNK = 1
UNK_TEXT = "\ufffd"
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
PIECE = r" ?[A-Za-z]+| ?[0-9]| ?[^A-Za-z0-9 ]| "
KINDS = ("char", "byte", "word", "bpe")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def hf_template(kind: str, lowercase: bool):
    """An untrained HuggingFace tokenizer with tlmc's normalizer and pre-tokenizer."""
    from tokenizers import Regex, Tokenizer as HF, models, normalizers, pre_tokenizers

    hf = HF(models.WordLevel(unk_token=UNK_TOKEN) if kind == "word" else models.BPE(unk_token=UNK_TOKEN))
    if lowercase:  # ASCII only, as the device does it (normalizers.Lowercase folds all of Unicode)
        hf.normalizer = normalizers.Sequence(
            [normalizers.Replace(chr(c), chr(c + 32)) for c in range(ord("A"), ord("Z") + 1)])
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE), behavior="isolated")
    return hf


def _hf_kind(obj: dict) -> str:
    kind = {"WordLevel": "word", "BPE": "bpe"}.get(obj.get("model", {}).get("type"))
    if kind is None:
        raise ValueError(f"model type {obj.get('model', {}).get('type')!r} is not WordLevel or BPE")
    return kind


@dataclass
class Tokenizer:
    kind: str  # "char" | "byte" | "word" | "bpe"
    chars: list[str]  # char: the vocabulary, index = id (ids 0 and 1 are "" placeholders)
    lowercase: bool = False  # fold ASCII A-Z to a-z before encoding
    hf_json: str = ""  # word / bpe: the HuggingFace tokenizer.json

    # ---- construction ------------------------------------------------------------------

    @classmethod
    def learn(cls, texts: Iterable[str], kind: str = "char", max_vocab: int = 96, *, vocab_size: int = 1024,
              min_count: int = 2, lowercase: bool = False) -> "Tokenizer":
        """Build from training text. char: the most frequent characters (ties: lowest code
        point) up to max_vocab - 2 of them, sorted by code point so ids are stable and
        readable. word / bpe: trained by HuggingFace tokenizers to at most vocab_size ids
        (the two specials included), keeping pieces / merges seen at least min_count times."""
        if kind == "byte":
            return cls(kind="byte", chars=[], lowercase=lowercase)
        if kind == "char":
            counts: Counter[str] = Counter()
            for t in texts:
                counts.update(t.translate(_ASCII_LOWER) if lowercase else t)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], ord(kv[0])))
            keep = sorted(c for c, _ in ranked[: max(0, max_vocab - 2)])
            return cls(kind="char", chars=["", ""] + keep, lowercase=lowercase)
        if kind not in KINDS:
            raise UsageError(f"tokenizer kind {kind!r}: must be one of {', '.join(KINDS)}")
        from tokenizers import trainers

        hf = hf_template(kind, lowercase)
        specials = [PAD_TOKEN, UNK_TOKEN]
        if kind == "word":
            trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_count,
                                                special_tokens=specials, show_progress=False)
        else:
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_count,
                                          special_tokens=specials, show_progress=False)
        hf.train_from_iterator(list(texts), trainer)
        tok = cls.from_json(json.loads(hf.to_str()))
        if tok.vocab_size > vocab_size:  # BPE keeps every character it saw, whatever the size
            raise UsageError(f"[tokenizer] vocab_size = {vocab_size} is below the {tok.vocab_size - 2} characters of "
                             f"the training text (plus <pad> and <unk>); raise vocab_size above {tok.vocab_size}")
        return tok

    def __post_init__(self) -> None:
        if self.kind in ("word", "bpe"):
            from tokenizers import Tokenizer as HF

            self._hf = HF.from_str(self.hf_json)
            vocab = self._hf.get_vocab(with_added_tokens=True)
            if vocab.get(PAD_TOKEN) != PAD or vocab.get(UNK_TOKEN) != UNK:
                raise ValueError(f"ids of {PAD_TOKEN}/{UNK_TOKEN} are {vocab.get(PAD_TOKEN)}/{vocab.get(UNK_TOKEN)}, "
                                 f"not {PAD}/{UNK}")
            self._texts = [""] * len(vocab)
            for s, i in vocab.items():
                self._texts[i] = s
            self._texts[PAD], self._texts[UNK] = "", UNK_TEXT
            if len(vocab) != max(vocab.values()) + 1:
                raise ValueError("vocabulary ids are not 0..V-1")
        else:
            self._index = {c: i for i, c in enumerate(self.chars) if i >= 2}

    # ---- the vocabulary ----------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        if self.kind == "byte":
            return 257
        if self.kind == "char":
            return len(self.chars)
        return len(self._texts)

    def token_text(self, i: int) -> bytes:
        """UTF-8 bytes one id prints as (the device's token table uses this)."""
        if self.kind == "byte":
            return bytes([i - 1]) if 1 <= i <= 256 else b""
        if i == PAD:
            return b""
        table = self.chars if self.kind == "char" else self._texts
        return (table[i] if 2 <= i < len(table) else UNK_TEXT).encode("utf-8")

    def merges(self) -> list[tuple[int, int, int]]:
        """bpe: (left id, right id, merged id) in rank order (rank = index)."""
        if self.kind != "bpe":
            return []
        model = json.loads(self.hf_json)["model"]
        vocab = model["vocab"]
        out = []
        for m in model["merges"]:
            a, b = m if isinstance(m, list) else m.split(" ", 1)
            out.append((vocab[a], vocab[b], vocab[a + b]))
        return out

    # ---- text <-> ids ------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        return text.translate(_ASCII_LOWER) if self.lowercase else text

    def encode(self, text: str) -> np.ndarray:
        if self.kind in ("word", "bpe"):
            return np.asarray(self._hf.encode(text, add_special_tokens=False).ids, dtype=np.int32)
        text = self.normalize(text)
        if self.kind == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + 1
        idx = self._index
        return np.fromiter((idx.get(c, UNK) for c in text), dtype=np.int32, count=len(text))

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """encode() of each text (word / bpe: in parallel inside the library)."""
        if self.kind in ("word", "bpe"):
            return [np.asarray(e.ids, dtype=np.int32)
                    for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Text of `ids`: their token texts' bytes, concatenated (<pad> prints nothing, <unk>
        U+FFFD). Invalid UTF-8 (byte tokens) is replaced, or raises UnicodeDecodeError with
        errors="strict"."""
        return b"".join(self.token_text(int(i)) for i in ids).decode("utf-8", errors=errors)

    def pieces(self, text: str) -> list[str]:
        """word / bpe: the pre-tokenization of `text` (after lowercasing)."""
        return [p for p, _ in self._hf.pre_tokenizer.pre_tokenize_str(self.normalize(text))]

    # ---- files -------------------------------------------------------------------------

    def to_json(self) -> dict:
        if self.kind in ("word", "bpe"):
            return json.loads(self.hf_json)
        return {"kind": self.kind, "chars": self.chars[2:] if self.kind == "char" else [],
                "lowercase": self.lowercase}

    @classmethod
    def from_json(cls, obj: dict) -> "Tokenizer":
        if "model" in obj:  # a HuggingFace tokenizer.json
            return cls(kind=_hf_kind(obj), chars=[], lowercase=obj.get("normalizer") is not None,
                       hf_json=json.dumps(obj, ensure_ascii=False))
        lower = bool(obj.get("lowercase", False))
        if obj["kind"] == "byte":
            return cls(kind="byte", chars=[], lowercase=lower)
        if obj["kind"] != "char":
            raise ValueError(f"unknown kind {obj['kind']!r}")
        return cls(kind="char", chars=["", ""] + list(obj["chars"]), lowercase=lower)

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        from ..core.fsutil import read_json

        obj = read_json(path)  # a missing file is FileNotFoundError; unparsable JSON is Damaged
        try:
            return cls.from_json(obj)
        except Exception as e:  # noqa: BLE001 - the library refusing the file
            raise UsageError(f"{path}: unreadable tokenizer ({e}); rerun 'tlmc train' to rebuild it") from None
