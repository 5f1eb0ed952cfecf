"""Built-in training corpora ("recipes") for the tiny character-level language model.

The only recipe so far is ``commands``: a seeded grammar that writes smart-home voice commands,
each followed on the same line by the canonical command it means::

    turn the kitchen lights off please => light.off kitchen
    um, could you set the bedroom heating to twenty one degrees => thermostat.set bedroom 21
    set a timer for an hour and a half => timer.start 5400

Every example starts life as a structured `Intent` (drawn by `sample_intent`) and is turned into
text by `render`, so a corpus can later be filtered by intent (for example to hold out some
(room, action) pairs and test compositional generalisation) without touching the phrasing code.
`generate_commands` ties the two together and is fully deterministic for a given seed: it only
uses its own ``random.Random(seed)`` and only ``Random.random()`` draws, whose sequence Python
guarantees across platforms.

Line format
-----------
``<utterance> => <command>`` with `SEPARATOR` = ``" => "``. No trailing newline, ASCII only:
the utterance uses lowercase letters, digits, space and ``' . , ?``; the command uses lowercase
letters, digits, space, ``.`` and ``_``. Utterances are 8 to 80 characters long. About 3% of
utterances carry one character-level typo (a swapped, dropped or doubled letter in one word);
the command never does.

Canonical command grammar
-------------------------
::

    command := domain "." verb [" " target] [" " value]
    target  := room | door | "all"
    room    := kitchen | living_room | bedroom | hallway | bathroom | garage | office | garden
             | dining_room | kids_room | guest_room | basement | attic | laundry_room | nursery
    door    := front_door | back_door | garage_door | side_door | patio_door
    value   := decimal digits, no sign, no leading zeros (alarm times: exactly 4 digits, HHMM)

``all`` means "everywhere / the whole house". Numbers said as words ("twenty one") or digits
("21") both become digits in the command. The full set of commands (``[x]`` = optional):

==================  ======================  ===================================================
command             target                  value
==================  ======================  ===================================================
light.on / .off     room or all             -
light.set           room or all             brightness percent 1-100
light.dim           room or all             [percent points 5-50]
light.brighten      room or all             [percent points 5-50]
thermostat.on/.off  room                    -
thermostat.set      room                    degrees 16-28
thermostat.up/.down room                    [degrees 1-5]
fan.on / fan.off    room                    -
fan.set             room                    speed level 1-5
blinds.open/.close  room or all             -
blinds.set          room or all             open percent 1-100
tv.on / tv.off      room                    -
tv.channel          room                    channel 1-99
media.play          room or all             -
media.pause / .stop room or all             -
media.volume        room or all             volume percent 0-100
media.louder        room or all             [percent points 5-30]
media.quieter       room or all             [percent points 5-30]
lock.lock           door or all             -
lock.unlock         door                    -
oven.on / oven.off  kitchen                 -
oven.set            kitchen                 degrees 150-250
coffee.brew / .off  kitchen                 -
vacuum.start        room or all             -
vacuum.dock         -                       -
sprinkler.on / .off garden                  -
timer.start         -                       duration in seconds (e.g. 300, 5400)
timer.cancel        -                       -
alarm.set           -                       time of day HHMM, 24-hour (e.g. 0730, 1915)
alarm.cancel        -                       -
query.temperature   room                    -
query.humidity      room                    -
query.light         room                    -
query.lock          door                    -
query.timer         -                       -
query.time          -                       -
==================  ======================  ===================================================

Examples: ``light.off kitchen``, ``light.dim living_room 30``, ``thermostat.set bedroom 21``,
``timer.start 300``, ``blinds.open office``, ``lock.lock front_door``,
``media.volume living_room 40``, ``alarm.set 0730``, ``query.temperature bedroom``.
"""

from __future__ import annotations

import bisect
import random
import re
import string
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = [
    "COMMAND_RE",
    "COMMANDS",
    "DOORS",
    "Intent",
    "MAX_UTTERANCE_LEN",
    "MIN_UTTERANCE_LEN",
    "RECIPES",
    "ROOMS",
    "SEPARATOR",
    "TYPO_RATE",
    "canonical",
    "generate_commands",
    "number_to_words",
    "number_word_forms",
    "parse_line",
    "render",
    "sample_intent",
]

SEPARATOR = " => "
"""Separates the utterance from its canonical command on every corpus line."""

PROMPT_END = SEPARATOR.rstrip(" ")
"""What a parse prompt ends with (" =>"): a word or BPE tokenizer makes the separator's last
space part of the command's first token, so the command starts with that space."""

TYPO_RATE = 0.03
"""Fraction of utterances that get one character-level typo."""

MIN_UTTERANCE_LEN = 8
MAX_UTTERANCE_LEN = 80

COMMAND_RE = re.compile(
    r"^(?P<domain>[a-z]+)\.(?P<verb>[a-z]+)"
    r"(?: (?P<target>[a-z]+(?:_[a-z]+)*))?"
    r"(?: (?P<value>0|[1-9][0-9]*|[0-9]{4}))?$"
)
"""Matches any canonical command (the per-command rules are in the module docstring)."""


# --------------------------------------------------------------------------------------------
# Intents and canonical commands
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """What an utterance means, before it is put into words.

    ``device`` is the command's domain (``light``, ``thermostat``, ..., ``query``), ``action``
    its verb (``on``, ``set``, ``temperature``, ...). ``room`` is the target: a room key, a door
    key, ``"all"`` or None for commands without one (timers, alarms). ``value`` is the canonical
    digit string or None.
    """

    action: str
    device: str
    room: str | None = None
    value: str | None = None

    @property
    def command(self) -> str:
        """The canonical command for this intent (same as ``canonical(self)``)."""
        return canonical(self)


def canonical(intent: Intent) -> str:
    """Return the canonical command text of `intent`, e.g. ``light.dim living_room 30``."""
    text = f"{intent.device}.{intent.action}"
    if intent.room is not None:
        text += " " + intent.room
    if intent.value is not None:
        text += " " + intent.value
    return text


def parse_line(line: str) -> tuple[str, str]:
    """Split a corpus line into ``(utterance, command)``.

    Raises ValueError if the line does not contain `SEPARATOR` exactly once.
    """
    count = line.count(SEPARATOR)
    if count != 1:
        what = "is missing" if count == 0 else f"occurs {count} times"
        raise ValueError(
            f"corpus line must be '<utterance>{SEPARATOR}<command>' but the separator "
            f"{SEPARATOR.strip()!r} {what}: {line[:80]!r}"
        )
    utterance, command = line.split(SEPARATOR)
    return utterance, command


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

