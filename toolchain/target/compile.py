"""Stage `compile`: generated sources + the hand-written runtime -> a program or objects.

- `build_host(out_dir)`: the host port (`firmware/ports/host`) with the native gcc, warnings
  as errors, into `out_dir/tlm`: the program the tests and `tlmc build --board host` run.
- `build_objects(out_dir, core)`: every source compiled for a Cortex-M core to objects (no link
  yet), sized with arm-none-eabi-size: what the runtime costs on its own, what the plan and the
  model data cost. The figures the board budget checks and the benchmark print.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from ..core import children
from ..core.errors import TlmcError, UsageError
from ..core.paths import FIRMWARE

HOST_CC = "gcc"
HOST_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
WARN_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
# Object builds for a board `core`: the CPU flags (one table, in cross.py) plus size
# optimization and per-function sections, as the linked firmware gets them.
OBJECT_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections")


def core_flags(core: str) -> tuple[str, ...]:
    from .cross import CORE_FLAGS as CPU_FLAGS

    if core not in CPU_FLAGS:
        raise UsageError(f"core {core!r} has no compiler flags; known cores: {', '.join(sorted(CPU_FLAGS))}")
    return (*CPU_FLAGS[core], *OBJECT_FLAGS)


ARM_CC, ARM_SIZE = "arm-none-eabi-gcc", "arm-none-eabi-size"
APT_HINT = {
    HOST_CC: "sudo apt-get install -y --no-install-recommends gcc libc6-dev",
    ARM_CC: "sudo apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi",
    ARM_SIZE: "sudo apt-get install -y --no-install-recommends binutils-arm-none-eabi",
    "size": "sudo apt-get install -y --no-install-recommends binutils",
}
GENERATED_SOURCES = ("model_data.c", "model_plan.c")  # + golden_data.c for the host port


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UsageError(f"{name} not found on PATH; install it: {APT_HINT.get(name, 'apt-get install ' + name)}")
    return path


def _run(cmd: list[str], what: str) -> str:
    proc = children.run(cmd)    # gcc and its cc1/as/ld end with tlmc, however it ends
    if proc.returncode != 0:
        said = (proc.stderr + proc.stdout).splitlines()
        lines = [ln for ln in said if "error:" in ln] or said or [f"exit code {proc.returncode}"]
        raise TlmcError(f"{what} failed: {lines[0].strip()[:400]}")
    return proc.stdout


PROTOCOL_SOURCES = ("tlm_protocol.c",)  # the serial protocol: on devices and `tlm --serve`
COMMAND_SOURCES = ("tlm_command.c",)    # the command parse: where tlmc emit wrote tlm_commands.c
API_SOURCES = ("tlm_api.c",)            # the C API for user code (tlm_api.h): not in tlmc's firmware
KERNELS_DIR = FIRMWARE / "kernels"
# The FULLY_CONNECTED file per kernel set (tlm.toml [board] kernels, written into the generated
# tlm_config.h as TLM_KERNELS) and board `core`: the DSP extension's SMLAD where the core has
# it, plain C elsewhere (and on the host). One file per build, never #ifdefs in one file.
FC_SOURCES = {
    "reference": {"*": "tlm_fc_reference.c"},
    "optimized": {"cortex-m4f": "tlm_fc_dsp.c", "cortex-m4": "tlm_fc_dsp.c", "cortex-m7": "tlm_fc_dsp.c",
                  "cortex-m7f": "tlm_fc_dsp.c", "cortex-m33": "tlm_fc_dsp.c", "cortex-m33f": "tlm_fc_dsp.c",
                  "*": "tlm_fc_portable.c"},
}


# The same choice made by the C preprocessor, for sources that serve several cores at once (an
# Arduino library, compiled for whichever board the user picks): the condition under which each
# FULLY_CONNECTED file of a kernel set is compiled. The DSP file needs the SIMD32 intrinsics of
# arm_acle.h, which GCC has from version 10 on (older GCCs define the feature macros but not the
# intrinsics: they get the portable file). Exactly one condition holds on any core.
_DSP = ("defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && "
        "(defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))")
FC_GUARDS = {
    "reference": {"tlm_fc_reference.c": "1"},
    "optimized": {"tlm_fc_dsp.c": _DSP, "tlm_fc_portable.c": f"!({_DSP})"},
}


def kernel_variants(kernels: str) -> dict[str, str]:
    """Every FULLY_CONNECTED file of a kernel set -> the preprocessor condition that selects it
    (FC_GUARDS): for sources compiled for any core."""
    if kernels not in FC_GUARDS:
        raise UsageError(f"kernels = {kernels!r}: must be one of {', '.join(map(repr, FC_GUARDS))}")
    return dict(FC_GUARDS[kernels])


def kernel_sources(kernels: str, core: str) -> list[Path]:
    """The kernel-set files a build for `core` links: FULLY_CONNECTED's (one of kernels/*.c)."""
    if kernels not in FC_SOURCES:
        raise UsageError(f"kernels = {kernels!r}: must be one of {', '.join(map(repr, FC_SOURCES))}")
    table = FC_SOURCES[kernels]
    return [KERNELS_DIR / table.get(core, table["*"])]


