"""The corpus line format and what a line means: the part of the recipes other stages read.

A line is ``<utterance> => <command>``; the command is the canonical text of an `Intent`. The
full command grammar is in the package docstring (`toolchain.data.recipes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATOR = " => "
"""Separates the utterance from its canonical command on every corpus line."""

PROMPT_END = SEPARATOR.rstrip(" ")
"""What a parse prompt ends with (" =>"): a word or BPE tokenizer makes the separator's last
space part of the command's first token, so the command starts with that space."""

MIN_UTTERANCE_LEN = 8
MAX_UTTERANCE_LEN = 80

COMMAND_RE = re.compile(
    r"^(?P<domain>[a-z]+)\.(?P<verb>[a-z]+)"
    r"(?: (?P<target>[a-z]+(?:_[a-z]+)*))?"
    r"(?: (?P<value>0|[1-9][0-9]*|[0-9]{4}))?$"
)
"""Matches any canonical command (the per-command rules are in the package docstring)."""

ALL = "all"
"""The target that means "everywhere / the whole house"."""


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


def intent_pair(intent: Intent) -> tuple[str, str | None]:
    """The ``(command name, target)`` of `intent`, e.g. ``("light.off", "hallway")``: the unit
    a compositional hold-out keeps out of training."""
    return f"{intent.device}.{intent.action}", intent.room


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