ROOMS: dict[str, tuple[str, ...]] = {
    "kitchen": ("kitchen",),
    "living_room": ("living room", "lounge", "sitting room", "family room"),
    "bedroom": ("bedroom", "main bedroom", "master bedroom"),
    "hallway": ("hallway", "hall", "corridor"),
    "bathroom": ("bathroom", "washroom"),
    "garage": ("garage",),
    "office": ("office", "study", "home office"),
    "garden": ("garden", "backyard", "yard"),
    "dining_room": ("dining room",),
    "kids_room": ("kids room", "kids' room", "children's room", "playroom"),
    "guest_room": ("guest room", "spare room", "guest bedroom"),
    "basement": ("basement", "cellar"),
    "attic": ("attic", "loft"),
    "laundry_room": ("laundry room", "utility room"),
    "nursery": ("nursery", "baby's room"),
}
"""Room key (as used in commands) -> the ways people name it."""

DOORS: dict[str, tuple[str, ...]] = {
    "front_door": ("front door", "main door"),
    "back_door": ("back door", "rear door"),
    "garage_door": ("garage door",),
    "side_door": ("side door",),
    "patio_door": ("patio door",),
}
"""Door key (as used in ``lock.*`` and ``query.lock``) -> the ways people name it."""

ALL = "all"

_ALL_LOC = ("everywhere", "in the whole house", "in every room", "throughout the house",
            "in all the rooms")