_DEFINE_LINE = re.compile(r'^#define (TLM_[A-Z0-9_]+) (?:"([^"\\]*)"|(-?\d+))', re.MULTILINE)


def config_defines(out_dir: Path | str, required: tuple[str, ...] = ()) -> dict:
    """The #defines of a generated folder's tlm_config.h (strings and integers). UsageError
    naming the file when it is missing or lacks one of `required` (an older tlmc emitted it)."""
    config_h = Path(out_dir) / "tlm_config.h"
    try:
        text = config_h.read_text(encoding="utf-8")
    except OSError:
        raise UsageError(f"{config_h}: not generated; run 'tlmc emit' first") from None
    values = {m.group(1): m.group(2) if m.group(2) is not None else int(m.group(3))
              for m in _DEFINE_LINE.finditer(text)}
    for key in required:
        if key not in values:
            raise UsageError(f"{config_h}: no {key} (emitted by an older tlmc); rerun 'tlmc emit'")
    return values


def kernel_set(out_dir: Path | str) -> str:
    """The kernel set a generated folder was emitted for (TLM_KERNELS in its tlm_config.h)."""
    return config_defines(out_dir, ("TLM_KERNELS",))["TLM_KERNELS"]


def runtime_sources(kernels: str | None = None, core: str = "host") -> list[Path]:
    """The hand-written, model-agnostic runtime: firmware/tlm_*.c, the protocol, the command
    parse and the C API excluded, plus the kernel set's files for `core` (none when `kernels` is None)."""
    common = sorted(p for p in FIRMWARE.glob("tlm_*.c")
                    if p.name not in PROTOCOL_SOURCES + COMMAND_SOURCES + API_SOURCES)
    return common + (kernel_sources(kernels, core) if kernels is not None else [])


def api_sources() -> list[Path]:
    return [FIRMWARE / n for n in API_SOURCES]


def protocol_sources() -> list[Path]:
    return [FIRMWARE / n for n in PROTOCOL_SOURCES]


def command_sources(out_dir: Path | str) -> list[Path]:
    """A commands project's parse (docs/grammar.md): the runtime's tlm_command.c and the tables
    `tlmc emit` wrote into out_dir (tlm_commands.c); nothing for a project without a grammar."""
    tables = Path(out_dir) / "tlm_commands.c"
    return [*(FIRMWARE / n for n in COMMAND_SOURCES), tables] if tables.is_file() else []


def port_sources(port: str) -> list[Path]:
    return sorted((FIRMWARE / "ports" / port).glob("*.c"))


def _generated(out_dir: Path, names: tuple[str, ...]) -> list[Path]:
    paths = [out_dir / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"{missing[0]}: not generated; run 'tlmc emit' first")
    return paths


def sizes(paths: list[Path], size_tool: str) -> dict[str, dict[str, int]]:
    """Berkeley-format sizes per file: text (code + read-only data), data, bss."""
    out = _run([_tool(size_tool), "-B", *map(str, paths)], size_tool)
    result = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6:
            result[Path(parts[5]).name] = {"text": int(parts[0]), "data": int(parts[1]), "bss": int(parts[2])}
    return result


