"""`tlmc emit` and `tlmc build`: every stage up to a compiled, size-checked program for a board.

The output folder is `build/<board id>/`. What `build` makes depends on the board's `port`
(boards are data, the code never names one):
- `host`: the native program `tlm`, then its golden-vector selftest (the C runtime against
  TFLM's outputs); a failing selftest fails the build.
- bare-metal ports (`mps2`, `microbit`): `firmware.elf`, linked with the shared Cortex-M
  start-up and the port's linker script; flash and RAM (stack included) checked against the
  board's budget.
- `arduino`: a sketch folder for the Arduino IDE / arduino-cli, compiled with arduino-cli when
  present; without it, the runtime, protocol and model are cross-compiled to objects with the
  board's CPU flags and checked against the budget minus what the Arduino core takes.
A build that does not fit fails with the numbers and what to shrink.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core import boards
from . import compile as compile_mod
from ..codegen import emit as emit_mod
from ..data import commands as command_lines
from ..export import quantize
from ..core.config import Config
from ..core.errors import Stale, TlmcError, UsageError
from ..core.fsutil import hash_json, read_json, stamp_status, write_stamp
from ..core.paths import FIRMWARE

BAREMETAL_PORTS = {"mps2", "microbit"}  # ports with a linker script (cross.py: + the shared start-up)
SHRINK = "shrink the model in tlm.toml ([model] hidden, embed or context; [tokenizer] vocab_size or max_vocab)"
SKETCH_STATICS_BYTES = 384  # the sketch's static Tlm (20 B) and TlmProtocol (364 B: 257 B line, 64 B output, state)


def board_for(cfg: Config, board: str | None) -> boards.Board:
    return boards.resolve(board or cfg["board"]["id"])


def project_grammar(cfg: Config):
    """A commands project's grammar (docs/grammar.md), whose tables `emit` writes; else None."""
    lines = command_lines.source(cfg)
    return lines.grammar if isinstance(lines, command_lines.GrammarLines) else None


def emit(cfg: Config, build_dir: Path, board: str | None = None) -> dict:
    """Quantize if needed, then generate the C sources for the board into build/<board>/ (a
    grammar project's also get tlm_commands.h/.c)."""
    b = board_for(cfg, board)
    quantize.run(cfg, build_dir)
    out = build_dir / b.id
    summary = emit_mod.emit(build_dir, out, b, kernels=cfg["board"]["kernels"], grammar=project_grammar(cfg))
    summary["out_dir"] = str(out)
    return summary


def check_budget(b: boards.Board, flash: int, ram: int, *, core_linked: bool, what: str) -> dict:
    """Compare a build's flash/RAM with the board's budget; UsageError (exit 2) if over."""
    budget = b.budget(core_linked=core_linked)
    result = {"flash_bytes": flash, "ram_bytes": ram, "flash_budget_bytes": budget["flash_bytes"],
              "ram_budget_bytes": budget["ram_bytes"], "budget_is_estimate": budget["estimate"],
              "budget_estimates": [k for k in ("flash", "ram") if budget[f"{k}_estimate"]]}
    over = []
    if budget["flash_bytes"] is not None and flash > budget["flash_bytes"]:
        over.append(f"flash {flash:,} B > {budget['flash_bytes']:,} B")
    if budget["ram_bytes"] is not None and ram > budget["ram_bytes"]:
        over.append(f"RAM {ram:,} B > {budget['ram_bytes']:,} B")
    if over:
        raise UsageError(f"board {b.id}: {what} does not fit: {' and '.join(over)}; {SHRINK}")
    return result


def _firmware_sources(out: Path, core: str) -> list[Path]:
    return [out / "model_data.c", out / "model_plan.c", *compile_mod.runtime_sources(compile_mod.kernel_set(out), core),
            *compile_mod.protocol_sources(), *compile_mod.command_sources(out)]


def firmware_elf(out: Path, b: boards.Board, emulator: boards.Board | None = None) -> dict:
    """Link the generated folder `out` (emitted for bare-metal board `b`) into out/firmware.elf
    with the runtime, the kernel set it was emitted for, the protocol and the port: what
    `build` does for QEMU boards, also for tests and bench/device.py. cross.build_elf's dict.
    `emulator`: compile for `b`'s core but link with that emulated board's port, into
    out/estimate/<emulator>/firmware.elf (a real board's cycle estimate, target/cycles.py)."""
    from . import cross
    from .cycles import ESTIMATE_DIR

    port = emulator or b
    elf = out / "firmware.elf" if emulator is None else out / ESTIMATE_DIR / emulator.id / "firmware.elf"
    return cross.build_elf(port["port"], [*_firmware_sources(out, b["core"]), FIRMWARE / "ports" / "baremetal_main.c"],
                           [out], elf, cross.CORE_FLAGS[b["core"]], {})


