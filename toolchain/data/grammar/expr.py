"""Expressions: the ways to say an intent, parsed into a small tree.

``[a, b]`` is a choice (one item, uniformly), ``(a)`` an optional (included half the time),
``(a, b)`` an optional choice; groups nest. ``$type`` is a slot of slot type ``type`` named
``type``, ``$type:name`` the same slot type under another name. Everything else is text:
lowercase ASCII letters, digits, space and ``' . , ?`` (upper case is folded to lower case;
a comma separates items only inside a group). Spaces are normalised after expansion.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Iterator

from .yamlsrc import NAME_RE

TEXT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 '.,?")


class ExprError(Exception):
    """A malformed expression: `problem` and `fix`, joined into the one-line error by the loader."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Slot:
    name: str  # the name the output refers to ({name})
    type: str  # the slot type it draws from
    col: int  # 1-based column of its '$'


@dataclass(frozen=True)
class Seq:
    items: tuple  # of Text, Slot and Group


@dataclass(frozen=True)
class Group:
    alts: tuple[Seq, ...]
    optional: bool  # "(...)": may be left out


Node = Text | Slot | Seq | Group


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def parse(text: str) -> Seq:
    """The tree of one expression; raises ExprError with the column of the problem."""
    return _Parser(re.sub(r"\s", " ", text).lower()).top()


class _Parser:
    def __init__(self, s: str):
        self.s, self.i = s, 0

    def top(self) -> Seq:
        seq = self.seq(0)
        if self.i < len(self.s):  # only a closer stops the top level
            c = self.s[self.i]
            opener = "[" if c == "]" else "("
            raise ExprError(f"unbalanced '{c}' at column {self.i + 1}",
                            f"remove it or open it with '{opener}'")
        if _is_empty(seq):
            raise ExprError("the expression is empty", "write the words of the utterance")
        return seq

    def seq(self, depth: int) -> Seq:
        items: list = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                items.append(Text("".join(buf)))
                buf.clear()

        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in "[(":
                flush()
                items.append(self.group(depth))
            elif c in "])" or (c == "," and depth > 0):
                break
            elif c == "$":
                flush()
                items.append(self.slot())
            elif c in TEXT_CHARS:
                buf.append(c)
                self.i += 1
            else:
                raise ExprError(f"character {c!r} at column {self.i + 1} is not allowed",
                                "use lowercase letters, digits, space and ' . , ? (write numbers "
                                "and hyphenated words with spaces)")
        flush()
        return Seq(tuple(items))

    def group(self, depth: int) -> Group:
        opener, col = self.s[self.i], self.i + 1
        closer = "]" if opener == "[" else ")"
        self.i += 1
        alts = []
        while True:
            alts.append(self.seq(depth + 1))
            if self.i >= len(self.s):
                raise ExprError(f"unbalanced '{opener}' at column {col}", f"close it with '{closer}'")
            c = self.s[self.i]
            self.i += 1
            if c == ",":
                continue
            if c != closer:
                raise ExprError(f"'{opener}' at column {col} is closed by '{c}'", f"close it with '{closer}'")
            break
        if len(alts) == 1 and _is_empty(alts[0]):
            what = "choice '[]'" if opener == "[" else "optional '()'"
            raise ExprError(f"empty {what} at column {col}", "put words in it or remove it")
        if any(_is_empty(a) for a in alts):
            raise ExprError(f"an empty item in the group at column {col}",
                            "remove the stray comma; to make words optional write (words)")
        return Group(tuple(alts), opener == "(")

    def slot(self) -> Slot:
        col = self.i + 1
        m = NAME_RE.match(self.s, self.i + 1)
        if not m:
            raise ExprError(f"'$' without a slot name at column {col}", "write $type or $type:name")
        kind, self.i = m.group(), m.end()
        name = kind
        if self.i < len(self.s) and self.s[self.i] == ":":
            m = NAME_RE.match(self.s, self.i + 1)
            if not m:
                raise ExprError(f"'${kind}:' without a name at column {col}", f"write ${kind}:name")
            name, self.i = m.group(), m.end()
        return Slot(name, kind, col)


