"""`tlmc chat`: type a prompt, the device completes it, token by token as they arrive."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core import boards
from ..link.client import Device, DeviceError
from .hil import resolve_ports


def chat(build: Path, board_name: str, port: str | None, *, tokens: int = 120, seed: int = 1,
         temp_milli: int = 0, top_k: int = 0, stop_at_newline: bool = True, lines=None, out=None) -> int:
    """Read prompts (stdin lines, or `lines` for scripting), print completions. Ctrl-C during a
    completion stops printing it and waits for the device to finish the request, so the
    next prompt starts clean; Ctrl-C at the prompt (or end of input) ends the chat."""
    out = out or sys.stdout
    board = boards.resolve(board_name)
    ports, link = resolve_ports(build, board, [port] if port else None)
    interactive = lines is None and sys.stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
    try:
        with Device(ports[0], baud=int(board.get("serial", {}).get("baud", 115200) or 115200)) as dev:
            dev.sync()
            info = dev.info()
            print(f"connected to {ports[0]}: model {info.get('model')} on {info.get('board')}; Ctrl-D to quit",
                  file=sys.stderr)
            source = iter(lines) if lines is not None else None
            while True:
                try:
                    prompt = next(source) if source is not None else input("> " if interactive else "")
                except (EOFError, StopIteration):
                    return 0
                except KeyboardInterrupt:
                    print(file=sys.stderr)
                    return 0
                state = {"stopped": False}

                def show(_id: int, piece: bytes) -> None:
                    if state["stopped"]:
                        return
                    out.write(piece.decode("utf-8", "replace"))
                    out.flush()
                    if stop_at_newline and piece == b"\n":
                        state["stopped"] = True

                out.write(prompt)
                out.flush()
                try:
                    dev.generate(prompt, tokens, seed, temp_milli, top_k, on_token=show)
                except KeyboardInterrupt:
                    state["stopped"] = True
                    print("\n[interrupted]", file=sys.stderr)
                    dev.sync()  # let the device finish the request, drop what it still sends
                if not state["stopped"]:
                    out.write("\n")
    except DeviceError:
        raise
    finally:
        if link is not None:
            link.stop()
