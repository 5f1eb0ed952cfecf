"""A grammar -> tlm_commands.h / tlm_commands.c: the tables firmware/tlm_command.c parses with.

A commands project (one with a grammar, docs/grammar.md) gets, next to the model's files, the
grammar's output patterns as C data and one function over them:

- tlm_commands.h  `enum tlm_intent { TLM_INTENT_<NAME>, ..., TLM_INTENT_COUNT }` in grammar
                  order, per list slot type `enum tlm_<type> { TLM_<TYPE>_<VALUE>, ... }` in
                  file order, per intent the index of each output slot in TlmCommand.slots
                  (`TLM_SLOT_<INTENT>_<SLOT>`), and `tlm_command_parse(text, len, &cmd)`;
- tlm_commands.c  the tables (slot types, patterns, intents) and `const TlmGrammar tlm_grammar`.

Everything is decided here (names, indices, ranges, the doc comment's example); the templates
only lay it out. Two things the C compiler would take badly are refused with one line naming
the grammar file: two names that become one C identifier (`water.start` and `water_start`), or
a name that is already one of tlmc's (a list type `arena` with a value `bytes` would be
TLM_ARENA_BYTES of tlm_config.h).

The grammar is the engine's Grammar (toolchain/data/grammar/); only its attributes are read:
`name`, `path`, `intents` (`name`, `output`, `output_slots`: `name`, `type`, `optional`) and
`slot_types` (`name`, `kind`, `values`, `min`, `max`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.fsutil import atomic_write_text
from ..core.paths import FIRMWARE, TEMPLATES

GENERATED = ("tlm_commands.h", "tlm_commands.c")
SLOTS_MAX = 8       # firmware/tlm_command.h TLM_COMMAND_SLOTS
ITEMS_MAX = 16      # firmware/tlm_command.h TLM_COMMAND_ITEMS
KINDS = {"list": "TLM_SLOT_KIND_LIST", "integer": "TLM_SLOT_KIND_INTEGER", "percent": "TLM_SLOT_KIND_PERCENT",
         "duration": "TLM_SLOT_KIND_DURATION", "time": "TLM_SLOT_KIND_TIME"}
DEFAULT_RANGE = {"percent": (0, 100), "time": (0, 2359)}
INT32 = (-(1 << 31), (1 << 31) - 1)
EXAMPLE_INTENTS = 2  # intents the header's switch example shows

_SLOT_REF = re.compile(r"^\{([a-z][a-z0-9_]*)(\?)?\}$")


def c_upper(name: str) -> str:
    """A grammar name as the upper-case part of a C identifier: `water.start` -> WATER_START
    (runs of other characters become one '_', as codegen.emit.c_ident does)."""
    return re.sub(r"_+", "_", re.sub(r"[^0-9A-Za-z_]+", "_", name)).strip("_").upper() or "_"


def reserved_identifiers() -> set[str]:
    """Every TLM_* name the runtime's headers and the other templates define or use (outside
    comments): a generated enum constant must be none of them."""
    names: set[str] = set()
    files = [*FIRMWARE.rglob("*.h"), *(p for p in TEMPLATES.glob("*.j2") if not p.name.startswith("tlm_commands"))]
    for path in files:
        code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        names.update(re.findall(r"\bTLM_[A-Z0-9_]+\b", code))
    return names


def _where(grammar) -> str:
    """How errors name the grammar file: the engine's label, else its path."""
    return str(getattr(grammar, "label", "") or getattr(grammar, "path", None) or f"grammar {grammar.name}")


def _type_name(slot) -> str:
    t = slot.type
    return t if isinstance(t, str) else t.name


def _range(where: str, t) -> tuple[int, int]:
    lo, hi = getattr(t, "min", None), getattr(t, "max", None)
    if t.kind == "time":
        return DEFAULT_RANGE["time"]
    if lo is None or hi is None:
        if t.kind not in DEFAULT_RANGE:
            raise UsageError(f"{where}: slot type {t.name!r} ({t.kind}) has no min/max; give both")
        lo, hi = DEFAULT_RANGE[t.kind]
    lo, hi = int(lo), int(hi)
    if not INT32[0] < lo <= hi <= INT32[1]:
        raise UsageError(f"{where}: slot type {t.name!r}: range {lo}..{hi} does not fit the device's int32; "
                         "narrow it")
    return lo, hi


