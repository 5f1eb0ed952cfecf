"""Grammar files (toolchain/data/grammar, docs/grammar.md): the expression parser, the
generator, reading commands back, the compositional hold-out, counting, every error as one
line naming the file and line, the CLI (`tlmc grammar check/sample`, `tlmc init --grammar`) and
a grammar project's data stage and training."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.core import config
from toolchain.core.errors import ConfigError, UsageError
from toolchain.data import commands, grammar
from toolchain.data import dataset as data
from toolchain.data.grammar import expr, saying
from toolchain.data.grammar.expr import ExprError

GARDEN = """\
grammar: garden
version: 1
options:
  typo_rate: 0.05
  politeness: 0.3
  fillers: 0.1
  numbers_as_digits: 0.4
slots:
  zone:
    values:
      bed_a: [bed a, the first bed]
      bed_b: [bed b, the second bed]
      bed_c: [bed c, the herb bed]
      house: [the greenhouse, everything]
  minutes: {type: integer, min: 1, max: 90}
  level: {type: percent}
  spray: {type: duration, min: 10, max: 7200}
  wake: {type: time}
intents:
  water.start:
    output: "water.start {zone} {minutes?}"
    weight: 2
    expressions:
      - "[water, irrigate] $zone (for $minutes minutes)"
      - "start watering $zone"
      - say: "water all the beds"
        set: {zone: house}
  water.stop:
    output: "water.stop {zone}"
    expressions:
      - "stop watering $zone"
      - "[turn, switch] off the water [in, for] $zone"
  vent.set:
    output: "vent.set {zone} {level}"
    expressions:
      - "open the vents [in, of] $zone to $level"
      - "$zone vents to $level"
  mist.start:
    output: "mist.start {zone} {spray}"
    expressions:
      - "mist $zone for $spray"
  lights.schedule:
    output: "lights.schedule {zone} {from} {to}"
    expressions:
      - "lights [in, over] $zone from $wake:from to $wake:to"
  query.soil:
    output: "query.soil {zone}"
    politeness: false
    expressions:
      - "how dry is $zone"
      - "is $zone (too) dry"
