"""Slot types: value lists with their phrases, and the built-in numeric kinds.

A value of a ``list`` slot type is its canonical key (a str); a value of a numeric kind is an
int: integer and percent the number, duration the seconds, time the clock time as
``100 * hour + minute`` (written as 4 digits, ``0730``, in commands).

A numeric slot type's ``step`` thins what the lines say (a greenhouse schedule in quarter
hours, a tank in tens of percent) so the model trains on the values people use; a command with
any value in the range still parses.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field

import yaml

from . import saying, yamlsrc
from .expr import TEXT_CHARS, normalize
from .yamlsrc import Source

KINDS = ("list", "integer", "percent", "duration", "time")
NUMERIC = frozenset(KINDS[1:])
VALUE_RE = re.compile(r"[a-z0-9_]+")
_DIGITS_RE = re.compile(r"0|[1-9][0-9]*")
_TIME_RE = re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]")
_TIME_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)   # minutes: the divisors of an hour

# Default and widest ranges of the numeric kinds (integer has no default: give min and max).
_LIMITS = {"integer": (0, saying.MAX_INTEGER), "percent": (0, 100), "duration": (1, saying.MAX_DURATION)}
_DEFAULTS = {"percent": (0, 100), "duration": (1, saying.MAX_DURATION)}

# The duration bands a draw picks first (weight, lowest, highest, step in seconds): durations
# as people set them, round ones far more often than odd ones (a timer is "five minutes" or "a
# minute and a half", rarely "seven minutes and forty-three seconds"), short and long whatever
# the range. A range that holds none of them draws any sayable duration in it.
_BANDS = ((0.15, 1, 59, 1),                      # seconds
          (0.45, 60, 3540, 60),                  # whole minutes
          (0.10, 90, 3570, 60),                  # minutes and a half: 1:30, 2:30 ... 59:30
          (0.30, 3600, saying.MAX_DURATION, 300))  # hours and minutes, in steps of five


@dataclass(eq=False)
class SlotType:
    """One slot type of a grammar. ``values``: a list type's canonical keys in file order;
    ``min`` / ``max``: a numeric kind's range (None for list and time)."""

    name: str
    kind: str
    values: tuple[str, ...] = ()
    phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    line: int = 0
    step: int = 1       # numeric kinds: lines say min, min + step, ... (time: minutes, duration: seconds)

    # -- commands ----------------------------------------------------------------------------

    def text(self, value: str | int) -> str:
        """The value as a command writes it."""
        if self.kind == "time":
            return f"{value:04d}"
        return str(value)

    def parse(self, token: str) -> str | int | None:
        """The value a command token means, or None if this slot type cannot write it."""
        if self.kind == "list":
            return token if token in self.phrases else None
        if self.kind == "time":
            return int(token) if _TIME_RE.fullmatch(token) else None
        if not _DIGITS_RE.fullmatch(token):
            return None
        n = int(token)
        return n if self.min <= n <= self.max else None

    def tokens_overlap(self, other: "SlotType") -> bool:
        """Could this slot type and `other` write the same command token?"""
        if self.kind == "list":
            return any(other.parse(v) is not None for v in self.values)
        if other.kind == "list":
            return other.tokens_overlap(self)
        if self.kind == "time" or other.kind == "time":
            if self.kind == other.kind:
                return True
            span = other if self.kind == "time" else self
            # a time token without a leading zero (1000..2359) is also a plain number
            return any(span.min <= t <= span.max for t in _times() if t >= 1000)
        return self.min <= other.max and other.min <= self.max

    # -- drawing and saying ------------------------------------------------------------------

    def draw(self, rng: random.Random) -> str | int:
        """A random value (list: uniform; numeric: see the module's bands and rounding)."""
        if self.kind == "list":
            return self.values[int(rng.random() * len(self.values))]
        if self.kind == "time":
            r = rng.random()
            hour = int(rng.random() * 24)
            if r < 0.35:
                minute = 0
            elif r < 0.6:
                minute = (15, 30, 45)[int(rng.random() * 3)]
            elif r < 0.9:
                minute = 5 * int(rng.random() * 12)
            else:
                minute = int(rng.random() * 60)
            return 100 * hour + minute - minute % self.step
        if self.kind == "duration":
            bands = self._bands()
            x = rng.random() * sum(w for w, _ in bands)
            for w, choices in bands:
                x -= w
                if x < 0:
                    break
            return choices[int(rng.random() * len(choices))]
        if self.kind == "percent" and rng.random() < 0.5:
            tens = [t for t in range((self.min + 9) // 10 * 10, self.max + 1, 10) if (t - self.min) % self.step == 0]
            if tens:
                return tens[int(rng.random() * len(tens))]
        return self.min + self.step * int(rng.random() * ((self.max - self.min) // self.step + 1))

    def say(self, value: str | int, rng: random.Random, digits_share: float) -> str:
        """One phrase for `value`; numbers are said as digits with probability `digits_share`."""
        if self.kind == "list":
            options = self.phrases[value]
            return options[int(rng.random() * len(options))]
        digits = rng.random() < digits_share
        if self.kind in ("integer", "percent"):
            said = str(value) if digits else _pick_number_words(value, rng)
            if self.kind == "integer":
                return said
            if not digits and ((value == 50 and rng.random() < 0.15) or (value == 100 and rng.random() < 0.2)):
                return "half" if value == 50 else "full"
            return said + " percent" if rng.random() < 0.75 else said
        forms = (saying.duration_forms if self.kind == "duration" else saying.time_forms)(value, digits)
        return forms[int(rng.random() * len(forms))]

    def forms(self, value: str | int) -> list[str]:
        """Every phrase `say` can give for `value`."""
        if self.kind == "list":
            return list(self.phrases[value])
        if self.kind == "integer":
            return [str(value)] + saying.number_words(value)
        fn = {"percent": saying.percent_forms, "duration": saying.duration_forms, "time": saying.time_forms}[self.kind]
        return list(dict.fromkeys(fn(value, True) + fn(value, False)))

    def all_values(self) -> list[str | int]:
        """Every value `draw` can give (a numeric range may be large: use n_forms to count)."""
        if self.kind == "list":
            return list(self.values)
        if self.kind == "time":
            return [t for t in _times() if t % 100 % self.step == 0]
        if self.kind == "duration":
            return [v for _, choices in self._bands() for v in choices]
        return list(range(self.min, self.max + 1, self.step))

    @functools.cached_property
    def n_forms(self) -> int:
        """How many (phrase, value) pairs the slot type can say: sum of len(forms(v))."""
        if self.kind == "list":
            return sum(len(p) for p in self.phrases.values())
        if self.kind == "integer":
            return sum(1 + saying.number_word_count(n) for n in range(self.min, self.max + 1, self.step))
        return sum(len(self.forms(v)) for v in self.all_values())

    def _bands(self) -> list[tuple[float, range]]:
        cached = self.__dict__.get("_band_cache")
        if cached is None:
            cached = []
            for w, lo, hi, step in _BANDS:
                start = lo + max(0, -(-(self.min - lo) // step)) * step   # first lo + k*step >= min
                r = [v for v in range(start, min(hi, self.max) + 1, step) if v % self.step == 0]
                if r:
                    cached.append((w, r))
            if not cached:
                r = [s for s in range(self.min, self.max + 1) if saying.sayable_duration(s) and s % self.step == 0]
                if r:
                    cached.append((1.0, r))
            self.__dict__["_band_cache"] = cached
        return cached


def _pick_number_words(n: int, rng: random.Random) -> str:
    forms = saying.number_words(n)
    if len(forms) == 1 or rng.random() < 0.6:
        return forms[0]
    return forms[int(rng.random() * len(forms))]


@functools.lru_cache(maxsize=1)
def _times_cached() -> tuple[int, ...]:
    return tuple(100 * h + m for h in range(24) for m in range(60))


def _times() -> list[int]:
    return list(_times_cached())


# --------------------------------------------------------------------------------------------
# Reading a slot type from the grammar file
# --------------------------------------------------------------------------------------------


def read_slot_type(src: Source, name: str, key: yaml.Node, node: yaml.Node) -> SlotType:
    """The slot type `name` defined by `node` (the value of ``slots: <name>:``)."""
    if not yamlsrc.NAME_RE.fullmatch(name):
        src.fail(key, f"slot type name '{name}' is not a lowercase name", "use [a-z][a-z0-9_]*, e.g. zone")
    example = "{values: {a: [phrase, ...]}} or {type: integer, min: 1, max: 10}"
    entries = {k: (kn, vn) for k, kn, vn in yamlsrc.mapping(src, node, f"slot type '{name}'", example)}
    for k, (kn, _) in entries.items():
        if k not in ("type", "values", "min", "max", "step"):
            src.fail(kn, f"unknown key '{k}' in slot type '{name}'"
                         f"{yamlsrc.suggest(k, ['type', 'values', 'min', 'max', 'step'])}", "remove or rename it")
    kind = "list"
    if "type" in entries:
        kn, vn = entries["type"]
        kind = yamlsrc.string(src, vn, f"slot type '{name}': type", "type: integer")
        if kind not in KINDS:
            src.fail(vn, f"slot type '{name}': unknown type '{kind}'{yamlsrc.suggest(kind, list(KINDS), known=False)}",
                     f"use one of {', '.join(KINDS)}")
    elif "values" not in entries:
        src.fail(key, f"slot type '{name}' has neither values nor a type", f"write it as {example}")
    if kind == "list":
        return _read_list(src, name, key, entries)
    if "values" in entries:
        src.fail(entries["values"][0], f"slot type '{name}' of type {kind} takes no values",
                 "remove values, or drop the type to make a value list")
    step = _read_step(src, name, kind, entries)
    if kind == "time":
        for k in ("min", "max"):
            if k in entries:
                src.fail(entries[k][0], f"slot type '{name}' (time) takes no {k}", "remove it: any time of day is sayable")
        return SlotType(name, kind, line=yamlsrc.line(key), step=step)
    lo_lim, hi_lim = _LIMITS[kind]
    bounds = []
    for k in ("min", "max"):
        if k not in entries:
            if kind == "integer":
                src.fail(key, f"integer slot type '{name}' needs a {k}", f"add {k}: <whole number> (0 to {hi_lim:,})")
            bounds.append(_DEFAULTS[kind][k == "max"])
            continue
        vn = entries[k][1]
        v = yamlsrc.integer(src, vn, f"slot type '{name}': {k}")
        if not lo_lim <= v <= hi_lim:
            src.fail(vn, f"slot type '{name}': {k} = {v} is outside {lo_lim} to {hi_lim:,} for a {kind}",
                     f"use a {k} from {lo_lim} to {hi_lim:,}" + (" (numbers are said without a sign)" if v < 0 else ""))
        bounds.append(v)
    lo, hi = bounds
    if lo > hi:
        src.fail(entries.get("min", (key,))[0], f"slot type '{name}': min {lo} is above max {hi}, the range is empty",
                 "swap them or fix one")
    st = SlotType(name, kind, min=lo, max=hi, line=yamlsrc.line(key), step=step)
    if kind == "duration" and not st._bands():
        on_step = f" and a multiple of step {step}" if step > 1 else ""
        src.fail(key, f"slot type '{name}': no duration from {lo} to {hi} seconds{on_step} is sayable (from an hour "
                      f"on, durations are whole minutes)", "widen the range to include a whole minute")
    return st


def _read_step(src: Source, name: str, kind: str, entries: dict) -> int:
    """`step:` of a numeric slot type (1 when absent)."""
    if "step" not in entries:
        return 1
    kn, vn = entries["step"]
    step = yamlsrc.integer(src, vn, f"slot type '{name}': step")
    if step < 1:
        src.fail(vn, f"slot type '{name}': step = {step} must be at least 1", "use 1 (every value) or more")
    if kind == "time" and step not in _TIME_STEPS:
        src.fail(vn, f"slot type '{name}': step = {step} minutes does not divide an hour",
                 f"use one of {', '.join(map(str, _TIME_STEPS))}")
    if kind in ("integer", "percent"):
        lo = yamlsrc.integer(src, entries["min"][1], "min") if "min" in entries else _DEFAULTS.get(kind, (0, 0))[0]
        hi = yamlsrc.integer(src, entries["max"][1], "max") if "max" in entries else _DEFAULTS.get(kind, (0, 0))[1]
        if step > max(1, hi - lo):
            src.fail(vn, f"slot type '{name}': step = {step} is wider than its range {lo} to {hi}",
                     "use a smaller step")
    return step


def _read_list(src: Source, name: str, key: yaml.Node, entries: dict) -> SlotType:
    if "min" in entries or "max" in entries or "step" in entries:
        k = next(k for k in ("min", "max", "step") if k in entries)
        src.fail(entries[k][0], f"slot type '{name}' is a value list and takes no {k}",
                 "remove it, or give a numeric type")
    vkey, vnode = entries["values"]
    if yamlsrc.is_null(vnode):
        src.fail(vkey, f"slot type '{name}' has no values", "list them: values: {key: [phrase, ...]}")
    items = yamlsrc.mapping(src, vnode, f"the values of slot type '{name}'", "{bed_a: [bed a, the first bed]}")
    if not items:
        src.fail(vkey, f"slot type '{name}' has no values", "list them: values: {key: [phrase, ...]}")
    phrases: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for value, kn, pn in items:
        if not VALUE_RE.fullmatch(value):
            src.fail(kn, f"value '{value}' of slot type '{name}' is not a command word",
                     "use lowercase letters, digits and _ (e.g. bed_a); its phrases say it with spaces")
        nodes = [pn] if isinstance(pn, yaml.ScalarNode) and not yamlsrc.is_null(pn) else (
            [] if yamlsrc.is_null(pn) else yamlsrc.sequence(src, pn, f"the phrases of '{value}'", "[bed a, the first bed]"))
        if not nodes:
            src.fail(kn, f"value '{value}' of slot type '{name}' has no phrases", f"list them: {value}: [phrase, ...]")
        said = []
        for n in nodes:
            raw = yamlsrc.string(src, n, f"a phrase of '{value}'", "a quoted text")
            text = normalize(raw.lower())
            if not text:
                src.fail(n, f"an empty phrase for value '{value}' of slot type '{name}'", "remove it or write the words")
            bad = sorted(set(text) - TEXT_CHARS)
            if bad:
                src.fail(n, f"phrase {raw!r} of '{value}' has {bad[0]!r}, which an utterance cannot hold",
                         "use lowercase letters, digits, space and ' . , ?")
            if text in owner:
                src.fail(n, f"phrase '{text}' names both '{owner[text]}' and '{value}' in slot type '{name}'",
                         "keep it under one value")
            owner[text] = value
            said.append(text)
        phrases[value] = tuple(said)
    return SlotType(name, "list", values=tuple(phrases), phrases=phrases, line=yamlsrc.line(key))
