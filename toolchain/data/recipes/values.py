"""Command values: drawing a canonical value and saying it in words.

A value kind (``percent``, ``degrees``, ``seconds``, ``clock``, ...) pairs a sampler,
``rng -> canonical digit string``, with a phraser, ``(value, rng) -> words``: "half",
"twenty one degrees", "an hour and a half", "quarter past seven am". `VALUE_KINDS` names them
for the command templates.
"""

from __future__ import annotations

import random
from typing import Callable

from .draw import pick
from .numbers import number_to_words, number_word_forms

Sampler = Callable[[random.Random], str]
Phraser = Callable[[str, random.Random], str]


class NoPhrase(Exception):
    """A template slot cannot express this intent; the renderer picks another template."""


def say_number(n: int, rng: random.Random) -> str:
    """Digits half the time, otherwise one of the word forms."""
    if rng.random() < 0.5:
        return str(n)
    forms = number_word_forms(n)
    if len(forms) == 1 or rng.random() < 0.6:
        return forms[0]
    return pick(rng, forms)


# --------------------------------------------------------------------------------------------
# Phrasers: canonical value string -> words
# --------------------------------------------------------------------------------------------


def _v_percent(value: str, rng: random.Random) -> str:
    n = int(value)
    if n == 50 and rng.random() < 0.15:
        return "half"
    if n == 100 and rng.random() < 0.3:
        return "full"
    said = say_number(n, rng)
    return said + " percent" if rng.random() < 0.7 else said


def _v_points(value: str, rng: random.Random) -> str:
    said = say_number(int(value), rng)
    return said + " percent" if rng.random() < 0.6 else said


def _v_degrees(value: str, rng: random.Random) -> str:
    said = say_number(int(value), rng)
    return said + " degrees" if rng.random() < 0.7 else said


def _v_degree_delta(value: str, rng: random.Random) -> str:
    n = int(value)
    if n == 1:
        return pick(rng, ("one degree", "a degree", "1 degree"))
    return say_number(n, rng) + " degrees"


def _v_fan_level(value: str, rng: random.Random) -> str:
    said = say_number(int(value), rng)
    r = rng.random()
    if r < 0.4:
        return "speed " + said
    if r < 0.7:
        return "level " + said
    if r < 0.85:
        return "setting " + said
    return said


def _v_channel(value: str, rng: random.Random) -> str:
    said = say_number(int(value), rng)
    return "channel " + said if rng.random() < 0.8 else said


def _v_oven(value: str, rng: random.Random) -> str:
    said = say_number(int(value), rng)
    return said + " degrees" if rng.random() < 0.8 else said


def _duration_forms(seconds: int, rng: random.Random) -> list[str]:
    """Phrases that mean exactly `seconds` ("5 minutes", "an hour and a half", ...)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    total_min = seconds // 60
    say = say_number
    forms: list[str] = []

    def unit(n: int, name: str) -> str:
        if n == 1:
            article = "an" if name == "hour" else "a"
            return pick(rng, (f"{article} {name}", f"one {name}", f"1 {name}"))
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
    return pick(rng, _duration_forms(int(value), rng))


def _attributive_duration(value: str, rng: random.Random) -> str:
    """"five minute", "90 second", "two hour": the form used before "timer"."""
    seconds = int(value)
    if seconds < 60:
        return f"{say_number(seconds, rng)} second"
    if seconds % 3600 == 0:
        return f"{say_number(seconds // 3600, rng)} hour"
    if seconds % 60 == 0 and seconds < 3600:
        return f"{say_number(seconds // 60, rng)} minute"
    if seconds % 60 == 30 and seconds < 600:
        return f"{say_number(seconds // 60, rng)} and a half minute"
    raise NoPhrase


def _article(phrase: str) -> str:
    first = phrase.split(" ", 1)[0]
    if first.startswith("one"):
        return "a"
    if first[0] in "aeiou" or first.startswith("8") or first in ("11", "18"):
        return "an"
    return "a"


def say_duration_before_noun(value: str, rng: random.Random) -> str:
    """A duration in seconds said with its article before a noun: "a five minute" (timer),
    "an eight minute". Raises `NoPhrase` for a duration that has no such form."""
    phrase = _attributive_duration(value, rng)
    return f"{_article(phrase)} {phrase}"


def _v_clock(value: str, rng: random.Random) -> str:
    """A time of day for HHMM that says am/pm (or noon/midnight) so it is unambiguous."""
    hour, minute = int(value[:2]), int(value[2:])
    if minute == 0 and hour in (0, 12):
        noon = hour == 12
        return pick(rng, ("noon", "midday", "12 pm", "twelve noon") if noon else
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
        h_said = say_number(h12, rng)
        if suffix == ampm:
            return f"{h_said} {ampm}"
        return f"{h_said} o'clock {part}" if rng.random() < 0.4 else f"{h_said} {part}"
    r = rng.random()
    if minute in (15, 30) and r < 0.3:
        word = "half" if minute == 30 else pick(rng, ("quarter", "a quarter"))
        return f"{word} past {say_number(h12, rng)} {suffix}"
    if minute == 45 and r < 0.3:
        nxt = (hour + 1) % 24
        if nxt in (0, 12):
            return "quarter to " + ("midnight" if nxt == 0 else "noon")
        n12, n_ampm, n_part = hour_parts(nxt)
        return f"quarter to {say_number(n12, rng)} {n_ampm if suffix == ampm else n_part}"
    if r < 0.6:
        return f"{h12}.{minute:02d} {suffix}"
    m_words = ("oh " if minute < 10 else "") + number_to_words(minute)
    return f"{number_to_words(h12)} {m_words} {suffix}"


# --------------------------------------------------------------------------------------------
# Samplers: rng -> canonical value string
# --------------------------------------------------------------------------------------------

_LEVELS = (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100)


def _s_percent(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return str(pick(rng, _LEVELS))
    return str(1 + int(rng.random() * 100))


def _s_points(rng: random.Random) -> str:
    return str(pick(rng, (5, 10, 10, 15, 20, 20, 25, 30, 40, 50)))


def _s_volume_points(rng: random.Random) -> str:
    return str(pick(rng, (5, 10, 10, 15, 20, 25, 30)))


def _s_volume(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return str(5 * int(rng.random() * 21))
    return str(int(rng.random() * 101))


def _s_degrees(rng: random.Random) -> str:
    return str(16 + int(rng.random() * 13))


def _s_degree_delta(rng: random.Random) -> str:
    return str(pick(rng, (1, 1, 2, 2, 3, 4, 5)))


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
        return str(pick(rng, (10, 15, 20, 30, 40, 45, 50)))
    if r < 0.55:
        return str(60 * pick(rng, _TIMER_MINUTES))
    if r < 0.65:
        return str(60 * (2 + int(rng.random() * 58)))
    if r < 0.75:
        return str(60 * (1 + int(rng.random() * 9)) + 30)
    return str(3600 * (1 + int(rng.random() * 3)) + 60 * pick(rng, (0, 0, 15, 30, 30, 45)))


def _s_clock(rng: random.Random) -> str:
    hour = pick(rng, (5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                      19, 20, 21, 22, 23, 0))
    minute = pick(rng, (0, 0, 0, 0, 15, 30, 30, 45, 5, 10, 20, 40, 50))
    return f"{hour:02d}{minute:02d}"


VALUE_KINDS: dict[str, tuple[Sampler, Phraser]] = {
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
"""Value kind (as named by a command template) -> (sampler, phraser)."""
