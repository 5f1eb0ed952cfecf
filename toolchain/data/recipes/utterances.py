"""Putting an intent into words with a `templates.Grammar`: fill a template's slots, frame it
the way people talk (`politeness`) and, now and then, add a typo."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Callable

from ..speech import typo
from .draw import pick
from .lines import ALL, MAX_UTTERANCE_LEN, MIN_UTTERANCE_LEN, Intent
from .politeness import wrap
from .templates import Grammar, Spec
from .values import NoPhrase, say_duration_before_noun

TYPO_RATE = 0.03
"""Fraction of utterances that get one character-level typo."""


# --------------------------------------------------------------------------------------------
# Slots
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NounPhraseForm:
    """How a noun phrase for a device and its target is put: with `article` ("the ") or bare;
    `all_forms` for the "all" target ({0}: the noun); below `bare_below` a device in its only
    room goes without the room ("the oven"), below `room_first_below` the room comes first
    ("the kitchen lights"), otherwise after ("the lights in the kitchen")."""

    article: str
    all_forms: tuple[str, ...]
    bare_below: float
    room_first_below: float


_DEFINITE = _NounPhraseForm("the ", ("all the {0}", "all the {0}", "all {0}", "all of the {0}",
                                     "the {0} everywhere", "the {0} in the whole house"),
                            bare_below=0.55, room_first_below=0.7)
_TERSE = _NounPhraseForm("", ("all {0}", "all the {0}", "{0} everywhere"),
                         bare_below=0.6, room_first_below=0.75)


def _room_surface(grammar: Grammar, room: str, rng: random.Random) -> str:
    names = grammar.rooms[room]
    return names[0] if len(names) == 1 or rng.random() < 0.5 else pick(rng, names)


def _noun_phrase(form: _NounPhraseForm, grammar: Grammar, spec: Spec, intent: Intent,
                 rng: random.Random) -> str:
    room = intent.room
    if room in grammar.doors:
        return form.article + pick(rng, grammar.doors[room])
    if room == ALL:
        noun = pick(rng, spec.all_nouns)
        return pick(rng, form.all_forms).format(noun)
    noun = pick(rng, spec.nouns)
    r = rng.random()
    if spec.implicit_room and r < form.bare_below:
        return form.article + noun
    if r < form.room_first_below:
        return f"{form.article}{_room_surface(grammar, room, rng)} {noun}"
    return f"{form.article}{noun} in the {_room_surface(grammar, room, rng)}"


def _slot_loc(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random) -> str:
    if intent.room == ALL:
        return pick(rng, grammar.everywhere)
    return "in the " + _room_surface(grammar, intent.room, rng)


def _slot_place(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random) -> str:
    if intent.room == ALL:
        return pick(rng, grammar.whole_house)
    return "the " + _room_surface(grammar, intent.room, rng)


def _slot_rm(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random) -> str:
    return _room_surface(grammar, intent.room, rng)


def _slot_v(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random) -> str:
    return spec.say_value(intent.value, rng)


def _slot_va(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random) -> str:
    return say_duration_before_noun(intent.value, rng)


_SLOTS: dict[str, Callable[[Grammar, Spec, Intent, random.Random], str]] = {
    "np": functools.partial(_noun_phrase, _DEFINITE),
    "tnp": functools.partial(_noun_phrase, _TERSE),
    "loc": _slot_loc, "place": _slot_place, "rm": _slot_rm, "v": _slot_v, "va": _slot_va,
}
"""Slot name (see `templates`) -> what fills it."""


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def check_intent(spec: Spec, intent: Intent) -> None:
    """Raise ValueError unless `spec` can say `intent` (its target and value)."""
    if intent.room not in spec.targets:
        raise ValueError(f"{intent.device}.{intent.action}: target {intent.room!r} is not one "
                         f"of {sorted(t for t in set(spec.targets) if t) or [None]}")
    if intent.value is None:
        if spec.sample_value is not None and not spec.value_optional:
            raise ValueError(f"{intent.device}.{intent.action} needs a value")
    elif spec.sample_value is None:
        raise ValueError(f"{intent.device}.{intent.action} takes no value")
    elif not (intent.value.isascii() and intent.value.isdigit()):
        raise ValueError(f"intent value must be digits, got {intent.value!r}")


def utterance(grammar: Grammar, spec: Spec, intent: Intent, rng: random.Random,
              typo_rate: float) -> str:
    """An utterance for `intent` (of command `spec`, already checked) drawn from `rng`.

    Tries templates until one gives a text of an allowed length; the last ``rng.random()``
    draw decides the typo, so the clean text does not depend on `typo_rate`.
    """
    templates = spec.with_value if intent.value is not None else spec.without_value
    text = ""
    for _ in range(50):
        template = templates[int(rng.random() * len(templates))]
        try:
            slots = {name: _SLOTS[name](grammar, spec, intent, rng) for name in template.slots}
        except NoPhrase:
            continue
        text = wrap(template.kind, template.text.format_map(slots), rng)
        # Leave one character of room either side for a dropped or doubled letter.
        if MIN_UTTERANCE_LEN < len(text) < MAX_UTTERANCE_LEN:
            break
    if rng.random() < typo_rate:
        text = typo(text, rng)
    return text
