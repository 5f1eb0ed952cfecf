"""Loading a grammar file: every check, each failing with ``<file>:<line>: <problem>; <fix>``.

The order: the YAML itself (syntax, duplicate keys), the top level, options, slot types, each
intent (its name, expressions, ``set:`` bindings and output, and how they fit together), then
the whole grammar (no two outputs can write the same command; every expression can make an
utterance of 8 to 80 characters).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

from . import yamlsrc
from .expr import TEXT_CHARS, ExprError, bindings, count, expand, expansions, normalize, parse, slots
from ..lines import MAX_UTTERANCE_LEN, MIN_UTTERANCE_LEN
from .generate import fits
from .model import Expression, Grammar, Intent, Options
from .output import OutputError, OutputSlot, describe, overlap, parse_output, variants
from .slots import SlotType, read_slot_type
from .yamlsrc import Source, integer, mapping, sequence, string, suggest

TOP_KEYS = ("grammar", "version", "options", "slots", "intents")
INTENT_KEYS = ("output", "weight", "politeness", "expressions")
OPTION_RANGES = {"typo_rate": (0.0, 0.5), "politeness": (0.0, 1.0), "fillers": (0.0, 1.0),
                 "numbers_as_digits": (0.0, 1.0)}
OPTION_KEYS = tuple(OPTION_RANGES) + ("filler_words",)
INTENT_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
VERSION = 1
LENGTH_SAMPLES = 200  # expressions with more expansions are checked on this many samples


def load(path: Path | str, label: str | None = None) -> Grammar:
    """Read and validate the grammar file `path` (`label`: how errors name it; default the
    path as given). Raises UsageError (exit 2) naming the file and line."""
    path = Path(path)
    src, root = yamlsrc.compose(path, label or str(path))
    if root is None:
        src.fail(1, "the grammar file is empty", "start it with 'intents:' (docs/grammar.md has an example)")
    top = {k: (kn, vn) for k, kn, vn in mapping(src, root, "a grammar file", "'intents:' and its intents")}
    for k, (kn, _) in top.items():
        if k not in TOP_KEYS:
            src.fail(kn, f"unknown top-level key '{k}'{suggest(k, list(TOP_KEYS), known=False)}",
                     f"use only {', '.join(TOP_KEYS)}")
    name = _name(src, top, path)
    if "version" in top:
        vn = top["version"][1]
        v = integer(src, vn, "version")
        if v != VERSION:
            src.fail(vn, f"version {v} is not a grammar format this tlmc reads", f"write version: {VERSION}")
    options = _options(src, top["options"][1]) if "options" in top else Options()
    types: dict[str, SlotType] = {}
    if "slots" in top and not yamlsrc.is_null(top["slots"][1]):
        for tname, kn, vn in mapping(src, top["slots"][1], "slots", "{zone: {values: {...}}}"):
            types[tname] = read_slot_type(src, tname, kn, vn)
    if "intents" not in top:
        src.fail(root, "the grammar has no intents", "add 'intents:' with at least one intent")
    ikey, inode = top["intents"]
    entries = [] if yamlsrc.is_null(inode) else mapping(src, inode, "intents", "{light.on: {expressions: [...]}}")
    if not entries:
        src.fail(ikey, "'intents' is empty", "add at least one intent with its expressions")
    intents = [_intent(src, iname, kn, vn, types) for iname, kn, vn in entries]
    g = Grammar(name, path, options, types, intents, label=src.label)
    _check_outputs(src, g)
    used = {t for i in intents for t in i.slot_names.values()}
    g.warnings = [f"slot type '{t}' (line {st.line}) is not used by any intent" for t, st in types.items() if t not in used]
    _check_lengths(src, g)
    return g


def _name(src: Source, top: dict, path: Path) -> str:
    if "grammar" in top:
        kn, vn = top["grammar"]
        name = string(src, vn, "grammar", "grammar: greenhouse")
        if not yamlsrc.NAME_RE.fullmatch(name):
            src.fail(vn, f"grammar name '{name}' is not a lowercase name", "use [a-z][a-z0-9_]*, e.g. greenhouse")
        return name
    name = re.sub(r"[^a-z0-9_]", "_", path.stem.lower())
    return name if yamlsrc.NAME_RE.fullmatch(name) else "grammar"


def _options(src: Source, node: yaml.Node) -> Options:
    if yamlsrc.is_null(node):
        return Options()
    values: dict = {}
    for k, kn, vn in mapping(src, node, "options", "{typo_rate: 0.03}"):
        if k not in OPTION_KEYS:
            src.fail(kn, f"unknown option '{k}'{suggest(k, list(OPTION_KEYS), known=False)}", f"use {', '.join(OPTION_KEYS)}")
        if k == "filler_words":
            words = []
            for n in sequence(src, vn, "filler_words", "[um, uh, so]"):
                w = normalize(string(src, n, "a filler word", "um").lower())
                bad = sorted(set(w) - TEXT_CHARS)
                if not w or bad:
                    src.fail(n, f"filler {w!r} is empty or has {bad[0] if bad else ''!r}",
                             "use lowercase letters, digits, space and ' . , ?")
                words.append(w)
            if not words:
                src.fail(vn, "filler_words is empty", "list at least one filler, or set fillers: 0")
            values[k] = tuple(words)
        else:
            values[k] = yamlsrc.number(src, vn, f"option {k}", *OPTION_RANGES[k])
    return Options(**values)


# --------------------------------------------------------------------------------------------
# Intents
# --------------------------------------------------------------------------------------------


def _intent(src: Source, name: str, key: yaml.Node, node: yaml.Node, types: dict[str, SlotType]) -> Intent:
    if not INTENT_RE.fullmatch(name):
        src.fail(key, f"intent name '{name}' is not lowercase words joined by dots",
                 "use e.g. water.start: [a-z][a-z0-9_]* parts joined by '.'")
    example = "{output: \"...\", expressions: [...]}"
    entries = {k: (kn, vn) for k, kn, vn in mapping(src, node, f"intent '{name}'", example)}
    for k, (kn, _) in entries.items():
        if k not in INTENT_KEYS:
            src.fail(kn, f"unknown key '{k}' in intent '{name}'{suggest(k, list(INTENT_KEYS), known=False)}",
                     f"use {', '.join(INTENT_KEYS)}")
    weight, polite = 1.0, True
    if "weight" in entries:
        weight = yamlsrc.number(src, entries["weight"][1], f"intent '{name}': weight", 0.0, 1e6)
        if weight <= 0:
            src.fail(entries["weight"][1], f"intent '{name}': weight must be above 0",
                     "give a positive weight, or remove the intent")
    if "politeness" in entries:
        polite = yamlsrc.boolean(src, entries["politeness"][1], f"intent '{name}': politeness")
    if "expressions" not in entries or yamlsrc.is_null(entries["expressions"][1]):
        src.fail(key, f"intent '{name}' has no expressions", "add expressions: with at least one way to say it")
    nodes = sequence(src, entries["expressions"][1], f"the expressions of '{name}'", "a list of quoted texts")
    if not nodes:
        src.fail(entries["expressions"][0], f"intent '{name}' has no expressions", "add at least one way to say it")
    slot_names: dict[str, str] = {}
    parsed = [_expression(src, name, n, types, slot_names) for n in nodes]
    exprs = []
    for (say, tree, set_node, n), (always, maybe) in parsed:
        bound = _set(src, name, set_node, types, slot_names, maybe) if set_node is not None else {}
        exprs.append((Expression(say, tree, bound, yamlsrc.line(n)), always | set(bound), maybe | set(bound), n))
    out_node = entries.get("output", (None, None))[1]
    output = name if out_node is None else string(src, out_node, f"intent '{name}': output", "output: \"light.on {room}\"")
    at = out_node if out_node is not None else key
    try:
        tokens = parse_output(output)
    except OutputError as e:
        src.fail(at, f"intent '{name}': {e.problem}", e.fix)
    out_slots = []
    for t in tokens:
        if isinstance(t, tuple):
            if t[0] not in slot_names:
                src.fail(at, f"intent '{name}': output names slot {{{t[0]}}} that no expression provides",
                         f"say ${t[0]} in an expression, bind it with set:, or remove it")
            out_slots.append(OutputSlot(t[0], slot_names[t[0]], t[1]))
    names = {s.name for s in out_slots}
    required = {s.name for s in out_slots if not s.optional}
    for e, always, maybe, n in exprs:
        extra = sorted(maybe - names)
        if extra:
            src.fail(n, f"expression {e.say!r} binds slot '{extra[0]}', which the output {output!r} does not use",
                     f"add {{{extra[0]}}} (or {{{extra[0]}?}}) to the output, or remove it from the expression")
        missing = sorted(required - always)
        if missing:
            src.fail(n, f"expression {e.say!r} can leave the required slot '{missing[0]}' unbound (it is optional "
                        f"or missing in some choices)", f"say ${missing[0]} in every expansion, or write {{{missing[0]}?}} "
                                                        f"in the output")
    intent = Intent(name, output, weight, polite, [e for e, *_ in exprs], out_slots, yamlsrc.line(key),
                    output_line=yamlsrc.line(at), slot_names=slot_names, tokens=tokens)
    intent.patterns = variants(tokens, {s.name: s for s in out_slots})
    return intent


def _expression(src: Source, intent: str, node: yaml.Node, types: dict[str, SlotType], slot_names: dict):
    set_node = None
    if isinstance(node, yaml.MappingNode):
        entries = {k: (kn, vn) for k, kn, vn in mapping(src, node, "an expression", "{say: \"...\", set: {...}}")}
        for k, (kn, _) in entries.items():
            if k not in ("say", "set"):
                src.fail(kn, f"unknown key '{k}' in an expression of '{intent}'{suggest(k, ['say', 'set'], known=False)}",
                         "an expression mapping has say: and set:")
        if "say" not in entries:
            src.fail(node, f"an expression of '{intent}' has set: but no say:", "add say: with the words")
        say_node = entries["say"][1]
        set_node = entries.get("set", (None, None))[1]
    elif isinstance(node, yaml.SequenceNode):
        src.fail(node, f"an expression of '{intent}' is a YAML list", "put an expression that starts with '[' in quotes")
    else:
        say_node = node
    say = string(src, say_node, f"an expression of '{intent}'", "a quoted text")
    try:
        tree = parse(say)
        analysis = bindings(tree)
    except ExprError as e:
        src.fail(say_node, f"expression {say!r}: {e.problem}", e.fix)
    for s in slots(tree):
        if s.type not in types:
            src.fail(say_node, f"expression {say!r}: unknown slot type '{s.type}' in ${s.type}{suggest(s.type, list(types))}",
                     "declare it under slots: or fix the name")
        if slot_names.setdefault(s.name, s.type) != s.type:
            src.fail(say_node, f"expression {say!r}: slot '{s.name}' is of type '{s.type}' here and "
                               f"'{slot_names[s.name]}' elsewhere in '{intent}'", f"name them apart: ${s.type}:other_name")
    return (say, tree, set_node, say_node), analysis


def _set(src: Source, intent: str, node: yaml.Node, types: dict[str, SlotType], slot_names: dict,
         said: frozenset) -> dict:
    out = {}
    for name, kn, vn in mapping(src, node, "set", "{zone: greenhouse}"):
        tname = slot_names.get(name) or (name if name in types else None)
        if tname is None:
            hint = suggest(name, sorted(set(slot_names) | set(types)))
            src.fail(kn, f"set: names the unknown slot '{name}' in '{intent}'{hint}",
                     "use a slot type's name or a slot an expression of this intent names")
        if name in said:
            src.fail(kn, f"slot '{name}' is both said and set in one expression", "keep one of them")
        st = types[tname]
        raw = string(src, vn, f"set: {name}", "a value of the slot type")
        value = st.parse(raw)
        if value is None:
            known = suggest(raw, list(st.values)) if st.kind == "list" else (
                " (write HHMM, e.g. 0730)" if st.kind == "time" else f" (a whole number from {st.min} to {st.max})")
            src.fail(vn, f"set: {name} = {raw!r} is not a value of slot type '{tname}'{known}", "use one of its values")
        slot_names.setdefault(name, tname)
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------
# The whole grammar
# --------------------------------------------------------------------------------------------


def _check_outputs(src: Source, g: Grammar) -> None:
    """No text is written by two intents, nor read two ways by one."""
    flat = [(i, p) for i in g.intents for p in i.patterns]
    for a in range(len(flat)):
        ia, pa = flat[a]
        for b in range(a + 1, len(flat)):
            ib, pb = flat[b]
            if not overlap(pa, pb, g.slot_types):
                continue
            if ia is ib:
                src.fail(ia.output_line, f"intent '{ia.name}': output {ia.output!r} can be read two ways "
                                         f"('{describe(pa)}' and '{describe(pb)}' write the same text)",
                         "give its optional slots slot types that write different words, or split the intent")
            src.fail(ib.output_line, f"the outputs of '{ia.name}' (line {ia.output_line}) and '{ib.name}' can write "
                                     f"the same command ('{describe(pa)}' / '{describe(pb)}')",
                     "start them with different words, e.g. the intent name")


def _check_lengths(src: Source, g: Grammar) -> None:
    """Every expression can make an utterance of 8 to 80 characters (exactly for up to
    LENGTH_SAMPLES expansions, else on that many seeded samples)."""
    rng = random.Random(0)
    # a wide integer range has more phrases than are worth counting here
    n_forms = {name: LENGTH_SAMPLES + 1 if st.kind == "integer" and st.max - st.min >= LENGTH_SAMPLES
               else st.n_forms for name, st in g.slot_types.items()}

    def say(type_name: str, r: random.Random):
        st = g.slot_types[type_name]
        v = st.draw(r)
        return st.say(v, r, 0.5), v

    def forms(type_name: str):
        st = g.slot_types[type_name]
        return [(w, v) for v in st.all_values() for w in st.forms(v)]

    for i in g.intents:
        for e in i.expressions:
            if count(e.tree, n_forms.__getitem__) <= LENGTH_SAMPLES:
                texts = [normalize(t) for t, _ in expansions(e.tree, forms)]
            else:
                texts = []
                for _ in range(LENGTH_SAMPLES):
                    pieces: list[str] = []
                    expand(e.tree, rng, say, pieces, {})
                    texts.append(normalize("".join(pieces)))
            if any(fits(t) for t in texts):
                continue
            lo, hi = min(map(len, texts)), max(map(len, texts))
            framed = (i.politeness and g.options.politeness > 0) or g.options.fillers > 0
            if hi <= MIN_UTTERANCE_LEN and framed:
                g.warnings.append(f"line {e.line}: expression {e.say!r} is shorter than {MIN_UTTERANCE_LEN + 1} "
                                  f"characters, so it is said only with a polite frame or a filler")
                continue
            src.fail(e.line, f"expression {e.say!r} never makes an utterance of {MIN_UTTERANCE_LEN} to "
                             f"{MAX_UTTERANCE_LEN} characters (its utterances are {lo} to {hi} long)",
                     "say more words" if hi <= MIN_UTTERANCE_LEN else "split it or say less")