def _describe(t, lo: int, hi: int) -> str:
    if t.kind == "list":
        return f"list of {len(t.values)}"
    if t.kind == "time":
        return "time HHMM"
    unit = " s" if t.kind == "duration" else ""
    return f"{t.kind} {lo}..{hi}{unit}"


class _Names:
    """The identifiers tlm_commands.h defines, each with what it came from: refuses the second
    claim on a name with one line naming both."""

    def __init__(self, where: str):
        self.where = where
        self.reserved = reserved_identifiers()
        self.owner: dict[str, str] = {}

    def claim(self, ident: str, what: str) -> str:
        if ident in self.owner:
            raise UsageError(f"{self.where}: {self.owner[ident]} and {what} both become {ident} in tlm_commands.h; "
                             "rename one")
        if ident in self.reserved:
            raise UsageError(f"{self.where}: {what} becomes {ident}, which tlmc's runtime already defines; rename it")
        self.owner[ident] = what
        return ident


def tables(grammar) -> dict[str, Any]:
    """The values the two templates lay out: types, intents (their patterns and slots), the
    list enums and the header's example. UsageError (one line, naming the grammar file) for a
    grammar the tables cannot hold or whose names collide in C."""
    where = _where(grammar)
    names = _Names(where)
    tags = {"tlm_intent": "the intent enum"}
    types: list[dict] = []
    index: dict[str, int] = {}
    for t in grammar.slot_types.values():
        if t.kind not in KINDS:
            raise UsageError(f"{where}: slot type {t.name!r} has kind {t.kind!r}; the device knows "
                             f"{', '.join(KINDS)}")
        lo, hi = (0, 0) if t.kind == "list" else _range(where, t)
        entry = {"index": len(types), "name": t.name, "kind": KINDS[t.kind], "min": lo, "max": hi,
                 "what": _describe(t, lo, hi), "values": [], "values_var": "NULL", "enum": None}
        if t.kind == "list":
            if not t.values:
                raise UsageError(f"{where}: slot type {t.name!r} has no values; give at least one")
            upper = c_upper(t.name)
            tag = f"tlm_{upper.lower()}"
            if tag in tags:
                raise UsageError(f"{where}: {tags[tag]} and slot type {t.name!r} both become enum {tag} in "
                                 "tlm_commands.h; rename one")
            tags[tag] = f"slot type {t.name!r}"
            count = names.claim(f"TLM_{upper}_COUNT", f"the count of slot type {t.name!r}")
            values = [{"index": i, "text": v,
                       "enum": names.claim(f"TLM_{upper}_{c_upper(v)}", f"value {v!r} of slot type {t.name!r}")}
                      for i, v in enumerate(t.values)]
            entry.update(enum=tag, values_var=f"tlm_type{len(types)}_values", count=count, values=values)
        index[t.name] = entry["index"]
        types.append(entry)
    intents: list[dict] = []
    for i, it in enumerate(grammar.intents):
        enum = names.claim(f"TLM_INTENT_{c_upper(it.name)}", f"intent {it.name!r}")
        by_name = {s.name: s for s in it.output_slots}
        items, slots = [], []
        for word in it.output.split():
            m = _SLOT_REF.match(word)
            if m is None:
                items.append({"literal": word, "type": -1, "optional": 0, "comment": word})
                continue
            slot = by_name.get(m.group(1))
            if slot is None or _type_name(slot) not in index:
                raise UsageError(f"{where}: intent {it.name!r}: output slot {word} has no slot type; "
                                 "check the grammar with 'tlmc grammar check'")
            t = types[index[_type_name(slot)]]
            optional = int(bool(m.group(2)))
            items.append({"literal": None, "type": t["index"], "optional": optional,
                          "comment": f"{word}: {t['name']}, {t['what']}"})
            slots.append({"index": len(slots), "name": slot.name, "type": t["name"], "optional": optional,
                          "list_enum": t["enum"], "what": t["what"],
                          "enum": names.claim(f"TLM_SLOT_{c_upper(it.name)}_{c_upper(slot.name)}",
                                              f"slot {slot.name!r} of intent {it.name!r}")})
        if not items or len(items) > ITEMS_MAX or len(slots) > SLOTS_MAX:
            raise UsageError(f"{where}: intent {it.name!r}: output {it.output!r} has {len(items)} tokens and "
                             f"{len(slots)} slots; the device takes 1..{ITEMS_MAX} tokens and at most {SLOTS_MAX} "
                             "slots: shorten it")
        intents.append({"index": i, "name": it.name, "output": it.output, "enum": enum, "var": f"tlm_pattern{i}",
                        "items": items, "slots": slots})
    if not intents:
        raise UsageError(f"{where}: no intents; a commands project needs at least one")
    names.claim("TLM_INTENT_COUNT", "the count of intents")
    return {"grammar": grammar.name, "where": Path(where).name, "types": types,
            "list_types": [t for t in types if t["enum"]], "intents": intents,
            "example": _example(intents[:EXAMPLE_INTENTS]), "width": _widths(types, intents)}


