"""`tlmc flash`: put the built firmware on the board, by the board file's `upload` method.

- `qemu` (emulated boards): start QEMU with build/<board>/firmware.elf, its UART on a free
  loopback port, detached so it outlives the command; wait until the firmware answers INFO
  with this build's model hash; print the pyserial URL. `tlmc test` and `tlmc chat` find it
  without --port; `--stop` ends it.
- real boards: toolchain/target/flash.py (arduino-cli, bossac, UF2, pyOCD).
"""

from __future__ import annotations

from pathlib import Path

from ..core import boards
from . import qemu
from ..core.config import Config
from ..link.client import Device, DeviceError
from ..core.errors import NotBuilt, TlmcError, UsageError
from ..core.fsutil import read_bytes, read_json


def state_dir(build_dir: Path, b: boards.Board) -> Path:
    return build_dir / b.id / "qemu"


def flash(cfg: Config, build_dir: Path, board: str | None = None, port: str | None = None, *,
          stop: bool = False, drive: Path | None = None, method: str | None = None) -> dict:
    b = boards.resolve(board or cfg["board"]["id"])
    if b["upload"] == "qemu":
        sd = state_dir(build_dir, b)
        if stop:
            return {"board": b.id, "method": "qemu", "stopped": qemu.stop(sd)}
        elf = build_dir / b.id / "firmware.elf"
        if not elf.is_file():
            raise NotBuilt(f"{elf}: not built; run 'tlmc build --board {b.id}' first")
        read_bytes(elf)  # checked against build/<board>/stamp.json: a damaged ELF is named, not run
        emu = qemu.start(elf, b["qemu_machine"], state_dir=sd, detach=True)
        want = read_json(build_dir / "quantize" / "report.json")["model_hash"]
        try:
            with Device(emu.url, timeout=10) as dev:
                dev.sync()
                dev.check_model(want)
                info = dev.info()
        except DeviceError as e:
            emu.stop()
            raise TlmcError(f"QEMU started but the firmware did not answer: {e}") from None
        return {"board": b.id, "method": "qemu", "url": emu.url, "pid": emu.pid, "elf": str(elf),
                "model_hash": info.get("model"), "state_dir": str(sd)}
    if stop:
        raise UsageError(f"--stop is for emulated boards; {b.id} uploads with {b['upload']}")
    if b["upload"] == "none":
        raise UsageError(f"board {b.id} has nothing to flash; run its program from build/{b.id}/")
    from . import flash as flash_mod

    artifact = build_dir / b.id
    return flash_mod.flash(b, artifact, port, drive=drive, method=method)
