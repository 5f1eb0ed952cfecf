"""tlm_command_parse: the generated command tables + firmware/tlm_command.c, against the grammar
engine's reference parse (Grammar.parse_command).

Two small grammars written here (list, integer, percent, duration and time slots, optional
output slots, two slots of one type, literal words after a slot) are emitted as tlm_commands.c,
linked with tests/cmd_harness_main.c, and run on the host and on the emulated Cortex-M4 and
Cortex-M0: the C parse of every output the grammar can write (all of them where there are
few, a seeded sample plus every range edge where there are many) equals parse_command's, and
malformed texts are refused with the right status. The API compiles warning-free as C and as
C++, and the last test takes a grammar of its own through init, train, quantize, build and the
HIL `commands` case on the emulated M4.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from toolchain.codegen import commands
from toolchain.codegen import emit
from toolchain.core.errors import UsageError
from toolchain.core.paths import FIRMWARE
from toolchain.data import grammar as grammar_mod
from toolchain.target import compile as compile_mod
from toolchain.target import cross
from toolchain.target import qemu
from toolchain.link.client import Device

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "cmd_harness_main.c"

GARDEN = """
grammar: garden
version: 1
slots:
  zone:
    values:
      bed_a: [bed a, the first bed]
      bed_b: [bed b, the second bed]
      greenhouse: [greenhouse, the whole greenhouse]
  minutes: {type: integer, min: 1, max: 60}
  level: {type: percent, min: 0, max: 100}
  spray: {type: duration, min: 10, max: 600}
  clock: {type: time}
  nozzle:
    values:
      fine: [fine, misty]
      coarse: [coarse, heavy]
intents:
  water.start:
    output: "water.start {zone} {minutes?}"
    expressions:
      - "water $zone (for $minutes minutes)"
      - say: "water everything please"
        set: {zone: greenhouse}
  water.stop:
    output: "water.stop {zone}"
    expressions: ["stop watering $zone"]
  vent.set:
    output: "vent.set {zone} {level}"
    expressions: ["open the vents in $zone to $level"]
  lights.schedule:
    output: "lights.schedule {zone} {start} {end}"
    expressions: ["lights in $zone from $clock:start to $clock:end"]
  mist.start:
    output: "mist.start {zone} {spray?} {nozzle?}"
    expressions:
      - "mist $zone (for $spray)"
      - "mist $zone with a $nozzle spray"
      - "mist $zone for $spray with a $nozzle spray"
  query.tank:
    output: "query.tank"
    expressions: ["how full is the tank", "tank level"]
"""

WORKSHOP = """
grammar: workshop
version: 1
slots:
  tool:
    values:
      drill: [drill, the drill]
      saw: [saw, the saw, circular saw]
      lathe: [lathe]
      sander: [sander, the sander]
  room:
    values:
      bench: [bench, the bench]
      shed: [shed, the shed]
  speed: {type: integer, min: 0, max: 3000}
  wait: {type: duration, min: 1, max: 7200}
  when: {type: time}
intents:
  tool.on:
    output: "tool.on {tool} {speed?}"
    expressions: ["start the $tool (at $speed rpm)", "$tool on"]
  tool.move:
    output: "tool.move {tool} from {from} to {to}"
    expressions: ["move the $tool from $room:from to $room:to"]
  timer.start:
    output: "timer.start {wait} {tool?}"
    expressions: ["timer $wait", "turn off the $tool in $wait"]
  alarm.set:
    output: "alarm.set {when} {room?} {tool?}"
    expressions:
      - "alarm at $when"
      - "alarm at $when in the $room"
      - "alarm at $when in the $room for the $tool"
      - "remind me at $when about the $tool"
  shop.close:
    output: "shop.close now"
    expressions: ["close the shop", "we are done for today"]