def token_cost(board, counter: str, ticks: int, steps: int, macs: int) -> dict:
    """What one token (one model step) costs, from `steps` steps that took `ticks` of the
    device's counter: {macs_per_token, and instructions_per_token/_per_mac on an emulated board
    or cycles_per_token/_per_mac on a real one}. QEMU -icount shift=0 runs one instruction per
    virtual nanosecond, so a tick of a counter clocked at clock_hz is 1e9 / clock_hz
    instructions (40 on mps2): exact instruction counts, not a real core's cycles. DWT and
    SysTick (at the core clock) on silicon count cycles."""
    out: dict = {"macs_per_token": int(macs)}
    if steps < 1 or ticks <= 0:
        return out
    clock = board.get("clock_hz") or 0
    if board["upload"] == "qemu" and counter in ("systick", "timer") and clock:
        insn = round(ticks * 1e9 / clock / steps)
        out.update(instructions_per_token=insn, instructions_per_mac=round(insn / max(1, macs), 3))
    elif counter in ("dwt", "systick"):
        cycles = round(ticks / steps)
        out.update(cycles_per_token=cycles, cycles_per_mac=round(cycles / max(1, macs), 3))
    return out


def measure_emulated(elf: Path, b: boards.Board, macs: int, steps: int = 5, estimate: bool = True) -> dict:
    """Instructions per token of an emulated board's firmware, exact: BENCH `steps` on QEMU
    -icount shift=0 (token_cost); with `estimate`, the same run under the counting plugin also
    gives the cycle estimate (target/cycles.py: estimated_* keys, or estimate_note). About a
    second."""
    from . import cycles, qemu
    from ..link.client import Device, DeviceError

    work, run, note = elf.parent / "qemu-measure", None, {}
    if estimate:
        cycles.flash_model(b)   # a bad flash field is the user's to fix (exit 2), not a note
        try:
            run = cycles.prepare(elf, b, b, work)
        except UsageError as e:  # no timing table for the core, or no gcc for the plugin
            note = {"estimate_note": f"no cycle estimate: {e}"}
    try:
        with qemu.start(elf, b["qemu_machine"], state_dir=work, extra_args=run.args if run else ()) as emu:
            with Device(emu.url, timeout=30) as dev:
                dev.sync()
                r = dev.bench(steps)
    except DeviceError as e:
        raise TlmcError(str(e)) from None
    out = token_cost(b, r.get("counter", "none"), int(r["cycles"]), steps, macs)
    return {**out, **(run.result(steps, macs) if run else note)}


def estimate_cycles(out: Path, b: boards.Board, macs: int) -> dict:
    """A board QEMU does not emulate: its build's cycle estimate (target/cycles.py), run on an
    emulated core of its architecture; {"estimate_note": why} when there is none."""
    from . import cycles

    cycles.flash_model(b)   # a bad flash field is the user's to fix (exit 2), not a note
    try:
        return cycles.estimate_board(b, macs, lambda emu: Path(firmware_elf(out, b, emu)["elf"]))
    except TlmcError as e:  # QEMU or a cross compiler missing: the build itself is fine
        return {"estimate_note": f"no cycle estimate: {e}"}


