"""The Arduino sketch of a build: generated model + runtime + Arduino port, one flat folder.

arduino-cli compiles the top level of a sketch folder (plus `src/`), and insists that the folder
and its .ino share a name. So a build for an Arduino board (`port = "arduino"`) gets

    <out_dir>/sketch/tlm_<project>/
        tlm_<project>.ino          setup()/loop(): arena, tlm_init, the serial protocol
        tlm_port_arduino.cpp       tlm_port.h over Serial (firmware/ports/<port>/)
        tlm_*.c, tlm_*.h           the runtime and the protocol (firmware/)
        tlm_config.h, model_data.h, model_data.c, model_plan.c    from `tlmc emit`
        tlm_commands.h, tlm_commands.c     from `tlmc emit` too, for a grammar (commands) project

and `compile_sketch()` runs `arduino-cli compile --fqbn FQBN --output-dir DIR SKETCH`, reading
the linked sizes from its "Sketch uses N bytes ... Global variables use M bytes" report.

Public API: `write_sketch(out_dir, board, project_name) -> Path`, `sketch_name(project_name)`,
`firmware_files(out_dir, port, kernel_files)` (what a sketch and the Arduino library, library.py,
both carry), `compile_sketch(sketch_dir, fqbn, runner) -> dict | None`, `SKETCH_GENERATED`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..core import children
from ..core.boards import Board
from ..codegen import commands
from ..codegen.emit import _env, c_ident
from ..core.errors import TlmcError, UsageError
from ..core.fsutil import atomic_write_bytes, atomic_write_text
from ..core.paths import FIRMWARE

SKETCH_GENERATED = ("tlm_config.h", "model_data.h", "model_data.c", "model_plan.c")
SOURCE_SUFFIXES = (".c", ".h", ".cpp", ".hpp", ".ino", ".S")
NAME_MAX = 63                  # arduino-cli's limit on a sketch name
COMPILE_TIMEOUT = 900.0        # a first Mbed build compiles the whole core

_DEFINE_RE = r'^#define {name} "([^"\\]*)"'
_SKETCH_USES_RE = re.compile(r"Sketch uses (\d+) bytes(?: \(\d+%\))? of program storage space\."
                             r"(?: Maximum is (\d+) bytes\.)?")
_GLOBALS_USE_RE = re.compile(r"Global variables use (\d+) bytes(?: \(\d+%\))? of dynamic memory"
                             r"(?:, leaving (-?\d+) bytes for local variables\. Maximum is (\d+) bytes\.)?")


def sketch_name(project_name: str) -> str:
    """`tlm_<project>`: a C identifier (so also a valid Arduino sketch name: letters, digits
    and '_', starting with a letter, at most 63 characters)."""
    ident = c_ident(str(project_name)).lower().strip("_") or "model"
    return f"tlm_{ident}"[:NAME_MAX].rstrip("_")


def _config_value(config_h: Path, name: str) -> str:
    m = re.search(_DEFINE_RE.format(name=name), config_h.read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise UsageError(f"{config_h}: no {name}; rerun 'tlmc emit'")
    return m.group(1)


def firmware_files(out_dir: Path, port: str, kernel_files: list[Path]) -> list[Path]:
    """The files an Arduino sketch or library carries, all in one folder: the hand-written
    runtime (firmware/tlm_*.c/.h: protocol, command parse and C API included), `kernel_files`
    (firmware/kernels/) with the kernels' headers, the port's glue (firmware/ports/<port>/),
    and what `tlmc emit` wrote into out_dir (SKETCH_GENERATED, and a commands project's
    tables). UsageError when a generated file is missing or two files share a name."""
    from .compile import KERNELS_DIR

    out_dir = Path(out_dir)
    folder = FIRMWARE / "ports" / port
    if not folder.is_dir():
        raise UsageError(f"no firmware port folder firmware/ports/{port}")
    missing = [n for n in SKETCH_GENERATED if not (out_dir / n).is_file()]
    if missing:
        raise UsageError(f"{out_dir / missing[0]}: not generated; run 'tlmc emit' first")
    runtime = sorted(p for p in FIRMWARE.iterdir() if p.is_file() and p.name.startswith("tlm_")
                     and p.suffix in (".c", ".h"))
    kernel = [*kernel_files, *sorted(KERNELS_DIR.glob("*.h"))]
    glue = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SOURCE_SUFFIXES)
    generated = [out_dir / n for n in SKETCH_GENERATED]
    grammar = [out_dir / n for n in commands.GENERATED if (out_dir / n).is_file()]  # a commands project's
    files = runtime + kernel + glue + generated + grammar
    seen: dict[str, Path] = {}
    for f in files:
        if f.name in seen:
            raise UsageError(f"{f}: a second file named {f.name} (the other is {seen[f.name]}); rename one")
        seen[f.name] = f
    return files


def write_sketch(out_dir: Path, board: Board, project_name: str) -> Path:
    """Write `out_dir/sketch/<sketch_name(project_name)>/` from the files `tlmc emit` wrote into
    `out_dir` (for this board) and the runtime; returns the sketch folder. Files a previous
    sketch had and this one does not are removed, so arduino-cli compiles exactly this set."""
    from .compile import kernel_sources

    out_dir = Path(out_dir)
    if board["port"] != "arduino":
        raise UsageError(f"board {board.id} builds with firmware port '{board['port']}', not as an Arduino sketch")
    config_h = out_dir / "tlm_config.h"
    if not config_h.is_file():
        raise UsageError(f"{config_h}: not generated; run 'tlmc emit --board {board.id}' first")
    built_for = _config_value(config_h, "TLM_BOARD")
    if built_for != board.id:
        raise UsageError(f"{config_h}: generated for board '{built_for}', not '{board.id}'; "
                         f"rerun 'tlmc emit --board {board.id}'")
    kernels = _config_value(config_h, "TLM_KERNELS")
    sources = firmware_files(out_dir, board["port"], kernel_sources(kernels, board["core"]))
    name = sketch_name(project_name)
    folder = out_dir / "sketch" / name
    folder.mkdir(parents=True, exist_ok=True)
    ino = f"{name}.ino"
    if any(src.name == ino for src in sources):
        raise UsageError(f"a firmware file is named {ino}, as the sketch is; rename it")
    text = _env().get_template("sketch.ino.j2").render(
        version=__version__, model_hash=_config_value(config_h, "TLM_MODEL_HASH"), file=ino,
        board=board.id, fqbn=board.get("fqbn") or "no fqbn in the board file", board_macro="TLM_BOARD")
    atomic_write_text(folder / ino, text)
    keep = {ino}
    for src in sources:
        atomic_write_bytes(folder / src.name, src.read_bytes())
        keep.add(src.name)
    for old in folder.iterdir():
        if old.is_file() and old.suffix in SOURCE_SUFFIXES and old.name not in keep:
            old.unlink()
    return folder


def parse_sizes(output: str) -> dict[str, int | None]:
    """arduino-cli's size report -> {flash_bytes, flash_max, ram_bytes, ram_max} (None where
    the core does not report a figure)."""
    out: dict[str, int | None] = {"flash_bytes": None, "flash_max": None, "ram_bytes": None, "ram_max": None}
    m = _SKETCH_USES_RE.search(output)
    if m:
        out["flash_bytes"] = int(m.group(1))
        out["flash_max"] = int(m.group(2)) if m.group(2) else None
    m = _GLOBALS_USE_RE.search(output)
    if m:
        out["ram_bytes"] = int(m.group(1))
        out["ram_max"] = int(m.group(3)) if m.group(3) else None
    return out


def compile_sketch(sketch_dir: Path, fqbn: str, runner: Callable[..., Any] = children.run, *,
                   output_dir: Path | None = None) -> dict | None:
    """`arduino-cli compile --fqbn FQBN --output-dir DIR SKETCH` (DIR: `<sketch>/../build` unless
    given). Returns {"command", "output_dir", "flash_bytes", "flash_max", "ram_bytes", "ram_max",
    "artifacts", "seconds"} with the linked sizes arduino-cli reports, or None when arduino-cli
    is not installed (the caller then says the sizes come from the object-only cross build).
    A failed compile is a TlmcError quoting the first error line."""
    tool = shutil.which("arduino-cli")
    if tool is None:
        return None
    sketch_dir = Path(sketch_dir)
    output_dir = Path(output_dir) if output_dir is not None else sketch_dir.parent / "build"
    output_dir.mkdir(parents=True, exist_ok=True)
    cmd = [tool, "compile", "--fqbn", fqbn, "--output-dir", str(output_dir), str(sketch_dir)]
    t0 = time.monotonic()
    try:
        proc = runner(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TlmcError(f"arduino-cli compile of {sketch_dir.name} did not finish in {COMPILE_TIMEOUT:.0f} s") from None
    said = f"{proc.stdout or ''}\n{proc.stderr or ''}"
    if proc.returncode != 0:
        lines = [ln.strip() for ln in said.splitlines() if ln.strip()]
        first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else f"exit {proc.returncode}")
        hint = ""
        if "platform not installed" in said.lower() or "not found" in first.lower():
            hint = f"; install the core: arduino-cli core install {':'.join(fqbn.split(':')[:2])}"
        raise TlmcError(f"arduino-cli compile --fqbn {fqbn} {sketch_dir.name} failed: {first[:300]}{hint}")
    result: dict = {"command": cmd, "output_dir": str(output_dir), **parse_sizes(said),
                    "artifacts": sorted(p.name for p in output_dir.iterdir() if p.is_file()),
                    "seconds": round(time.monotonic() - t0, 3)}
    return result