_ALL_PLACE = ("the whole house", "the house", "the entire house", "every room")

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words_below_100(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    tens, units = divmod(n, 10)
    return _TENS[tens] if units == 0 else f"{_TENS[tens]} {_UNITS[units]}"


def number_word_forms(n: int) -> tuple[str, ...]:
    """All the ways the generator may say the integer `n` (0-999) in words.

    The first form is the standard one (`number_to_words`); e.g. 180 -> ("one hundred and
    eighty", "one hundred eighty", "a hundred and eighty", "one eighty").
    """
    if not 0 <= n < 1000:
        raise ValueError(f"number_word_forms: {n} is outside 0-999")
    if n < 100:
        return (_words_below_100(n),)
    hundreds, rest = divmod(n, 100)
    head = f"{_UNITS[hundreds]} hundred"
    if rest == 0:
        return (head, "a hundred") if hundreds == 1 else (head,)
    tail = _words_below_100(rest)
    forms = [f"{head} and {tail}", f"{head} {tail}"]
    if hundreds == 1:
        forms.append(f"a hundred and {tail}")
    forms.append(f"{_UNITS[hundreds]} {tail}" if rest >= 10 else f"{_UNITS[hundreds]} oh {tail}")
    return tuple(forms)


def number_to_words(n: int) -> str:
    """Standard English words for 0 <= n < 1000, e.g. 21 -> "twenty one" (no hyphens)."""
    return number_word_forms(n)[0]


# --------------------------------------------------------------------------------------------
# Small random helpers (only Random.random() is used: stable across Python versions)
# --------------------------------------------------------------------------------------------


def _pick(rng: random.Random, seq: Sequence):
    return seq[int(rng.random() * len(seq))]


def _say_number(n: int, rng: random.Random) -> str:
    """Digits half the time, otherwise one of the word forms."""
    if rng.random() < 0.5:
        return str(n)
    forms = number_word_forms(n)
    if len(forms) == 1 or rng.random() < 0.6:
        return forms[0]
    return _pick(rng, forms)


class _NoPhrase(Exception):
    """A template slot cannot express this intent; the renderer picks another template."""


# --------------------------------------------------------------------------------------------
# Value phrases: canonical value string -> words
# --------------------------------------------------------------------------------------------


def _v_percent(value: str, rng: random.Random) -> str:
    n = int(value)
    if n == 50 and rng.random() < 0.15:
        return "half"
    if n == 100 and rng.random() < 0.3:
        return "full"
    said = _say_number(n, rng)
    return said + " percent" if rng.random() < 0.7 else said


def _v_points(value: str, rng: random.Random) -> str:
    said = _say_number(int(value), rng)
    return said + " percent" if rng.random() < 0.6 else said


def _v_degrees(value: str, rng: random.Random) -> str:
    said = _say_number(int(value), rng)
    return said + " degrees" if rng.random() < 0.7 else said


def _v_degree_delta(value: str, rng: random.Random) -> str:
    n = int(value)
    if n == 1:
        return _pick(rng, ("one degree", "a degree", "1 degree"))
    return _say_number(n, rng) + " degrees"


def _v_fan_level(value: str, rng: random.Random) -> str:
    said = _say_number(int(value), rng)
    r = rng.random()
    if r < 0.4:
        return "speed " + said
    if r < 0.7:
        return "level " + said
    if r < 0.85:
        return "setting " + said
    return said


def _v_channel(value: str, rng: random.Random) -> str:
    said = _say_number(int(value), rng)
    return "channel " + said if rng.random() < 0.8 else said


def _v_oven(value: str, rng: random.Random) -> str:
    said = _say_number(int(value), rng)
    return said + " degrees" if rng.random() < 0.8 else said


def _duration_forms(seconds: int, rng: random.Random) -> list[str]:
    """Phrases that mean exactly `seconds` ("5 minutes", "an hour and a half", ...)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    total_min = seconds // 60
    say = _say_number
    forms: list[str] = []

    def unit(n: int, name: str) -> str:
        if n == 1:
            article = "an" if name == "hour" else "a"
            return _pick(rng, (f"{article} {name}", f"one {name}", f"1 {name}"))
        return f"{say(n, rng)} {name}s"

    if seconds < 60:
        forms.append(unit(seconds, "second"))
    elif secs == 0 and hours == 0:
        forms.append(unit(minutes, "minute"))
        if minutes > 1:
            forms.append(f"{say(minutes, rng)} mins")
        if minutes == 30:
            forms += ["half an hour", "a half hour", "thirty minutes"]
        elif minutes == 15:
            forms += ["a quarter of an hour", "quarter of an hour", "a quarter hour"]
        elif minutes == 45:
            forms += ["three quarters of an hour"]
    elif secs == 30 and hours == 0:
        forms.append(f"{say(minutes, rng)} and a half minutes")
        forms.append(f"{unit(minutes, 'minute')} and thirty seconds")
        forms.append(f"{unit(minutes, 'minute')} {say(30, rng)} seconds")
        if total_min < 2:
            forms.append(f"{say(seconds, rng)} seconds")
    elif secs == 0:
        if minutes == 0:
            forms.append(unit(hours, "hour"))
        else:
            forms.append(f"{unit(hours, 'hour')} and {unit(minutes, 'minute')}")
            forms.append(f"{unit(hours, 'hour')} {unit(minutes, 'minute')}")
            if minutes == 30:
                if hours == 1:
                    forms += ["an hour and a half", "one and a half hours", "one hour and a half"]
                else:
                    forms += [f"{say(hours, rng)} and a half hours"]
            elif minutes == 15:
                forms.append(f"{unit(hours, 'hour')} and a quarter")
        if total_min <= 180:
            forms.append(f"{say(total_min, rng)} minutes")
    else:  # pragma: no cover - the sampler never draws these; keep render total anyway
        forms.append(f"{say(seconds, rng)} seconds")
    return forms


def _v_duration(value: str, rng: random.Random) -> str:
    return _pick(rng, _duration_forms(int(value), rng))


def _attributive_duration(value: str, rng: random.Random) -> str:
    """"five minute", "90 second", "two hour": the form used before "timer"."""
    seconds = int(value)
    if seconds < 60:
        return f"{_say_number(seconds, rng)} second"
    if seconds % 3600 == 0:
        return f"{_say_number(seconds // 3600, rng)} hour"
    if seconds % 60 == 0 and seconds < 3600:
        return f"{_say_number(seconds // 60, rng)} minute"
    if seconds % 60 == 30 and seconds < 600:
        return f"{_say_number(seconds // 60, rng)} and a half minute"
    raise _NoPhrase


def _article(phrase: str) -> str:
    first = phrase.split(" ", 1)[0]
    if first.startswith("one"):
        return "a"
    if first[0] in "aeiou" or first.startswith("8") or first in ("11", "18"):
        return "an"
    return "a"


def _v_duration_attr_a(value: str, rng: random.Random) -> str:
    phrase = _attributive_duration(value, rng)
    return f"{_article(phrase)} {phrase}"


def _v_clock(value: str, rng: random.Random) -> str:
    """A time of day for HHMM that says am/pm (or noon/midnight) so it is unambiguous."""
    hour, minute = int(value[:2]), int(value[2:])
    if minute == 0 and hour in (0, 12):
        noon = hour == 12
        return _pick(rng, ("noon", "midday", "12 pm", "twelve noon") if noon else
                     ("midnight", "12 am", "twelve at night"))

    def hour_parts(h: int) -> tuple[int, str, str]:
        ampm = "am" if h < 12 else "pm"
        if h < 12:
            part = "in the morning"
        elif h < 17:
            part = "in the afternoon"
        elif h < 21:
            part = "in the evening"
        else:
            part = "at night"
        return h % 12 or 12, ampm, part

    h12, ampm, part = hour_parts(hour)
    suffix = ampm if rng.random() < 0.6 else part
    if minute == 0:
        h_said = _say_number(h12, rng)
        if suffix == ampm:
            return f"{h_said} {ampm}"
        return f"{h_said} o'clock {part}" if rng.random() < 0.4 else f"{h_said} {part}"
    r = rng.random()
    if minute in (15, 30) and r < 0.3:
        word = "half" if minute == 30 else _pick(rng, ("quarter", "a quarter"))
        return f"{word} past {_say_number(h12, rng)} {suffix}"
    if minute == 45 and r < 0.3:
        nxt = (hour + 1) % 24
        if nxt in (0, 12):
            return "quarter to " + ("midnight" if nxt == 0 else "noon")
        n12, n_ampm, n_part = hour_parts(nxt)
        return f"quarter to {_say_number(n12, rng)} {n_ampm if suffix == ampm else n_part}"
    if r < 0.6:
        return f"{h12}.{minute:02d} {suffix}"
    m_words = f"oh {_UNITS[minute]}" if minute < 10 else _words_below_100(minute)
    return f"{number_to_words(h12)} {m_words} {suffix}"


# --------------------------------------------------------------------------------------------
# Value samplers: rng -> canonical value string
# --------------------------------------------------------------------------------------------

_LEVELS = (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100)


def _s_percent(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return str(_pick(rng, _LEVELS))
    return str(1 + int(rng.random() * 100))


def _s_points(rng: random.Random) -> str:
    return str(_pick(rng, (5, 10, 10, 15, 20, 20, 25, 30, 40, 50)))


def _s_volume_points(rng: random.Random) -> str:
    return str(_pick(rng, (5, 10, 10, 15, 20, 25, 30)))


def _s_volume(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return str(5 * int(rng.random() * 21))
    return str(int(rng.random() * 101))


def _s_degrees(rng: random.Random) -> str:
    return str(16 + int(rng.random() * 13))


def _s_degree_delta(rng: random.Random) -> str:
    return str(_pick(rng, (1, 1, 2, 2, 3, 4, 5)))


def _s_fan_level(rng: random.Random) -> str:
    return str(1 + int(rng.random() * 5))


def _s_channel(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return str(1 + int(rng.random() * 12))
    return str(1 + int(rng.random() * 99))


def _s_oven(rng: random.Random) -> str:
    return str(150 + 5 * int(rng.random() * 21))


_TIMER_MINUTES = (1, 2, 3, 4, 5, 5, 6, 7, 8, 10, 10, 12, 15, 15, 20, 20, 25, 30, 30, 35, 40, 45,
                  50, 60)


def _s_seconds(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return str(_pick(rng, (10, 15, 20, 30, 40, 45, 50)))
    if r < 0.55:
        return str(60 * _pick(rng, _TIMER_MINUTES))
    if r < 0.65:
        return str(60 * (2 + int(rng.random() * 58)))
    if r < 0.75:
        return str(60 * (1 + int(rng.random() * 9)) + 30)
    return str(3600 * (1 + int(rng.random() * 3)) + 60 * _pick(rng, (0, 0, 15, 30, 30, 45)))


def _s_clock(rng: random.Random) -> str:
    hour = _pick(rng, (5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                       19, 20, 21, 22, 23, 0))
    minute = _pick(rng, (0, 0, 0, 0, 15, 30, 30, 45, 5, 10, 20, 40, 50))
    return f"{hour:02d}{minute:02d}"


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------
# Each template line is "<kind> <text>". Kinds: "i" imperative (may be wrapped in politeness:
# "could you ...", "... please", "would you mind <gerund> ..."), "t" terse or statement (only
# fillers and a trailing "please"/"thanks"), "q" question (may end with "?").
# Slots: {np} definite noun phrase for device + target ("the kitchen lights", "the lights in
# the kitchen", "all the lights", "the front door"); {tnp} terse noun phrase ("kitchen lights");
# {loc} location ("in the kitchen", "everywhere"); {place} ("the kitchen", "the whole house");
# {rm} bare room name ("kitchen"); {v} value phrase; {va} "a five minute" (timer only).


@dataclass(frozen=True)
class _Template:
    kind: str
    text: str
    slots: tuple[str, ...]


@dataclass(frozen=True)
class _Spec:
    device: str
    action: str
    weight: float
    targets: tuple[str | None, ...]
    nouns: tuple[str, ...]
    all_nouns: tuple[str, ...]
    sample_value: Callable[[random.Random], str] | None
    say_value: Callable[[str, random.Random], str] | None
    value_optional: bool
    with_value: tuple[_Template, ...]
    without_value: tuple[_Template, ...]
    implicit_room: bool


_FORMATTER = string.Formatter()


def _templates(block: str) -> tuple[_Template, ...]:
    out = []
    for raw in block.strip().splitlines():
        kind, text = raw.strip().split(" ", 1)
        assert kind in ("i", "t", "q"), raw
        slots = tuple(sorted({name for _, name, _, _ in _FORMATTER.parse(text) if name}))
        out.append(_Template(kind, text, slots))
    return tuple(out)


_SPECS: list[_Spec] = []


def _add(device: str, action: str, weight: float, templates: str, *,
         targets: Sequence[str | None] = (None,), nouns: Sequence[str] = (),
         all_nouns: Sequence[str] = (), value: str | None = None,
         optional: bool = False, implicit_room: bool = False) -> None:
    sample, say = _VALUE_KINDS[value] if value else (None, None)
    parsed = _templates(templates)
    with_value = tuple(t for t in parsed if "v" in t.slots or "va" in t.slots)
    without_value = tuple(t for t in parsed if t not in with_value)
    if value and not with_value:
        raise AssertionError(f"{device}.{action}: no template uses the value")
    if (not value or optional) and not without_value:
        raise AssertionError(f"{device}.{action}: no template without a value")
    _SPECS.append(_Spec(device, action, weight, tuple(targets), tuple(nouns), tuple(all_nouns),
                        sample, say, optional, with_value, without_value, implicit_room))


_VALUE_KINDS: dict[str, tuple[Callable, Callable]] = {
    "percent": (_s_percent, _v_percent),
    "points": (_s_points, _v_points),
    "volume": (_s_volume, _v_points),
    "volume_points": (_s_volume_points, _v_points),
    "degrees": (_s_degrees, _v_degrees),
    "degree_delta": (_s_degree_delta, _v_degree_delta),
    "fan_level": (_s_fan_level, _v_fan_level),
    "channel": (_s_channel, _v_channel),
    "oven": (_s_oven, _v_oven),
    "seconds": (_s_seconds, _v_duration),
    "clock": (_s_clock, _v_clock),
}

_ALL_ROOMS = tuple(ROOMS)
_HEATED = ("kitchen", "living_room", "bedroom", "hallway", "bathroom", "office", "dining_room",
           "kids_room", "guest_room", "basement", "nursery", "attic")
_FAN_ROOMS = ("bedroom", "living_room", "office", "kitchen", "bathroom", "garage", "kids_room",
              "guest_room", "attic", "nursery")
_WINDOWED = ("living_room", "bedroom", "office", "kitchen", "dining_room", "kids_room",
             "guest_room", "nursery", "bathroom")
_TV_ROOMS = ("living_room", "bedroom", "kitchen", "office", "kids_room", "basement", "guest_room")
_MEDIA_ROOMS = ("living_room", "kitchen", "bedroom", "office", "bathroom", "garden", "garage",
                "dining_room", "basement")
_VACUUM_ROOMS = ("living_room", "kitchen", "bedroom", "hallway", "office", "dining_room",
                 "kids_room", "guest_room")
_DOOR_KEYS = tuple(DOORS)

_LIGHT = dict(targets=_ALL_ROOMS + (ALL, ALL), all_nouns=("lights", "lamps"),
              nouns=("lights", "lights", "light", "lamp", "lamps", "ceiling light",
                     "overhead lights"))
_HEAT_ONOFF = dict(targets=_HEATED, nouns=("heating", "heater", "heat", "radiator", "radiators",
                                           "thermostat"))
_HEAT_SET = dict(targets=_HEATED, nouns=("thermostat", "heating", "temperature", "heat"))
_FAN = dict(targets=_FAN_ROOMS, nouns=("fan", "fan", "fans", "ceiling fan"))
_BLINDS = dict(targets=_WINDOWED + (ALL,), nouns=("blinds", "blinds", "curtains", "shades",
                                                 "shutters", "blind"),
               all_nouns=("blinds", "curtains", "shades"))
_TV = dict(targets=_TV_ROOMS, nouns=("tv", "tv", "television", "telly"))
_MEDIA = dict(targets=_MEDIA_ROOMS + (ALL,), nouns=("music", "speaker", "speakers",
                                                   "sound system", "radio"),
              all_nouns=("speakers",))
_DOOR = dict(targets=_DOOR_KEYS)
_OVEN = dict(targets=("kitchen",), nouns=("oven",), implicit_room=True)
_COFFEE = dict(targets=("kitchen",), nouns=("coffee machine", "coffee maker"),
               implicit_room=True)
_SPRINKLER = dict(targets=("garden",), nouns=("sprinklers", "sprinkler", "irrigation",
                                              "sprinkler system"), implicit_room=True)

# --- lights ---------------------------------------------------------------------------------
_add("light", "on", 6, """
    i turn on {np}
    i turn {np} on
    i switch on {np}
    i switch {np} on
    i put {np} on
    i light up {place}
    t {tnp} on
    t lights on {loc}
    t i need some light {loc}
    t it's too dark {loc}
""", **_LIGHT)
_add("light", "off", 6, """
    i turn off {np}
    i turn {np} off
    i switch off {np}
    i switch {np} off
    i shut off {np}
    i kill {np}
    t {tnp} off
    t lights out {loc}
    t no more lights {loc}
""", **_LIGHT)
_add("light", "set", 3, """
    i set {np} to {v}
    i put {np} at {v}
    i change {np} to {v}
    i turn {np} to {v}
    i set the brightness {loc} to {v}
    i make {np} {v}
    t {tnp} to {v}
    t {tnp} {v}
    t brightness {v} {loc}
""", value="percent", **_LIGHT)
_add("light", "dim", 3, """
    i dim {np} by {v}
    i lower {np} by {v}
    i turn down {np} by {v}
    i turn {np} down by {v}
    t {tnp} down {v}
    i dim {np}
    i dim the lights {loc}
    i turn {np} down
    i make {np} dimmer
    i lower {np}
    t {tnp} dimmer
    t {tnp} down a bit
    t too bright {loc}
""", value="points", optional=True, **_LIGHT)
_add("light", "brighten", 3, """
    i brighten {np} by {v}
    i turn up {np} by {v}
    i turn {np} up by {v}
    i raise {np} by {v}
    i increase {np} by {v}
    t {tnp} up {v}
    i brighten {np}
    i turn {np} up
    i make {np} brighter
    i brighten up {place}
    t {tnp} brighter
    t more light {loc}
""", value="points", optional=True, **_LIGHT)

# --- heating --------------------------------------------------------------------------------
_add("thermostat", "on", 1.5, """
    i turn on {np}
    i turn {np} on
    i switch on {np}
    i switch {np} on
    i fire up {np}
    i put the heating on {loc}
    t {tnp} on
""", **_HEAT_ONOFF)
_add("thermostat", "off", 1.5, """
    i turn off {np}
    i turn {np} off
    i switch off {np}
    i shut off {np}
    i turn the heat off {loc}
    t {tnp} off
    t no heating {loc}
""", **_HEAT_ONOFF)
_add("thermostat", "set", 4, """
    i set {np} to {v}
    i change {np} to {v}
    i put {np} on {v}
    i adjust {np} to {v}
    i make {place} {v}
    i heat {place} to {v}
    i keep {place} at {v}
    t {tnp} to {v}
    t {tnp} {v}
    t i want {place} at {v}
""", value="degrees", **_HEAT_SET)
_add("thermostat", "up", 2, """
    i turn up {np} by {v}
    i turn {np} up by {v}
    i raise {np} by {v}
    i increase {np} by {v}
    i bump {np} up by {v}
    i make {place} {v} warmer
    t {tnp} up {v}
    i turn up {np}
    i turn {np} up
    i make {place} warmer
    i warm up {place}
    i heat up {place}
    i make it warmer {loc}
    t {tnp} up
    t it's cold {loc}
    t it's freezing {loc}
""", value="degree_delta", optional=True, **_HEAT_SET)
_add("thermostat", "down", 2, """
    i turn down {np} by {v}
    i turn {np} down by {v}
    i lower {np} by {v}
    i decrease {np} by {v}
    i drop {np} by {v}
    i make {place} {v} cooler
    t {tnp} down {v}
    i turn down {np}
    i turn {np} down
    i make {place} cooler
    i cool down {place}
    i make it cooler {loc}
    t {tnp} down
    t it's too hot {loc}
    t it's boiling {loc}
""", value="degree_delta", optional=True, **_HEAT_SET)

# --- fans -----------------------------------------------------------------------------------
_add("fan", "on", 1.5, """
    i turn on {np}
    i turn {np} on
    i switch on {np}
    i start {np}
    t {tnp} on
""", **_FAN)
_add("fan", "off", 1.5, """
    i turn off {np}
    i turn {np} off
    i switch off {np}
    i stop {np}
    t {tnp} off
""", **_FAN)
_add("fan", "set", 1.5, """
    i set {np} to {v}
    i put {np} on {v}
    i turn {np} to {v}
    i change {np} to {v}
    t {tnp} {v}
    t {tnp} to {v}
""", value="fan_level", **_FAN)

# --- blinds and curtains --------------------------------------------------------------------
_add("blinds", "open", 2.5, """
    i open {np}
    i open up {np}
    i raise {np}
    i pull up {np}
    i draw back {np}
    i let some light in {loc}
    t {tnp} open
    t {tnp} up
""", **_BLINDS)
_add("blinds", "close", 2.5, """
    i close {np}
    i shut {np}
    i lower {np}
    i pull down {np}
    i draw {np}
    t {tnp} down
    t {tnp} closed
    t {tnp} shut
""", **_BLINDS)
_add("blinds", "set", 1.5, """
    i set {np} to {v}
    i open {np} to {v}
    i move {np} to {v}
    i put {np} at {v}
    t {tnp} to {v}
    t {tnp} {v}
""", value="percent", **_BLINDS)

# --- tv -------------------------------------------------------------------------------------
_add("tv", "on", 1.5, """
    i turn on {np}
    i turn {np} on
    i switch on {np}
    i switch {np} on
    i power on {np}
    t {tnp} on
""", **_TV)
_add("tv", "off", 1.5, """
    i turn off {np}
    i turn {np} off
    i switch off {np}
    i shut off {np}
    i power off {np}
    t {tnp} off
""", **_TV)
_add("tv", "channel", 1.5, """
    i put {np} on {v}
    i switch {np} to {v}
    i change {np} to {v}
    i turn {np} to {v}
    t {tnp} {v}
    t {tnp} to {v}
""", value="channel", **_TV)

# --- music and speakers ---------------------------------------------------------------------
_add("media", "play", 2, """
    i play music {loc}
    i play some music {loc}
    i put on some music {loc}
    i put some music on {loc}
    i start the music {loc}
    i resume {np}
    i unpause {np}
    t music {loc}
    t some music {loc}
""", **_MEDIA)
_add("media", "pause", 1.5, """
    i pause {np}
    i pause the music {loc}
    i hold the music {loc}
    t {tnp} pause
    t pause music {loc}
""", **_MEDIA)
_add("media", "stop", 1.5, """
    i stop {np}
    i stop the music {loc}
    i turn off the music {loc}
    i kill the music {loc}
    i silence {np}
    t {tnp} off
    t stop music {loc}
""", **_MEDIA)
_add("media", "volume", 2, """
    i set the volume {loc} to {v}
    i set the volume on {np} to {v}
    i change the volume {loc} to {v}
    i turn {np} to {v}
    i put the volume {loc} at {v}
    t volume {v} {loc}
    t volume to {v} {loc}
    t {tnp} volume {v}
""", value="volume", **_MEDIA)
_add("media", "louder", 1.5, """
    i turn up {np} by {v}
    i turn the volume up {loc} by {v}
    i raise the volume {loc} by {v}
    i increase the volume {loc} by {v}
    t volume up {v} {loc}
    i turn up {np}
    i turn {np} up
    i make {np} louder
    i turn it up {loc}
    t louder {loc}
    t volume up {loc}
    t i can't hear the music {loc}
""", value="volume_points", optional=True, **_MEDIA)
_add("media", "quieter", 1.5, """
    i turn down {np} by {v}
    i turn the volume down {loc} by {v}
    i lower the volume {loc} by {v}
    i decrease the volume {loc} by {v}
    t volume down {v} {loc}
    i turn down {np}
    i turn {np} down
    i make {np} quieter
    i turn it down {loc}
    t quieter {loc}
    t volume down {loc}
    t the music is too loud {loc}
""", value="volume_points", optional=True, **_MEDIA)

# --- locks ----------------------------------------------------------------------------------
_add("lock", "lock", 2.5, """
    i lock {np}
    i lock up {np}
    i secure {np}
    i bolt {np}
    i make sure {np} is locked
    t {tnp} locked
    t lock {tnp}
""", targets=_DOOR_KEYS + (ALL,), all_nouns=("doors",))
_add("lock", "unlock", 2, """
    i unlock {np}
    i open the lock on {np}
    i unbolt {np}
    i let me in through {np}
    t {tnp} unlocked
    t unlock {tnp}
""", **_DOOR)

# --- kitchen appliances ---------------------------------------------------------------------
_add("oven", "on", 1, """
    i turn on {np}
    i turn {np} on
    i switch on {np}
    i start {np}
    t {tnp} on
""", **_OVEN)
_add("oven", "off", 1, """
    i turn off {np}
    i turn {np} off
    i switch off {np}
    t {tnp} off
""", **_OVEN)
_add("oven", "set", 1.5, """
    i preheat {np} to {v}
    i set {np} to {v}
    i heat {np} to {v}
    i turn {np} to {v}
    i put {np} on {v}
    t {tnp} to {v}
    t {tnp} {v}
""", value="oven", **_OVEN)
_add("coffee", "brew", 1.5, """
    i make me a coffee
    i make some coffee
    i brew some coffee
    i brew a pot of coffee
    i start {np}
    i turn on {np}
    i switch on {np}
    t i need a coffee
    t coffee time
    t a cup of coffee
""", **_COFFEE)
_add("coffee", "off", 0.5, """
    i turn off {np}
    i switch off {np}
    i turn {np} off
    t {tnp} off
""", **_COFFEE)

# --- robot vacuum and garden ----------------------------------------------------------------
_add("vacuum", "start", 1.5, """
    i vacuum {place}
    i clean {place}
    i hoover {place}
    i start the vacuum {loc}
    i run the robot vacuum {loc}
    i send the vacuum to {place}
    i start cleaning {place}
    t {place} needs vacuuming
""", targets=_VACUUM_ROOMS + (ALL,))
_add("vacuum", "dock", 0.7, """
    i send the vacuum back to its dock
    i dock the vacuum
    i stop vacuuming
    i send the robot vacuum home
    i stop the robot vacuum
    i return the vacuum to its base
    t vacuum go home
    t vacuum back to base
""")
_add("sprinkler", "on", 0.8, """
    i turn on {np}
    i switch on {np}
    i start {np}
    i water {place}
    i run {np}
    t {tnp} on
""", **_SPRINKLER)
_add("sprinkler", "off", 0.6, """
    i turn off {np}
    i switch off {np}
    i stop {np}
    i stop watering {place}
    t {tnp} off
""", **_SPRINKLER)

# --- timers and alarms ----------------------------------------------------------------------
_add("timer", "start", 4, """
    i set a timer for {v}
    i start a timer for {v}
    i set the timer for {v}
    i put a timer on for {v}
    i set {va} timer
    i start {va} timer
    i remind me in {v}
    i count down {v}
    i give me {va} timer
    t timer for {v}
    t timer {v}
    t {va} timer
""", value="seconds")
_add("timer", "cancel", 1, """
    i cancel the timer
    i cancel my timer
    i stop the timer
    i turn off the timer
    i delete the timer
    i kill the timer
    i clear the timer
    t never mind the timer
    t cancel timer
    t timer off
""")
_add("alarm", "set", 3, """
    i set an alarm for {v}
    i set my alarm for {v}
    i wake me up at {v}
    i wake me at {v}
    i set the alarm to {v}
    i put an alarm on for {v}
    t alarm at {v}
    t alarm for {v}
    t i need to get up at {v}
    t i want to wake up at {v}
""", value="clock")
_add("alarm", "cancel", 1, """
    i cancel my alarm
    i cancel the alarm
    i turn off my alarm
    i delete the alarm
    i switch off the alarm
    i remove my alarm
    t no alarm tomorrow
    t alarm off
    t i don't need an alarm
""")

# --- questions ------------------------------------------------------------------------------
_QUERY_ROOMS = _HEATED + ("garden", "garage")
_add("query", "temperature", 2.5, """
    q what's the temperature {loc}
    q what is the temperature {loc}
    q how warm is it {loc}
    q how cold is it {loc}
    q how hot is it {loc}
    q what temperature is it {loc}
    q how warm is {place}
    q is it warm {loc}
    t {rm} temperature
    t temperature {loc}
""", targets=_QUERY_ROOMS)
_add("query", "humidity", 1, """
    q what's the humidity {loc}
    q how humid is it {loc}
    q how humid is {place}
    q what is the humidity level {loc}
    t humidity {loc}
    t {rm} humidity
""", targets=_QUERY_ROOMS)
_add("query", "light", 1.5, """
    q are the lights on {loc}
    q did i leave the lights on {loc}
    q are {np} on
    q are {np} still on
    i check {np}
    i check the lights {loc}
    t {tnp} status
""", targets=_ALL_ROOMS, nouns=("lights", "lamps", "lights"))
_add("query", "lock", 1.5, """
    q is {np} locked
    q did i lock {np}
    q is {np} unlocked
    q did i leave {np} unlocked
    q did someone lock {np}
    i check {np}
    i check the lock on {np}
    t {tnp} status
    t {tnp} locked
""", **_DOOR)
_add("query", "timer", 0.8, """
    q how much time is left on the timer
    q how long is left on my timer
    q how long until the timer goes off
    q how much longer on the timer
    t time left on the timer
    i check the timer
    t timer status
""")
_add("query", "time", 0.8, """
    q what time is it
    q what's the time
    q what time is it now
    q do you know what time it is
    i tell me the time
    t time check
""")

_SPEC_BY_KEY: dict[tuple[str, str], _Spec] = {(s.device, s.action): s for s in _SPECS}
assert len(_SPEC_BY_KEY) == len(_SPECS), "duplicate (device, action) spec"

COMMANDS: frozenset[str] = frozenset(f"{s.device}.{s.action}" for s in _SPECS)
"""Every ``domain.verb`` the generator can produce."""

_CUM_WEIGHTS: list[float] = []
_total = 0.0
for _spec in _SPECS:
    _total += _spec.weight
    _CUM_WEIGHTS.append(_total)
_TOTAL_WEIGHT = _total
del _spec, _total


# --------------------------------------------------------------------------------------------
# Sampling and rendering
# --------------------------------------------------------------------------------------------


def sample_intent(rng: random.Random) -> Intent:
    """Draw one random `Intent` (device/action by weight, then target and value)."""
    return _sample(rng)[1]


def _sample(rng: random.Random) -> tuple[_Spec, Intent]:
    x = rng.random() * _TOTAL_WEIGHT
    spec = _SPECS[min(bisect.bisect_right(_CUM_WEIGHTS, x), len(_SPECS) - 1)]
    targets = spec.targets
    room = targets[int(rng.random() * len(targets))]
    value = None
    if spec.sample_value is not None and not (spec.value_optional and rng.random() < 0.4):
        value = spec.sample_value(rng)
    return spec, Intent(spec.action, spec.device, room, value)


def _room_surface(room: str, rng: random.Random) -> str:
    names = ROOMS[room]
    return names[0] if len(names) == 1 or rng.random() < 0.5 else _pick(rng, names)


def _slot_np(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    room = intent.room
    if room in DOORS:
        return "the " + _pick(rng, DOORS[room])
    if room == ALL:
        noun = _pick(rng, spec.all_nouns)
        return _pick(rng, ("all the {0}", "all the {0}", "all {0}", "all of the {0}",
                           "the {0} everywhere", "the {0} in the whole house")).format(noun)
    noun = _pick(rng, spec.nouns)
    r = rng.random()
    if spec.implicit_room and r < 0.55:
        return "the " + noun
    if r < 0.7:
        return f"the {_room_surface(room, rng)} {noun}"
    return f"the {noun} in the {_room_surface(room, rng)}"


def _slot_tnp(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    room = intent.room
    if room in DOORS:
        return _pick(rng, DOORS[room])
    if room == ALL:
        noun = _pick(rng, spec.all_nouns)
        return _pick(rng, ("all {0}", "all the {0}", "{0} everywhere")).format(noun)
    noun = _pick(rng, spec.nouns)
    r = rng.random()
    if spec.implicit_room and r < 0.6:
        return noun
    if r < 0.75:
        return f"{_room_surface(room, rng)} {noun}"
    return f"{noun} in the {_room_surface(room, rng)}"


def _slot_loc(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    if intent.room == ALL:
        return _pick(rng, _ALL_LOC)
    return "in the " + _room_surface(intent.room, rng)


def _slot_place(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    if intent.room == ALL:
        return _pick(rng, _ALL_PLACE)
    return "the " + _room_surface(intent.room, rng)


def _slot_rm(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    return _room_surface(intent.room, rng)


def _slot_v(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    return spec.say_value(intent.value, rng)


def _slot_va(spec: _Spec, intent: Intent, rng: random.Random) -> str:
    return _v_duration_attr_a(intent.value, rng)


_SLOTS: dict[str, Callable[[_Spec, Intent, random.Random], str]] = {
    "np": _slot_np, "tnp": _slot_tnp, "loc": _slot_loc, "place": _slot_place, "rm": _slot_rm,
    "v": _slot_v, "va": _slot_va,
}

_POLITE_PREFIX = ("please ", "could you ", "could you please ", "can you ", "can you please ",
                  "would you ", "would you please ", "i'd like you to ", "i want you to ",
                  "go ahead and ", "i need you to ", "will you ")
_POLITE_SUFFIX = (" please", ", please", " for me", " for me please", " thanks", ", thanks",
                  ", thank you", " now", " right now", " thank you")
_PLAIN_SUFFIX = (" for me", " thanks", ", thanks", " now")
_TERSE_SUFFIX = (" please", ", please", " thanks", ", thanks")
_MIND_PREFIX = ("would you mind ", "do you mind ", "how about ", "mind ")
_QUESTION_PREFIX = ("tell me, ", "quick question, ", "just wondering, ", "so ")
_FILLERS = ("um", "um,", "uh", "uh,", "hey", "hey,", "okay so", "okay,", "ok", "so", "alright,",
            "hmm", "oh,", "hey there,", "right,", "er", "well,", "okay um", "hey house,", "yo")
_MID_FILLERS = ("um ", "uh ", "er ", "um, ")

_GERUNDS = {
    "turn": "turning", "switch": "switching", "shut": "shutting", "set": "setting",
    "put": "putting", "dim": "dimming", "open": "opening", "close": "closing",
    "lock": "locking", "unlock": "unlocking", "start": "starting", "stop": "stopping",
    "pause": "pausing", "play": "playing", "make": "making", "raise": "raising",
    "lower": "lowering", "increase": "increasing", "decrease": "decreasing",
    "brighten": "brightening", "change": "changing", "cancel": "cancelling",
    "preheat": "preheating", "heat": "heating", "warm": "warming", "cool": "cooling",
    "vacuum": "vacuuming", "clean": "cleaning", "water": "watering", "kill": "killing",
    "pull": "pulling", "draw": "drawing", "resume": "resuming", "bolt": "bolting",
    "secure": "securing", "fire": "firing", "brew": "brewing", "send": "sending",
    "dock": "docking", "run": "running", "check": "checking", "let": "letting",
    "light": "lighting", "delete": "deleting", "tell": "telling", "remind": "reminding",
    "hoover": "hoovering", "give": "giving", "adjust": "adjusting", "keep": "keeping",
    "bump": "bumping", "drop": "dropping", "move": "moving", "silence": "silencing",
    "hold": "holding", "unpause": "unpausing", "power": "powering", "clear": "clearing",
    "remove": "removing", "count": "counting", "wake": "waking", "return": "returning",
    "unbolt": "unbolting",
}


def _wrap(kind: str, core: str, rng: random.Random) -> str:
    r = rng.random()
    if kind == "i":
        if r < 0.42:
            text = core
        elif r < 0.70:
            text = _pick(rng, _POLITE_PREFIX) + _hesitate(rng) + core
        elif r < 0.90:
            text = core + _pick(rng, _POLITE_SUFFIX)
        elif r < 0.95:
            text = _pick(rng, _POLITE_PREFIX) + _hesitate(rng) + core + _pick(rng, _PLAIN_SUFFIX)
        else:
            verb, _, rest = core.partition(" ")
            gerund = _GERUNDS.get(verb)
            text = f"{_pick(rng, _MIND_PREFIX)}{gerund} {rest}" if gerund and rest else core
    elif kind == "t":
        text = core if r < 0.75 else core + _pick(rng, _TERSE_SUFFIX)
    else:
        text = _pick(rng, _QUESTION_PREFIX) + core if r < 0.1 else core
        if rng.random() < 0.5:
            text += "?"
    if rng.random() < 0.18:
        text = _pick(rng, _FILLERS) + " " + text
    return text


def _hesitate(rng: random.Random) -> str:
    """Occasionally an "um" between a polite opening and the command itself."""
    return _pick(rng, _MID_FILLERS) if rng.random() < 0.12 else ""


def _typo(text: str, rng: random.Random) -> str:
    """One swapped, dropped or doubled letter inside one word of at least 3 letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 3 and w[:3].isalpha()]
    if not candidates:
        return text
    index = _pick(rng, candidates)
    word = words[index]
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    op = rng.random()
    pos = _pick(rng, letters)
    if op < 0.4:
        swaps = [i for i in letters if i + 1 < len(word) and word[i + 1].isalpha()
                 and word[i] != word[i + 1]]
        if swaps:
            i = _pick(rng, swaps)
            word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        else:
            word = word[:pos] + word[pos + 1:]
    elif op < 0.7:
        word = word[:pos] + word[pos + 1:]
    else:
        word = word[:pos] + word[pos] + word[pos:]
    words[index] = word
    return " ".join(words)


