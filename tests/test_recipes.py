"""Tests for toolchain.data.recipes: the seeded smart-home command corpus."""

from __future__ import annotations

import functools
import hashlib
import random
import re
import time
from collections import Counter

import pytest

from toolchain.data import recipes
from toolchain.data.recipes import (
    SEPARATOR,
    Intent,
    canonical,
    generate_commands,
    number_to_words,
    number_word_forms,
    parse_line,
    render,
    sample_intent,
)

N = 20000

ROOM_KEYS = {
    "kitchen", "living_room", "bedroom", "hallway", "bathroom", "garage", "office", "garden",
    "dining_room", "kids_room", "guest_room", "basement", "attic", "laundry_room", "nursery",
}
DOOR_KEYS = {"front_door", "back_door", "garage_door", "side_door", "patio_door"}

# command -> (allowed targets, value rule). Value rule: None = no value, otherwise
# (lowest, highest, optional).
ROOM, ROOM_ALL, DOOR, DOOR_ALL, KITCHEN, GARDEN = (
    ROOM_KEYS, ROOM_KEYS | {"all"}, DOOR_KEYS, DOOR_KEYS | {"all"}, {"kitchen"}, {"garden"})
NONE: set = {None}
GRAMMAR = {
    "light.on": (ROOM_ALL, None), "light.off": (ROOM_ALL, None),
    "light.set": (ROOM_ALL, (1, 100, False)),
    "light.dim": (ROOM_ALL, (5, 50, True)), "light.brighten": (ROOM_ALL, (5, 50, True)),
    "thermostat.on": (ROOM, None), "thermostat.off": (ROOM, None),
    "thermostat.set": (ROOM, (16, 28, False)),
    "thermostat.up": (ROOM, (1, 5, True)), "thermostat.down": (ROOM, (1, 5, True)),
    "fan.on": (ROOM, None), "fan.off": (ROOM, None), "fan.set": (ROOM, (1, 5, False)),
    "blinds.open": (ROOM_ALL, None), "blinds.close": (ROOM_ALL, None),
    "blinds.set": (ROOM_ALL, (1, 100, False)),
    "tv.on": (ROOM, None), "tv.off": (ROOM, None), "tv.channel": (ROOM, (1, 99, False)),
    "media.play": (ROOM_ALL, None), "media.pause": (ROOM_ALL, None),
    "media.stop": (ROOM_ALL, None), "media.volume": (ROOM_ALL, (0, 100, False)),
    "media.louder": (ROOM_ALL, (5, 30, True)), "media.quieter": (ROOM_ALL, (5, 30, True)),
    "lock.lock": (DOOR_ALL, None), "lock.unlock": (DOOR, None),
    "oven.on": (KITCHEN, None), "oven.off": (KITCHEN, None),
    "oven.set": (KITCHEN, (150, 250, False)),
    "coffee.brew": (KITCHEN, None), "coffee.off": (KITCHEN, None),
    "vacuum.start": (ROOM_ALL, None), "vacuum.dock": (NONE, None),
    "sprinkler.on": (GARDEN, None), "sprinkler.off": (GARDEN, None),
    "timer.start": (NONE, (10, 4 * 3600, False)), "timer.cancel": (NONE, None),
    "alarm.set": (NONE, "hhmm"), "alarm.cancel": (NONE, None),
    "query.temperature": (ROOM, None), "query.humidity": (ROOM, None),
    "query.light": (ROOM, None), "query.lock": (DOOR, None),
    "query.timer": (NONE, None), "query.time": (NONE, None),
}
COMMAND_SHAPE = re.compile(r"^([a-z]+\.[a-z]+)(?: ([a-z]+(?:_[a-z]+)*))?(?: ([0-9]+))?$")
UTTERANCE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789 '.,?")
COMMAND_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789 ._")


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return generate_commands(N, seed=1)


