"""Framing a template's core text the way people talk: politeness, hesitations, fillers.

``wrap(kind, core, rng)``: an imperative may become "could you ...", "... please" or "would
you mind <gerund> ..."; a terse line may get "please"/"thanks"; a question may get an opening
("quick question, ") and a "?". Any of them may start with a filler ("um", "hey house,").
"""

from __future__ import annotations

import random

from .draw import pick

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

# The -ing form of the verbs imperative templates start with ("would you mind turning ...");
# an imperative whose verb is missing here is never put that way.
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


def wrap(kind: str, core: str, rng: random.Random) -> str:
    """`core`, the filled template text of kind `kind` ("i", "t" or "q"), as someone says it."""
    r = rng.random()
    if kind == "i":
        if r < 0.42:
            text = core
        elif r < 0.70:
            text = pick(rng, _POLITE_PREFIX) + _hesitate(rng) + core
        elif r < 0.90:
            text = core + pick(rng, _POLITE_SUFFIX)
        elif r < 0.95:
            text = pick(rng, _POLITE_PREFIX) + _hesitate(rng) + core + pick(rng, _PLAIN_SUFFIX)
        else:
            verb, _, rest = core.partition(" ")
            gerund = _GERUNDS.get(verb)
            text = f"{pick(rng, _MIND_PREFIX)}{gerund} {rest}" if gerund and rest else core
    elif kind == "t":
        text = core if r < 0.75 else core + pick(rng, _TERSE_SUFFIX)
    else:
        text = pick(rng, _QUESTION_PREFIX) + core if r < 0.1 else core
        if rng.random() < 0.5:
            text += "?"
    if rng.random() < 0.18:
        text = pick(rng, _FILLERS) + " " + text
    return text


def _hesitate(rng: random.Random) -> str:
    """Occasionally an "um" between a polite opening and the command itself."""
    return pick(rng, _MID_FILLERS) if rng.random() < 0.12 else ""

