"""The ``commands`` recipe: seeded smart-home corpus lines, and the hold-outs drawn from them.

Every line starts as an `Intent` drawn from the smart-home grammar (`sample_intent`) and is put
into words by `render`; `generate_commands` ties the two together with one
``random.Random(seed)``.
"""

from __future__ import annotations

import random
from typing import Callable

from .draw import pick
from .lines import ALL, SEPARATOR, Intent, canonical
from .smarthome import GRAMMAR
from .templates import Spec
from .utterances import TYPO_RATE, check_intent, utterance

COMMANDS: frozenset[str] = GRAMMAR.commands
"""Every ``domain.verb`` the generator can produce."""


def sample_intent(rng: random.Random) -> Intent:
    """Draw one random `Intent` (device/action by weight, then target and value)."""
    return _sample(rng)[1]


def _sample(rng: random.Random) -> tuple[Spec, Intent]:
    spec = GRAMMAR.draw_spec(rng)
    room = pick(rng, spec.targets)
    value = None
    if spec.sample_value is not None and not (spec.value_optional and rng.random() < 0.4):
        value = spec.sample_value(rng)
    return spec, Intent(spec.action, spec.device, room, value)


def render(intent: Intent, rng: random.Random, typo_rate: float = TYPO_RATE) -> tuple[str, str]:
    """Put `intent` into words; return ``(utterance, canonical command)``.

    The phrasing (template, synonyms, politeness, fillers, digits or words) is drawn from `rng`.
    With probability `typo_rate` the utterance gets one character-level typo; the command never
    does. Exactly one ``rng.random()`` draw decides the typo, after the clean utterance is
    built, so two calls with equally seeded generators and different `typo_rate` produce the
    same clean text. Raises ValueError for an intent the grammar does not cover.
    """
    spec = GRAMMAR.by_key.get((intent.device, intent.action))
    if spec is None:
        raise ValueError(f"unknown command {intent.device}.{intent.action}; "
                         f"known: {', '.join(sorted(COMMANDS))}")
    check_intent(spec, intent)
    return utterance(GRAMMAR, spec, intent, rng, typo_rate), canonical(intent)


def generate_commands(n_lines: int, seed: int = 1, *,
                      keep: Callable[[Intent], bool] | None = None,
                      typo_rate: float = TYPO_RATE) -> list[str]:
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
        append(utterance(GRAMMAR, spec, intent, rng, typo_rate) + SEPARATOR + canonical(intent))
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
    pairs = {(s.name, t) for s in GRAMMAR.specs for t in s.targets if t not in (None, ALL)}
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