def _is_empty(seq: Seq) -> bool:
    return all(isinstance(it, Text) and not it.text.strip() for it in seq.items)


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def slots(node: Node) -> Iterator[Slot]:
    """Every slot of the tree, in reading order."""
    if isinstance(node, Slot):
        yield node
    elif isinstance(node, Seq):
        for it in node.items:
            yield from slots(it)
    elif isinstance(node, Group):
        for a in node.alts:
            yield from slots(a)


def bindings(node: Node) -> tuple[frozenset[str], frozenset[str]]:
    """(slots every expansion binds, slots some expansion binds). Raises ExprError when one
    expansion can say a slot twice."""
    if isinstance(node, Text):
        return frozenset(), frozenset()
    if isinstance(node, Slot):
        one = frozenset([node.name])
        return one, one
    if isinstance(node, Seq):
        always: frozenset[str] = frozenset()
        maybe: frozenset[str] = frozenset()
        for it in node.items:
            a, m = bindings(it)
            twice = maybe & m
            if twice:
                name = sorted(twice)[0]
                raise ExprError(f"slot '{name}' can be said twice in one utterance",
                                f"give each its own name: $type:{name}_a ... $type:{name}_b")
            always, maybe = always | a, maybe | m
        return always, maybe
    parts = [bindings(a) for a in node.alts]
    maybe = frozenset().union(*(m for _, m in parts))
    if node.optional:
        return frozenset(), maybe
    return frozenset.intersection(*(a for a, _ in parts)), maybe


def count(node: Node, n_forms: Callable[[str], int]) -> int:
    """How many expansions the tree has (`n_forms(type)`: the ways to say one slot)."""
    if isinstance(node, Text):
        return 1
    if isinstance(node, Slot):
        return n_forms(node.type)
    if isinstance(node, Seq):
        total = 1
        for it in node.items:
            total *= count(it, n_forms)
        return total
    return sum(count(a, n_forms) for a in node.alts) + (1 if node.optional else 0)


Said = Callable[[str, random.Random], tuple[str, object]]
"""(slot type, rng) -> (the words, the value they mean)."""


def expand(node: Node, rng: random.Random, say: Said, out: list[str], bound: dict) -> None:
    """Append one random expansion's text pieces to `out` and its slot values to `bound`."""
    if isinstance(node, Text):
        out.append(node.text)
    elif isinstance(node, Slot):
        words, value = say(node.type, rng)
        out.append(words)
        bound[node.name] = value
    elif isinstance(node, Seq):
        for it in node.items:
            expand(it, rng, say, out, bound)
    else:
        if node.optional and rng.random() < 0.5:
            return
        alts = node.alts
        expand(alts[int(rng.random() * len(alts))] if len(alts) > 1 else alts[0], rng, say, out, bound)


Forms = Callable[[str], list[tuple[str, object]]]
"""slot type -> every (words, value) it can be said as."""


def expansions(node: Node, forms: Forms) -> list[tuple[str, tuple]]:
    """Every expansion as (raw text, ((slot, value), ...)); only for small trees (see count)."""
    if isinstance(node, Text):
        return [(node.text, ())]
    if isinstance(node, Slot):
        return [(w, ((node.name, v),)) for w, v in forms(node.type)]
    if isinstance(node, Seq):
        acc: list[tuple[str, tuple]] = [("", ())]
        for it in node.items:
            part = expansions(it, forms)
            acc = [(t + pt, b + pb) for t, b in acc for pt, pb in part]
        return acc
    out = [("", ())] if node.optional else []
    for a in node.alts:
        out += expansions(a, forms)
    return out


_SPACE_BEFORE = re.compile(r" +([,?])")


def normalize(text: str) -> str:
    """Runs of spaces collapse to one, none at the ends nor before ',' or '?'."""
    return _SPACE_BEFORE.sub(r"\1", " ".join(text.split()))
