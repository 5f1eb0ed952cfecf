"""Cycle estimates: what a token costs a real Cortex-M4 or Cortex-M0+, in cycles and in tokens
per second at the board's clock, from the firmware run on an emulated core.

QEMU counts instructions, not cycles. The project's plugin (bench/qemu_plugin) also decodes
each instruction it translates and adds the cycles the core's technical reference manual gives
it (tlm_timing.c: loads 2, pipelined loads 1, LDM/STM 1+N, taken branches 1+P, ...); with
`-icount shift=0` the run is deterministic, so the estimate is too. It is an *estimate*: the
table and its limits are in docs/runtime.md, "Cycle estimates", and every figure here is
labelled so (`estimated_*` keys, `estimate` says what it rests on).

    est = cycles.bench(elf, board, emulator, macs)   # BENCH under the plugin: the labelled figures
    est = cycles.estimate_board(board, macs, link)  # a real board: link for an emulator, then bench
    est["estimated_cycles_per_token"], est["estimated_tokens_per_second"], est["estimate"]

A board that QEMU emulates runs its own firmware. Any other board (nano33, pico, ...) gets
its generated sources linked with an emulated board's port, built for its own core
(`emulators`: an emulated board of the same core first, then one whose core runs that code
unchanged, e.g. ARMv6-M code on the emulated Cortex-M4F when the Cortex-M0 machine's 256 KB of
flash is too small): the model, plan, runtime and kernels are the code the board runs, compiled
by tlmc's cross build (-Os), not by the board's Arduino core.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core import boards
from ..core.errors import TlmcError, UsageError
from . import icount

# Board `core` -> the plugin's timing table (bench/qemu_plugin/tlm_timing.c).
TIMING = {"cortex-m4": "m4", "cortex-m4f": "m4", "cortex-m0plus": "m0plus"}
CORE_NAMES = {"m4": "Cortex-M4", "m0plus": "Cortex-M0+"}
# An emulated board's core -> the cores whose code it runs unchanged (ARMv6-M is a subset of
# ARMv7-M; hard-float code needs the FPU).
RUNS = {"cortex-m4f": ("cortex-m4f", "cortex-m4", "cortex-m0plus"), "cortex-m0plus": ("cortex-m0plus",)}
MAX_FLASH_LINES = 64   # tlm_count.c's flash model
STEPS = 5           # BENCH steps per estimate: counts are exact, more steps change nothing
ESTIMATE_DIR = "estimate"   # build/<board>/estimate/<emulator>/: the ELF a real board's estimate runs


def timing_core(board: boards.Board) -> str | None:
    """The timing table for the board's core, None if tlmc has none."""
    return TIMING.get(board["core"])


def flash_model(board: boards.Board) -> dict | None:
    """The board's flash wait states for the plugin (boards/*.toml flash_wait_states,
    flash_line_bytes, flash_cache_lines), None when it gives none."""
    ws = int(board.get("flash_wait_states", 0) or 0)
    if not ws:
        return None
    lines = int(board.get("flash_cache_lines", 0))
    if lines > MAX_FLASH_LINES:
        raise UsageError(f"{board.path or board.id}: flash_cache_lines = {lines} is more than the estimate models "
                         f"({MAX_FLASH_LINES}); give at most {MAX_FLASH_LINES}")
    return {"wait_states": ws, "line_bytes": int(board.get("flash_line_bytes", 16)), "lines": lines}


def emulators(board: boards.Board) -> list[boards.Board]:
    """Emulated boards that run code built for `board`'s core: itself if it is one, then those
    of the same core, then those whose core runs that code (RUNS)."""
    if board["upload"] == "qemu":
        return [board]
    emulated = [b for _, b in sorted(boards.all_boards().items()) if b["upload"] == "qemu" and b.get("qemu_machine")]
    same = [b for b in emulated if b["core"] == board["core"]]
    other = [b for b in emulated if b not in same and board["core"] in RUNS.get(b["core"], ())]
    return same + other


def basis(board: boards.Board, emulator: boards.Board) -> str:
    """One sentence saying what the estimate rests on."""
    core = CORE_NAMES[TIMING[board["core"]]]
    flash = flash_model(board)
    memory = (f"flash reads {flash['wait_states']} wait states past {flash['lines']} cached lines of "
              f"{flash['line_bytes']} B" if flash else "zero wait states")
    return (f"{core} TRM instruction timings applied to the instructions the firmware runs on the emulated "
            f"{emulator.id} (QEMU), {memory}, no other cache or bus effects: an estimate, not a measurement")


def estimate(cycles: int, steps: int, board: boards.Board, emulator: boards.Board, macs: int) -> dict:
    """The labelled figures of `cycles` spent on `steps` BENCH steps (one step = one token)."""
    per = round(cycles / max(1, steps))
    clock = int(board.get("clock_hz", 0) or 0)
    out = {"estimated_cycles_per_token": per, "estimated_cycles_per_mac": round(per / max(1, macs), 3),
           "estimate_clock_hz": clock, "estimate_emulator": emulator.id, "estimate": basis(board, emulator)}
    if clock and per:
        out["estimated_tokens_per_second"] = round(clock / per, 1)
    return out


