"""Probe strings for the device's tokenizer, and the comparison with the host's.

The device encodes text itself (firmware/tlm_tokenizer.c; the protocol's TOKENIZE) and must
give exactly the ids of `Tokenizer.encode`, the host reference (docs/tokenizers.md).
`probe_strings` makes a deterministic, seeded mix of texts that exercise every rule of the
contract: real utterances, vocabulary words mixed at random, typos and unknown words, digits,
punctuation, upper case, non-ASCII (accents, CJK, emoji, combining marks), runs of spaces,
tabs and newlines, the special tokens' texts, the empty string, and texts exactly `line_max`
UTF-8 bytes long (a single letter run among them: the longest piece a line can carry).
`mismatches` runs them through a device function and lists where the ids differ.

Every string is valid Unicode without surrogates, so the host can encode it, and any byte
travels over the protocol escaped (device.escape).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

LETTERS = "abcdefghijklmnopqrstuvwxyz"
PUNCT = ".,!?;:'\"()[]{}-_=+*/\\<>@#$%^&|~`=>"
WHITE = [" ", "  ", "   ", "\t", "\n", " \n", "\n\n", "\r\n", " \t ", "\u00a0"]
NON_ASCII = ["café", "naïve", "Größe", "élan", "señor", "Ærø", "ǅ", "ﬁ", "İstanbul", "straße",
             "你好", "世界", "日本語", "한국어", "Привет", "Ελλάδα", "שלום", "مرحبا",
             "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "e\u0301", "\u200b", "\ufeff", "\ufffd", "\u2028", "\U0010ffff",
             "°C", "€5", "½", "²", "Ω", "…", "“quoted”", "—", "\x00", "\x7f", "\x1b[0m", "\x01"]
SPECIALS = ["<pad>", "<unk>", "<UNK>", "<Pad>", "<unk", "unk>", "<<unk>>", "< pad >", "x<unk>y", "a <pad> b",
            "<pad><unk><pad>", " <unk> ", "<unk>ed", "<pad>1"]
NUMBERS = ["0", "7", "42", "21 degrees", "3.14", "1,000,000", "100%", "2024-06-01", "12:30", "#1", "-5", "+49 30",
           " 8", "x9", "9x", "1e10", "0x1f", "007"]


def _vocab_words(tok) -> list[str]:
    """Texts of the vocabulary's tokens that are words (letters, a leading space allowed), or
    for char / byte tokenizers some words made of its letters."""
    out = []
    for i in range(2, tok.vocab_size):
        try:
            t = tok.token_text(i).decode("utf-8")
        except UnicodeDecodeError:
            continue
        core = t[1:] if t.startswith(" ") else t
        if core and core.isascii() and core.isalpha():
            out.append(core)
    if len(out) < 20:  # char / byte: too few words of its own
        out += ["turn", "on", "off", "the", "kitchen", "light", "lamp", "set", "oven", "please", "hallway", "to"]
    return sorted(set(out))


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 2:
        return word + rng.choice(LETTERS)
    i = rng.randrange(len(word))
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1:]
    if op == 1:
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if op == 2:
        return word[:i] + rng.choice(LETTERS) + word[i + 1:]
    j = min(i + 1, len(word) - 1)
    w = list(word)
    w[i], w[j] = w[j], w[i]
    return "".join(w)


def _case(rng: random.Random, text: str) -> str:
    op = rng.randrange(4)
    if op == 0:
        return text.upper()
    if op == 1:
        return text.capitalize()
    if op == 2:
        return text.title()
    return "".join(c.upper() if rng.random() < 0.3 else c for c in text)


def fit_bytes(text: str, n: int, pad: str = "a") -> str:
    """`text` cut or padded (with the ASCII `pad`) to exactly n UTF-8 bytes, never splitting a
    character."""
    out, size = [], 0
    for ch in text:
        b = len(ch.encode("utf-8"))
        if size + b > n:
            break
        out.append(ch)
        size += b
    return "".join(out) + pad * (n - size)


class _Maker:
    def __init__(self, tok, rng: random.Random, line_max: int, utterances: Sequence[str]):
        self.tok, self.rng, self.line_max = tok, rng, line_max
        self.words = _vocab_words(tok)
        self.utterances = [u for u in utterances if len(u.encode("utf-8")) <= line_max]

    def word(self) -> str:
        return self.rng.choice(self.words)

    def sentence(self, n: int | None = None) -> str:
        n = n or self.rng.randint(1, 9)
        return " ".join(self.word() for _ in range(n))

    # one generator per category: each returns a string (cut to line_max afterwards)
    def utterance(self) -> str:
        if not self.utterances:
            return self.sentence()
        u = self.rng.choice(self.utterances)
        op = self.rng.randrange(4)
        if op == 0:
            return u
        if op == 1:
            return _case(self.rng, u)
        if op == 2:
            return u + " =>"
        return u.replace(" ", self.rng.choice(["  ", " ", "\t"]), 1)

    def mix(self) -> str:
        seps = [" ", " ", " ", "", "  ", "\n"]
        return "".join(self.word() + self.rng.choice(seps) for _ in range(self.rng.randint(1, 10))).rstrip(" ") \
            if self.rng.random() < 0.5 else self.sentence()

    def typos(self) -> str:
        ws = [self.word() for _ in range(self.rng.randint(1, 6))]
        k = self.rng.randrange(len(ws))
        ws[k] = _typo(self.rng, ws[k])
        if self.rng.random() < 0.3:  # an unknown word: random letters
            ws.insert(self.rng.randrange(len(ws) + 1),
                      "".join(self.rng.choice(LETTERS) for _ in range(self.rng.randint(1, 14))))
        return " ".join(ws)

    def numbers(self) -> str:
        rng = self.rng
        parts = [rng.choice(NUMBERS) if rng.random() < 0.5 else str(rng.randrange(10 ** rng.randint(1, 8)))
                 for _ in range(rng.randint(1, 3))]
        return " ".join(p if self.rng.random() < 0.5 else self.word() + " " + p for p in parts)

    def punctuation(self) -> str:
        out = []
        for _ in range(self.rng.randint(1, 6)):
            r = self.rng.random()
            marks = "".join(self.rng.choice(PUNCT) for _ in range(self.rng.randint(1, 3)))
            out.append(self.word() if r < 0.5 else marks)
            out.append(self.rng.choice(["", " ", " "]))
        return "".join(out)

    def upper(self) -> str:
        return _case(self.rng, self.sentence())

    def non_ascii(self) -> str:
        ws = [self.word() if self.rng.random() < 0.5 else self.rng.choice(NON_ASCII)
              for _ in range(self.rng.randint(1, 6))]
        return self.rng.choice([" ", "", " "]).join(ws)

    def whitespace(self) -> str:
        out = [self.rng.choice(WHITE)] if self.rng.random() < 0.5 else []
        for _ in range(self.rng.randint(1, 5)):
            out.append(self.word())
            out.append(self.rng.choice(WHITE))
        return "".join(out if self.rng.random() < 0.7 else out[:-1])

    def specials(self) -> str:
        return self.rng.choice([self.rng.choice(SPECIALS),
                                self.word() + self.rng.choice(["", " "]) + self.rng.choice(SPECIALS)
                                + self.rng.choice(["", " "]) + self.word()])

    def repeats(self) -> str:  # adversarial for BPE: long runs of one letter, pairs, a word
        unit = self.rng.choice(["a", "e", "s", " ", "ab", "th", "the", "ll", "aab", self.word()])
        return unit * self.rng.randint(2, max(2, min(80, self.line_max // max(1, len(unit)))))

    def long(self) -> str:  # exactly line_max bytes
        n = self.line_max
        kind = self.rng.randrange(6)
        if kind == 0:
            return fit_bytes(self.sentence(200), n)
        if kind == 1:
            return "".join(self.rng.choice(LETTERS) for _ in range(n))
        if kind == 2:
            return fit_bytes(self.non_ascii() * n, n)
        if kind == 3:
            return fit_bytes(self.whitespace() * n, n, " ")
        if kind == 4:
            return fit_bytes(" " + "".join(self.rng.choice(LETTERS + LETTERS.upper()) for _ in range(n)), n)
        return fit_bytes(self.numbers() * n, n, "1")


CATEGORIES = ("utterance", "mix", "typos", "numbers", "punctuation", "upper", "non_ascii", "whitespace",
              "specials", "repeats", "long")


def fixed_strings(tok, line_max: int) -> list[str]:
    """The corner cases every probe set starts with."""
    w = _vocab_words(tok)
    first = w[0] if w else "a"
    n = line_max
    return [
        "", " ", "  ", "\n", "\t", "a", "A", first, " " + first, first + " ", first.upper(), "=>", " =>", "0", " 1",
        "a" * n, "A" * n, " " + "z" * (n - 1), "ab" * (n // 2) + "a" * (n % 2), " " * n, "1" * n, "\n" * n,
        fit_bytes("é" * n, n), fit_bytes("你" * n, n), fit_bytes("😀" * n, n), fit_bytes("x😀" * n, n),
        fit_bytes(" ".join([first] * n), n), "a" * (n - 1), "<unk>", "<pad>", "x <unk> y", "\x00",
    ]


def probe_strings(tok, n: int, seed: int = 0, line_max: int = 256, utterances: Iterable[str] = ()) -> list[str]:
    """n deterministic probe texts (the same for the same arguments), each at most `line_max`
    UTF-8 bytes: the fixed corner cases, the given utterances (up to a quarter of n), then
    the categories in turn, drawn with random.Random(seed)."""
    rng = random.Random(seed)
    utterances = list(utterances)
    maker = _Maker(tok, rng, line_max, utterances)
    out = [s for s in fixed_strings(tok, line_max) if len(s.encode("utf-8")) <= line_max]
    out += maker.utterances[:max(0, n // 4)]
    i = 0
    while len(out) < n:
        s = getattr(maker, CATEGORIES[i % len(CATEGORIES)])()
        i += 1
        if len(s.encode("utf-8")) > line_max:
            s = fit_bytes(s, line_max)
        out.append(s)
    return out[:n]


@dataclass
class Mismatch:
    text: str
    host: list[int]
    device: list[int] | None  # None: the device refused the text (an ERR reply)
    error: str = ""

    def describe(self) -> str:
        first = next((i for i, (a, b) in enumerate(zip(self.host, self.device or [])) if a != b),
                     min(len(self.host), len(self.device or [])))
        dev = f"ERR {self.error}" if self.device is None else f"{self.device[:12]}"
        return f"{self.text[:40]!r}: device {dev}, host {self.host[:12]} (first difference at id {first})"


def mismatches(tok, strings: Sequence[str], device_ids_fn: Callable[[list[str]], list]) -> list[Mismatch]:
    """Where the device's ids differ from `tok.encode`: device_ids_fn takes the list of
    strings and returns, for each, its ids (a list of ints) or an exception / error text when
    the device refused it."""
    strings = list(strings)
    host = [h.tolist() for h in tok.encode_batch(strings)]
    got = device_ids_fn(strings)
    if len(got) != len(strings):
        raise ValueError(f"device_ids_fn returned {len(got)} results for {len(strings)} strings")
    bad = []
    for s, h, d in zip(strings, host, got):
        if isinstance(d, (list, tuple)):
            if list(d) != h:
                bad.append(Mismatch(s, h, list(d)))
        else:
            bad.append(Mismatch(s, h, None, str(d)))
    return bad