def _check_intent(spec: _Spec, intent: Intent) -> None:
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


def render(intent: Intent, rng: random.Random, typo_rate: float = TYPO_RATE) -> tuple[str, str]:
    """Put `intent` into words; return ``(utterance, canonical command)``.

    The phrasing (template, synonyms, politeness, fillers, digits or words) is drawn from `rng`.
    With probability `typo_rate` the utterance gets one character-level typo; the command never
    does. Exactly one ``rng.random()`` draw decides the typo, after the clean utterance is
    built, so two calls with equally seeded generators and different `typo_rate` produce the
    same clean text. Raises ValueError for an intent the grammar does not cover.
    """
    spec = _SPEC_BY_KEY.get((intent.device, intent.action))
    if spec is None:
        raise ValueError(f"unknown command {intent.device}.{intent.action}; "
                         f"known: {', '.join(sorted(COMMANDS))}")
    _check_intent(spec, intent)
    return _render(spec, intent, rng, typo_rate), canonical(intent)


def _render(spec: _Spec, intent: Intent, rng: random.Random, typo_rate: float) -> str:
    templates = spec.with_value if intent.value is not None else spec.without_value
    text = ""
    for _ in range(50):
        template = templates[int(rng.random() * len(templates))]
        try:
            slots = {name: _SLOTS[name](spec, intent, rng) for name in template.slots}
        except _NoPhrase:
            continue
        text = _wrap(template.kind, template.text.format_map(slots), rng)
        # Leave one character of room either side for a dropped or doubled letter.
        if MIN_UTTERANCE_LEN < len(text) < MAX_UTTERANCE_LEN:
            break
    if rng.random() < typo_rate:
        text = _typo(text, rng)
    return text