def build_host(out_dir: Path | str, *, cc: str = HOST_CC, extra_flags: tuple[str, ...] = ()) -> dict:
    """Compile the generated sources, the runtime and the host port into `out_dir/tlm`.
    Returns {"binary", "seconds", "text", "data", "bss"}."""
    out_dir = Path(out_dir)
    srcs = (_generated(out_dir, GENERATED_SOURCES + ("golden_data.c",)) + runtime_sources(kernel_set(out_dir), "host")
            + protocol_sources() + port_sources("host") + command_sources(out_dir))
    exe = out_dir / "tlm"
    tmp = out_dir / ".tlm.tmp"  # linked under another name: a killed build never leaves a half `tlm`
    t0 = time.monotonic()
    cmd = [_tool(cc), *HOST_FLAGS, *extra_flags, f"-I{out_dir}", f"-I{FIRMWARE}", *map(str, srcs), "-o", str(tmp)]
    try:
        _run(cmd, f"{cc} (host build)")
        tmp.replace(exe)
    finally:
        tmp.unlink(missing_ok=True)
    result: dict = {"binary": str(exe), "seconds": round(time.monotonic() - t0, 3)}
    if shutil.which("size"):
        result.update(sizes([exe], "size")[exe.name])
    return result


def run_selftest(out_dir: Path | str, timeout: float = 120.0) -> str:
    """Run `out_dir/tlm --selftest` (after build_host): its one-line verdict, or a TlmcError
    carrying that line when the C runtime differs from TFLM's golden vectors."""
    exe = Path(out_dir) / "tlm"
    if not exe.is_file():
        raise UsageError(f"{exe}: not built; run 'tlmc build --board host' first")
    try:
        proc = children.run([str(exe), "--selftest"], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TlmcError(f"{exe} --selftest did not finish in {timeout:.0f} s") from None
    line = (proc.stdout.strip().splitlines() or [proc.stderr.strip() or f"exit code {proc.returncode}"])[-1]
    if proc.returncode != 0:
        raise TlmcError(f"{exe}: {line}; the C runtime differs from TFLM (please report it with the model)")
    return line


def build_objects(out_dir: Path | str, core: str = "cortex-m4f", obj_dir: Path | str | None = None) -> dict:
    """Compile runtime, plan and model data for `core` with arm-none-eabi-gcc (-Os, warnings as
    errors) into objects, and size them: {"runtime": {text, data, bss}, "plan": ..., "model_data":
    ..., "commands": ... (a grammar's parse; zeros without), "objects": {file: sizes}, "flags":
    [...]}. Nothing is linked."""
    out_dir = Path(out_dir)
    obj_dir = Path(obj_dir) if obj_dir is not None else out_dir / f"obj-{core}"
    obj_dir.mkdir(parents=True, exist_ok=True)
    cc = _tool(ARM_CC)
    flags = [*WARN_FLAGS, *core_flags(core)]
    groups: dict[str, list[Path]] = {"runtime": [], "protocol": [], "plan": [], "model_data": [], "commands": []}
    srcs = [(s, "runtime") for s in runtime_sources(kernel_set(out_dir), core)]
    srcs += [(s, "protocol") for s in protocol_sources()]
    srcs += [(out_dir / "model_plan.c", "plan"), (out_dir / "model_data.c", "model_data")]
    srcs += [(s, "commands") for s in command_sources(out_dir)]
    _generated(out_dir, GENERATED_SOURCES)
    for src, group in srcs:
        obj = obj_dir / (src.stem + ".o")
        _run([cc, *flags, f"-I{out_dir}", f"-I{FIRMWARE}", "-c", str(src), "-o", str(obj)], f"{ARM_CC} {src.name}")
        groups[group].append(obj)
    per_file = sizes([o for objs in groups.values() for o in objs], ARM_SIZE)
    result: dict = {"core": core, "flags": flags, "objects": per_file}
    for group, objs in groups.items():
        result[group] = {k: sum(per_file[o.name][k] for o in objs) for k in ("text", "data", "bss")}
    return result