@functools.lru_cache(maxsize=None)
def clean_renders(n: int, seed: int) -> list[tuple[Intent, str, str]]:
    """Typo-free renderings of sampled intents."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        intent = sample_intent(rng)
        utterance, command = render(intent, rng, typo_rate=0.0)
        out.append((intent, utterance, command))
    return out


def check_command(command: str) -> None:
    m = COMMAND_SHAPE.match(command)
    assert m, f"bad command shape: {command!r}"
    name, target, value = m.groups()
    if target is not None and target.isdigit():  # regex can't tell "timer.start 300" apart
        target, value = None, target
    assert name in GRAMMAR, f"unknown command {name!r}"
    targets, rule = GRAMMAR[name]
    assert target in targets, f"{command!r}: bad target {target!r}"
    if rule is None:
        assert value is None, command
    elif rule == "hhmm":
        assert value is not None and len(value) == 4, command
        assert int(value[:2]) < 24 and int(value[2:]) < 60, command
    else:
        lo, hi, optional = rule
        if value is None:
            assert optional, f"{command!r}: value missing"
        else:
            assert value == str(int(value)), f"{command!r}: leading zero"
            assert lo <= int(value) <= hi, f"{command!r}: value out of range"


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_identical_lines():
    assert generate_commands(3000, seed=42) == generate_commands(3000, seed=42)


def test_different_seeds_give_different_lines():
    a, b = generate_commands(3000, seed=1), generate_commands(3000, seed=2)
    assert a != b
    assert len(set(a) & set(b)) < 0.5 * len(a)


def test_default_seed_is_one_and_shorter_corpus_is_a_prefix():
    assert generate_commands(500) == generate_commands(500, seed=1)
    assert generate_commands(2000, seed=9)[:500] == generate_commands(500, seed=9)


def test_output_is_pinned_across_runs_and_machines():
    # Pins the exact corpus: any change to the grammar or to the random stream shows up here.
    # After a deliberate change to the grammar, update the expected lines and digest.
    lines = generate_commands(1000, seed=1)
    assert lines[:3] == [
        "nursery lights off => light.off nursery",
        "put the nursery ceiling light on for me => light.on nursery",
        "hey can you please light up the kitchen thanks => light.on kitchen",
    ]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert digest == "5a3c581faa87a35de65ade52550a6c3491d616dd02fae90382a5770b9ced2a97"


def test_recipe_registry_maps_commands_to_generator():
    assert set(recipes.RECIPES) == {"commands"}
    assert recipes.RECIPES["commands"](100, 3) == generate_commands(100, seed=3)


def test_zero_lines_and_negative_count():
    assert generate_commands(0, seed=1) == []
    with pytest.raises(ValueError):
        generate_commands(-1, seed=1)


# --- format and grammar ---------------------------------------------------------------------


def test_every_line_parses_and_command_matches_canonical_grammar(corpus):
    for line in corpus:
        utterance, command = parse_line(line)
        assert utterance and utterance == utterance.strip()
        check_command(command)
        assert recipes.COMMAND_RE.match(command), command


def test_module_command_set_matches_documented_grammar():
    assert recipes.COMMANDS == set(GRAMMAR)
    for name in GRAMMAR:
        domain, verb = name.split(".")
        assert re.search(rf"\b{domain}\.[a-z ./]*\b{verb}\b", recipes.__doc__), name


def test_corpus_covers_every_command_room_and_door(corpus):
    commands = [parse_line(line)[1] for line in corpus]
    names = Counter(c.split(" ")[0] for c in commands)
    assert set(names) == set(GRAMMAR)
    targets = {c.split(" ")[1] for c in commands if len(c.split(" ")) > 1}
    assert ROOM_KEYS | DOOR_KEYS | {"all"} <= targets


def test_charset_is_ascii_without_newlines(corpus):
    for line in corpus:
        assert line.isascii()
        assert "\n" not in line and "\r" not in line
        utterance, command = parse_line(line)
        assert set(utterance) <= UTTERANCE_CHARS, utterance
        assert set(command) <= COMMAND_CHARS, command
        assert "=>" not in utterance


def test_variety_and_length_bounds(corpus):
    assert len(set(corpus)) >= 0.5 * len(corpus)
    utterances = [parse_line(line)[0] for line in corpus]
    assert len(set(utterances)) >= 0.5 * len(utterances)
    lengths = [len(u) for u in utterances]
    assert min(lengths) >= recipes.MIN_UTTERANCE_LEN >= 8
    assert max(lengths) <= recipes.MAX_UTTERANCE_LEN <= 80
    assert 20 <= sum(lengths) / len(lengths) <= 55


def test_phrasing_styles_all_occur(corpus):
    utterances = [parse_line(line)[0] for line in corpus]

    def share(pred) -> float:
        return sum(map(pred, utterances)) / len(utterances)

    assert share(lambda u: u.startswith(("could you", "can you", "would you"))) > 0.02
    assert share(lambda u: u.endswith("please")) > 0.02
    assert share(lambda u: u.startswith(("would you mind", "do you mind"))) > 0.002
    assert share(lambda u: u.split(" ")[0].rstrip(",") in ("um", "uh", "hey", "okay")) > 0.02
    assert share(lambda u: u.endswith("?")) > 0.01
    # terse forms with no verb at all: "kitchen lights off"
    assert any(re.fullmatch(r"[a-z' ]+ (lights|light|lamps|lamp) (on|off)", u)
               for u in utterances)
    # both orders: "turn off the X" and "turn the X off"
    assert any(u.startswith("turn off the ") for u in utterances)
    assert any(u.startswith("turn the ") and u.endswith(" off") for u in utterances)


def test_numbers_appear_both_as_digits_and_words(corpus):
    with_value = [parse_line(line) for line in corpus if parse_line(line)[1][-1].isdigit()]
    digits = sum(bool(re.search(r"\d", u)) for u, _ in with_value)
    assert 0.25 < digits / len(with_value) < 0.85


# --- typos ----------------------------------------------------------------------------------


def one_edit_apart(a: str, b: str) -> bool:
    """True if b is a with one adjacent swap, one dropped or one doubled character."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and \
            a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(long_) - len(short) != 1:
        return False
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def test_typo_changes_one_letter_of_the_utterance_and_never_the_command():
    rng = random.Random(5)
    for i in range(500):
        intent = sample_intent(rng)
        clean, cmd_clean = render(intent, random.Random(i), typo_rate=0.0)
        typo, cmd_typo = render(intent, random.Random(i), typo_rate=1.0)
        assert cmd_clean == cmd_typo == canonical(intent)
        assert typo != clean
        assert one_edit_apart(clean, typo), (clean, typo)
        assert set(typo) <= UTTERANCE_CHARS


