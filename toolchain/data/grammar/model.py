"""A loaded grammar: its options, slot types and intents, and what other stages ask of it.

`Grammar` is built by `load.load` (which validates everything), so its methods can trust
it: generating lines (`generate`), reading a command back (`parse_command`), counting what it
can say (`stats`) and choosing the compositional hold-out (`pairs`, `compositional_holdout`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import speech
from . import generate as gen
from . import output as out_mod
from .expr import Seq
from .generate import Example, Meaning
from .output import OutputSlot, Pattern
from .slots import SlotType


@dataclass(frozen=True)
class Options:
    """The grammar's `options:` (docs/grammar.md); defaults as shown."""

    typo_rate: float = 0.03
    politeness: float = 0.25
    fillers: float = 0.08
    filler_words: tuple[str, ...] = speech.FILLERS
    numbers_as_digits: float = 0.3


@dataclass(eq=False)
class Expression:
    """One way to say an intent: the text as written, its tree, the slots ``set:`` binds."""

    say: str
    tree: Seq
    set: dict[str, str | int]
    line: int


@dataclass(eq=False)
class Intent:
    """An intent: ``name`` (``water.start``), ``output`` as written, ``weight``, whether it may
    be framed politely, its expressions and the slots its output writes (``output_slots``, in
    output order). ``slot_names`` maps every slot name it uses to its slot type's name."""

    name: str
    output: str
    weight: float
    politeness: bool
    expressions: list[Expression]
    output_slots: list[OutputSlot]
    line: int
    output_line: int = 0
    slot_names: dict[str, str] = field(default_factory=dict)
    tokens: list = field(default_factory=list)  # parsed output (output.parse_output)
    patterns: list[Pattern] = field(default_factory=list)  # output.variants, fullest first


Keep = Callable[[Meaning], bool]


@dataclass(eq=False)
class Grammar:
    """A validated grammar file. ``intents`` in file order; ``slot_types`` by name, in file
    order; ``path`` the file it came from (None if built in memory)."""

    name: str
    path: Path | None
    options: Options
    slot_types: dict[str, SlotType]
    intents: list[Intent]
    label: str = ""  # how errors name the file
    warnings: list[str] = field(default_factory=list)

    def intent(self, name: str) -> Intent:
        for i in self.intents:
            if i.name == name:
                return i
        raise KeyError(name)

    # -- commands ----------------------------------------------------------------------------

    def command(self, intent: str, slots: dict) -> str:
        """The command text of `intent` with slot values `slots` (as `parse_command` returns)."""
        i = self.intent(intent)
        return out_mod.render(i.tokens, slots, self.slot_types, i.slot_names)

    def parse_command(self, text: str) -> tuple[str, dict] | None:
        """The reference parse of a command: ``(intent name, {slot name: value})`` with list
        values as their canonical str and numbers (time: HHMM) as int; None for any text the
        grammar cannot write (unknown words, values out of range, extra spaces)."""
        words = text.split(" ")
        if not text or "" in words:
            return None
        for i in self.intents:
            for p in i.patterns:
                got = out_mod.match(p, words, self.slot_types)
                if got is not None:
                    return i.name, got
        return None

    # -- lines -------------------------------------------------------------------------------

    def examples(self, n: int, seed: int = 1, *, typo_rate: float | None = None,
                 keep: Keep | None = None) -> list[Example]:
        """`n` generated lines with their meaning (see `generate`)."""
        return gen.examples(self, n, seed, self.options.typo_rate if typo_rate is None else typo_rate, keep)

    def generate(self, n: int, seed: int = 1, *, typo_rate: float | None = None,
                 keep: Keep | None = None) -> list[str]:
        """`n` lines ``"<utterance> => <command>"``. Deterministic per seed (one
        ``random.Random(seed)``, only ``random()`` draws) and prefix-stable: a longer run
        starts with the lines of a shorter one. `typo_rate` overrides the option (1.0: every
        line with a word of 3 letters gets a typo); `keep` rejects meanings, which are redrawn
        (a rejected draw still uses the generator, so keep changes the lines after it)."""
        return [e.line for e in self.examples(n, seed, typo_rate=typo_rate, keep=keep)]

    def sample(self, n: int = 20, seed: int = 1) -> list[str]:
        """Lines for `tlmc grammar sample`: the first `n` lines `generate` gives for `seed`."""
        return self.generate(n, seed)

    # -- what it can say ---------------------------------------------------------------------

    def stats(self) -> dict:
        """Counts: ``intents``, ``slot_types``, ``expressions``, ``distinct_utterances`` (see
        generate.stats for how it is counted) and more."""
        return gen.stats(self)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (intent, list value) a line can bind, sorted: the units of the hold-out."""
        return gen.pairs(self)

    def compositional_holdout(self, fraction: float, seed: int) -> frozenset[tuple[str, str]]:
        """About `fraction` of `pairs()` kept out of training, seeded (generate.holdout)."""
        return gen.holdout(self, fraction, seed)
