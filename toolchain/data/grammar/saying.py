"""How the built-in slot types are said: integers, percentages, durations and clock times.

Every function returns the phrases that mean exactly one value, as a list without repeats:
the generator picks among them, and `Grammar.stats` counts them, so the two always agree. No
phrase means two values of its slot type (tests/test_grammar.py checks every range).

- Numbers 0 to 999,999 in words ("twenty one", "one hundred and eighty", "one eighty", "two
  thousand and five", "twenty five hundred") or digits ("21").
- Durations in seconds, 1 to 86,400: "5 minutes", "a minute and a half", "an hour and a half",
  "ninety minutes". Under an hour any number of seconds is sayable, from an hour on only whole
  minutes (`sayable_duration`).
- Clock times as HHMM: with "am"/"pm" or a part of the day ("seven thirty pm", "half past
  seven in the evening", "quarter to nine at night", "noon"), or without one, read as a
  24-hour time ("seven thirty" and "7 30" are 0730, "nineteen thirty" is 1930).
"""

from __future__ import annotations

import functools

from .numbers import number_to_words, number_word_forms

MAX_INTEGER = 999_999
MAX_DURATION = 86_400


def _unique(forms: list[str]) -> list[str]:
    return list(dict.fromkeys(forms))


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def number_words(n: int) -> list[str]:
    """The ways to say 0 <= n <= 999,999 in words, the standard one first."""
    if not 0 <= n <= MAX_INTEGER:
        raise ValueError(f"number_words: {n} is outside 0-{MAX_INTEGER}")
    if n < 1000:
        return list(number_word_forms(n))
    thousands, rest = divmod(n, 1000)
    heads = [f"{number_to_words(thousands)} thousand"] + (["a thousand"] if thousands == 1 else [])
    if rest == 0:
        return heads
    out = [f"{h} {t}" for h in heads for t in _tails(rest)]
    if n < 10_000 and n % 100 == 0:
        out.append(f"{number_to_words(n // 100)} hundred")  # "twenty five hundred"
    return out


@functools.lru_cache(maxsize=1000)
def _tails(rest: int) -> tuple[str, ...]:
    """What follows "<n> thousand" for 1 <= rest <= 999: "and five", "five", "three hundred
    and five", "three hundred five" (not the colloquial "three oh five")."""
    if rest < 100:
        word = number_to_words(rest)
        return (f"and {word}", word)
    return tuple(f for f in number_word_forms(rest) if "hundred" in f and not f.startswith("a "))


def number_word_count(n: int) -> int:
    """len(number_words(n)), without building the phrases (stats over large ranges)."""
    if n < 1000:
        return len(number_word_forms(n))
    thousands, rest = divmod(n, 1000)
    heads = 2 if thousands == 1 else 1
    if rest == 0:
        return heads
    return heads * len(_tails(rest)) + (1 if n < 10_000 and n % 100 == 0 else 0)


def percent_forms(n: int, digits: bool) -> list[str]:
    """"50 percent", "50" (digits); "fifty percent", "fifty", "half" (words)."""
    said = [str(n)] if digits else number_words(n)
    forms = [f"{s} percent" for s in said] + said
    if not digits:
        forms += ["half"] if n == 50 else ["full"] if n == 100 else []
    return forms


# --------------------------------------------------------------------------------------------
# Durations (seconds)
# --------------------------------------------------------------------------------------------


def sayable_duration(seconds: int) -> bool:
    """Durations with a phrase: 1 s to 59 min 59 s, then whole minutes up to 24 hours."""
    return 1 <= seconds < 3600 or (3600 <= seconds <= MAX_DURATION and seconds % 60 == 0)