def test_about_three_percent_of_corpus_lines_have_a_typo(corpus):
    vocabulary = {w for _, u, _ in clean_renders(30000, seed=11) for w in u.split(" ")}
    typo_lines = [line for line in corpus
                  if any(w not in vocabulary for w in parse_line(line)[0].split(" "))]
    share = len(typo_lines) / len(corpus)
    assert 0.01 <= share <= 0.06, share
    for line in typo_lines:  # the command part of a typo'd line is still exact
        check_command(parse_line(line)[1])


# --- numbers, durations and times -----------------------------------------------------------


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"),
    (45, "forty five"), (99, "ninety nine"), (100, "one hundred"),
    (180, "one hundred and eighty"), (205, "two hundred and five"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_word_forms_include_colloquial_variants():
    assert set(number_word_forms(180)) == {
        "one hundred and eighty", "one hundred eighty", "a hundred and eighty", "one eighty"}
    assert "two oh five" in number_word_forms(205)
    with pytest.raises(ValueError):
        number_word_forms(1000)


WORD_VALUES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
WORD_VALUES.update({w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)})


def spoken_numbers(utterance: str) -> list[int]:
    """Numbers below 100 in an utterance, written as digits or words ("twenty one")."""
    found: list[int] = []
    prev_tens = False
    for token in utterance.replace(",", " ").replace("?", " ").split():
        if token.isdigit():
            found.append(int(token))
            prev_tens = False
        elif token in WORD_VALUES:
            value = WORD_VALUES[token]
            if prev_tens and value < 10:
                found[-1] += value
                prev_tens = False
            else:
                found.append(value)
                prev_tens = value >= 20 and value % 10 == 0
        else:
            prev_tens = False
    return found