"""

UTTERANCE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789 '.,?")


def write(folder: Path, text: str, name: str = "garden.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def garden(tmp_path_factory) -> grammar.Grammar:
    return grammar.load(write(tmp_path_factory.mktemp("g"), GARDEN))


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------


def test_expression_tree_has_choices_optionals_nesting_and_named_slots():
    tree = expr.parse("[turn (it) on, switch on] $room:from (to $room:to, now)")
    choice, _, slot, _, optional = tree.items
    assert isinstance(choice, expr.Group) and not choice.optional and len(choice.alts) == 2
    assert isinstance(choice.alts[0].items[1], expr.Group) and choice.alts[0].items[1].optional
    assert slot == expr.Slot("from", "room", slot.col)
    assert optional.optional and len(optional.alts) == 2
    always, maybe = expr.bindings(tree)
    assert always == {"from"} and maybe == {"from", "to"}


def test_expression_text_is_folded_to_lower_case_and_spaces_normalised():
    tree = expr.parse("Turn  ON (the)  Lights ,please")
    texts = {expr.normalize(t) for t, _ in expr.expansions(tree, lambda t: [])}
    assert texts == {"turn on the lights,please", "turn on lights,please"}


def test_comma_outside_a_group_is_text():
    assert expr.parse("well, ok then").items == (expr.Text("well, ok then"),)


@pytest.mark.parametrize("text, problem", [
    ("[]", "empty choice"), ("go ()", "empty optional"), ("[a, ]", "empty item"),
    ("[a, b", "unbalanced '['"), ("a b)", "unbalanced ')'"), ("[a)", "closed by ')'"),
    ("go $ now", "'$' without a slot name"), ("go $x: now", "without a name"),
    ("go!", "character '!'"), ("$x and $x", "said twice"),
])
def test_malformed_expressions_say_what_is_wrong(text, problem):
    with pytest.raises(ExprError) as e:
        expr.bindings(expr.parse(text))
    assert problem in e.value.problem


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def test_generation_is_deterministic_and_prefix_stable(garden):
    lines = garden.generate(400, seed=3)
    assert lines == garden.generate(400, seed=3)
    assert garden.generate(150, seed=3) == lines[:150]
    assert garden.generate(400, seed=4) != lines
    assert garden.sample(20, 3) == lines[:20]


def test_generator_draws_only_random(garden, monkeypatch):
    import random

    for name in ("randrange", "randint", "choice", "shuffle", "sample", "getrandbits", "uniform"):
        monkeypatch.setattr(random.Random, name, lambda *a, **k: pytest.fail(f"drew Random.{name}"))
    garden.generate(300, seed=1)
    garden.compositional_holdout(0.3, 1)


def test_every_line_parses_back_to_the_slots_it_bound(garden):
    examples = garden.examples(3000, seed=2)
    for e in examples:
        assert garden.parse_command(e.command) == (e.meaning.intent, e.meaning.slots), e
        assert e.line == f"{e.utterance} => {e.command}"
        assert 8 <= len(e.utterance) <= 80 and set(e.utterance) <= UTTERANCE_CHARS, e.utterance
    intents = {e.meaning.intent for e in examples}
    assert intents == {i.name for i in garden.intents}
    # weight 2: water.start about twice as often as water.stop
    n = {k: sum(e.meaning.intent == k for e in examples) for k in ("water.start", "water.stop")}
    assert 1.6 < n["water.start"] / n["water.stop"] < 2.5


def test_parse_command_refuses_text_the_grammar_cannot_write(garden):
    assert garden.parse_command("water.start bed_a 15") == ("water.start", {"zone": "bed_a", "minutes": 15})
    assert garden.parse_command("water.start bed_a") == ("water.start", {"zone": "bed_a"})
    assert garden.parse_command("lights.schedule bed_b 0630 2215") == (
        "lights.schedule", {"zone": "bed_b", "from": 630, "to": 2215})
    for bad in ("", "water.start", "water.start bed_z", "water.start bed_a 91", "water.start bed_a 015",
                "water.start  bed_a", "water.start bed_a ", "vent.set bed_a 101", "lights.schedule bed_a 2460 0100",
                "mist.start bed_a 5", "query.soil bed_a extra", "Water.start bed_a"):
        assert garden.parse_command(bad) is None, bad


def test_set_binds_a_slot_without_saying_it(garden):
    lines = [e for e in garden.examples(3000, seed=5) if "water all the beds" in e.utterance]
    assert lines and all(e.command == "water.start house" for e in lines)


def test_optional_output_slot_is_written_only_when_bound(garden):
    starts = [e for e in garden.examples(3000, seed=6, typo_rate=0.0) if e.meaning.intent == "water.start"]
    with_minutes = [e for e in starts if "minutes" in e.meaning.slots]
    assert 0.1 < len(with_minutes) / len(starts) < 0.3  # 1 expression of 3, optional: about 1/6
    for e in starts:
        assert (" minutes" in e.utterance) == ("minutes" in e.meaning.slots), e
        assert len(e.command.split(" ")) == (3 if "minutes" in e.meaning.slots else 2)


NUMBERS = """\
options: {typo_rate: 0, politeness: 0, fillers: 0, numbers_as_digits: 0.5}
slots:
  n: {type: integer, min: 0, max: 2500}
  p: {type: percent, min: 0, max: 100}
  d: {type: duration, min: 1, max: 14400}
  t: {type: time}
intents:
  say.n: {output: "say.n {n}", expressions: ["number is $n"]}
  say.p: {output: "say.p {p}", expressions: ["percent is $p"]}
  say.d: {output: "say.d {d}", expressions: ["duration is $d"]}
  say.t: {output: "say.t {t}", expressions: ["time is $t"]}
