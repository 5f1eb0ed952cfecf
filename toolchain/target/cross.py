"""Bare-metal Cortex-M images: compile and link a port's firmware into an ELF with
arm-none-eabi-gcc, and size it.

    info = build_elf("mps2", [FIRMWARE / "ports" / "echo_main.c"], [], Path("build/echo.elf"),
                     CORE_FLAGS["cortex-m4f"], {"TLM_SEMIHOSTING": 1})
    info["flash"], info["ram"]      # bytes

A bare-metal port is a folder `firmware/ports/<port>/` holding its linker script `<port>.ld`
and its port layer (tlm_port.h: UART, counter, init, exit), plus whatever else is truly its
own; every `.c` there is linked in. Every port also gets the Cortex-M start-up shared by all of
them, `firmware/ports/cortex_m/` (vector table, reset handler, default handler and
tlm_cortex_m_exit, the semihosting exit a port's tlm_port_exit ends with), so a new port
writes no start-up code. On the include path: `firmware/` (tlm_port.h and the runtime
headers) and `firmware/ports/cortex_m/` (cortex_m.h).

C library: newlib-nano (`--specs=nano.specs`) without any system-call stubs. The runtime gets
memcpy/memset and friends (gcc itself emits calls to them for struct copies and large zero
initializations, so `-nostdlib` would mean writing our own) and libgcc's division and
soft-float helpers (Cortex-M0 has no divide instruction). No system call is provided, not
even `_sbrk`, on purpose: malloc, and everything that calls it (the whole printf family,
snprintf included, in newlib-nano) or needs an OS (stdio, exit, abort, assert), fails at link
time with a one-line error saying so, rather than returning NULL or doing nothing on the
device at run time (contract 2: no malloc on the device). So the ports have no syscalls.c.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from ..core import children
from ..core.errors import TlmcError, UsageError
from ..core.paths import FIRMWARE

CC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
APT_INSTALL = "apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi"

# Code-generation flags per board `core` (boards/*.toml `core`).
CORE_FLAGS: dict[str, list[str]] = {
    "cortex-m4f": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
}

BASE_FLAGS = [
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-g",
    "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
    "-nostartfiles", "--specs=nano.specs",
]

# Sections of a linked image by where they live; anything else allocated counts as text.
_DATA_SECTIONS = {".data"}
_BSS_SECTIONS = {".bss", ".stack", ".noinit", ".heap"}
_NOT_LOADED = (".comment", ".ARM.attributes", ".debug", ".stab", ".note", ".symtab", ".strtab",
               ".shstrtab")


def tool(name: str) -> str:
    """The path of an ARM binutils/gcc program, or a one-line UsageError saying how to get it."""
    path = shutil.which(name)
    if path is None:
        raise UsageError(f"{name} not found on PATH; install it: {APT_INSTALL}")
    return path


CORTEX_M = FIRMWARE / "ports" / "cortex_m"   # the start-up shared by the bare-metal ports


def port_dir(port: str) -> Path:
    folder = FIRMWARE / "ports" / port
    if not (folder / f"{port}.ld").is_file():
        known = sorted(p.parent.name for p in (FIRMWARE / "ports").glob("*/*.ld") if p.stem == p.parent.name)
        raise UsageError(f"no bare-metal port {port!r} (firmware/ports/{port}/{port}.ld); "
                         f"known ports: {', '.join(known)}")
    return folder


def _define_flags(defines: dict) -> list[str]:
    flags = []
    for key, value in defines.items():
        flags.append(f"-D{key}" if value is None else f"-D{key}={value}")
    return flags


_SYSCALLS = ("_write", "_read", "_close", "_lseek", "_fstat", "_isatty", "_exit", "_kill", "_getpid",
             "_open", "_gettimeofday", "_times", "_unlink", "_link")


def _explain_link_error(text: str) -> str | None:
    """A human sentence for the link failures the design makes on purpose."""
    undefined = set(re.findall(r"undefined reference to `(\w+)'", text))
    syscalls = sorted(undefined.intersection(_SYSCALLS))
    if syscalls:
        return (f"the firmware uses C library I/O or process calls (printf, puts, FILE, exit, abort, "
                f"assert) that need system calls a bare-metal port has none of ({', '.join(syscalls)}); "
                "write through tlm_port_write and return status codes instead")
    if undefined & {"_sbrk", "sbrk"}:
        return ("the firmware uses malloc (directly, or through a C library function that allocates: "
                "the printf family, snprintf included, does); "
                "the device has no heap: use static buffers")
    m = re.search(r"region `(\w+)' overflowed by (\d+) bytes", text)
    if m:
        return f"the image does not fit: region {m.group(1)} overflowed by {m.group(2)} bytes"
    return None


def _run(cmd: list[str], what: str) -> str:
    proc = children.run(cmd)    # gcc and its cc1/as/ld end with tlmc, however it ends
    if proc.returncode != 0:
        said = proc.stderr + proc.stdout
        explained = _explain_link_error(said)
        if explained:
            raise TlmcError(f"{what}: {explained}")
        lines = [ln for ln in said.splitlines() if "error" in ln] or said.splitlines()
        raise TlmcError(f"{what} failed: {(lines[0] if lines else f'exit code {proc.returncode}').strip()[:400]}")
    return proc.stdout


def section_sizes(elf: Path) -> dict[str, int]:
    """Allocated sections of a linked ELF and their sizes, from `arm-none-eabi-size -A`."""
    out = _run([tool(SIZE), "-A", str(elf)], SIZE)
    sections: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            name, size = parts[0], int(parts[1])
            if size and not name.startswith(_NOT_LOADED):
                sections[name] = size
    return sections


def elf_sizes(elf: Path) -> dict[str, int]:
    """text (code + read-only data + vectors), data, bss (bss + the reserved stack),
    flash = text + data, ram = data + bss, and the stack reservation on its own."""
    sections = section_sizes(elf)
    data = sum(v for k, v in sections.items() if k in _DATA_SECTIONS)
    bss = sum(v for k, v in sections.items() if k in _BSS_SECTIONS)
    text = sum(sections.values()) - data - bss
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss,
            "stack": sections.get(".stack", 0)}


def build_elf(port: str, sources: list[Path], include_dirs: list[Path], out: Path,
              cpu_flags: list[str], defines: dict, opt: str = "-Os") -> dict:
    """Compile `sources` plus the port's own files and the shared Cortex-M start-up for a core
    and link them with the port's linker script into `out` (an ELF; a link map goes next to it
    as `<out>.map`).

    `cpu_flags`: one of CORE_FLAGS' values; `defines`: {"NAME": value} -> -DNAME=value (None
    for a bare -DNAME); `opt`: the optimization flag. Returns {"elf", "map", "seconds",
    "flags", "text", "data", "bss", "flash", "ram", "stack", "sections"}. Raises UsageError
    when the compiler is missing, TlmcError with the first error when a build fails."""
    folder = port_dir(port)
    cc = tool(CC)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    port_sources = [*sorted(folder.glob("*.c")), *sorted(CORTEX_M.glob("*.c"))]
    includes = [f"-I{d}" for d in [*include_dirs, FIRMWARE, CORTEX_M]]
    map_file = out.with_suffix(out.suffix + ".map")
    flags = [*BASE_FLAGS, *cpu_flags, opt, *_define_flags(defines)]
    tmp = out.with_name(f".{out.name}.tmp")
    tmp_map = out.with_name(f".{map_file.name}.tmp")
    cmd = [cc, *flags, *includes, *map(str, [*sources, *port_sources]),
           f"-T{folder / (port + '.ld')}", f"-Wl,-Map={tmp_map}", "-o", str(tmp)]
    t0 = time.monotonic()
    try:
        _run(cmd, f"{CC} ({port})")
        tmp_map.replace(map_file)
        tmp.replace(out)    # a half-written ELF never carries the final name
    finally:
        tmp.unlink(missing_ok=True)
        tmp_map.unlink(missing_ok=True)
    seconds = round(time.monotonic() - t0, 3)
    return {"elf": str(out), "map": str(map_file), "seconds": seconds, "flags": flags,
            **elf_sizes(out), "sections": section_sizes(out)}