@dataclass
class Run:
    """The counting plugin set up for one QEMU run of `elf` on `emulator`, estimating for
    `board`: pass `args` to qemu.start, BENCH, then `result(steps, macs)`."""
    board: boards.Board
    emulator: boards.Board
    args: tuple[str, ...]
    counts: Path

    def result(self, steps: int, macs: int) -> dict:
        runs = icount.read_intervals(self.counts)
        if not runs or runs[-1].cycles is None:
            raise TlmcError(f"the QEMU plugin wrote no cycle count to {self.counts}")
        return estimate(runs[-1].cycles, steps, self.board, self.emulator, macs)


def prepare(elf: Path, board: boards.Board, emulator: boards.Board, work: Path) -> Run:
    """Build the plugin (host gcc, cached in `work`) and its arguments for `elf`. UsageError
    when the board's core has no timing table or gcc is missing."""
    core = timing_core(board)
    if core is None:
        raise UsageError(f"no timing table for core {board['core']} (there are for {', '.join(TIMING)})")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    counts = work / "counts.txt"
    counts.unlink(missing_ok=True)
    args = icount.plugin_args(icount.build_plugin(work), elf, counts, core=core, flash=flash_model(board))
    return Run(board, emulator, args, counts)


def bench(elf: Path, board: boards.Board, emulator: boards.Board, macs: int, steps: int = STEPS) -> dict:
    """BENCH `steps` on `emulator` running `elf` under the plugin: the estimate's fields for
    `board`. About a second (two on the Cortex-M0 machine)."""
    from . import qemu
    from ..link.client import Device, DeviceError

    work = Path(elf).parent / "qemu-estimate"
    run = prepare(elf, board, emulator, work)
    try:
        with qemu.start(Path(elf), emulator["qemu_machine"], state_dir=work, extra_args=run.args) as emu:
            with Device(emu.url, timeout=30) as dev:
                dev.sync()
                dev.bench(steps)
    except DeviceError as e:
        raise TlmcError(str(e)) from None
    return run.result(steps, macs)


def estimate_board(board: boards.Board, macs: int, link: Callable[[boards.Board], Path], steps: int = STEPS) -> dict:
    """The cycle estimate of a build for `board` (an emulated board's own build is measured by
    build.measure_emulated); `link(emulator)` links the build's sources, compiled for `board`'s
    core, with that emulated board's port and returns the ELF (build.firmware_elf).
    {"estimate_note": why} when there is none."""
    if timing_core(board) is None:
        return {"estimate_note": f"no cycle estimate: no timing table for core {board['core']} "
                                 f"(there are for {', '.join(TIMING)})"}
    tried = []
    for emu in emulators(board):
        try:
            elf = link(emu)
        except TlmcError as e:
            if "does not fit" not in str(e):
                raise
            tried.append(emu.id)
            continue
        return bench(elf, board, emu, macs, steps)
    if not tried:
        return {"estimate_note": f"no cycle estimate: no emulated board runs {board['core']} code"}
    return {"estimate_note": f"no cycle estimate: the firmware does not fit the emulated {', '.join(tried)}"}


def for_test(build_dir: Path, board: boards.Board, macs: int, model_hash: str) -> dict:
    """The estimate `tlmc test` reports next to its latency check: an emulated board's firmware
    (build/<board>/firmware.elf) BENCHed again under the plugin, in its own QEMU (about a
    second); a real board's from its build (build/<board>/build.json, if made for the same model),
    beside the cycles the board measures."""
    from ..core.fsutil import read_json
    from .sizes import BUILD_FILE

    out = Path(build_dir) / board.id
    if board["upload"] != "qemu":
        try:
            saved = read_json(out / BUILD_FILE)
        except (OSError, ValueError):
            return {}
        if saved.get("model_hash") != model_hash:
            return {}
        return {k: v for k, v in saved.items() if k.startswith(("estimated_", "estimate"))}
    if timing_core(board) is None:
        return {}
    if not (out / "firmware.elf").is_file():   # a firmware not from `tlmc build` (--port): nothing to bench
        return {"estimate_note": f"no cycle estimate: no {out / 'firmware.elf'} (tlmc build --board {board.id})"}
    try:
        return bench(out / "firmware.elf", board, board, macs)
    except TlmcError as e:   # QEMU or gcc missing, no ELF: the suite's own checks stand
        return {"estimate_note": f"no cycle estimate: {e}"}


def estimate_line(r: dict) -> str | None:
    """'estimate: N cycles/token (X/MAC), T tokens/s at C MHz (...)' for build and test, or the
    note saying why there is none, or None."""
    if "estimated_cycles_per_token" not in r:
        return r.get("estimate_note")
    clock = r.get("estimate_clock_hz") or 0
    rate = (f", {r['estimated_tokens_per_second']:,} tokens/s at {clock / 1e6:g} MHz"
            if r.get("estimated_tokens_per_second") else ", no clock_hz in the board file")
    return (f"{r['estimated_cycles_per_token']:,} cycles/token ({r['estimated_cycles_per_mac']}/MAC){rate} "
            f"({r['estimate']})")
