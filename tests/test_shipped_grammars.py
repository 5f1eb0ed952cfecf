"""The grammars tlmc ships: the built-in smart home (toolchain/data/grammars/smarthome.yaml,
what `[data] recipe = "commands"` trains on) writes exactly the command table below (the one
docs/grammar.md and the README document, which the earlier Python recipe wrote), and every
shipped grammar validates, generates well-formed lines and says no utterance two ways."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from toolchain.data import grammar
from toolchain.data.grammar.expr import expansions, normalize

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["smarthome", "examples/grammars/greenhouse.yaml", "examples/grammars/robot_arm.yaml"]

ROOMS = {"kitchen", "living_room", "bedroom", "hallway", "bathroom", "garage", "office", "garden",
         "dining_room", "kids_room", "guest_room", "basement", "attic", "laundry_room", "nursery"}
DOORS = {"front_door", "back_door", "garage_door", "side_door", "patio_door"}
HEATED = ROOMS - {"garage", "garden", "laundry_room"}
SENSED = HEATED | {"garden", "garage"}
FAN = {"bedroom", "living_room", "office", "kitchen", "bathroom", "garage", "kids_room", "guest_room",
       "attic", "nursery"}
WINDOWED = {"living_room", "bedroom", "office", "kitchen", "dining_room", "kids_room", "guest_room",
            "nursery", "bathroom"}
TV = {"living_room", "bedroom", "kitchen", "office", "kids_room", "basement", "guest_room"}
MEDIA = {"living_room", "kitchen", "bedroom", "office", "bathroom", "garden", "garage", "dining_room",
         "basement"}
VACUUM = {"living_room", "kitchen", "bedroom", "hallway", "office", "dining_room", "kids_room", "guest_room"}
ALL = {"all"}
NONE = {None}

# The built-in command table: command -> (targets, value). Value: None (no value), "hhmm", or
# (lowest, highest, optional).
TABLE = {
    "light.on": (ROOMS | ALL, None), "light.off": (ROOMS | ALL, None),
    "light.set": (ROOMS | ALL, (1, 100, False)),
    "light.dim": (ROOMS | ALL, (5, 50, True)), "light.brighten": (ROOMS | ALL, (5, 50, True)),
    "thermostat.on": (HEATED, None), "thermostat.off": (HEATED, None),
    "thermostat.set": (HEATED, (16, 28, False)),
    "thermostat.up": (HEATED, (1, 5, True)), "thermostat.down": (HEATED, (1, 5, True)),
    "fan.on": (FAN, None), "fan.off": (FAN, None), "fan.set": (FAN, (1, 5, False)),
    "blinds.open": (WINDOWED | ALL, None), "blinds.close": (WINDOWED | ALL, None),
    "blinds.set": (WINDOWED | ALL, (1, 100, False)),
    "tv.on": (TV, None), "tv.off": (TV, None), "tv.channel": (TV, (1, 99, False)),
    "media.play": (MEDIA | ALL, None), "media.pause": (MEDIA | ALL, None), "media.stop": (MEDIA | ALL, None),
    "media.volume": (MEDIA | ALL, (0, 100, False)),
    "media.louder": (MEDIA | ALL, (5, 30, True)), "media.quieter": (MEDIA | ALL, (5, 30, True)),
    "lock.lock": (DOORS | ALL, None), "lock.unlock": (DOORS, None),
    "oven.on": ({"kitchen"}, None), "oven.off": ({"kitchen"}, None), "oven.set": ({"kitchen"}, (150, 250, False)),
    "coffee.brew": ({"kitchen"}, None), "coffee.off": ({"kitchen"}, None),
    "vacuum.start": (VACUUM | ALL, None), "vacuum.dock": (NONE, None),
    "sprinkler.on": ({"garden"}, None), "sprinkler.off": ({"garden"}, None),
    "timer.start": (NONE, (10, 4 * 3600, False)), "timer.cancel": (NONE, None),
    "alarm.set": (NONE, "hhmm"), "alarm.cancel": (NONE, None),
    "query.temperature": (SENSED, None), "query.humidity": (SENSED, None),
    "query.light": (ROOMS, None), "query.lock": (DOORS, None),
    "query.timer": (NONE, None), "query.time": (NONE, None),
}


def load(spec: str) -> grammar.Grammar:
    return grammar.builtin(spec) if "/" not in spec else grammar.load(ROOT / spec)


def what_outputs_write(g: grammar.Grammar) -> dict:
    """command word -> (targets, value rule) over every intent whose output starts with it:
    the targets a second token can be (a literal or a list slot's values) and the range of a
    numeric last slot, as TABLE writes them."""
    out: dict = {}
    for intent in g.intents:
        name, *rest = intent.tokens
        targets, value = {None}, None
        if rest and (isinstance(rest[0], str) or g.slot_types[intent.slot_names[rest[0][0]]].kind == "list"):
            first, rest = rest[0], rest[1:]
            targets = {first} if isinstance(first, str) else set(g.slot_types[intent.slot_names[first[0]]].values)
        if rest:
            (slot, optional), = rest
            st = g.slot_types[intent.slot_names[slot]]
            value = "hhmm" if st.kind == "time" else (st.min, st.max, optional)
        seen_targets, seen_value = out.get(name, (set(), value))
        assert seen_value == value, f"{name}: intents of one command take different values"
        out[name] = (seen_targets | targets, value)
    return out


def test_smarthome_writes_every_command_target_and_value_range_of_the_recipe_table():
    written = what_outputs_write(grammar.builtin("smarthome"))
    assert set(written) == set(TABLE)
    for name, (targets, value) in TABLE.items():
        assert written[name][0] == targets, name
        assert written[name][1] == value, name


def test_smarthome_says_all_in_intents_of_their_own():
    # "all" is phrased unlike a room, so it has intents of its own and no compositional pair
    g = grammar.builtin("smarthome")
    all_intents = [i for i in g.intents if i.name.endswith("_all")]
    assert {i.name[:-4] for i in all_intents} == {n for n, (t, _) in TABLE.items() if "all" in t}
    assert all(i.tokens[1] == "all" for i in all_intents)
    assert not any(v == "all" for _, v in g.pairs())


COMMAND_SHAPE = re.compile(r"^([a-z]+\.[a-z]+)(?: ([a-z]+(?:_[a-z]+)*))?(?: ([0-9]+))?$")


def check_command(command: str) -> None:
    m = COMMAND_SHAPE.match(command)
    assert m, f"bad command shape: {command!r}"
    name, target, value = m.groups()
    if target is not None and target.isdigit():
        target, value = None, target
    targets, rule = TABLE[name]
    assert target in targets, f"{command!r}: bad target {target!r}"
    if rule is None:
        assert value is None, command
    elif rule == "hhmm":
        assert value is not None and len(value) == 4 and int(value[:2]) < 24 and int(value[2:]) < 60, command
    else:
        lo, hi, optional = rule
        assert value is not None or optional, command
        assert value is None or (value == str(int(value)) and lo <= int(value) <= hi), command


def test_smarthome_corpus_covers_the_table_and_every_line_is_well_formed():
    g = grammar.builtin("smarthome")
    lines = g.generate(20000, 1)
    commands = [ln.split(" => ")[1] for ln in lines]
    for c in commands:
        check_command(c)
    assert set(Counter(c.split(" ")[0] for c in commands)) == set(TABLE)
    targets = {c.split(" ")[1] for c in commands if len(c.split(" ")) > 1}
    assert ROOMS | DOORS | ALL <= targets


@pytest.mark.parametrize("spec", SHIPPED)
def test_shipped_grammar_validates_and_generates_lines_it_can_parse(spec):
    g = load(spec)
    assert all("shorter than" in w for w in g.warnings), g.warnings
    for line in g.generate(3000, 7):
        utterance, command = line.split(" => ")
        assert 8 <= len(utterance) <= 80
        assert g.parse_command(command) is not None, command


@pytest.mark.parametrize("spec", SHIPPED)
def test_no_utterance_of_a_shipped_grammar_means_two_commands(spec):
    # every expansion with each number, duration and time said as one placeholder, so the
    # listing stays small: two expansions with one text must mean one intent and list values
    g = load(spec)

    def forms(type_name: str):
        st = g.slot_types[type_name]
        if st.kind == "list":
            return [(w, v) for v in st.values for w in st.phrases[v]]
        return [(f"<{st.kind}>", None)]

    meaning: dict[str, set] = {}
    for intent in g.intents:
        for e in intent.expressions:
            for raw, bound in expansions(e.tree, forms):
                lists = {k: v for k, v in dict(bound).items() if v is not None}
                lists.update({k: v for k, v in e.set.items() if isinstance(v, str)})
                meaning.setdefault(normalize(raw), set()).add((intent.tokens[0], tuple(sorted(lists.items()))))
    twice = {t: m for t, m in meaning.items() if len(m) > 1}
    assert not twice, list(twice.items())[:3]


@pytest.mark.parametrize("spec", SHIPPED[1:])
def test_example_grammars_bring_slot_types_of_their_own(spec):
    g = load(spec)
    kinds = Counter(st.kind for st in g.slot_types.values())
    assert kinds["list"] >= 1 and len(kinds) >= 4, kinds
    assert (ROOT / "examples/grammars/README.md").is_file()
