"""Exact instruction counts of firmware running in QEMU, per function, from the project's own
TCG plugin (bench/qemu_plugin/tlm_count.c).

    so = icount.build_plugin(work)                        # gcc -shared, cached by source hash
    args = icount.plugin_args(so, elf, work / "counts.txt")
    with qemu.start(elf, "mps2-an386", state_dir=d, extra_args=args) as emu:
        ...                                               # e.g. the protocol's BENCH n
    runs = icount.read_intervals(work / "counts.txt")     # [Interval(total, {function: count})]

The plugin counts every instruction executed between the firmware's two marker functions
(tlm_bench_begin / tlm_bench_end, around BENCH's steps), split by the function each one belongs
to (exclusive counts: a callee's instructions are the callee's). QEMU 7.2 exports plugin API
version 1 although Debian ships neither plugins nor their header; bench/qemu_plugin declares
the few functions it uses itself.

With `core="m4"` or `"m0plus"` the same run also estimates cycles (Interval.cycles and
.function_cycles): the plugin decodes each instruction and applies the core's timing table
(bench/qemu_plugin/tlm_timing.c; docs/runtime.md, "Cycle estimates"). target/cycles.py turns
that into cycles per token and tokens per second for a board.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..core import children
from ..core.errors import TlmcError, UsageError
from ..core.paths import REPO_ROOT

PLUGIN_DIR = REPO_ROOT / "bench" / "qemu_plugin"
PLUGIN_SOURCES = ("tlm_count.c", "tlm_qemu_plugin.h", "tlm_timing.c", "tlm_timing.h")
TIMING_CORES = ("m4", "m0plus")   # the timing tables of tlm_timing.c
BEGIN, END = "tlm_bench_begin", "tlm_bench_end"


@dataclass
class Interval:
    total: int                                    # instructions from BEGIN to END
    functions: dict[str, int] = field(default_factory=dict)   # exclusive counts, "(other)" too
    pcs: dict[int, int] = field(default_factory=dict)         # profiled function: address -> executions
    cycles: int | None = None                     # estimated cycles (plugin_args(core=...)), else None
    function_cycles: dict[str, int] = field(default_factory=dict)   # their split by function

    def count(self, *names: str, prefix: tuple[str, ...] = ()) -> int:
        """Instructions in the named functions (and those starting with a prefix)."""
        return sum(n for f, n in self.functions.items() if f in names or f.startswith(prefix or ("\0",)))


def build_plugin(out_dir: Path | str, cc: str = "gcc") -> Path:
    """Compile the plugin into out_dir (reused while its sources are unchanged)."""
    out_dir = Path(out_dir)
    digest = hashlib.sha256(b"".join((PLUGIN_DIR / n).read_bytes() for n in PLUGIN_SOURCES)).hexdigest()[:12]
    so = out_dir / f"tlm_count-{digest}.so"
    if so.is_file():
        return so
    exe = shutil.which(cc)
    if exe is None:
        raise UsageError(f"{cc} not found on PATH; install it: apt-get install --no-install-recommends gcc libc6-dev")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = so.with_suffix(".tmp")
    proc = children.run([exe, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC",
                           "-fvisibility=hidden", str(PLUGIN_DIR / "tlm_count.c"), str(PLUGIN_DIR / "tlm_timing.c"),
                           "-o", str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise TlmcError(f"building the QEMU plugin failed: {(proc.stderr or proc.stdout).strip()[:400]}")
    tmp.replace(so)
    return so


def functions(elf: Path | str) -> dict[str, tuple[int, int]]:
    """Function name -> [start, end) addresses (Thumb bit cleared), from the ELF's symbols."""
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise UsageError("arm-none-eabi-nm not found; apt-get install --no-install-recommends binutils-arm-none-eabi")
    out = children.run([nm, "-S", "--defined-only", str(elf)], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            start, size = int(parts[0], 16) & ~1, int(parts[1], 16)
            if size:
                table[parts[3]] = (start, start + size)
    return table


def plugin_args(so: Path, elf: Path | str, out: Path | str, begin: str = BEGIN, end: str = END,
                profile: str | None = None, core: str | None = None, flash: dict | None = None) -> tuple[str, ...]:
    """QEMU arguments loading the plugin for `elf`: counts land in `out` (overwritten);
    `profile`: a function also counted instruction by instruction (Interval.pcs); `core`: one of
    TIMING_CORES, estimate cycles too (Interval.cycles); `flash`: {"wait_states", "line_bytes",
    "lines"}, the flash model of the estimate (cycles.flash_model)."""
    if core is not None and core not in TIMING_CORES:
        raise UsageError(f"no timing table for core {core!r}; known: {', '.join(TIMING_CORES)}")
    funcs = functions(elf)
    missing = [n for n in (begin, end) if n not in funcs]
    if missing:
        raise UsageError(f"{elf}: no marker function {missing[0]}; rebuild the firmware with this tlmc")
    out = Path(out)
    syms = out.with_suffix(".syms")
    syms.write_text("".join(f"{a:x} {b:x} {name}\n" for name, (a, b) in sorted(funcs.items(), key=lambda kv: kv[1])))
    extra = f",profile={profile}" if profile else ""
    if core:
        extra += f",core={core}"
        if flash and flash.get("wait_states"):
            extra += (f",flash_ws={int(flash['wait_states'])},flash_line={int(flash['line_bytes'])}"
                      f",flash_lines={int(flash['lines'])}")
    return ("-plugin", f"{so},syms={syms},begin={funcs[begin][0]:#x},end={funcs[end][0]:#x},out={out}{extra}")


_LINE = re.compile(r"^(interval|fn|pc|cycles|cfn) (\S+) (\d+)$")


def read_intervals(path: Path | str) -> list[Interval]:
    """The intervals the plugin wrote, in order."""
    runs: list[Interval] = []
    try:
        text = Path(path).read_text()
    except OSError:
        return runs
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        if m.group(1) == "interval":
            runs.append(Interval(int(m.group(3))))
        elif runs and m.group(1) == "fn":
            runs[-1].functions[m.group(2)] = int(m.group(3))
        elif runs and m.group(1) == "cycles":
            runs[-1].cycles = int(m.group(3))
        elif runs and m.group(1) == "cfn":
            runs[-1].function_cycles[m.group(2)] = int(m.group(3))
        elif runs:
            runs[-1].pcs[int(m.group(2), 16)] = int(m.group(3))
    return runs