def build(cfg: Config, build_dir: Path, board: str | None = None, estimate: bool = True) -> dict:
    """Emit, compile for the board, check the result; returns sizes and checks. `estimate`:
    also the cycle estimate per token (target/cycles.py; a few seconds on a real board)."""
    t0 = time.monotonic()
    b = board_for(cfg, board)
    check_fits(cfg, build_dir, b)
    summary = emit(cfg, build_dir, b.id)
    out = Path(summary["out_dir"])
    result = {"board": b.id, "model_hash": summary["model_hash"], "arena_bytes": summary["arena_bytes"],
              "tflm_arena_bytes": summary["tflm_arena_bytes"], "weight_bytes": summary["weight_bytes"],
              "ops": summary["ops"], "out_dir": str(out), "port": b["port"], "kernels": summary["kernels"],
              "macs_per_token": summary["macs_per_token"], "tokenizer": summary["tokenizer"],
              "tokenizer_vocab": summary["tokenizer_vocab"], "tokenizer_bytes": summary["tokenizer_bytes"]}
    if b["port"] == "host":
        host = compile_mod.build_host(out)
        result.update(binary=host["binary"], text_bytes=host.get("text"), data_bytes=host.get("data"),
                      bss_bytes=host.get("bss"))
        result["selftest"] = compile_mod.run_selftest(out)
    elif b["port"] in BAREMETAL_PORTS:
        stack = int(b.get("main_stack_bytes", 0) or 0)
        try:
            elf = firmware_elf(out, b)
        except TlmcError as e:
            if "does not fit" not in str(e):
                raise
            detail = str(e).split("does not fit:", 1)[-1].strip()
            raise UsageError(f"board {b.id}: the firmware does not fit: {detail} (model weights "
                             f"{summary['weight_bytes']:,} B, arena {summary['arena_bytes']:,} B); {SHRINK}") from None
        if stack and elf.get("stack", 0) < stack:
            raise UsageError(f"board {b.id}: the linker script reserves {elf.get('stack', 0)} B of stack, the board "
                             f"file asks for main_stack_bytes = {stack}")
        result.update(firmware=elf["elf"], text_bytes=elf["text"], data_bytes=elf["data"], bss_bytes=elf["bss"],
                      stack_bytes=elf.get("stack", 0))
        result.update(check_budget(b, elf["flash"], elf["ram"], core_linked=True, what="the firmware"))
        if b["upload"] == "qemu":
            try:
                result.update(measure_emulated(Path(elf["elf"]), b, summary["macs_per_token"], estimate=estimate))
            except TlmcError as e:  # QEMU missing or misbehaving: the build itself is fine
                result["per_token_note"] = f"not measured: {e}"
    else:
        objs = compile_mod.build_objects(out, b["core"])
        parts = ("runtime", "protocol", "plan", "model_data", "commands")
        flash = sum(objs[g]["text"] + objs[g]["data"] for g in parts)
        ram = sum(objs[g]["data"] + objs[g]["bss"] for g in parts)
        ram += summary["arena_bytes"] + SKETCH_STATICS_BYTES  # the sketch's static arena, Tlm and TlmProtocol
        result.update(runtime_text_bytes=objs["runtime"]["text"], protocol_text_bytes=objs["protocol"]["text"],
                      plan_text_bytes=objs["plan"]["text"],
                      model_data_bytes=objs["model_data"]["text"] + objs["model_data"]["data"])
        result.update(check_budget(b, flash, ram, core_linked=False, what="runtime + model (objects)"))
        if b["port"] == "arduino":
            from . import sketch

            sk = sketch.write_sketch(out, b, cfg["project"]["name"])
            result["sketch"] = str(sk)
            compiled = sketch.compile_sketch(sk, b["fqbn"]) if b.get("fqbn") else None
            if compiled is None:
                result["arduino_cli"] = "not found: sizes are from the object-only cross build"
            else:
                result["arduino_cli"] = "compiled"
                result.update(check_budget(b, compiled["flash_bytes"], compiled["ram_bytes"], core_linked=True,
                                           what="the sketch"))
    if b["upload"] not in ("qemu", "none"):
        result["per_token_note"] = "cycles: 'tlmc test' measures them on the board"
        if estimate:
            result.update(estimate_cycles(out, b, summary["macs_per_token"]))
    result["seconds"] = round(time.monotonic() - t0, 2)
    from .sizes import save_build

    save_build(out, result)  # build/<board>/build.json, with flash and RAM by part (tlmc report)
    programs = [Path(result[k]).name for k in ("binary", "firmware") if result.get(k)]
    inputs = program_inputs(cfg, b, summary["model_hash"])
    write_stamp(out, hash_json(inputs), programs, inputs)  # what `tlmc test` checks before it runs the program
    return result


def check_fits(cfg: Config, build_dir: Path, b: boards.Board) -> None:
    """Before any training: a model whose int8 weights alone exceed the board's flash budget
    (train.limits) is refused with the numbers and what to shrink."""
    from ..core.progress import log
    from ..data import dataset as data_mod
    from ..train import limits

    vocab = data_mod.prepare(cfg, build_dir, log).tokenizer.vocab_size
    limits.check(cfg["model"], cfg["train"], vocab, where=cfg.path.name, board=b)


def program_inputs(cfg: Config, b: boards.Board, model_hash: str) -> dict:
    """What the program in build/<board>/ is built from (its stamp keeps it)."""
    return {"model": model_hash, "board": {"id": b.id, "kernels": cfg["board"]["kernels"]}}


def require_built(cfg: Config, build_dir: Path, board: str | None = None, *, program: bool = True) -> boards.Board:
    """Before running what build/<board>/ holds (`tlmc test`): the int8 model is current for
    tlm.toml (export.freshness), and (`program`) the host program is built from it, intact.
    Stale or Damaged (exit 1) naming the file and 'tlmc build --board <id>'; a project with
    nothing built yet passes, for the caller's own step to say what to build."""
    from ..export import freshness

    b = board_for(cfg, board)
    run = f"tlmc build --board {b.id}"
    freshness.require_current(cfg, build_dir, run, missing_ok=True)
    out, exe = build_dir / b.id, build_dir / b.id / "tlm"
    if not program or b["port"] != "host" or not exe.is_file():
        return b  # an emulator or a board runs its own copy: the handshake compares model hashes
    model_hash = read_json(build_dir / "quantize" / "report.json")["model_hash"]
    inputs = program_inputs(cfg, b, model_hash)
    why = stamp_status(out, hash_json(inputs), required=("tlm",), inputs=inputs,
                       labels={"model": f"the model (now {model_hash})"})
    if why == "not built":  # a program from before tlmc stamped its builds: nothing to compare
        return b
    if why is not None:
        raise Stale(f"{exe} is out of date: {why} since it was built; run '{run}' to rebuild it")
    return b