"""

GRAMMARS = {"garden": GARDEN, "workshop": WORKSHOP}

# (text, status) for the garden grammar: TLM_COMMAND_ERR_* of firmware/tlm_command.h
SYNTAX, INTENT, VALUE, RANGE, MISSING, EXTRA = 2, 3, 4, 5, 6, 7
MALFORMED = [
    ("", SYNTAX), (" query.tank", SYNTAX), ("query.tank ", SYNTAX), ("water.stop  bed_a", SYNTAX), (" ", SYNTAX),
    ("water.go bed_a", INTENT), ("irrigate", INTENT), ("WATER.STOP bed_a", INTENT), ("query", INTENT),
    ("query.tank\t", INTENT), ("water.stop\tbed_a", INTENT), ("bed_a water.stop", INTENT),
    ("water.stop bed_c", VALUE), ("water.stop bed_a\r", VALUE), ("water.stop bed_\xe4", VALUE),
    ("water.stop BED_A", VALUE),
    ("water.start bed_a ten", VALUE), ("water.start bed_a 05", VALUE), ("vent.set bed_a 050", VALUE),
    ("vent.set bed_a +5", VALUE), ("vent.set bed_a -5", VALUE), ("vent.set bed_a 5.0", VALUE),
    ("lights.schedule bed_a 730 1800", VALUE), ("lights.schedule bed_a 07300 1800", VALUE),
    ("lights.schedule bed_a 07:30 1800", VALUE), ("vent.set bed_a 99999999999x", VALUE),
    ("vent.set bed_a 101", RANGE), ("water.start bed_a 0", RANGE), ("water.start bed_a 61", RANGE),
    ("lights.schedule bed_a 2400 0100", RANGE), ("lights.schedule bed_a 0760 0100", RANGE),
    ("vent.set bed_a 99999999999", RANGE), ("mist.start bed_a 5", RANGE), ("mist.start bed_a 700 50", RANGE),
    ("water.stop", MISSING), ("vent.set bed_a", MISSING), ("lights.schedule greenhouse 0700", MISSING),
    ("water.stop bed_a bed_b", EXTRA), ("query.tank now", EXTRA), ("water.start bed_a 15 15", EXTRA),
    ("mist.start bed_a 30 fine fine", EXTRA),
]
# where (byte offset) a few of them are refused
ERROR_AT = {"water.stop bed_c": 11, "water.stop": 10, "query.tank now": 11, "vent.set bed_a 101": 15,
            " query.tank": 0, "query.tank ": 10, "water.stop  bed_a": 11, "mist.start bed_a 30 fine fine": 25}


def load_grammar(tmp: Path, name: str):
    path = tmp / f"{name}.yaml"
    path.write_text(GRAMMARS[name])
    return grammar_mod.load(path)


@pytest.fixture(scope="module")
def grammars(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("grammars")
    return {name: load_grammar(tmp, name) for name in GRAMMARS}


def emit_tables(g, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    commands.write(g, out, emit._env(), version="test", model_hash="0123456789abcdef")
    return out


# ---------------------------------------------------------------------------------------------
# The outputs a grammar can write, and what the reference makes of them


def _values(t, rng: random.Random, many: int) -> list:
    """Every value of a slot type, or its edges and a seeded sample of `many` when it has more."""
    values = list(t.all_values())
    if len(values) <= many:
        return values
    return sorted(set(values[:2] + values[-2:] + rng.sample(values, many)))


def outputs(g, seed: int = 0, per_intent: int = 600, many: int = 40) -> list[str]:
    """Distinct command texts the grammar writes: per intent every combination of slot values
    (optional slots also left out, each subset), or a seeded sample of `per_intent` of them."""
    rng = random.Random(seed)
    texts: list[str] = []
    for it in g.intents:
        choices = []
        for s in it.output_slots:
            vals = [("set", v) for v in _values(g.slot_types[s.type], rng, many)]
            choices.append(vals + ([("absent", None)] if s.optional else []))
        combos = list(itertools.product(*choices))
        if len(combos) > per_intent:
            combos = rng.sample(combos, per_intent)
        for combo in combos:
            bound = {s.name: v for s, (how, v) in zip(it.output_slots, combo) if how == "set"}
            texts.append(g.command(it.name, bound))
    texts += [line.split(" => ")[1] for line in g.generate(300, seed=seed + 1)]
    return list(dict.fromkeys(texts))


def expected_line(g, text: str) -> str | None:
    """The harness line for the reference parse of `text`, None if it refuses the text."""
    got = g.parse_command(text)
    if got is None:
        return None
    name, values = got
    index = [it.name for it in g.intents].index(name)
    cells = []
    for s in g.intents[index].output_slots:
        t = g.slot_types[s.type]
        v = values.get(s.name)
        if v is None:
            cells.append("-")
        elif t.kind == "list":
            cells.append(f"L{list(t.values).index(v)}:{v}")
        else:
            cells.append(f"N{int(v)}")
    return " ".join([f"0 {index} 0", *cells])


# ---------------------------------------------------------------------------------------------
# The harness on the host and on the emulated cores


def host_harness(gen: Path) -> Path:
    exe = gen / "harness"
    srcs = [HARNESS, *compile_mod.command_sources(gen), FIRMWARE / "ports" / "host" / "port_host.c"]
    subprocess.run([compile_mod.HOST_CC, *compile_mod.HOST_FLAGS, f"-I{gen}", f"-I{FIRMWARE}", *map(str, srcs),
                    "-o", str(exe)], check=True, capture_output=True)
    return exe


def run_host(exe: Path, lines: list[str]) -> list[str]:
    data = "".join(f"{ln}\n" for ln in lines).encode("latin-1") + b"END\n"
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout.decode()
    got = out.splitlines()
    assert got[-1] == "END"
    return got[:-1]


EMULATED = {"mps2-an386": ("mps2", "cortex-m4f"), "microbit": ("microbit", "cortex-m0plus")}


def emulated_harness(gen: Path, machine: str) -> Path:
    port, core = EMULATED[machine]
    elf = gen / f"harness-{machine}.elf"
    cross.build_elf(port, [HARNESS, *compile_mod.command_sources(gen)], [gen], elf, cross.CORE_FLAGS[core], {})
    return elf


def run_emulated(elf: Path, machine: str, lines: list[str], state: Path, batch: int = 16) -> list[str]:
    got = []
    with qemu.start(elf, machine, state_dir=state) as emu:
        with Device(emu.url, timeout=30) as dev:
            dev.send_raw(b"\n")         # the first byte wakes the UART; answered by a SYNTAX line
            assert dev.readline().startswith(f"{SYNTAX} -1 ")
            for i in range(0, len(lines), batch):
                chunk = lines[i:i + batch]
                dev.send_raw("".join(f"{ln}\n" for ln in chunk).encode("latin-1"))
                got += [dev.readline() for _ in chunk]
    return got


def check_against_reference(g, texts: list[str], got: list[str]) -> None:
    assert len(got) == len(texts)
    for text, line in zip(texts, got):
        want = expected_line(g, text)
        assert want is not None, f"the reference refuses {text!r}, which the grammar writes"
        assert line == want, f"{text!r}: C {line!r}, reference {want!r}"


def check_malformed(g, got: list[str]) -> None:
    for (text, status), line in zip(MALFORMED, got):
        assert g.parse_command(text) is None, f"the reference accepts {text!r}"
        st, intent, at = line.split()[:3]
        assert (int(st), int(intent)) == (status, -1), f"{text!r}: {line!r}, want status {status}"
        if text in ERROR_AT:
            assert int(at) == ERROR_AT[text], f"{text!r}: refused at byte {at}, want {ERROR_AT[text]}"


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_c_parse_equals_the_reference_on_every_output_on_the_host(grammars, name, tmp_path):
    g = grammars[name]
    texts = outputs(g, per_intent=4000, many=400)
    assert len(texts) > 1000
    exe = host_harness(emit_tables(g, tmp_path))
    check_against_reference(g, texts, run_host(exe, texts))


@pytest.mark.parametrize("source", ["smarthome", "examples/grammars/greenhouse.yaml", "examples/grammars/robot_arm.yaml"])
def test_c_parse_equals_the_reference_for_the_shipped_grammars(source, tmp_path):
    g = grammar_mod.builtin(source) if "/" not in source else grammar_mod.load(HERE.parent / source)
    texts = outputs(g, per_intent=1000, many=100)
    check_against_reference(g, texts, run_host(host_harness(emit_tables(g, tmp_path)), texts))


def test_c_parse_refuses_malformed_commands_with_their_status(grammars, tmp_path):
    g = grammars["garden"]
    exe = host_harness(emit_tables(g, tmp_path))
    got = run_host(exe, [t for t, _ in MALFORMED] + ["!args", "!status", "x" * 600])
    check_malformed(g, got[:len(MALFORMED)])
    assert got[len(MALFORMED)] == "1 1 1 -1"      # NULL grammar, text, out: TLM_COMMAND_ERR_ARG
    texts = got[len(MALFORMED) + 1].split("|")
    assert len(texts) == 8 == len(set(texts)) and texts[0] == "ok"
    assert got[-1].split()[:2] == [str(INTENT), "-1"]   # an over-long line: its first 512 bytes


def test_optional_slots_may_each_be_left_out_in_order(grammars, tmp_path):
    """`mist.start {zone} {spray?} {nozzle?}`: either, both or neither; out of order is
    refused at the 50 (the furthest any reading got: fine as the nozzle, then one token too
    many)."""
    g = grammars["garden"]
    exe = host_harness(emit_tables(g, tmp_path))
    texts = ["mist.start bed_a 50", "mist.start bed_a fine", "mist.start bed_a 600 coarse", "mist.start bed_a",
             "mist.start bed_a fine 50"]
    got = run_host(exe, texts)
    assert got[:4] == [expected_line(g, t) for t in texts[:4]]
    assert got[0].endswith("N50 -") and got[1].endswith("- L0:fine") and got[2].endswith("N600 L1:coarse")
    assert got[4].split() == [str(EXTRA), "-1", "22"] and g.parse_command(texts[4]) is None


@pytest.mark.parametrize("machine", sorted(EMULATED))
def test_c_parse_equals_the_reference_on_the_emulated_cores(grammars, machine, tmp_path):
    for name in sorted(GRAMMARS):
        g = grammars[name]
        gen = emit_tables(g, tmp_path / name)
        texts = outputs(g, seed=7, per_intent=150, many=30)
        lines = texts + ([t for t, _ in MALFORMED] if name == "garden" else [])
        got = run_emulated(emulated_harness(gen, machine), machine, lines, tmp_path / f"qemu-{name}")
        check_against_reference(g, texts, got[:len(texts)])
        if name == "garden":
            check_malformed(g, got[len(texts):])


# ---------------------------------------------------------------------------------------------
# C and C++


USER_CPP = r"""
#include <string.h>
#include "tlm_commands.h"

