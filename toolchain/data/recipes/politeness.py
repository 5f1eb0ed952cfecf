"""Framing a template's core text the way people talk: politeness, hesitations, fillers.

``wrap(kind, core, rng)``: an imperative may become "could you ...", "... please" or "would
you mind <gerund> ..."; a terse line may get "please"/"thanks"; a question may get an opening
("quick question, ") and a "?". Any of them may start with a filler ("um", "hey house,").
"""

from __future__ import annotations

import random

from ..speech import FILLERS as _FILLERS
from ..speech import GERUNDS as _GERUNDS
from ..speech import MID_FILLERS as _MID_FILLERS
from ..speech import MIND_PREFIX as _MIND_PREFIX
from ..speech import PLAIN_SUFFIX as _PLAIN_SUFFIX
from ..speech import POLITE_PREFIX as _POLITE_PREFIX
from ..speech import POLITE_SUFFIX as _POLITE_SUFFIX
from .draw import pick

_TERSE_SUFFIX = (" please", ", please", " thanks", ", thanks")
_QUESTION_PREFIX = ("tell me, ", "quick question, ", "just wondering, ", "so ")


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