def test_fixed_intent_value_in_words_or_digits_maps_to_same_command():
    intent = Intent(action="set", device="thermostat", room="bedroom", value="21")
    rng = random.Random(0)
    utterances = set()
    for _ in range(300):
        utterance, command = render(intent, rng, typo_rate=0.0)
        assert command == "thermostat.set bedroom 21"
        assert "21" in utterance or "twenty one" in utterance, utterance
        utterances.add(utterance)
    assert any("twenty one" in u for u in utterances)
    assert any(re.search(r"\b21\b", u) for u in utterances)
    assert len(utterances) > 50


@pytest.mark.parametrize("name", ["thermostat.set", "light.set", "media.volume",
                                  "tv.channel", "fan.set", "light.dim", "thermostat.up"])
def test_spoken_number_equals_command_value(name):
    checked = 0
    for _, utterance, command in clean_renders(20000, seed=3):
        parts = command.split(" ")
        if parts[0] != name or not parts[-1].isdigit():
            continue
        value = int(parts[-1])
        if value >= 100 or re.search(r"\b(half|full|a degree)\b", utterance):
            continue
        assert spoken_numbers(utterance) == [value], (utterance, command)
        checked += 1
    assert checked > 50


def test_oven_temperatures_in_words_map_to_digits():
    rng = random.Random(1)
    for value in (150, 180, 205, 220, 250):
        intent = Intent("set", "oven", "kitchen", str(value))
        for _ in range(40):
            utterance, command = render(intent, rng, typo_rate=0.0)
            assert command == f"oven.set kitchen {value}"
            assert str(value) in utterance or any(
                f in utterance for f in number_word_forms(value)), utterance


def duration_phrases(hours: int, minutes: int) -> set[str]:
    hour = {1: ["an hour", "one hour", "1 hour"]}.get(hours, [f"{hours} hours"])
    if minutes == 30:
        mins = ["30 minutes", "thirty minutes"]
    else:
        mins = [f"{minutes} minutes", f"{number_to_words(minutes)} minutes"]
    return {f"{h}{sep}{m}" for h in hour for m in mins for sep in (" and ", " ")}


@pytest.mark.parametrize("seconds, phrases", [
    ("300", {"5 minute", "five minute", "5 mins", "five mins"}),
    ("30", {"30 second", "thirty second"}),
    ("1800", {"half an hour", "a half hour", "30 minute", "thirty minute", "30 mins",
              "thirty mins"}),
    ("150", {"two and a half minute", "2 and a half minute", "two minutes and thirty seconds",
             "2 minutes and thirty seconds", "two minutes 30 seconds", "2 minutes 30 seconds",
             "two minutes thirty seconds", "2 minutes thirty seconds"}),
    ("5400", {"an hour and a half", "one and a half hours", "one hour and a half",
              "90 minutes", "ninety minutes"} | duration_phrases(1, 30)),
    ("7200", {"2 hour", "two hour", "120 minutes", "one hundred and twenty minutes",
              "one hundred twenty minutes", "a hundred and twenty minutes",
              "one twenty minutes"}),
])
def test_timer_durations_map_to_seconds(seconds, phrases):
    intent = Intent("start", "timer", None, seconds)
    rng = random.Random(2)
    for _ in range(150):
        utterance, command = render(intent, rng, typo_rate=0.0)
        assert command == f"timer.start {seconds}"
        assert any(p in utterance for p in phrases), utterance


