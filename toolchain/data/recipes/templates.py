"""Command templates and specs: how a recipe describes what can be said, and how.

A `Spec` is one command (``light.off``): its weight in the corpus, the targets it takes, the
nouns for its device, the kind of value it takes (see `values.VALUE_KINDS`) and its templates.
A `Grammar` is a recipe's set of specs together with the names of the places they target.

Template blocks
---------------
One template a line, ``<kind> <text>``; blank lines are ignored. Kinds: ``i`` imperative (may
be wrapped in politeness: "could you ...", "... please", "would you mind <gerund> ..."), ``t``
terse or statement (only fillers and a trailing "please"/"thanks"), ``q`` question (may end
with "?"). Slots: {np} definite noun phrase for device + target ("the kitchen lights", "the
lights in the kitchen", "all the lights", "the front door"); {tnp} terse noun phrase ("kitchen
lights"); {loc} location ("in the kitchen", "everywhere"); {place} ("the kitchen", "the whole
house"); {rm} bare room name ("kitchen"); {v} value phrase; {va} "a five minute" (timer only).
"""

from __future__ import annotations

import bisect
import random
import string
from dataclasses import dataclass
from typing import Mapping, Sequence

from .values import VALUE_KINDS, Phraser, Sampler

TEMPLATE_KINDS = ("i", "t", "q")
VALUE_SLOTS = ("v", "va")


@dataclass(frozen=True)
class Template:
    """One way to say a command: its kind (see the module docstring), its text with slots, and
    the names of the slots it uses (sorted)."""

    kind: str
    text: str
    slots: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    """One command of a grammar and every way to say it."""

    device: str
    action: str
    weight: float
    targets: tuple[str | None, ...]
    nouns: tuple[str, ...]
    all_nouns: tuple[str, ...]
    sample_value: Sampler | None
    say_value: Phraser | None
    value_optional: bool
    with_value: tuple[Template, ...]
    without_value: tuple[Template, ...]
    implicit_room: bool

    @property
    def name(self) -> str:
        """The command name, ``domain.verb``."""
        return f"{self.device}.{self.action}"


_FORMATTER = string.Formatter()


def parse_templates(block: str) -> tuple[Template, ...]:
    """The templates of a block of ``<kind> <text>`` lines, in order."""
    out = []
    for raw in block.strip().splitlines():
        if not raw.strip():
            continue
        kind, text = raw.strip().split(" ", 1)
        assert kind in TEMPLATE_KINDS, raw
        slots = tuple(sorted({name for _, name, _, _ in _FORMATTER.parse(text) if name}))
        out.append(Template(kind, text, slots))
    return tuple(out)


def spec(device: str, action: str, weight: float, templates: str, *,
         targets: Sequence[str | None] = (None,), nouns: Sequence[str] = (),
         all_nouns: Sequence[str] = (), value: str | None = None,
         optional: bool = False, implicit_room: bool = False) -> Spec:
    """Build the `Spec` of command ``device.action`` from its template block.

    `targets` may repeat a target to draw it more often (None: the command takes none);
    `nouns` name the device, `all_nouns` name it for the "all" target; `value` is a value kind
    of `values.VALUE_KINDS`, `optional` if the command may also go without it. With
    `implicit_room` a noun phrase may leave the (only) room out: "the oven".
    """
    sample, say = VALUE_KINDS[value] if value else (None, None)
    parsed = parse_templates(templates)
    with_value = tuple(t for t in parsed if any(s in t.slots for s in VALUE_SLOTS))
    without_value = tuple(t for t in parsed if t not in with_value)
    if value and not with_value:
        raise AssertionError(f"{device}.{action}: no template uses the value")
    if (not value or optional) and not without_value:
        raise AssertionError(f"{device}.{action}: no template without a value")
    return Spec(device, action, weight, tuple(targets), tuple(nouns), tuple(all_nouns),
                sample, say, optional, with_value, without_value, implicit_room)


class Grammar:
    """A recipe's commands (`Spec`s, drawn by weight) and the names of the places they target.

    `rooms` and `doors` map a target key to the ways people name it; `everywhere` are the
    {loc} phrases and `whole_house` the {place} phrases of the "all" target.
    """

    def __init__(self, specs: Sequence[Spec], *, rooms: Mapping[str, tuple[str, ...]],
                 doors: Mapping[str, tuple[str, ...]], everywhere: Sequence[str],
                 whole_house: Sequence[str]) -> None:
        self.specs = tuple(specs)
        self.rooms = rooms
        self.doors = doors
        self.everywhere = tuple(everywhere)
        self.whole_house = tuple(whole_house)
        self.by_key = {(s.device, s.action): s for s in self.specs}
        assert len(self.by_key) == len(self.specs), "duplicate (device, action) spec"
        self.commands = frozenset(s.name for s in self.specs)
        self._cum_weights: list[float] = []
        total = 0.0
        for s in self.specs:
            total += s.weight
            self._cum_weights.append(total)
        self._total_weight = total

    def draw_spec(self, rng: random.Random) -> Spec:
        """One spec, drawn by weight with a single ``rng.random()`` draw."""
        x = rng.random() * self._total_weight
        return self.specs[min(bisect.bisect_right(self._cum_weights, x), len(self.specs) - 1)]