"""


def test_numbers_said_as_words_or_digits_map_to_the_output_digits(tmp_path):
    g = grammar.load(write(tmp_path, NUMBERS))
    said: dict[str, list[tuple[str, int]]] = {}
    for e in g.examples(4000, seed=1):
        kind = e.meaning.intent[-1]
        phrase = e.utterance.split(" is ", 1)[1]
        value = next(iter(e.meaning.slots.values()))
        assert phrase in g.slot_types[kind].forms(value), (phrase, value)
        said.setdefault(kind, []).append((phrase, value))
        assert e.command.split(" ")[1] == (f"{value:04d}" if kind == "t" else str(value))
    for kind, pairs in said.items():
        digits = [p for p, _ in pairs if any(c.isdigit() for c in p)]
        assert 0.3 < len(digits) / len(pairs) < 0.7, kind  # numbers_as_digits 0.5
    assert all(p == str(v) for p, v in said["n"] if p[0].isdigit())
    assert {"twenty one"} <= set(g.slot_types["n"].forms(21))
    assert {"fifty percent", "50 percent", "half"} <= set(g.slot_types["p"].forms(50))
    assert {"an hour and a half", "ninety minutes", "1 hour and 30 minutes"} <= set(g.slot_types["d"].forms(5400))
    assert {"seven thirty pm", "7 30 pm", "half past seven in the evening", "nineteen thirty"} <= set(
        g.slot_types["t"].forms(1930))
    assert {"seven thirty", "7 30"} <= set(g.slot_types["t"].forms(730))


def test_no_phrase_of_a_number_duration_or_time_means_two_values():
    for name, values, forms in (
            ("integer", range(0, 20001), lambda n: saying.number_words(n)),
            ("duration", range(1, saying.MAX_DURATION + 1),
             lambda s: saying.duration_forms(s, True) + saying.duration_forms(s, False)),
            ("time", [100 * h + m for h in range(24) for m in range(60)],
             lambda t: saying.time_forms(t, True) + saying.time_forms(t, False))):
        owner: dict[str, int] = {}
        for v in values:
            for f in forms(v):
                assert owner.setdefault(f, v) == v, (name, f, owner[f], v)
    for n in (0, 7, 999, 1000, 1005, 2500, 12345, 999_999):
        assert len(saying.number_words(n)) == saying.number_word_count(n)


def test_typos_change_the_utterance_never_the_command(garden):
    clean = garden.examples(300, seed=9, typo_rate=0.0)
    noisy = garden.examples(300, seed=9, typo_rate=1.0)
    assert clean[0].command == noisy[0].command and clean[0].utterance != noisy[0].utterance
    assert all(garden.parse_command(e.command) for e in noisy)
    share = sum(1 for a, b in zip(garden.examples(2000, 11, typo_rate=0.0), garden.examples(2000, 11))
                if a.utterance != b.utterance) / 2000
    assert share > 0.01  # the grammar's typo_rate 0.05 (lines after the first typo diverge)


def test_politeness_and_fillers_follow_the_options(garden):
    u = [e for e in garden.examples(4000, seed=12, typo_rate=0.0)]
    polite = [e for e in u if e.utterance.endswith(("please", "thanks", "thank you"))
              or e.utterance.startswith(("could you", "can you", "would you", "please"))]
    assert 0.1 < len(polite) / len(u) < 0.4
    assert not [e for e in polite if e.meaning.intent == "query.soil" and e.utterance.startswith("could you")]


def test_the_example_in_docs_grammar_md_gives_the_lines_it_shows(tmp_path):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "grammar.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)
    shown = re.search(r"sample greenhouse.yaml -n 8`\):\n\n```\n(.*?)```", doc, re.S).group(1)
    g = grammar.load(write(tmp_path, example, "greenhouse.yaml"))
    assert g.sample(8, 1) == shown.splitlines() and not g.warnings


# --------------------------------------------------------------------------------------------
# Counting and the compositional hold-out
# --------------------------------------------------------------------------------------------

SMALL = """\
slots:
  color: {values: {red: [red, crimson], blue: [blue]}}
  n: {type: integer, min: 1, max: 3}
intents:
  lamp.on:
    output: "lamp.on {color}"
    expressions:
      - "turn the lamp (to) $color"
      - say: "lamp on please"
        set: {color: red}
  lamp.off:
    expressions: ["[turn, switch] off the lamp"]
  lamp.level:
    output: "lamp.level {n}"
    expressions: ["set the lamp to $n"]
