"""`tlmc chat`: type a prompt, the device completes it, token by token as they arrive.

The session outlives what a prompt can do wrong: a prompt whose GEN line is over the device's
`line_max` is refused with the numbers, a device `ERR` reply is printed, and the next prompt
is read. Only a link fault (the device gone) ends the session, with one line naming the port.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..core import boards
from ..link.client import (LINE_MAX, Device, DeviceError, DeviceLost, DeviceReplyError, Interrupted,
                           check_gen_args, gen_request)
from .hil import resolve_ports


def _note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def too_long(prompt: str, line_max: int, tokens: int, seed: int, temp_milli: int, top_k: int) -> str | None:
    """Why the device cannot take `prompt` in one GEN request line, or None if it can."""
    n = len(gen_request(prompt, tokens, seed, temp_milli, top_k))
    if n <= line_max:
        return None
    return (f"prompt not sent: its GEN request is {n} bytes, the device takes {line_max} (INFO line_max); "
            f"shorten it by {n - line_max} bytes (escaped: a non-ASCII byte takes 4)")


def chat(build: Path, board_name: str, port: str | None, *, tokens: int = 120, seed: int = 1,
         temp_milli: int = 0, top_k: int = 0, stop_at_newline: bool = True, lines=None, out=None) -> int:
    """Read prompts (stdin lines, or `lines` for scripting), print completions. Ctrl-C during a
    completion stops printing it and waits for the device to finish the request, so the
    next prompt starts clean; Ctrl-C at the prompt (or end of input) ends the chat. A value
    the device would refuse (a seed over 2^31-1) is a UsageError before anything starts."""
    out = out or sys.stdout
    check_gen_args(tokens, seed, temp_milli, top_k)
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
            line_max = int(info.get("line_max", LINE_MAX))
            _note(f"connected to {ports[0]}: model {info.get('model')} on {info.get('board')}; Ctrl-D to quit")
            source = iter(lines) if lines is not None else None
            while True:
                try:
                    prompt = next(source) if source is not None else input("> " if interactive else "")
                except (EOFError, StopIteration):
                    return 0
                except KeyboardInterrupt:
                    _note("")
                    return 0
                why = too_long(prompt, line_max, tokens, seed, temp_milli, top_k)
                if why is not None:
                    _note(why)
                    continue
                _complete(dev, prompt, out, tokens, seed, temp_milli, top_k, stop_at_newline)
    finally:
        if link is not None:
            link.stop()


def _complete(dev: Device, prompt: str, out, tokens: int, seed: int, temp_milli: int, top_k: int,
              stop_at_newline: bool) -> None:
    """One completion, streamed to `out`. A device ERR or a timeout is reported and the
    session goes on; a lost link (DeviceLost) ends it."""
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
        _note("\n[interrupted]")
        dev.sync()  # let the device finish the request, drop what it still sends
    except DeviceReplyError as e:
        state["stopped"] = True
        out.write("\n")
        _note(f"error: {e}; the session goes on")
    except (DeviceLost, Interrupted):
        out.write("\n")
        out.flush()
        raise
    except DeviceError as e:        # no reply in time: start clean (sync fails if the device is gone)
        state["stopped"] = True
        out.write("\n")
        _note(f"error: {e}; the session goes on")
        dev.sync()
    if not state["stopped"]:
        out.write("\n")
    out.flush()
