"""Generating lines from a grammar, counting what it can say, and the compositional hold-out.

One line: an intent by weight, one of its expressions uniformly, each choice uniformly and
each optional with probability 1/2, every slot's value drawn from its type and said; then the
framing (politeness, a filler) and, last, one draw that decides a typo. An utterance must be
8 to 80 characters: an expansion outside 9..79 (one character of room for a typo) is drawn
again. Only ``random.Random(seed).random()`` draws, in a fixed order, so a seed gives the same
lines everywhere and a longer run starts with the lines of a shorter one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from .. import speech
from ..lines import MAX_UTTERANCE_LEN, MIN_UTTERANCE_LEN, SEPARATOR
from . import output as out_mod
from .expr import count, expand, expansions, normalize, slots

# Functions here take a model.Grammar / model.Intent (not imported: model imports this module).

TRIES = 50  # expansions of one drawn intent before it is drawn again
ENUMERATE_LIMIT = 100_000  # stats lists the utterances of a grammar this small
COUNT_CAP = 10 ** 15  # larger counts are reported as this, flagged "capped"


@dataclass(frozen=True)
class Meaning:
    """What one generated line means: the intent, its slot values (as `parse_command` gives
    them), its (intent, list value) pairs and whether it binds a numeric slot."""

    intent: str
    slots: dict
    pairs: frozenset
    numeric: bool


@dataclass(frozen=True)
class Example:
    """One generated line, apart: the utterance, the command and what it means."""

    utterance: str
    command: str
    meaning: Meaning

    @property
    def line(self) -> str:
        return self.utterance + SEPARATOR + self.command


def fits(text: str) -> bool:
    """Leaves one character of room either side of the 8..80 limit for a typo."""
    return MIN_UTTERANCE_LEN < len(text) < MAX_UTTERANCE_LEN


def examples(g: "Grammar", n: int, seed: int, typo_rate: float, keep) -> list[Example]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    digits = g.options.numbers_as_digits

    def say(type_name: str, r: random.Random) -> tuple[str, object]:
        st = g.slot_types[type_name]
        value = st.draw(r)
        return st.say(value, r, digits), value

    cum, total = [], 0.0
    for i in g.intents:
        total += i.weight
        cum.append(total)
    out: list[Example] = []
    misses = 0
    while len(out) < n:
        x = rng.random() * total
        k = next((j for j, c in enumerate(cum) if x < c), len(cum) - 1)
        ex = _one(g, g.intents[k], rng, say, keep, typo_rate)
        if ex is None:
            misses += 1
            if misses > 1000 + 100 * n:
                raise ValueError(f"grammar {g.name}: the keep predicate rejects (nearly) every line")
            continue
        out.append(ex)
    return out


def _one(g: "Grammar", intent: "Intent", rng: random.Random, say, keep, typo_rate: float) -> Example | None:
    exprs = intent.expressions
    fallback = None
    for _ in range(TRIES):
        e = exprs[int(rng.random() * len(exprs))]
        pieces: list[str] = []
        bound: dict = {}
        expand(e.tree, rng, say, pieces, bound)
        bound.update(e.set)
        meaning = _meaning(g, intent, bound)
        if keep is not None and not keep(meaning):
            return None
        core = normalize("".join(pieces))
        text = frame(g, intent, core, rng)
        if fits(text):
            break
        if fallback is None and fits(core):
            fallback = (core, meaning)
    else:
        if fallback is None:
            return None
        text, meaning = fallback
    if rng.random() < typo_rate:
        text = speech.typo(text, rng)
    return Example(text, out_mod.render(intent.tokens, meaning.slots, g.slot_types, intent.slot_names), meaning)


def _meaning(g: "Grammar", intent: "Intent", bound: dict) -> Meaning:
    kinds = {name: g.slot_types[intent.slot_names[name]].kind for name in bound}
    pairs = frozenset((intent.name, v) for name, v in bound.items() if kinds[name] == "list")
    return Meaning(intent.name, bound, pairs, any(k != "list" for k in kinds.values()))


def frame(g: "Grammar", intent: "Intent", core: str, rng: random.Random) -> str:
    """`core` as someone says it: a polite frame (share `politeness`, intents that allow it)
    and a hesitation at the start (share `fillers`)."""
    opts = g.options
    pick = speech.pick
    builtin_fillers = opts.filler_words == speech.FILLERS
    text = core
    if intent.politeness and opts.politeness > 0 and rng.random() < opts.politeness:
        hesitate = ""
        if builtin_fillers and opts.fillers > 0 and rng.random() < 0.12:
            hesitate = pick(rng, speech.MID_FILLERS)
        r = rng.random()
        if r < 0.4:
            text = pick(rng, speech.POLITE_PREFIX) + hesitate + core
        elif r < 0.8:
            text = core + pick(rng, speech.POLITE_SUFFIX)
        elif r < 0.9:
            text = pick(rng, speech.POLITE_PREFIX) + hesitate + core + pick(rng, speech.PLAIN_SUFFIX)
        else:
            verb, _, rest = core.partition(" ")
            gerund = speech.GERUNDS.get(verb)
            if gerund and rest:
                text = f"{pick(rng, speech.MIND_PREFIX)}{gerund} {rest}"
            else:
                text = core + pick(rng, speech.POLITE_SUFFIX)
    if opts.fillers > 0 and rng.random() < opts.fillers:
        text = pick(rng, opts.filler_words) + " " + text
    return text


# --------------------------------------------------------------------------------------------
# What the grammar can say
# --------------------------------------------------------------------------------------------


def stats(g: "Grammar") -> dict:
    """Counts of intents, slot types and expressions; ``expansions``: the exact number of
    expansions (every choice, optional and slot phrase, before framing, typos and the length
    limit), capped at COUNT_CAP (``capped``); ``distinct_utterances``: the number of different
    texts among them when there are at most ENUMERATE_LIMIT (``distinct_exact`` true, and
    ``conflicting_utterances`` counts texts that mean two commands), else the expansions."""
    n_forms = {name: st.n_forms for name, st in g.slot_types.items()}
    per_intent = {i.name: sum(count(e.tree, n_forms.__getitem__) for e in i.expressions) for i in g.intents}
    total = sum(per_intent.values())
    r = {"intents": len(g.intents), "slot_types": len(g.slot_types),
         "expressions": sum(len(i.expressions) for i in g.intents),
         "expansions": min(total, COUNT_CAP), "capped": total > COUNT_CAP,
         "per_intent": {k: min(v, COUNT_CAP) for k, v in per_intent.items()}}
    if total > ENUMERATE_LIMIT:
        r.update(distinct_utterances=min(total, COUNT_CAP), distinct_exact=False, conflicting_utterances=None,
                 conflicts=[])
        return r
    cache: dict[str, list] = {}

    def forms(type_name: str) -> list:
        if type_name not in cache:
            st = g.slot_types[type_name]
            cache[type_name] = [(w, v) for v in st.all_values() for w in st.forms(v)]
        return cache[type_name]

    meanings: dict[str, set[str]] = {}
    for i in g.intents:
        for e in i.expressions:
            for raw, bound in expansions(e.tree, forms):
                cmd = out_mod.render(i.tokens, dict(bound) | e.set, g.slot_types, i.slot_names)
                meanings.setdefault(normalize(raw), set()).add(cmd)
    conflicts = sorted(t for t, cmds in meanings.items() if len(cmds) > 1)
    r.update(distinct_utterances=len(meanings), distinct_exact=True, conflicting_utterances=len(conflicts),
             conflicts=[f"{t!r} -> {' | '.join(sorted(meanings[t]))}" for t in conflicts[:3]])
    return r


def _pair_values(g: "Grammar", intent: "Intent") -> dict[str, set]:
    """List slot name -> the values a line of `intent` can bind to it."""
    out: dict[str, set] = {}
    for e in intent.expressions:
        for s in slots(e.tree):
            st = g.slot_types[s.type]
            if st.kind == "list":
                out.setdefault(s.name, set()).update(st.values)
        for name, v in e.set.items():
            if g.slot_types[intent.slot_names[name]].kind == "list":
                out.setdefault(name, set()).add(v)
    return out


def pairs(g: "Grammar") -> list[tuple[str, str]]:
    return sorted({(i.name, v) for i in g.intents for vals in _pair_values(g, i).values() for v in vals})


def holdout(g: "Grammar", fraction: float, seed: int) -> frozenset[tuple[str, str]]:
    """About `fraction` of `pairs()`, seeded, such that after holding them out every held
    intent still says each of its list slots with at least two other values in training, and
    every held value still occurs in training with at least two other intents: a model that
    parses a held-out line has combined an intent and a value it learned apart, each from more
    than one example of the pattern."""
    all_pairs = pairs(g)
    if fraction <= 0 or not all_pairs:
        return frozenset()
    rng = random.Random(seed)
    order = list(all_pairs)
    for k in range(len(order) - 1, 0, -1):  # Fisher-Yates with random() draws only
        j = int(rng.random() * (k + 1))
        order[k], order[j] = order[j], order[k]
    free = {i.name: _pair_values(g, i) for i in g.intents}
    partners: dict[str, set[str]] = {}
    for i, v in all_pairs:
        partners.setdefault(v, set()).add(i)
    want = int(round(fraction * len(all_pairs)))
    held: set[tuple[str, str]] = set()
    for i, v in order:
        if len(held) >= want:
            break
        where = [s for s, vals in free[i].items() if v in vals]
        if len(partners[v]) < 3 or any(len(free[i][s]) < 3 for s in where):
            continue
        held.add((i, v))
        partners[v].discard(i)
        for s in where:
            free[i][s].discard(v)
    return frozenset(held)