"""


def test_stats_count_every_expansion(tmp_path):
    s = grammar.load(write(tmp_path, SMALL, "small.yaml")).stats()
    # lamp.on: (1 + 1 "to") x 3 colour phrases + 1 = 7; lamp.off: 2; lamp.level: 3 x (digits + words) = 6
    assert s["per_intent"] == {"lamp.on": 7, "lamp.off": 2, "lamp.level": 6}
    assert (s["intents"], s["slot_types"], s["expressions"]) == (3, 2, 4)
    assert s["distinct_utterances"] == s["expansions"] == 15 and s["distinct_exact"]
    assert s["conflicting_utterances"] == 0


def test_stats_of_a_large_grammar_are_counted_not_listed(garden):
    s = garden.stats()
    assert not s["distinct_exact"] and s["distinct_utterances"] == s["expansions"] > 10 ** 6
    zone = 8  # phrases of zone
    assert s["per_intent"]["water.stop"] == zone + 2 * 2 * zone
    assert s["per_intent"]["query.soil"] == zone + 2 * zone


def test_stats_flag_an_utterance_that_means_two_commands(tmp_path):
    text = SMALL.replace('"lamp on please"', '"turn the lamp red"')
    s = grammar.load(write(tmp_path, text, "clash.yaml")).stats()
    assert s["conflicting_utterances"] == 0  # same text, same command
    text = SMALL.replace("set: {color: red}", "set: {color: blue}").replace('"lamp on please"', '"turn the lamp red"')
    s = grammar.load(write(tmp_path, text, "clash.yaml")).stats()
    assert s["conflicting_utterances"] == 1 and s["distinct_utterances"] == 14


def test_compositional_holdout_keeps_its_promises(garden):
    pairs = garden.pairs()
    assert len(pairs) == 6 * 4 and ("water.start", "house") in pairs
    held = garden.compositional_holdout(0.3, seed=1)
    assert held == garden.compositional_holdout(0.3, seed=1) and len(held) == round(0.3 * len(pairs))
    assert garden.compositional_holdout(0.0, 1) == frozenset()
    trained = set(pairs) - held
    for intent, value in held:
        assert any(i == intent and v != value for i, v in trained), (intent, value)
        assert any(v == value and i != intent for i, v in trained), (intent, value)
    train = garden.examples(2000, 1, keep=lambda m: not (m.pairs & held))
    comp = garden.examples(300, 2, keep=lambda m: bool(m.pairs & held))
    assert not any(e.meaning.pairs & held for e in train)
    assert all(e.meaning.pairs & held for e in comp)


# --------------------------------------------------------------------------------------------
# Errors: one line, the file and the line
# --------------------------------------------------------------------------------------------

BASE = """\
grammar: garden
slots:
  zone:
    values:
      bed_a: [bed a, the first bed]
      bed_b: [bed b]
  minutes: {type: integer, min: 1, max: 30}
intents:
  water.start:
    output: "water.start {zone} {minutes?}"
    expressions:
      - "water $zone (for $minutes minutes)"
      - say: "water everything"
        set: {zone: bed_a}
  water.stop:
    output: "water.stop {zone}"
    expressions:
      - "stop watering $zone"