def test_alarm_times_map_to_hhmm():
    rng = random.Random(4)
    cases = {
        "0730": ("7.30", "seven thirty", "half past seven", "half past 7"),
        "1915": ("7.15", "seven fifteen", "quarter past seven", "quarter past 7"),
        "0600": ("6 am", "six am", "6 in the morning", "six in the morning",
                 "6 o'clock in the morning", "six o'clock in the morning"),
        "1200": ("noon", "midday", "12 pm"),
        "0005": ("12.05 am", "twelve oh five am", "12.05 in the morning",
                 "twelve oh five in the morning"),
    }
    for value, phrases in cases.items():
        intent = Intent("set", "alarm", None, value)
        for _ in range(100):
            utterance, command = render(intent, rng, typo_rate=0.0)
            assert command == f"alarm.set {value}"
            assert any(p in utterance for p in phrases), utterance
            if value in ("0730", "0600"):
                assert "pm" not in utterance and "evening" not in utterance
            if value == "1915":
                assert "am" not in utterance.split() and "morning" not in utterance


def test_rooms_with_synonyms_map_to_one_key():
    intent = Intent("off", "light", "living_room")
    rng = random.Random(8)
    said = set()
    for _ in range(400):
        utterance, command = render(intent, rng, typo_rate=0.0)
        assert command == "light.off living_room"
        said |= {name for name in ("living room", "lounge", "sitting room", "family room")
                 if name in utterance}
    assert len(said) >= 3


# --- intents, rendering, hold-outs ----------------------------------------------------------


def test_render_returns_canonical_command_of_the_intent():
    rng = random.Random(6)
    for _ in range(2000):
        intent = sample_intent(rng)
        utterance, command = render(intent, rng)
        assert command == canonical(intent) == intent.command
        check_command(command)


def test_canonical_examples():
    assert canonical(Intent("off", "light", "kitchen")) == "light.off kitchen"
    assert canonical(Intent("dim", "light", "living_room", "30")) == "light.dim living_room 30"
    assert canonical(Intent("start", "timer", None, "300")) == "timer.start 300"
    assert canonical(Intent("temperature", "query", "bedroom")) == "query.temperature bedroom"


@pytest.mark.parametrize("intent", [
    Intent("explode", "light", "kitchen"),  # unknown command
    Intent("set", "thermostat", "bedroom"),  # value required
    Intent("on", "light", "kitchen", "5"),  # no value taken
    Intent("on", "oven", "bedroom"),  # oven lives in the kitchen
    Intent("set", "light", "kitchen", "fifty"),  # value must be digits
])
def test_render_rejects_intents_outside_the_grammar(intent):
    with pytest.raises(ValueError):
        render(intent, random.Random(0))


def test_keep_predicate_holds_out_room_action_pairs():
    def keep(intent: Intent) -> bool:
        return not (intent.room == "kitchen" and intent.action == "off")

    lines = generate_commands(5000, seed=3, keep=keep)
    assert len(lines) == 5000
    commands = [parse_line(line)[1].split(" ") for line in lines]
    assert not any(c[0].endswith(".off") and c[1:2] == ["kitchen"] for c in commands)
    assert any(c[0].endswith(".on") and c[1:2] == ["kitchen"] for c in commands)
    assert any(c[0].endswith(".off") and c[1:2] == ["bedroom"] for c in commands)


def test_keep_predicate_that_rejects_everything_fails_clearly():
    with pytest.raises(ValueError, match="keep"):
        generate_commands(3, seed=1, keep=lambda intent: False)


# --- parse_line -----------------------------------------------------------------------------


def test_parse_line_splits_utterance_and_command():
    assert SEPARATOR == " => "
    assert parse_line("turn the kitchen lights off please => light.off kitchen") == (
        "turn the kitchen lights off please", "light.off kitchen")


@pytest.mark.parametrize("line", ["turn the kitchen lights off", "a => b => c", "x=>y", ""])
def test_parse_line_rejects_line_without_exactly_one_separator(line):
    with pytest.raises(ValueError, match="separator"):
        parse_line(line)


# --- speed ----------------------------------------------------------------------------------


def test_generation_is_fast():
    # About 0.2 s on a laptop; the bound leaves room for a loaded CI machine.
    start = time.perf_counter()
    lines = generate_commands(20_000, seed=1)
    elapsed = time.perf_counter() - start
    assert len(lines) == 20_000
    assert elapsed < 1.5, f"20k lines took {elapsed:.2f}s (100k should take about 1s)"
