"""The cycle estimate (docs/runtime.md, "Cycle estimates").

- The decoder and timing tables (bench/qemu_plugin/tlm_timing.c) on the host, through
  tests/timing_harness_main.c: the table docs/runtime.md prints is the plugin's; assembled
  instructions decode to their kind and cost; every instruction gcc emits for the runtime
  decodes to the kind its mnemonic says (binutils as the oracle).
- The plugin in QEMU on hand-counted snippets: a tiny bare-metal ELF per core runs each snippet
  between the two markers, and the cycles of each interval minus an empty one are the ones
  counted by hand from the TRMs (pipelined loads, taken and not-taken branches, an SMLAD chain,
  LDM of four registers, calls, the address-generation stall, IT folding, the flash model).
- End to end: `tlmc build --json` for an emulated and a real board, and the latency check of
  `tlmc test`, carry the labelled estimate.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolchain.core import boards
from toolchain.core.errors import UsageError
from toolchain.core.paths import FIRMWARE
from toolchain.target import cycles, icount

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "runtime.md"
PLUGIN = icount.PLUGIN_DIR

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm missing")


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("timing") / "timing_harness"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{PLUGIN}",
                    str(HERE / "timing_harness_main.c"), str(PLUGIN / "tlm_timing.c"), "-o", str(exe)], check=True)
    return exe


def decode(harness: Path, core: str, halfwords: list[str]) -> list[dict]:
    out = subprocess.run([str(harness), core], input="\n".join(halfwords) + "\n", capture_output=True, text=True,
                         check=True).stdout
    keys = ("kind", "size", "n", "flow", "cycles", "pair", "refill", "refill_unaligned")
    return [dict(zip(keys, [line.split()[0], *map(int, line.split()[1:])])) for line in out.splitlines()]


# ---------------------------------------------------------------------------------------------
# The table and the decoder, on the host


def test_the_documented_table_is_the_plugins_table(harness):
    text = DOCS.read_text().split("## Cycle estimates", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^\| `(\w+)` \|[^|]*\| (\d+)[^|]*\| (\d+)[^|]*\|$", text, re.M)}
    table: dict[str, dict[str, int]] = {}
    for line in subprocess.run([str(harness), "--table"], capture_output=True, text=True, check=True).stdout.splitlines():
        name, value = line.split()
        if name == "core":
            core = table.setdefault(value, {})
        else:
            core[name] = int(value)
    assert set(table) == {"m4", "m0plus"}
    assert set(rows) == set(table["m4"]), "every entry of tlm_timing.c is documented, and only those"
    assert {k: (table["m4"][k], table["m0plus"][k]) for k in rows} == rows


def _assemble(tmp: Path, cpu_flags: list[str], lines: list[str]) -> list[tuple[str, str, str]]:
    """(halfwords, mnemonic, operands) of each instruction of `lines`, from objdump."""
    src = tmp / "insns.S"
    src.write_text(".syntax unified\n.thumb\n.text\n" + "\n".join(lines) + "\n")
    obj = tmp / "insns.o"
    subprocess.run(["arm-none-eabi-gcc", *cpu_flags, "-c", str(src), "-o", str(obj)], check=True)
    return _objdump(obj)


def _objdump(obj: Path) -> list[tuple[str, str, str]]:
    out = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r"^\s+[0-9a-f]+:\s+([0-9a-f]{4}(?: [0-9a-f]{4})?)\s+(\S+)\s*(.*)$", line)
        if m and not m.group(2).startswith("."):
            found.append((m.group(1), m.group(2), m.group(3)))
    return found


M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
M0 = ["-mcpu=cortex-m0plus", "-mthumb"]

# (instruction, kind, cycles on its own, refill P when taken at an aligned target)
M4_CASES = [
    ("adds r0, r1, #1", "alu", 1, 0), ("add.w r0, r1, r2, lsl #3", "alu", 1, 0), ("movw r0, #0x1234", "alu", 1, 0),
    ("movt r0, #0x1234", "alu", 1, 0), ("ubfx r0, r1, #3, #4", "alu", 1, 0), ("sxtb16 r0, r1", "alu", 1, 0),
    ("uadd8 r0, r1, r2", "alu", 1, 0), ("clz r0, r1", "alu", 1, 0), ("ssat r0, #8, r1", "alu", 1, 0),
    ("it eq", "it", 1, 0), ("moveq r0, r1", "alu", 1, 0),
    ("muls r0, r1, r0", "mul", 1, 0), ("mla r0, r1, r2, r3", "mul", 1, 0), ("smlad r0, r1, r2, r3", "mul", 1, 0),
    ("smulbb r0, r1, r2", "mul", 1, 0), ("smull r0, r1, r2, r3", "mul_long", 1, 0),
    ("smlal r0, r1, r2, r3", "mul_long", 1, 0), ("udiv r0, r1, r2", "div", 7, 0), ("sdiv r0, r1, r2", "div", 7, 0),
    ("ldr r0, [r1, #4]", "load", 2, 0), ("ldr.w r0, [r1, #1024]", "load", 2, 0), ("ldrsb.w r0, [r1], #1", "load", 2, 0),
    ("ldrh r0, [r1, r2]", "load", 2, 0), ("ldr r0, [pc, #8]", "load", 2, 0), ("ldrex r0, [r1]", "load", 2, 0),
    ("str r0, [r1, #4]", "store", 1, 0), ("strb.w r0, [r1, #-1]!", "store", 1, 0), ("str r0, [r1, r2]", "store_reg", 2, 0),
    ("str.w r0, [r1, r2, lsl #2]", "store_reg", 2, 0), ("ldrd r2, r3, [r1, #8]", "load_pair", 3, 0),
    ("strd r2, r3, [r1]", "store_pair", 3, 0), ("ldmia r1!, {r2-r5}", "load_multi", 5, 0),
    ("ldmia.w r1, {r2-r5, r8}", "load_multi", 6, 0), ("push.w {r4-r11}", "store_multi", 9, 0),
    ("push {r4, r5, lr}", "store_multi", 4, 0), ("pop {r4, r5}", "load_multi", 3, 0),
    ("pop {r4, pc}", "load_multi", 3, 3), ("ldr.w pc, [r1]", "load", 2, 3),
    ("b target", "branch", 1, 1), ("beq target", "branch", 1, 1), ("bne.w target", "branch", 1, 1),
    ("cbz r0, near", "branch", 1, 1), ("bl target", "call", 1, 1), ("bx lr", "branch", 1, 2),
    ("blx r3", "branch", 1, 2), ("mov pc, r3", "branch", 1, 2), ("add pc, r3", "branch", 1, 2),
    ("tbb [pc, r0]", "table_branch", 3, 3), ("tbh [r1, r0, lsl #1]", "table_branch", 3, 3),
    ("nop", "hint", 1, 0), ("wfi", "hint", 1, 0), ("pld [r1]", "hint", 1, 0), ("dmb", "barrier", 1, 0),
    ("mrs r0, primask", "system", 2, 0), ("msr basepri, r0", "system", 2, 0), ("cpsid i", "system", 2, 0),
    ("svc #0", "exception", 1, 0), ("bkpt #0", "exception", 1, 0), ("udf #0", "exception", 1, 0),
    ("vadd.f32 s0, s1, s2", "fp", 1, 0), ("vmul.f32 s0, s1, s2", "fp", 1, 0), ("vneg.f32 s0, s1", "fp", 1, 0),
    ("vcmp.f32 s0, #0", "fp", 1, 0), ("vcvt.s32.f32 s0, s1", "fp", 1, 0), ("vmov s0, r1", "fp", 1, 0),
    ("vmrs APSR_nzcv, fpscr", "fp", 1, 0), ("vmla.f32 s0, s1, s2", "fp_mac", 3, 0),
    ("vfma.f32 s0, s1, s2", "fp_mac", 3, 0), ("vdiv.f32 s0, s1, s2", "fp_div", 14, 0),
    ("vsqrt.f32 s0, s1", "fp_div", 14, 0), ("vmov r0, r1, d0", "fp_mov2", 2, 0),
    ("vldr s0, [r1, #4]", "fp_load", 2, 0), ("vldr d0, [r1]", "fp_load_double", 3, 0),
    ("vpush {s16-s19}", "fp_multi", 5, 0), ("vldmia r1!, {d0-d1}", "fp_multi", 5, 0),
]
M0_CASES = [
    ("movs r0, #1", "alu", 1, 0), ("mov r8, r1", "alu", 1, 0), ("muls r0, r1, r0", "mul", 1, 0),
    ("ldr r0, [r1, #4]", "load", 2, 0), ("ldrb r0, [r1, r2]", "load", 2, 0), ("str r0, [r1, #4]", "store", 2, 0),
    ("str r0, [r1, r2]", "store_reg", 2, 0), ("ldm r1!, {r2-r5}", "load_multi", 5, 0),
    ("stmia r1!, {r2-r3}", "store_multi", 3, 0), ("push {r4, lr}", "store_multi", 3, 0),
    ("pop {r4, pc}", "load_multi", 3, 2), ("b target", "branch", 1, 1), ("bne target", "branch", 1, 1),
    ("bl target", "call", 2, 1), ("bx lr", "branch", 1, 1), ("blx r3", "branch", 1, 1), ("mov pc, r3", "branch", 1, 1),
    ("mrs r0, primask", "system", 3, 0), ("cpsid i", "system", 3, 0), ("dmb", "barrier", 3, 0),
    ("svc #0", "exception", 1, 0), ("wfi", "hint", 1, 0),
]


@needs_arm
@pytest.mark.parametrize("core,flags,cases", [("m4", M4, M4_CASES), ("m0plus", M0, M0_CASES)])
def test_assembled_instructions_decode_to_their_kind_and_cost(harness, tmp_path, core, flags, cases):
    lines = [asm for asm, *_ in cases] + ["near: nop", "target: nop"]
    found = _assemble(tmp_path, flags, lines)[:len(cases)]
    got = decode(harness, core, [hw for hw, _, _ in found])
    for (asm, kind, cost, refill), g in zip(cases, got):
        assert (g["kind"], g["cycles"], g["refill"]) == (kind, cost, refill), asm


@needs_arm
def test_neighbours_pipeline_stall_and_fold_as_the_m4_trm_says(harness, tmp_path):
    lines = ["ldr r0, [r1]", "ldr r2, [r1, #4]",   # pipelined: -1
             "ldr r3, [r2]",                      # its address is the load before's result: no
             "adds r4, r1, #4", "ldr r0, [r4]",   # address from the ALU just before: +1
             "ldr r5, [r1]",                      # pipelined after that load: -1
             "str r5, [r1, r2]",                  # register-offset store after a load, of its data: -1
             "cmp r0, #0", "it eq", "moveq r0, r1"]   # IT after a 16-bit instruction: -1
    found = _assemble(tmp_path, M4, lines)
    m4 = [g["pair"] for g in decode(harness, "m4", [hw for hw, _, _ in found])]
    assert m4 == [0, -1, 0, 0, 1, -1, -1, 0, -1, 0]
    m0 = [g["pair"] for g in decode(harness, "m0plus", [hw for hw, _, _ in found])]
    assert m0 == [0] * len(lines)   # the M0+ has none of these rules


_CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")
_BY_MNEMONIC = {
    **dict.fromkeys(("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh"), "load"),
    **dict.fromkeys(("str", "strb", "strh", "strex", "strexb", "strexh"), "store"),
    "ldrd": "load_pair", "strd": "store_pair",
    **dict.fromkeys(("ldm", "ldmia", "ldmdb", "pop"), "load_multi"),
    **dict.fromkeys(("stm", "stmia", "stmdb", "push"), "store_multi"),
    **dict.fromkeys(("b", "bx", "blx", "cbz", "cbnz"), "branch"), "bl": "call",
    "tbb": "table_branch", "tbh": "table_branch",
    **dict.fromkeys(("mul", "muls", "mla", "mls", "smlad", "smladx", "smlsd", "smuad", "smusd", "smmul", "smmla",
                     "smlabb", "smlabt", "smlatb", "smlatt", "smulbb", "smulbt", "smultb", "smultt", "smulwb",
                     "smulwt", "smlawb", "smlawt", "usad8", "usada8"), "mul"),
    **dict.fromkeys(("smull", "umull", "smlal", "umlal", "umaal", "smlald", "smlsld", "smlalbb"), "mul_long"),
    "sdiv": "div", "udiv": "div",
    **dict.fromkeys(("nop", "wfi", "wfe", "sev", "yield", "pld", "pli"), "hint"),
    **dict.fromkeys(("dmb", "dsb", "isb"), "barrier"),
    **dict.fromkeys(("mrs", "msr", "cpsid", "cpsie"), "system"),
    **dict.fromkeys(("svc", "bkpt", "udf"), "exception"),
}


def _expected(mnemonic: str, operands: str, halfwords: str) -> str:
    m = mnemonic.split(".")[0]
    if re.fullmatch(r"it[te]{0,3}", m):
        return "it"
    if m not in _BY_MNEMONIC and m[-2:] in _CONDS and m[:-2] in _BY_MNEMONIC:
        m = m[:-2]     # a condition suffix: in an IT block, or B<c>
    if m == "nop" and halfwords == "46c0":
        return "alu"   # ARMv6-M's NOP is MOV r8, r8
    kind = _BY_MNEMONIC.get(m, "alu")
    if kind == "store" and re.search(r"\[\w+, (?:r\d+|ip|lr|fp|sl|sb)", operands):
        return "store_reg"
    return kind


@needs_arm
@pytest.mark.parametrize("core,flags,fc", [("m4", M4, "tlm_fc_dsp.c"), ("m0plus", M0, "tlm_fc_portable.c")])
def test_every_instruction_gcc_emits_for_the_runtime_decodes_as_binutils_names_it(harness, tmp_path, core, flags, fc):
    sources = [FIRMWARE / n for n in ("tlm_kernels.c", "tlm_elementwise.c", "tlm_runtime.c", "tlm_sample.c",
                                      "tlm_tokenizer.c", "tlm_protocol.c")]
    sources += [FIRMWARE / "kernels" / fc, FIRMWARE / "kernels" / "tlm_fc_reference.c"]
    found = []
    for src in sources:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Os", *flags, f"-I{FIRMWARE}", "-c", str(src), "-o", str(obj)],
                       check=True)
        found += _objdump(obj)
    assert len(found) > 2000
    got = decode(harness, core, [hw for hw, _, _ in found])
    wrong = [(hw, mn, ops, g["kind"]) for (hw, mn, ops), g in zip(found, got)
             if not (g["kind"].startswith("fp") if mn.startswith("v") else g["kind"] == _expected(mn, ops, hw))]
    assert not wrong, wrong[:10]


# ---------------------------------------------------------------------------------------------
# The plugin in QEMU, on hand-counted snippets

# (what, set-up before the interval, the snippet, M4 cycles, M0+ cycles or None, instructions).
# Each snippet starts after a NOP (so what precedes it is neither a load nor a taken branch) and
# ends before the BL to the end marker. Cycles counted by hand from the TRMs' tables.
SNIPPETS = [
    ("two loads back to back: 2 + 1 (M0+: 2 + 2)", [], ["ldr r2, [r1]", "ldr r3, [r1, #4]"], 3, 4, 2),
    ("a load whose result is the next one's address: 2 + 2", [], ["ldr r0, [r1, #8]", "ldr r2, [r0]"], 4, 4, 2),
    ("a register-offset store after a load: 2 + 1 (M0+: 2 + 2)", ["movs r3, #8"],
     ["ldr r2, [r1]", "str r2, [r1, r3]"], 3, 4, 2),
    ("a store with an immediate offset: 1 (M0+: 2)", [], ["str r0, [r1, #12]"], 1, 2, 1),
    ("B<c> not taken: 1 + 1 + three NOPs", ["movs r0, #1"], ["cmp r0, #0", "beq 1f", "nop", "nop", "1: nop"], 5, 5, 5),
    ("B<c> taken: 1 + (1 + P 1) + the NOP at its target", ["movs r0, #0"],
     ["cmp r0, #0", "beq 1f", "nop", "nop", "1: nop"], 4, 4, 3),
    ("a loop of four: MOVS 1, four SUBS, three taken BNE (2) and one not (1)", [],
     ["movs r0, #4", "1: subs r0, #1", "bne 1b"], 12, 12, 9),
    ("four SMLADs: 1 each", [], ["smlad r0, r2, r3, r0"] * 4, 4, None, 4),
    ("LDM of four registers: 1 + 4", [], ["ldm r1!, {r2-r5}"], 5, 5, 1),
    ("PUSH and POP of four: (1 + 4) * 2", [], ["push {r4-r7}", "pop {r4-r7}"], 10, 10, 2),
    ("BL and BX LR back: (1 + 1) + (1 + 2) + NOP (M0+: 3 + 2 + 1)", [], ["bl leaf", "nop"], 6, 6, 3),
    ("BL, PUSH {r4, lr}, POP {r4, pc}: 2 + 3 + (3 + 3) + NOP (M0+: 3 + 3 + 5 + 1)", [], ["bl saver", "nop"],
     12, 12, 4),
    ("an address the ALU wrote just before: 1 + 2 + 1 (M0+: 1 + 2)", [], ["adds r2, r1, #4", "ldr r0, [r2]"], 4, 3, 2),
    ("IT folded into the CMP before it: 1 + 0 + 1", [], ["cmp r0, #0", "it eq", "moveq r2, r3"], 2, None, 3),
    ("LDRD: 1 + 2", [], ["ldrd r2, r3, [r1]"], 3, None, 1),
    ("UDIV: the table's 7", ["movs r2, #9", "movs r3, #3"], ["udiv r0, r2, r3"], 7, None, 1),
    ("B to a 32-bit target at 2 mod 4: (1 + 2) + 1", [], ["b 1f", ".p2align 2", "nop", "1: add.w r0, r0, #1"], 4, None, 2),
    ("B to a word-aligned 32-bit target: (1 + 1) + 1", [], ["b 1f", ".p2align 2", "1: add.w r0, r0, #1"], 3, None, 2),
    ("two loads from one flash line (the flash model's test)", ["ldr r4, =ftable"],
     ["ldr r2, [r4]", "ldr r3, [r4, #4]"], 3, 4, 2),
]
FLASH_SNIPPET = len(SNIPPETS) - 1


def _snippet_elf(tmp: Path, flags: list[str], m4: bool) -> tuple[Path, list[int]]:
    """One ELF running every snippet of its core between the markers, after an empty interval;
    the indexes of SNIPPETS it holds."""
    held = [i for i, s in enumerate(SNIPPETS) if m4 or s[4] is not None]
    body = []
    for i in [None, *held]:
        setup, lines = ([], []) if i is None else SNIPPETS[i][1:3]
        body += ["ldr r1, =data", "movs r0, #0", *setup, "bl tlm_bench_begin", "nop", *lines, "bl tlm_bench_end"]
    src = "\n".join([
        ".syntax unified", ".thumb", ".text", ".word 0x20001000", ".word reset + 1",
        ".type reset, %function", "reset:", *body,
        "movs r0, #0x18", "ldr r1, =0x20026", "bkpt 0xab", "b .", ".size reset, . - reset",
        *[f".type {f}, %function\n{f}: {code}\n.size {f}, . - {f}" for f, code in
          (("leaf", "bx lr"), ("saver", "push {r4, lr}\npop {r4, pc}"), ("tlm_bench_begin", "bx lr"),
           ("tlm_bench_end", "bx lr"))],
        ".ltorg", ".p2align 4", "ftable: .word 1, 2, 3, 4",
        ".data", ".p2align 2", "data: .word 0, 4, data, 12, 16, 20, 24, 28", ""])
    (tmp / "snippets.S").write_text(src)
    elf = tmp / "snippets.elf"
    subprocess.run(["arm-none-eabi-gcc", *flags, "-nostdlib", "-nostartfiles", "-Wl,-Ttext=0", "-Wl,-Tdata=0x20000000",
                    "-Wl,-e,0", str(tmp / "snippets.S"), "-o", str(elf)], check=True)
    return elf, held


def _run(elf: Path, machine: str, core: str, out: Path, flash: dict | None = None) -> list[icount.Interval]:
    so = icount.build_plugin(out.parent)
    args = icount.plugin_args(so, elf, out, core=core, flash=flash)
    subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
                    "-kernel", str(elf), "-icount", "shift=0", "-semihosting-config", "enable=on,target=native",
                    *args], check=True, timeout=60, capture_output=True)
    return icount.read_intervals(out)


@needs_arm
@needs_qemu
@pytest.mark.parametrize("core,flags,machine", [("m4", M4, "mps2-an386"), ("m0plus", M0, "microbit")])
def test_snippets_cost_the_cycles_counted_by_hand(tmp_path, core, flags, machine):
    elf, held = _snippet_elf(tmp_path, flags, core == "m4")
    runs = _run(elf, machine, core, tmp_path / "counts.txt")
    assert len(runs) == len(held) + 1
    empty = runs[0]
    for i, run in zip(held, runs[1:]):
        what, _, _, m4, m0, insns = SNIPPETS[i]
        assert run.total - empty.total == insns, what
        assert run.cycles - empty.cycles == (m4 if core == "m4" else m0), what
        assert sum(run.function_cycles.values()) == run.cycles


@needs_arm
@needs_qemu
def test_flash_wait_states_are_charged_to_reads_that_miss_the_cached_lines(tmp_path):
    elf, held = _snippet_elf(tmp_path, M4, True)
    at = 1 + held.index(FLASH_SNIPPET)
    got = {}
    for lines in (None, 0, 1):
        flash = None if lines is None else {"wait_states": 5, "line_bytes": 16, "lines": lines}
        runs = _run(elf, "mps2-an386", "m4", tmp_path / f"counts-{lines}.txt", flash)
        got[lines] = runs[at].cycles - runs[0].cycles
    assert got == {None: 3, 0: 3 + 5 + 5, 1: 3 + 5}   # no line kept: both wait; one line: the second hits


# ---------------------------------------------------------------------------------------------
# The estimate as a library and as build and test report it


def test_estimate_is_labelled_and_tokens_per_second_is_the_clock_over_cycles():
    nano, mps2 = boards.resolve("nano33"), boards.resolve("mps2-an386")
    est = cycles.estimate(3_200_000, 10, nano, mps2, 1000)
    assert est["estimated_cycles_per_token"] == 320_000 and est["estimated_cycles_per_mac"] == 320.0
    assert est["estimated_tokens_per_second"] == 200.0 and est["estimate_clock_hz"] == 64_000_000
    assert est["estimate_emulator"] == "mps2-an386" and "an estimate, not a measurement" in est["estimate"]
    assert all(k.startswith("estimate") for k in est)
    line = cycles.estimate_line(est)
    assert "320,000 cycles/token" in line and "200.0 tokens/s at 64 MHz" in line and "estimate" in line


def test_the_emulators_of_a_board_run_its_core_and_the_flash_model_comes_from_its_file():
    ids = lambda name: [b.id for b in cycles.emulators(boards.resolve(name))]   # noqa: E731
    assert ids("nano33") == ["mps2-an386"] and ids("nucleo-f446re") == ["mps2-an386"]
    assert ids("pico") == ["microbit", "mps2-an386"]     # ARMv6-M code runs on the M4F too
    assert ids("mps2-an386") == ["mps2-an386"] and ids("microbit") == ["microbit"]
    assert cycles.flash_model(boards.resolve("nucleo-f446re")) == {"wait_states": 5, "line_bytes": 16, "lines": 8}
    assert cycles.flash_model(boards.resolve("nano33")) is None
    assert cycles.timing_core(boards.resolve("host")) is None
    bad = boards.Board("x", {**boards.resolve("nucleo-f446re").data, "flash_cache_lines": 100})
    with pytest.raises(UsageError, match="flash_cache_lines = 100"):
        cycles.flash_model(bad)
    with pytest.raises(UsageError, match="no timing table for core"):
        icount.plugin_args(Path("x.so"), Path("x.elf"), Path("out.txt"), core="m7")


def test_a_bad_flash_field_in_a_board_file_is_one_line_naming_it(tmp_path):
    text = (boards.BOARDS / "nucleo-f446re.toml").read_text().replace("flash_wait_states = 5", "flash_wait_states = -1")
    (tmp_path / "nucleo-f446re.toml").write_text(text)
    with pytest.raises(UsageError) as e:
        boards.all_boards(tmp_path)
    assert "flash_wait_states" in str(e.value) and "\n" not in str(e.value)


def test_the_plugin_output_parses_into_cycles_per_interval(tmp_path):
    (tmp_path / "c.txt").write_text("interval 0 10\nfn f 10\ncycles 0 14\ncfn f 14\ninterval 1 3\nfn g 3\n")
    a, b = icount.read_intervals(tmp_path / "c.txt")
    assert (a.total, a.cycles, a.function_cycles) == (10, 14, {"f": 14})
    assert (b.total, b.cycles) == (3, None)


@pytest.mark.slow
@needs_arm
@needs_qemu
def test_build_json_carries_the_labelled_estimate_for_emulated_and_real_boards(tiny_quantized):
    from toolchain.cli import main

    p, _, _ = tiny_quantized
    got = {}
    for board in ("mps2-an386", "nano33"):
        res = CliRunner().invoke(main, ["build", "-C", str(p.root), "--board", board, "--json"])
        assert res.exit_code == 0, res.output[-2000:]
        got[board] = json.loads(res.stdout.strip().splitlines()[-1])
    mps2, nano = got["mps2-an386"], got["nano33"]
    assert mps2["estimated_cycles_per_token"] > mps2["instructions_per_token"] > mps2["macs_per_token"]
    # the same sources, compiled for the same core and linked with the same port: the same cycles
    assert nano["estimated_cycles_per_token"] == mps2["estimated_cycles_per_token"]
    assert nano["estimate_emulator"] == "mps2-an386" and "cycles_per_token" not in nano
    for r, clock in ((mps2, 25_000_000), (nano, 64_000_000)):
        assert r["estimate_clock_hz"] == clock and "an estimate, not a measurement" in r["estimate"]
        assert r["estimated_tokens_per_second"] == round(clock / r["estimated_cycles_per_token"], 1)
    res = CliRunner().invoke(main, ["build", "--help"])
    assert "--no-estimate" in res.output and "estimate" in res.output


@pytest.mark.slow
@needs_arm
@needs_qemu
def test_the_latency_check_of_tlmc_test_carries_the_estimate(tiny_quantized):
    from toolchain.device import hil
    from toolchain.link.client import Device
    from toolchain.target import build, deploy, qemu

    p, _, _ = tiny_quantized
    board = build.board_for(p.cfg, "mps2-an386")
    r = build.build(p.cfg, p.build, board.id, estimate=False)     # what --no-estimate does
    assert "instructions_per_token" in r and not any(k.startswith("estimate") for k in r)
    f = deploy.flash(p.cfg, p.build, board.id)
    try:
        with Device(f["url"], timeout=30) as dev:
            case = hil.Case("latency")
            hil.Suite(dev, p.build, board, golden_limit=1).latency(case)
    finally:
        deploy.flash(p.cfg, p.build, board.id, stop=True)
    assert qemu.find_running(deploy.state_dir(p.build, board)) is None
    props = case.properties
    assert props["estimated_cycles_per_token"] > props["instructions_per_token"]
    assert props["estimate_emulator"] == "mps2-an386" and "an estimate, not a measurement" in props["estimate"]
    assert props["estimated_tokens_per_second"] == round(25_000_000 / props["estimated_cycles_per_token"], 1)
