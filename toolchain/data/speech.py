"""How people talk around a command, used by the grammar engine for
every grammar): polite openings and endings, hesitations, and the one-letter typo.

The tuples are data in a fixed order: the generators draw from them by index, so reordering
them changes every corpus drawn from them.
"""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """One element of `seq`, uniformly, with a single ``rng.random()`` draw (seeded lines stay the same on
    every machine: Python fixes random()'s sequence)."""
    return seq[int(rng.random() * len(seq))]


POLITE_PREFIX = ("please ", "could you ", "could you please ", "can you ", "can you please ",
                 "would you ", "would you please ", "i'd like you to ", "i want you to ",
                 "go ahead and ", "i need you to ", "will you ")
"""Openings of a polite request ("could you ..."), each with its trailing space."""

POLITE_SUFFIX = (" please", ", please", " for me", " for me please", " thanks", ", thanks",
                 ", thank you", " now", " right now", " thank you")
"""Endings of a polite request ("... please"), each with its leading space or comma."""

PLAIN_SUFFIX = (" for me", " thanks", ", thanks", " now")
"""Endings that follow a polite opening ("could you ... for me")."""

MIND_PREFIX = ("would you mind ", "do you mind ", "how about ", "mind ")
"""Openings followed by the -ing form of the command's verb ("would you mind turning ...")."""

FILLERS = ("um", "um,", "uh", "uh,", "hey", "hey,", "okay so", "okay,", "ok", "so", "alright,",
           "hmm", "oh,", "hey there,", "right,", "er", "well,", "okay um", "hey house,", "yo")
"""Hesitations an utterance may start with."""

MID_FILLERS = ("um ", "uh ", "er ", "um, ")
"""Hesitations between a polite opening and the command itself."""

# The -ing form of the verbs imperative commands start with ("would you mind turning ...");
# an imperative whose verb is missing here is never put that way.
GERUNDS = {
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


def typo(text: str, rng: random.Random) -> str:
    """One swapped, dropped or doubled letter inside one word of at least 3 letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 3 and w[:3].isalpha()]
    if not candidates:
        return text
    index = pick(rng, candidates)
    word = words[index]
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    op = rng.random()
    pos = pick(rng, letters)
    if op < 0.4:
        swaps = [i for i in letters if i + 1 < len(word) and word[i + 1].isalpha()
                 and word[i] != word[i + 1]]
        if swaps:
            i = pick(rng, swaps)
            word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        else:
            word = word[:pos] + word[pos + 1:]
    elif op < 0.7:
        word = word[:pos] + word[pos + 1:]
    else:
        word = word[:pos] + word[pos] + word[pos:]
    words[index] = word
    return " ".join(words)