"""


def _swap(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


BAD = [  # (grammar text, the line the error names, words the message holds)
    ("intents: [a, b\n", 2, "YAML syntax error"),
    (_swap('      - "stop watering $zone"', "      - [stop, end] watering $zone"), 18, "must be in quotes"),
    ("- one\n- two\n", 1, "must be a mapping"),
    ("grammar: garden\nslots: {}\n", 1, "no intents"),
    (_swap("intents:", "intent:"), 8, "did you mean 'intents'"),
    (_swap("grammar: garden", "grammar: Green House"), 1, "not a lowercase name"),
    ("version: 2\n" + BASE, 1, "version 2"),
    ("options: {typo: 0.1}\n" + BASE, 1, "unknown option 'typo'"),
    ("options:\n  politeness: 0.2\n  typo_rate: 0.9\n" + BASE, 3, "option typo_rate = 0.9 is out of range"),
    (_swap("water $zone (for", "water $zoen (for"), 12, "unknown slot type 'zoen'"),
    (_swap("water $zone (for", "water [] $zone (for"), 12, "empty choice"),
    (_swap("water $zone (for", "water [the, a $zone (for"), 12, "unbalanced '['"),
    (_swap('"stop watering $zone"', '"stop watering $zone)"'), 18, "unbalanced ')'"),
    (_swap('"stop watering $zone"', '"stop $ watering $zone"'), 18, "'$' without a slot name"),
    (_swap('    expressions:\n      - "stop watering $zone"', "    expressions: []"), 17, "has no expressions"),
    (_swap("  water.stop:", "  Water.Stop:"), 15, "intent name 'Water.Stop'"),
    (_swap('"water.stop {zone}"', '"water-stop {zone}"'), 16, "outside the command characters"),
    (_swap('"water.stop {zone}"', '"water.stop {zone} {speed}"'), 16, "slot {speed} that no expression provides"),
    (_swap('"water.stop {zone}"', '"water.stop"'), 18, "binds slot 'zone', which the output"),
    (_swap("{zone} {minutes?}", "{zone} {minutes}"), 12, "leave the required slot 'minutes' unbound"),
    (_swap("{zone} {minutes?}", "{minutes?} {zone}"), 10, "optional slot before the required {zone}"),
    (_swap("min: 1, max: 30", "min: 30, max: 1"), 7, "the range is empty"),
    (_swap("min: 1, max: 30", "min: 1.5, max: 30"), 7, "is not a whole number"),
    (_swap("{type: integer, min: 1, max: 30}", "{type: percent, max: 150}"), 7, "outside 0 to 100"),
    (_swap("{type: integer, min: 1, max: 30}", "{type: float}"), 7, "unknown type 'float'"),
    (_swap("    values:\n      bed_a: [bed a, the first bed]\n      bed_b: [bed b]", "    values: {}"), 4,
     "has no values"),
    (_swap("bed_b: [bed b]", "bed_b: []"), 6, "has no phrases"),
    (_swap("bed_b: [bed b]", "Bed-B: [bed b]"), 6, "is not a command word"),
    (_swap("bed_b: [bed b]", 'bed_b: [""]'), 6, "an empty phrase"),
    (_swap("bed_b: [bed b]", "bed_b: [bed b, the first bed]"), 6, "names both 'bed_a' and 'bed_b'"),
    (_swap("set: {zone: bed_a}", "set: {zones: bed_a}"), 14, "unknown slot 'zones'"),
    (_swap("set: {zone: bed_a}", "set: {zone: bed_z}"), 14, "'bed_z' is not a value of slot type 'zone'"),
    (BASE + "  water.stop:\n    expressions: [\"stop it all now\"]\n", 19, "duplicate key 'water.stop'"),
    (_swap("bed_b: [bed b]", "bed_a: [bed b]"), 6, "duplicate key 'bed_a'"),
    (_swap('"water.stop {zone}"', '"water.start {zone}"'), 16, "can write the same command"),
    (_swap('"water.start {zone} {minutes?}"', '"water.start {zone} {minutes?} {extra?}"').replace(
        "(for $minutes minutes)", "(for $minutes minutes) (at $minutes:extra)"), 10, "can be read two ways"),
    ("options: {politeness: 0, fillers: 0}\n" + _swap('"stop watering $zone"', '"stop"').replace(
        "water.stop {zone}", "water.stop"), 19, "never makes an utterance of 8 to 80 characters"),
    (_swap('"stop watering $zone"', '"stop watering $zone' + " and everything else" * 4 + '"'), 18,
     "never makes an utterance"),
    (_swap('"stop watering $zone"', '"stop watering $zone!"'), 18, "character '!'"),
    (_swap('"stop watering $zone"', '"stop $zone and $zone"'), 18, "said twice"),
    (_swap('"stop watering $zone"', '"[stop watering $zone, halt $minutes:zone now]"'), 18, "is of type 'minutes' here"),
    (_swap("min: 1, max: 30}", "min: 1, max: 30, step: 0}"), 7, "step = 0 must be at least 1"),
    (_swap("min: 1, max: 30}", "min: 1, max: 30, step: 40}"), 7, "step = 40 is wider than its range"),
    (_swap("{type: integer, min: 1, max: 30}", "{type: time, step: 7}"), 7, "step = 7 minutes does not divide an hour"),
    (_swap("bed_b: [bed b]", "bed_b: [bed b]\n    step: 2"), 7, "is a value list and takes no step"),
    (_swap("{type: integer, min: 1, max: 30}", "{type: duration, min: 61, max: 100, step: 60}"), 7,
     "no duration from 61 to 100 seconds and a multiple of step 60"),
]


@pytest.mark.parametrize("text, line, words", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_grammar_is_one_line_naming_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(UsageError) as e:
        grammar.load(path)
    msg = str(e.value)
    assert "\n" not in msg and e.value.exit_code == 2
    assert msg.startswith(f"{path}:{line}: "), msg
    assert words in msg and "; " in msg, msg


def test_not_utf8_and_missing_files_are_usage_errors(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"intents:\n  a.b:\n    expressions: ['caf\xe9 time now']\n")
    with pytest.raises(UsageError, match=r"latin.yaml:3: not UTF-8"):
        grammar.load(path)
    with pytest.raises(UsageError, match="no such grammar file"):
        grammar.load(tmp_path / "missing.yaml")


def test_the_base_of_the_bad_cases_is_good(tmp_path):
    g = grammar.load(write(tmp_path, BASE))
    assert [i.name for i in g.intents] == ["water.start", "water.stop"]
    assert g.intents[0].output_slots == [grammar.OutputSlot("zone", "zone", False),
                                         grammar.OutputSlot("minutes", "minutes", True)]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_grammar_check_prints_the_counts(tmp_path):
    path = write(tmp_path, SMALL, "small.yaml")
    r = CliRunner().invoke(main, ["grammar", "check", str(path)])
    assert r.exit_code == 0, r.output
    assert "grammar 'small' is valid" in r.stdout
    assert re.search(r"intents +3\n", r.stdout) and re.search(r"distinct utterances +15 \(exact\)", r.stdout)
    r = CliRunner().invoke(main, ["grammar", "check", str(path), "--json"])
    obj = json.loads(r.stdout)
    assert obj["grammar"] == "small" and obj["distinct_utterances"] == 15 and obj["expressions"] == 4


def test_grammar_sample_prints_seeded_lines(tmp_path, garden):
    path = write(tmp_path, GARDEN)
    r = CliRunner().invoke(main, ["grammar", "sample", str(path), "-n", "7", "--seed", "4"])
    assert r.exit_code == 0 and r.stdout.splitlines() == garden.generate(7, 4)
    r = CliRunner().invoke(main, ["grammar", "sample", str(path), "--json"])
    obj = json.loads(r.stdout)
    assert obj["lines"] == garden.generate(20, 1) and obj["seed"] == 1 and obj["grammar"] == "garden"


def test_bad_grammar_on_the_cli_is_exit_2_without_traceback(tmp_path):
    path = write(tmp_path, BAD[9][0], "bad.yaml")
    for args in (["grammar", "check", str(path)], ["grammar", "sample", str(path)],
                 ["init", str(tmp_path / "p"), "--grammar", str(path)]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
        assert f"{path}:12: " in r.stderr
    assert not (tmp_path / "p" / "tlm.toml").exists()  # a broken grammar makes no project
    proc = subprocess.run([sys.executable, "-m", "toolchain.cli", "grammar", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {path}:12: ") and proc.stderr.count("\n") == 1


def test_init_with_a_grammar_copies_it_and_writes_a_config_that_uses_it(tmp_path):
    src = write(tmp_path, GARDEN)
    proj = tmp_path / "proj"
    r = CliRunner().invoke(main, ["init", str(proj), "--grammar", str(src)])
    assert r.exit_code == 0, r.output
    assert (proj / "garden.yaml").read_text() == GARDEN
    raw = tomllib.loads((proj / "tlm.toml").read_text())
    assert raw["data"]["grammar"] == "garden.yaml" and raw["data"]["recipe"] == ""
    cfg = config.load(proj)
    assert cfg.commands_source() == config.CommandsSource("grammar", "garden.yaml", proj / "garden.yaml")
    assert cfg.documents() == "lines"
    defaults = config.validate(tomllib.loads(config.render_default("r")), tmp_path / "tlm.toml")
    for sec in ("tokenizer", "model", "train"):
        assert cfg[sec] == defaults[sec]  # the recipe's sizes
    r = CliRunner().invoke(main, ["init", str(proj), "--grammar", str(src)])
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = CliRunner().invoke(main, ["init", str(tmp_path / "q"), "--grammar", str(src), "--corpus", str(src)])
    assert r.exit_code == 2


# --------------------------------------------------------------------------------------------
# Config and the data stage
# --------------------------------------------------------------------------------------------


def _project(tmp_path: Path, extra: str = "", grammar_text: str = GARDEN) -> config.Config:
    write(tmp_path, grammar_text)
    (tmp_path / "tlm.toml").write_text(f'[data]\nrecipe = ""\ngrammar = "garden.yaml"\nrecipe_lines = 600\n{extra}'
                                       "[tokenizer]\nkind = \"char\"\n[model]\ncontext = 4\n")
    return config.load(tmp_path)


@pytest.mark.parametrize("data, words", [
    ('grammar = "missing.yaml"\n', ["[data] grammar file 'missing.yaml' not found"]),
    ('grammar = "nosuch"\n', ["[data] grammar = 'nosuch': no such built-in grammar"]),
    ('recipe = "commands"\ngrammar = "garden.yaml"\n', ["sets both recipe = 'commands' and grammar"]),
    ('recipe = ""\ngrammar = "garden.yaml"\ncorpus = ["garden.yaml"]\n', ["sets both grammar"]),
    ("grammar = 3\n", ["[data] grammar = 3", "a string"]),
])
def test_config_grammar_errors_name_tlm_toml_and_the_field(tmp_path, data, words):
    write(tmp_path, GARDEN)
    (tmp_path / "tlm.toml").write_text("[data]\n" + data)
    with pytest.raises(ConfigError) as e:
        config.load(tmp_path)
    msg = str(e.value)
    assert msg.startswith("tlm.toml: ") and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_the_builtin_recipe_is_the_shipped_smarthome_grammar(tmp_path):
    from toolchain.data import grammar as grammar_mod

    (tmp_path / "tlm.toml").write_text("[data]\nrecipe_lines = 50\n")
    cfg = config.load(tmp_path)
    src = cfg.commands_source()
    assert src == config.CommandsSource("grammar", "smarthome", config.BUILTIN_GRAMMARS / "smarthome.yaml")
    assert src.path.is_file()
    g = grammar_mod.builtin("smarthome")
    held = g.compositional_holdout(0.1, 1)
    assert data.holdout_pairs(cfg) == held and len(held) > 20
    assert [d.rstrip("\n") for d in data.read_documents(cfg)] == g.generate(
        50, 1, keep=lambda m: not (m.pairs & held))
    (tmp_path / "tlm.toml").write_text("[data]\nrecipe_lines = 50\ncompositional = 0\n")
    assert [d.rstrip("\n") for d in data.read_documents(config.load(tmp_path))] == g.generate(50, 1)
    assert commands.source(cfg).grammar.name == "smarthome"


def test_grammar_errors_in_a_project_name_the_grammar_file(tmp_path):
    cfg = _project(tmp_path, grammar_text=BASE.replace("$zone (for", "$zoen (for"))
    with pytest.raises(UsageError, match=r"garden.yaml:12: expression .* unknown slot type 'zoen'"):
        data.read_documents(cfg)


def test_data_stage_of_a_grammar_project(tmp_path):
    cfg = _project(tmp_path, "compositional = 0.25\ntypo_lines = 0.5\nvalue_lines = 0.5\n")
    g = commands.source(cfg).grammar
    held = data.holdout_pairs(cfg)
    assert held == g.compositional_holdout(0.25, 1) and held

    def pairs(line: str) -> set:
        intent, slots = g.parse_command(line.rstrip("\n").split(" => ")[1])
        return {(intent, v) for k, v in slots.items() if g.slot_types[g.intent(intent).slot_names[k]].kind == "list"}

    docs = data.read_documents(cfg)
    assert len(docs) == 600 and [d.rstrip("\n") for d in docs] == g.generate(600, 1, keep=lambda m: not (m.pairs & held))
    assert not any(pairs(d) & held for d in docs)
    comp = data.compositional_documents(cfg)
    assert len(comp) == 60 and all(pairs(d) & held for d in comp)
    extra = data.augment_documents(cfg, 400)
    assert len(extra) == 400 and not any(pairs(d) & held for d in extra)
    values = extra[200:]
    assert all(g.parse_command(d.rstrip("\n").split(" => ")[1])[0] in ("water.start", "vent.set", "mist.start",
                                                                           "lights.schedule") for d in values)
    ds = data.prepare(cfg, tmp_path / "build")
    assert ds.compositional is not None
    heldout = json.loads((tmp_path / "build" / "data" / "heldout.json").read_text())
    assert heldout["random"] and len(heldout["compositional"]) == 60
    h = data.stage_hash(cfg)
    (tmp_path / "garden.yaml").write_text(GARDEN.replace("bed a, the first bed", "bed a, bed one"))
    assert data.stage_hash(config.load(tmp_path)) != h  # the grammar file is an input of the data stage


def test_synth_keeps_only_commands_the_grammar_can_write(tmp_path):
    from toolchain.train.synth import _valid_command_line

    src = commands.source(_project(tmp_path))
    assert _valid_command_line("water bed a => water.start bed_a", src)
    assert not _valid_command_line("water bed a => water.start bed_q", src)
    assert not _valid_command_line("water bed a => light.on kitchen", src)
    assert not _valid_command_line("water bed a", src)


@pytest.mark.slow
def test_a_grammar_project_from_init_trains(tmp_path):
    src = write(tmp_path, GARDEN)
    proj = tmp_path / "proj"
    assert CliRunner().invoke(main, ["init", str(proj), "--grammar", str(src)]).exit_code == 0
    text = (proj / "tlm.toml").read_text()
    sizes = {"data": {"recipe_lines": 2000}, "model": {"context": 8, "embed": 8, "hidden": "[48]"},
             "train": {"steps": 100, "batch": 64, "checkpoint_steps": 50}, "tokenizer": {"vocab_size": 256}}
    for sec, fields in sizes.items():
        head, _, rest = text.partition(f"[{sec}]\n")
        body, nl, tail = rest.partition("\n[")
        for k, v in fields.items():
            body = re.sub(rf"^{k} = [^#\n]*", f"{k} = {v} ", body, flags=re.M)
        text = f"{head}[{sec}]\n{body}{nl}{tail}"
    (proj / "tlm.toml").write_text(text)
    r = CliRunner().invoke(main, ["train", "-C", str(proj)])
    assert r.exit_code == 0, r.output
    heldout = json.loads((proj / "build" / "data" / "heldout.json").read_text())
    g = grammar.load(proj / "garden.yaml")
    assert heldout["random"] and heldout["compositional"]
    assert all(g.parse_command(c) for _, c in heldout["random"] + heldout["compositional"])


def test_a_grammar_without_numbers_has_no_value_lines(tmp_path):
    text = "intents:\n  lamp.on: {expressions: [\"turn the lamp on\", \"lamp on please\"]}\n"
    cfg = _project(tmp_path, "value_lines = 1.0\ntypo_lines = 0\n", grammar_text=text)
    assert data.augment_documents(cfg, 100) == [] and data.holdout_pairs(cfg) == frozenset()
    assert len(data.read_documents(cfg)) == 600 and data.compositional_documents(cfg) == []


STEPPED = """\
grammar: stepped
slots:
  zone:
    values:
      bed_a: [bed a, the first bed]
      bed_b: [bed b]
      bed_c: [bed c]
  minutes: {type: integer, min: 1, max: 30, step: 5}
  clock: {type: time, step: 15}
  spray: {type: duration, min: 10, max: 7200, step: 60}
