"""An intent's output: the command text the model writes, and reading a command back.

An output is space-separated tokens: literal command words (``[a-z0-9_.]+``) and slot
references, ``{name}`` (every expansion binds it) or ``{name?}`` (optional: left out, with its
space, when an expansion does not bind it; only at the end, after everything required).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from .slots import SlotType

LITERAL_RE = re.compile(r"[a-z0-9_.]+")
REF_RE = re.compile(r"\{([a-z][a-z0-9_]*)(\??)\}")
MAX_OPTIONAL = 6


@dataclass(frozen=True)
class OutputSlot:
    """A slot the output writes: its name, its slot type's name and whether it may be absent."""

    name: str
    type: str
    optional: bool


class OutputError(Exception):
    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def parse_output(text: str) -> list[str | tuple[str, bool]]:
    """The tokens of an output: a literal str, or (slot name, optional) for ``{name}`` /
    ``{name?}``. Raises OutputError."""
    if not text.strip():
        raise OutputError("the output is empty", "write the command, e.g. output: \"light.on {room}\"")
    if text != " ".join(text.split()):
        raise OutputError(f"output {text!r} has extra spaces", "separate its words with single spaces")
    tokens: list[str | tuple[str, bool]] = []
    seen: set[str] = set()
    for word in text.split(" "):
        m = REF_RE.fullmatch(word)
        if m:
            name, optional = m.group(1), bool(m.group(2))
            if name in seen:
                raise OutputError(f"output names slot {{{name}}} twice", "write each slot once")
            seen.add(name)
            if not optional and any(isinstance(t, tuple) and t[1] for t in tokens):
                raise OutputError(f"optional slot before the required {{{name}}} in output {text!r}",
                                  "put optional {x?} slots at the end")
            tokens.append((name, optional))
        elif "{" in word or "}" in word:
            raise OutputError(f"output token {word!r} is not a slot reference",
                              "write a slot as {name} or {name?}, a whole word of its own")
        elif not LITERAL_RE.fullmatch(word):
            bad = next((c for c in word if not LITERAL_RE.fullmatch(c)), word[0])
            raise OutputError(f"output word {word!r} has {bad!r}, outside the command characters",
                              "use lowercase letters, digits, '_' and '.' (e.g. water.start)")
        else:
            if any(isinstance(t, tuple) and t[1] for t in tokens):
                raise OutputError(f"optional slot before the word {word!r} in output {text!r}",
                                  "put optional {x?} slots at the end")
            tokens.append(word)
    if sum(1 for t in tokens if isinstance(t, tuple) and t[1]) > MAX_OPTIONAL:
        raise OutputError(f"more than {MAX_OPTIONAL} optional slots in one output", "split the intent")
    return tokens


Pattern = tuple  # of str (a literal) and OutputSlot


def variants(tokens: list, slots: dict[str, OutputSlot]) -> list[Pattern]:
    """Every token sequence the output can write: the required part plus each subset of the
    optional slots, in order; the fullest first."""
    required = tuple(t if isinstance(t, str) else slots[t[0]] for t in tokens if isinstance(t, str) or not t[1])
    optional = [slots[t[0]] for t in tokens if isinstance(t, tuple) and t[1]]
    out = []
    for k in range(len(optional), -1, -1):
        for chosen in itertools.combinations(optional, k):
            out.append(required + chosen)
    return out


def render(pattern_tokens: list, bound: dict, types: dict[str, SlotType], slot_types: dict[str, str]) -> str:
    """The command text for slot values `bound` (optional slots not bound are left out)."""
    words = []
    for t in pattern_tokens:
        if isinstance(t, str):
            words.append(t)
        elif t[0] in bound:
            words.append(types[slot_types[t[0]]].text(bound[t[0]]))
    return " ".join(words)


def match(pattern: Pattern, words: list[str], types: dict[str, SlotType]) -> dict | None:
    """The slot values if `words` is written by `pattern`, else None."""
    if len(words) != len(pattern):
        return None
    out = {}
    for p, w in zip(pattern, words):
        if isinstance(p, str):
            if p != w:
                return None
        else:
            v = types[p.type].parse(w)
            if v is None:
                return None
            out[p.name] = v
    return out


def overlap(a: Pattern, b: Pattern, types: dict[str, SlotType]) -> bool:
    """Could the two patterns write the same text?"""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, str) and isinstance(y, str):
            if x != y:
                return False
        elif isinstance(x, str) or isinstance(y, str):
            word, slot = (x, y) if isinstance(x, str) else (y, x)
            if types[slot.type].parse(word) is None:
                return False
        elif not types[x.type].tokens_overlap(types[y.type]):
            return False
    return True


def describe(pattern: Pattern) -> str:
    return " ".join(p if isinstance(p, str) else "{" + p.name + "}" for p in pattern)
