"""`tlmc emit` and `tlmc build`: every stage up to a compiled, self-tested program for a board.

The output folder is `build/<board id>/`. For the host board, `build` compiles the native
program `build/host/tlm` and runs its golden-vector selftest (the C runtime against TFLM's
outputs); a failing selftest fails the build.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import boards, compile as compile_mod, emit as emit_mod, quantize
from .config import Config


def board_for(cfg: Config, board: str | None) -> boards.Board:
    return boards.resolve(board or cfg["board"]["id"])


def emit(cfg: Config, build_dir: Path, board: str | None = None) -> dict:
    """Quantize if needed, then generate the C sources for the board into build/<board>/."""
    b = board_for(cfg, board)
    quantize.run(cfg, build_dir)
    out = build_dir / b.id
    summary = emit_mod.emit(build_dir, out, b)
    summary["out_dir"] = str(out)
    return summary


def build(cfg: Config, build_dir: Path, board: str | None = None) -> dict:
    """Emit, compile for the board, check the result; returns sizes and checks."""
    t0 = time.monotonic()
    b = board_for(cfg, board)
    summary = emit(cfg, build_dir, b.id)
    out = Path(summary["out_dir"])
    result = {"board": b.id, "model_hash": summary["model_hash"], "arena_bytes": summary["arena_bytes"],
              "tflm_arena_bytes": summary["tflm_arena_bytes"], "weight_bytes": summary["weight_bytes"],
              "ops": summary["ops"], "out_dir": str(out)}
    if b["port"] == "host":
        host = compile_mod.build_host(out)
        result.update(binary=host["binary"], text_bytes=host.get("text"), data_bytes=host.get("data"),
                      bss_bytes=host.get("bss"))
        result["selftest"] = compile_mod.run_selftest(out)
    else:
        objs = compile_mod.build_objects(out, b["core"])
        result.update(runtime_text_bytes=objs["runtime"]["text"], plan_text_bytes=objs["plan"]["text"],
                      model_data_bytes=objs["model_data"]["text"] + objs["model_data"]["data"])
    result["seconds"] = round(time.monotonic() - t0, 2)
    return result