intents:
  water.start:
    output: "water.start {zone} {minutes}"
    expressions:
      - "water $zone for $minutes minutes"
  water.at:
    output: "water.at {zone} {clock}"
    expressions:
      - "water $zone at $clock"
  mist.start:
    output: "mist.start {zone} {spray}"
    expressions:
      - "mist $zone for $spray"
"""


def test_a_numeric_step_thins_what_lines_say_and_any_value_in_range_still_parses(tmp_path):
    g = grammar.load(write(tmp_path, STEPPED))
    st = g.slot_types
    assert st["minutes"].all_values() == [1, 6, 11, 16, 21, 26]
    assert {t % 100 for t in st["clock"].all_values()} == {0, 15, 30, 45}
    assert st["spray"].all_values() and all(v % 60 == 0 for v in st["spray"].all_values())
    said = {"minutes": set(), "clock": set(), "spray": set()}
    for ex in g.examples(3000, 4):
        for name, v in ex.meaning.slots.items():
            if name in said:
                said[name].add(v)
    assert said["minutes"] == set(st["minutes"].all_values())
    assert len(said["clock"]) > 50 and all(v % 100 % 15 == 0 for v in said["clock"])
    assert len(said["spray"]) > 20 and all(v % 60 == 0 for v in said["spray"])
    # the command grammar is the range: off-step values parse (as the firmware's parser does)
    assert g.parse_command("water.start bed_a 7") is not None
    assert g.parse_command("water.at bed_b 0709") is not None
    assert g.parse_command("mist.start bed_a 75") is not None


def test_the_complete_example_in_docs_grammar_md_is_a_valid_grammar(tmp_path):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "grammar.md").read_text()
    block = doc.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    g = grammar.load(write(tmp_path, block, "example.yaml"))
    assert len(g.intents) >= 5 and g.generate(50, 1)