def generate_commands(n_lines: int, seed: int = 1, *,
                      keep: Callable[[Intent], bool] | None = None, typo_rate: float = TYPO_RATE) -> list[str]:
    """Return `n_lines` corpus lines ``"<utterance> => <command>"`` for the "commands" recipe.

    Deterministic: the same (n_lines, seed) gives the same lines on every run and machine, and
    a longer corpus starts with the lines of a shorter one. `keep`, if given, is a predicate on
    the sampled `Intent`; rejected intents are redrawn (use it to hold out combinations such as
    particular (room, action) pairs). `typo_rate` is the share of utterances with one typo
    (1.0: every one that has a word of three letters; for training-time noise augmentation).
    """
    if n_lines < 0:
        raise ValueError(f"n_lines must be >= 0, got {n_lines}")
    rng = random.Random(seed)
    lines: list[str] = []
    append = lines.append
    misses = 0
    while len(lines) < n_lines:
        spec, intent = _sample(rng)
        if keep is not None and not keep(intent):
            misses += 1
            if misses > 1000 + 100 * n_lines:
                raise ValueError("generate_commands: the keep predicate rejects (nearly) "
                                 "every intent")
            continue
        append(_render(spec, intent, rng, typo_rate) + SEPARATOR + canonical(intent))
    return lines