def duration_forms(seconds: int, digits: bool) -> list[str]:
    """The phrases for a duration in seconds, with every number in digits or every one in
    words; [] for a duration that is not `sayable_duration`."""
    if not sayable_duration(seconds):
        return []
    num = (lambda n: [str(n)]) if digits else number_words

    def unit(n: int, name: str) -> list[str]:
        if n == 1:
            return [f"1 {name}"] if digits else [("an " if name == "hour" else "a ") + name, f"one {name}"]
        return [f"{x} {name}s" for x in num(n)]

    minutes, secs = divmod(seconds, 60)
    if seconds < 60:
        forms = unit(seconds, "second") + (["half a minute"] if seconds == 30 and not digits else [])
    elif seconds < 3600:
        if secs == 0:
            forms = unit(minutes, "minute") + ([f"{x} mins" for x in num(minutes)] if minutes > 1 else [])
            if not digits:
                forms += {15: ["a quarter of an hour", "a quarter hour"], 30: ["half an hour", "a half hour"],
                          45: ["three quarters of an hour"]}.get(minutes, [])
        else:
            forms = [f"{a} and {b}" for a in unit(minutes, "minute") for b in unit(secs, "second")]
            if secs == 30:
                if minutes == 1:
                    forms += ["1 and a half minutes"] if digits else ["a minute and a half", "one and a half minutes"]
                else:
                    forms += [f"{x} and a half minutes" for x in num(minutes)]
        if seconds < 180:
            forms += [f"{x} seconds" for x in num(seconds)]
    else:
        hours, mins = divmod(minutes, 60)
        if mins == 0:
            forms = unit(hours, "hour")
        else:
            hs, ms = unit(hours, "hour"), unit(mins, "minute")
            forms = [f"{a} and {b}" for a in hs for b in ms] + [f"{a} {b}" for a in hs for b in ms]
            if mins == 30:
                if hours == 1:
                    forms += ["1 and a half hours"] if digits else ["an hour and a half", "one and a half hours"]
                else:
                    forms += [f"{x} and a half hours" for x in num(hours)]
            elif mins == 15:
                forms += [f"{a} and a quarter" for a in hs]
        if minutes <= 180:
            forms += [f"{x} minutes" for x in num(minutes)]
    return _unique(forms)


# --------------------------------------------------------------------------------------------
# Clock times (HHMM as the integer 100 * hour + minute)
# --------------------------------------------------------------------------------------------


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "in the morning"
    if 12 <= hour < 17:
        return "in the afternoon"
    if 17 <= hour < 21:
        return "in the evening"
    return "at night"


def _suffixes(hour: int) -> tuple[str, str]:
    return ("am" if hour < 12 else "pm"), _part_of_day(hour)


def time_forms(hhmm: int, digits: bool) -> list[str]:
    """The phrases for a time of day (``730`` = 07:30), numbers in digits or in words.

    With a suffix the hour is a 12-hour one ("7 30 pm" = 1930); without one it is read as a
    24-hour time ("7 30" = 0730, "19 30" = 1930); 0000 and 1200 are midnight and noon.
    """
    hour, minute = divmod(hhmm, 100)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"time_forms: {hhmm:04d} is not a time of day")
    if minute == 0 and hour in (0, 12):
        if digits:
            return ["12 am"] if hour == 0 else ["12 pm"]
        return ["midnight", "twelve midnight"] if hour == 0 else ["noon", "midday", "twelve noon"]
    num = str if digits else number_to_words
    h12 = hour % 12 or 12
    sfxs = _suffixes(hour)
    forms: list[str] = []
    if minute == 0:
        for s in sfxs:
            forms += [f"{num(h12)} {s}", f"{num(h12)} o'clock {s}"]
    else:
        for s in sfxs:
            if digits:
                forms += [f"{h12} {minute:02d} {s}", f"{h12}.{minute:02d} {s}"]
            else:
                forms.append(f"{num(h12)} {_minute_words(minute)} {s}")
        if minute == 30:
            forms += [f"half past {num(h12)} {s}" for s in sfxs]
        elif minute == 15:
            forms += [f"{q} past {num(h12)} {s}" for q in ("quarter", "a quarter") for s in sfxs]
        elif minute == 45:
            nxt = (hour + 1) % 24
            if nxt in (0, 12):
                forms += [] if digits else ["quarter to " + ("midnight" if nxt == 0 else "noon")]
            else:
                forms += [f"quarter to {num(nxt % 12 or 12)} {s}" for s in _suffixes(nxt)]
    if hour >= 1:  # the 24-hour reading, no suffix
        if digits:
            mm = f"{minute:02d}"
            forms += [f"{hour} {mm}", f"{hour}.{mm}"]
        elif minute == 0:
            forms += [f"{num(hour)} hundred"] + ([f"{num(hour)} o'clock"] if hour <= 12 else [])
        else:
            forms.append(f"{num(hour)} {_minute_words(minute)}")
    return _unique(forms)


def _minute_words(minute: int) -> str:
    return ("oh " if minute < 10 else "") + number_to_words(minute)
