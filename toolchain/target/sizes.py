"""Where a build's bytes go, and the build's summary on disk (`build/<board>/build.json`).

A bare-metal ELF is linked with -ffunction-sections -fdata-sections and -g, so every function
and array is its own symbol with a size and a source line: `arm-none-eabi-nm -S -l` says which
file each byte of flash and RAM comes from. `elf_parts` sorts them into the parts a person
asks about (weights by layer, biases and multipliers, tokenizer tables, runtime, protocol, ...);
what no sized symbol covers (alignment, the vector table's padding, switch tables) is `other`,
so the parts add up to the totals `arm-none-eabi-size` reports.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from ..core.errors import TlmcError
from ..core.fsutil import atomic_write_json

BUILD_FILE = "build.json"
NM = "arm-none-eabi-nm"
_MODEL_ARRAY = re.compile(r"tlm_op(\d+)_(\w+)$")
_TOKENIZER_ARRAYS = ("token_", "char_", "merge_", "word_")


def _code_part(path: str) -> str:
    """The part a source file's code belongs to."""
    name = path.rsplit("/", 1)[-1]
    if "/ports/" in path:
        return "port and start-up"
    if name == "model_plan.c":
        return "plan (generated calls)"
    if name == "tlm_protocol.c":
        return "protocol"
    if name == "tlm_tokenizer.c":
        return "tokenizer code"
    if "/firmware/" in path:
        return "runtime and kernels"
    return "C library"


def _data_part(symbol: str) -> tuple[str, int | None]:
    """(part, op) of an array of the generated model_data.c."""
    m = _MODEL_ARRAY.match(symbol)
    if m and m.group(2) in ("weights", "table"):
        return "weights", int(m.group(1))
    if m and m.group(2) in ("rows", "bias", "multiplier", "shift"):
        return "biases and multipliers", int(m.group(1))
    if symbol.startswith(_TOKENIZER_ARRAYS):
        return "tokenizer tables", None
    return "other model data", None


def symbols(elf: Path) -> list[tuple[str, int, str, str]]:
    """(name, size, nm type letter, source file or '') of every sized symbol of `elf`."""
    from .cross import tool

    try:
        out = subprocess.run([tool(NM), "-S", "-l", "--defined-only", str(elf)], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    except (subprocess.SubprocessError, OSError) as e:
        raise TlmcError(f"{NM} {elf}: {e}") from None
    found = []
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 4 or not re.fullmatch(r"[0-9a-fA-F]+", parts[1]):
            continue
        where = parts[4].rsplit(":", 1)[0] if len(parts) > 4 else ""
        found.append((parts[3], int(parts[1], 16), parts[2], where))
    return found


def elf_parts(elf: Path, flash_total: int, ram_total: int, stack: int = 0) -> dict:
    """{"flash_parts": {part: bytes}, "ram_parts": {part: bytes}, "weights_by_op": {op: bytes}}
    of a linked bare-metal ELF whose totals are `flash_total` and `ram_total` (stack included)."""
    flash: dict[str, int] = {}
    ram: dict[str, int] = {"stack": int(stack)} if stack else {}
    weights: dict[str, int] = {}
    for name, size, kind, where in symbols(elf):
        letter = kind.lower()
        if where.endswith("model_data.c"):
            part, op = _data_part(name)
            if part == "weights":
                weights[str(op)] = weights.get(str(op), 0) + size
        else:
            part = _code_part(where) if where else "C library"
        if letter in "trd":  # code, read-only data, initialized data: in flash
            flash[part] = flash.get(part, 0) + size
        if letter in "bd":  # zeroed and initialized data: in RAM
            ram_part = {"arena": "arena", "proto": "protocol state", "tlm": "model state"}.get(name, part)
            ram[ram_part] = ram.get(ram_part, 0) + size
    for parts, total in ((flash, flash_total), (ram, ram_total)):
        rest = int(total) - sum(parts.values())
        if rest > 0:
            parts["other"] = parts.get("other", 0) + rest
    order = lambda d: dict(sorted(d.items(), key=lambda kv: -kv[1]))  # noqa: E731
    return {"flash_parts": order(flash), "ram_parts": order(ram),
            "weights_by_op": dict(sorted(weights.items(), key=lambda kv: int(kv[0])))}


def save_build(out: Path, result: dict) -> dict:
    """Write a finished build's summary to out/build.json (what `tlmc report` reads), with the
    flash and RAM parts of a linked bare-metal firmware when nm can tell them; returns it."""
    record = dict(result, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if result.get("firmware"):
        try:
            record.update(elf_parts(Path(result["firmware"]), result["flash_bytes"], result["ram_bytes"],
                                    result.get("stack_bytes", 0)))
        except TlmcError as e:  # nm missing or failing: the sizes without their parts
            record["parts_note"] = str(e)
    atomic_write_json(Path(out) / BUILD_FILE, record)
    return record