def _widths(types: list[dict], intents: list[dict]) -> dict[str, int]:
    """Columns the templates pad to, so that the trailing comments line up: the longest
    `NAME = index,` of the enums and the longest row initializer of each table."""
    def longest(cells) -> int:
        return max((len(c) for c in cells), default=0) + 1

    return {
        "intent": longest(f"{it['enum']} = {it['index']}," for it in intents),
        "value": longest(f"{v['enum']} = {v['index']}," for t in types for v in t["values"]),
        "slot": longest(f"{s['enum']} = {s['index']}," for it in intents for s in it["slots"]),
        "type": longest(f'{{"{t["name"]}", {t["kind"]}, {t["min"]}, {t["max"]}, {len(t["values"])}, '
                        f'{t["values_var"]}}},' for t in types),
        "item": longest(f'{{"{x["literal"]}", -1, 0}},' if x["literal"] is not None else "{NULL, 99, 0},"
                        for it in intents for x in it["items"]),
        "intent_row": longest(f'{{"{it["name"]}", {len(it["items"])}, {it["var"]}, {len(it["slots"])}}},'
                              for it in intents),
    }


def _example(intents: list[dict]) -> list[str]:
    """The body of the header's doc comment: how firmware switches on the first intents (its
    remarks are // comments: the example sits inside a /* */ one)."""
    rows: list[tuple[str, str]] = [("TlmCommand cmd;", ""),
                                   ("if (tlm_command_parse(text, len, &cmd) == TLM_COMMAND_OK) {", ""),
                                   ("    switch (cmd.intent) {", "")]
    for it in intents:
        rows.append((f"    case {it['enum']}:", it["output"]))
        for s in it["slots"]:
            var = s["name"] + "_" if s["name"] in _C_WORDS else s["name"]
            slot = f"cmd.slots[{s['enum']}]"
            what = f"a {s['list_enum'].upper()}_..., .text the value" if s["list_enum"] else s["what"]
            if s["optional"]:
                rows.append((f"        if ({slot}.present) {{", f"{{{s['name']}?}} may be left out"))
                rows.append((f"            {var} = {slot}.value;", what))
                rows.append(("        }", ""))
            else:
                rows.append((f"        {var} = {slot}.value;", what))
        rows.append(("        break;", ""))
    rows += [("    default:", ""), ("        break;", ""), ("    }", ""), ("}", "")]
    width = max(len(code) for code, note in rows if note) + 2
    return [f"{code:<{width}}// {note}" if note else code for code, note in rows]


_C_WORDS = frozenset(
    "auto bool break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "class delete new this template try catch throw operator private public protected virtual".split())


def write(grammar, out_dir: Path | str, env, *, version: str, model_hash: str) -> list[str]:
    """Render tlm_commands.h/.c for `grammar` into out_dir with the emit stage's strict jinja2
    Environment `env`; returns the paths written."""
    ctx = tables(grammar)
    out = Path(out_dir)
    files = []
    for name in GENERATED:
        text = env.get_template(f"{name}.j2").render(**ctx, version=version, model_hash=model_hash, file=name,
                                                     guard=c_upper(name) + "_")
        atomic_write_text(out / name, text)
        files.append(str(out / name))
    return files


def remove(out_dir: Path | str) -> None:
    """A project without a grammar: drop tables an earlier emit left, so no build links them."""
    for name in GENERATED:
        (Path(out_dir) / name).unlink(missing_ok=True)