/* What user firmware does with a command: switch on the intent, read the slots. */
static int32_t handle(const char *text) {
    TlmCommand cmd;
    if (tlm_command_parse(text, strlen(text), &cmd) != TLM_COMMAND_OK) {
        return -1;
    }
    switch (cmd.intent) {
    case TLM_INTENT_WATER_START: {
        enum tlm_zone zone = static_cast<enum tlm_zone>(cmd.slots[TLM_SLOT_WATER_START_ZONE].value);
        const TlmSlotValue &minutes = cmd.slots[TLM_SLOT_WATER_START_MINUTES];
        return (zone == TLM_ZONE_BED_B ? 1000 : 0) + (minutes.present ? minutes.value : 5);
    }
    case TLM_INTENT_LIGHTS_SCHEDULE:
        return cmd.slots[TLM_SLOT_LIGHTS_SCHEDULE_END].value - cmd.slots[TLM_SLOT_LIGHTS_SCHEDULE_START].value;
    default:
        return cmd.intent + 100 * (TLM_INTENT_COUNT + 0);
    }
}

int main() {
    if (handle("water.start bed_b 15") != 1015) return 1;
    if (handle("water.start bed_a") != 5) return 2;
    if (handle("lights.schedule greenhouse 0630 2200") != 1570) return 3;
    if (handle("query.tank") != TLM_INTENT_QUERY_TANK + 100 * TLM_INTENT_COUNT) return 4;
    if (handle("water.start bed_a 99") != -1) return 5;
    if (strcmp(TLM_GRAMMAR_NAME, tlm_grammar.name) != 0) return 6;
    return 0;
}
"""

CXX_FLAGS = ("-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic")


def test_the_api_compiles_as_c_and_cpp_and_links_from_cpp(grammars, tmp_path):
    gen = emit_tables(grammars["garden"], tmp_path)
    (tmp_path / "user.cpp").write_text(USER_CPP)
    inc = [f"-I{gen}", f"-I{FIRMWARE}"]
    objs = []
    for src in compile_mod.command_sources(gen):
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["gcc", *compile_mod.WARN_FLAGS, "-pedantic", "-O2", *inc, "-c", str(src), "-o", str(obj)],
                       check=True)
        subprocess.run(["g++", *CXX_FLAGS, "-x", "c++", *inc, "-c", str(src), "-o", str(tmp_path / "cxx.o")],
                       check=True)   # the C files are valid C++ too
        objs.append(str(obj))
    exe = tmp_path / "user"
    subprocess.run(["g++", *CXX_FLAGS, *inc, str(tmp_path / "user.cpp"), *objs, "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0
    arm = [*cross.CORE_FLAGS["cortex-m4f"], "-Os", *inc]
    subprocess.run(["arm-none-eabi-g++", *CXX_FLAGS, "-fno-exceptions", "-fno-rtti", *arm, "-c",
                    str(tmp_path / "user.cpp"), "-o", str(tmp_path / "user-m4.o")], check=True)
    for src in compile_mod.command_sources(gen):
        subprocess.run(["arm-none-eabi-g++", *CXX_FLAGS, "-x", "c++", *arm, "-c", str(src), "-o",
                        str(tmp_path / "m4-cxx.o")], check=True)


def test_the_header_example_compiles(grammars, tmp_path):
    """The switch in tlm_commands.h's doc comment is code: it compiles with -Werror (its
    variables declared around it)."""
    g = grammars["workshop"]
    gen = emit_tables(g, tmp_path)
    header = (gen / "tlm_commands.h").read_text()
    lines = [ln[7:] for ln in header.split("#ifndef")[0].splitlines() if ln.startswith(" *     ")]
    assert any("switch (cmd.intent)" in ln for ln in lines)
    names = sorted({s.name for it in g.intents[:commands.EXAMPLE_INTENTS] for s in it.output_slots})
    body = "\n".join(lines)
    src = ("#include \"tlm_commands.h\"\nint32_t example(const char *text, size_t len);\n"
           "int32_t example(const char *text, size_t len) {\n"
           + "".join(f"    int32_t {n} = 0;\n" for n in names) + body + "\n"
           + "    return " + " + ".join(names or ["0"]) + ";\n}\n")
    (tmp_path / "example.c").write_text(src)
    subprocess.run(["gcc", *compile_mod.WARN_FLAGS, f"-I{gen}", f"-I{FIRMWARE}", "-c", str(tmp_path / "example.c"),
                    "-o", str(tmp_path / "example.o")], check=True)


def test_tlm_command_c_is_small_on_the_m4(tmp_path):
    obj = tmp_path / "tlm_command.o"
    subprocess.run(["arm-none-eabi-gcc", *compile_mod.WARN_FLAGS, *compile_mod.core_flags("cortex-m4f"),
                    f"-I{FIRMWARE}", "-c", str(FIRMWARE / "tlm_command.c"), "-o", str(obj)], check=True)
    size = compile_mod.sizes([obj], "arm-none-eabi-size")[obj.name]
    assert size["data"] == 0 and size["bss"] == 0     # no globals
    assert size["text"] < 1600, size


# ---------------------------------------------------------------------------------------------
# The generated files


def test_tables_are_deterministic_and_named_from_the_grammar(grammars, tmp_path):
    g = grammars["garden"]
    a, b = emit_tables(g, tmp_path / "a"), emit_tables(g, tmp_path / "b")
    for name in commands.GENERATED:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    h = (a / "tlm_commands.h").read_text()
    assert h.startswith("/* generated by tlmc test from model 0123456789abcdef, do not edit */\n")
    assert re.search(r"enum tlm_intent \{\n    TLM_INTENT_WATER_START = 0,", h)
    assert "TLM_INTENT_QUERY_TANK = 5," in h and "TLM_INTENT_COUNT = 6\n" in h
    assert "enum tlm_zone {" in h and "TLM_ZONE_GREENHOUSE = 2," in h and "TLM_ZONE_COUNT = 3\n" in h
    assert "TLM_SLOT_LIGHTS_SCHEDULE_END = 2," in h and 'extern "C"' in h
    assert "enum tlm_minutes" not in h     # numeric types have no enum


def _grammar_with(tmp: Path, intents: str, slots: str = "") -> object:
    text = ("grammar: clash\nversion: 1\nslots:\n  zone:\n    values:\n      bed_a: [bed a]\n" + slots
            + "intents:\n" + intents)
    path = tmp / "clash.yaml"
    path.write_text(text)
    return grammar_mod.load(path)


def _intent(name: str, output: str, say: str) -> str:
    return f"  {name}:\n    output: \"{output}\"\n    expressions: [\"{say}\"]\n"


@pytest.mark.parametrize("intents, slots, words", [
    (_intent("water.start", "water.start {zone}", "water $zone")
     + _intent("water_start", "water_start {zone}", "start water $zone"), "",
     ["'water.start'", "'water_start'", "TLM_INTENT_WATER_START"]),
    (_intent("count", "count", "count them all"), "", ["TLM_INTENT_COUNT"]),
    (_intent("water.start", "water.start {arena}", "water $arena"),
     "  arena:\n    values:\n      bytes: [big bed]\n", ["TLM_ARENA_BYTES", "already defines"]),
    (_intent("water.start", "water.start {intent}", "water $intent"),
     "  intent:\n    values:\n      big: [big bed]\n", ["enum tlm_intent"]),
])
def test_names_that_collide_in_c_are_refused_in_one_line(tmp_path, intents, slots, words):
    g = _grammar_with(tmp_path, intents, slots)
    with pytest.raises(UsageError) as e:
        commands.tables(g)
    msg = str(e.value)
    assert "\n" not in msg and "clash.yaml" in msg and all(w in msg for w in words), msg


def test_emit_writes_the_tables_for_a_grammar_and_removes_them_without(grammars, tmp_path):
    from .runtime_helpers import make_model

    m = make_model(5, 4, 3, [9], 11)
    out = tmp_path / "host"
    s = emit.emit_model(m.int8, None, out, grammar=grammars["garden"])
    assert sorted(Path(f).name for f in s["files"]) == sorted(emit.GENERATED + commands.GENERATED)
    assert (out / "tlm_commands.h").read_text().split("\n")[0] == (out / "model_data.h").read_text().split("\n")[0]
    compile_mod.build_host(out)                  # links tlm_command.c and the tables
    assert compile_mod.command_sources(out)[0] == FIRMWARE / "tlm_command.c"
    s = emit.emit_model(m.int8, None, out)
    assert sorted(Path(f).name for f in s["files"]) == sorted(emit.GENERATED)
    assert not any((out / n).exists() for n in commands.GENERATED) and compile_mod.command_sources(out) == []
    compile_mod.build_host(out)
    assert json.loads(json.dumps(s["files"]))   # plain data


def test_sketch_and_object_builds_carry_the_tables(grammars, tmp_path):
    """An Arduino board: the sketch folder gets tlm_commands.h/.c next to tlm_command.c, and the
    object build sizes them as their own part (not the model runtime's)."""
    from toolchain.core import boards
    from toolchain.target import sketch

    from .runtime_helpers import make_model

    out = tmp_path / "nano33"
    emit.emit_model(make_model(6, 4, 3, [9], 11).int8, None, out, board_id="nano33", grammar=grammars["garden"])
    folder = sketch.write_sketch(out, boards.resolve("nano33"), "garden")
    assert {"tlm_commands.h", "tlm_commands.c", "tlm_command.c", "tlm_command.h"} <= {p.name for p in folder.iterdir()}
    objs = compile_mod.build_objects(out, "cortex-m4f")
    assert objs["commands"]["text"] > 1000 and objs["commands"]["data"] == objs["commands"]["bss"] == 0
    per_file = objs["objects"]
    assert per_file["tlm_command.o"]["text"] + per_file["tlm_commands.o"]["text"] == objs["commands"]["text"]


# ---------------------------------------------------------------------------------------------
# The acceptance path of issue 12: a grammar of its own through init, train, quantize, build and
# the HIL `commands` case on the emulated Cortex-M4

TINY_SIZES = {"recipe_lines": "3000", "context": "8", "embed": "8", "hidden": "[48]", "steps": "240",
              "batch": "64", "lr": "0.01", "checkpoint_steps": "50", "calibration_samples": "100",
              "eval_samples": "400", "golden_vectors": "60"}


@pytest.mark.slow
def test_own_grammar_goes_through_init_train_quantize_build_and_hil_on_the_emulated_m4(tmp_path):
    from click.testing import CliRunner

    from toolchain.cli import main
    from toolchain.core import project
    from toolchain.target import deploy

    (tmp_path / "garden.yaml").write_text(GARDEN)
    root = tmp_path / "garden"
    run = CliRunner().invoke
    r = run(main, ["init", str(root), "--grammar", str(tmp_path / "garden.yaml")])
    assert r.exit_code == 0, r.output
    toml = root / "tlm.toml"
    text = toml.read_text()
    for key, value in TINY_SIZES.items():
        text, n = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value}  ", text, count=1, flags=re.MULTILINE)
        assert n == 1, key
    toml.write_text(text)
    for step in (["train"], ["quantize"], ["build", "--board", "mps2-an386"]):
        r = run(main, [*step, "-C", str(root), "--json"])
        assert r.exit_code == 0, (step, r.output[-2000:])
    out = root / "build" / "mps2-an386"
    assert (out / "tlm_commands.h").is_file() and "TLM_INTENT_MIST_START" in (out / "tlm_commands.h").read_text()
    p = project.Project.load(root)
    try:
        deploy.flash(p.cfg, p.build, "mps2-an386")
        r = run(main, ["test", "-C", str(root), "--board", "mps2-an386", "--json", "--tokens", "60"])
        summary = json.loads(r.stdout)
        assert r.exit_code == 0, json.dumps(summary, indent=1)[:3000]
        cases = {c["name"]: c for c in summary["devices"][0]["cases"]}
        cmd = cases["commands"]
        assert cmd["passed"] and "skipped" not in cmd["properties"], cmd
        assert cmd["properties"]["count"] > 0
    finally:
        deploy.flash(p.cfg, p.build, "mps2-an386", stop=True)
    # the tables the build emitted parse what the grammar writes, as the reference does
    exe = host_harness(out)
    g = grammar_mod.load(root / "garden.yaml")
    texts = outputs(g, per_intent=100, many=20)
    check_against_reference(g, texts, run_host(exe, texts))