RECIPES: dict[str, Callable[[int, int], list[str]]] = {
    "commands": generate_commands,
}
"""Recipe name -> ``fn(n_lines, seed) -> list[str]`` of corpus lines."""


# --------------------------------------------------------------------------------------------
# Compositional hold-out
# --------------------------------------------------------------------------------------------


def target_pairs() -> list[tuple[str, str]]:
    """Every (command, target) pair the grammar can say, e.g. ("light.off", "hallway"); commands
    without a target and the "all" target are left out. Sorted."""
    pairs = {(f"{s.device}.{s.action}", t) for s in _SPECS for t in s.targets if t not in (None, ALL)}
    return sorted(pairs)


def compositional_holdout(fraction: float, seed: int) -> frozenset[tuple[str, str]]:
    """A seeded set of about `fraction` of `target_pairs()` to keep out of training, chosen so
    that every held-out pair's command and its target each remain in training with at least two
    other partners: a model that parses a held-out line has combined parts it learned apart."""
    pairs = target_pairs()
    if fraction <= 0:
        return frozenset()
    rng = random.Random(seed)
    order = list(pairs)
    rng.shuffle(order)
    by_cmd: dict[str, int] = {}
    by_target: dict[str, int] = {}
    for c, t in pairs:
        by_cmd[c] = by_cmd.get(c, 0) + 1
        by_target[t] = by_target.get(t, 0) + 1
    want = int(round(fraction * len(pairs)))
    held: set[tuple[str, str]] = set()
    for c, t in order:
        if len(held) >= want:
            break
        if by_cmd[c] > 2 and by_target[t] > 2:
            held.add((c, t))
            by_cmd[c] -= 1
            by_target[t] -= 1
    return frozenset(held)


def intent_pair(intent: Intent) -> tuple[str, str | None]:
    return f"{intent.device}.{intent.action}", intent.room
