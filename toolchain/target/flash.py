"""Stage `flash`: put a built firmware on a real board, by the board file's `upload` method.

    flash(board, Path("build/sketch/build"))                 # the board's own method
    flash(board, Path("fw.bin"), "/dev/ttyACM0", method="bossac")

Methods (boards/*.toml `upload`; `method=` overrides it):

- `arduino-cli`  `arduino-cli upload -p PORT --fqbn FQBN --input-dir DIR` (or `--input-file`):
                 the core's own recipe, 1200-baud touch and bootloader wait included.
- `bossac`       the same steps done here, for the Arduino SAM-BA style bootloader: open the
                 application's port at 1200 baud and drop DTR (the board resets into its
                 bootloader), wait for a port with one of `bootloader_usb_ids`, run
                 `bossac --port=P -U -i -e -w FILE.bin -R` (ArduinoCore-mbed platform.txt,
                 tools.bossac.upload.pattern), wait for the application's port to come back.
                 No `--offset`: the Nano 33 BLE bootloader places the image at 0x10000 itself
                 (an offset is added twice: zephyrproject-rtos/zephyr#33523). A board whose
                 bootloader wants one says so with `bossac_offset`.
- `uf2`          copy a .uf2 (or a .bin converted at `app_flash_offset` with `uf2_family_id`)
                 to the bootloader's USB drive (the RP2040's RPI-RP2: a folder holding
                 INFO_UF2.TXT), after a 1200-baud touch into BOOTSEL when no drive is mounted.
- `pyocd`        `pyocd flash -t <pyocd_target> FILE` through an SWD probe (ST-LINK).

`qemu` is not flashed here (toolchain.target.qemu starts the emulator): asking for it is a ValueError.
Every wait is bounded and polls `list_ports()` (pyserial's comports() by default) with the
injected `sleep`, so tests run against fakes without real time passing. Errors are one line
naming the port, drive or tool and what was expected.

Public API: `flash(board, artifact, port=None, *, drive=None, method=None, runner=children.run,
list_ports=None, sleep=time.sleep) -> dict`, `find_uf2_drives()`, `METHODS`.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from . import uf2
from ..core import children
from ..core.boards import Board, pick_port
from ..core.errors import TlmcError, UsageError

METHODS = ("arduino-cli", "bossac", "uf2", "pyocd")
POLL_SECONDS = 0.1
BOOTLOADER_TIMEOUT = 10.0      # touch -> bootloader port (or drive) appears
APP_PORT_TIMEOUT = 10.0        # upload done -> the application's port is back
DRIVE_TIMEOUT = 15.0           # touch -> the BOOTSEL drive is mounted (the desktop mounts it)
TOOL_TIMEOUT = 300.0           # one upload command
# Where desktops mount USB drives (udisks: /media/$USER/LABEL, /run/media/$USER/LABEL; macOS).
DRIVE_GLOBS = ("/media/*/*", "/run/media/*/*", "/media/*", "/Volumes/*")
UF2_INFO = "INFO_UF2.TXT"
UF2_NAME = "NEW.UF2"
# bossac ships with arduino-cli's cores: <data dir>/packages/<vendor>/tools/bossac/<version>/bossac
BOSSAC_GLOBS = ("~/.arduino15/packages/*/tools/bossac/*/bossac",)


# ---------------------------------------------------------------------------------------------
# Context: the injected world (commands, ports, time)

@dataclass
class _Ctx:
    board: Board
    runner: Callable[..., Any]
    list_ports: Callable[[], Iterable[Any]]
    sleep: Callable[[float], None]
    commands: list

    def ports(self) -> list[Any]:
        return list(self.list_ports())

    def matching(self, ids: set[tuple[int, int]]) -> list[str]:
        """Devices of attached ports whose (vid, pid) is in `ids`."""
        return sorted({p.device for p in self.ports()
                       if getattr(p, "vid", None) is not None and (p.vid, p.pid) in ids})

    def wait(self, probe: Callable[[], Any], timeout: float) -> Any:
        """Call `probe` every POLL_SECONDS until it returns something truthy; None after
        `timeout` seconds (counted in sleeps, so an injected sleep makes this instant)."""
        for i in range(int(math.ceil(timeout / POLL_SECONDS)) + 1):
            found = probe()
            if found:
                return found
            if i * POLL_SECONDS >= timeout:
                break
            self.sleep(POLL_SECONDS)
        return None

    def run(self, cmd: list[str], what: str) -> str:
        """Run one upload command; a failure is a one-line TlmcError quoting the tool."""
        self.commands.append(list(cmd))
        try:
            proc = self.runner(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        except FileNotFoundError:
            raise UsageError(f"{cmd[0]} not found; {what}") from None
        except subprocess.TimeoutExpired:
            raise TlmcError(f"{what}: {Path(cmd[0]).name} did not finish in {TOOL_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            raise TlmcError(f"{what}: {Path(cmd[0]).name} failed (exit {proc.returncode}): "
                            f"{_gist(proc.stderr, proc.stdout)}")
        return proc.stdout or ""


def _gist(*outputs: str | None) -> str:
    """The line of a tool's output that says what went wrong, shortened to one line."""
    lines = [ln.strip() for out in outputs if out for ln in out.splitlines() if ln.strip()]
    for key in ("error", "fail", "no device", "not found", "unable", "could not"):
        for ln in lines:
            if key in ln.lower():
                return ln[:300]
    return lines[-1][:300] if lines else "no output"


def _ids(board: Board, key: str) -> set[tuple[int, int]]:
    return set(board.usb_ids(bootloader=(key == "bootloader_usb_ids")))


def _app_ids(board: Board) -> set[tuple[int, int]]:
    """USB ids of the running firmware's port: usb_ids minus the bootloader's (a board file may
    list the bootloader's id among usb_ids so the port is found in either mode)."""
    return _ids(board, "usb_ids") - _ids(board, "bootloader_usb_ids")


def _hex_ids(ids: set[tuple[int, int]]) -> str:
    return ", ".join(f"{v:04x}:{p:04x}" for v, p in sorted(ids)) or "none"


def _describe_ports(ctx: _Ctx) -> str:
    out = []
    for p in sorted(ctx.ports(), key=lambda p: p.device):
        vid, pid = getattr(p, "vid", None), getattr(p, "pid", None)
        out.append(f"{p.device} ({vid:04x}:{pid:04x})" if vid is not None and pid is not None else p.device)
    return ", ".join(out) or "none"


def _need(board: Board, key: str, method: str, example: str) -> Any:
    if board.get(key) is None:
        where = board.path or f"boards/{board.id}.toml"
        raise UsageError(f"board {board.id}: upload method '{method}' needs field '{key}' (e.g. {key} = {example}); "
                         f"add it to {where}")
    return board[key]


def _pick_file(artifact: Path, suffixes: tuple[str, ...], method: str) -> Path:
    """`artifact` itself, or the one file in the folder `artifact` with the first of `suffixes`
    that any file has (arduino-cli's --output-dir holds NAME.ino.bin, .elf, .hex, .uf2...)."""
    if artifact.is_file():
        if artifact.suffix.lower() not in suffixes:
            raise UsageError(f"{artifact}: upload method '{method}' takes a {' or '.join(suffixes)} file, "
                             f"not {artifact.suffix or 'a file without extension'}")
        return artifact
    if not artifact.is_dir():
        raise UsageError(f"{artifact}: no such file or folder; build first ('tlmc build --board ...')")
    for suffix in suffixes:
        found = sorted(p for p in artifact.iterdir() if p.is_file() and p.name.lower().endswith(suffix)
                       and "bootloader" not in p.name.lower())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UsageError(f"{artifact}: several {suffix} files ({', '.join(p.name for p in found)}); "
                             "pass the one to flash")
    raise UsageError(f"{artifact}: holds no {' or '.join(suffixes)} file for upload method '{method}'; "
                     "build first or pass the file")


def _tool(name: str, hint: str, extra_globs: tuple[str, ...] = ()) -> str:
    path = shutil.which(name)
    if path:
        return path
    for pattern in extra_globs:
        found = sorted(glob.glob(os.path.expanduser(pattern)))
        if found:
            return found[-1]
    raise UsageError(f"{name} not found on PATH; {hint}")


def _core_of(board: Board) -> str | None:
    fqbn = board.get("fqbn")
    return ":".join(fqbn.split(":")[:2]) if fqbn else None


# ---------------------------------------------------------------------------------------------
# Serial steps: the 1200-baud touch, waiting for ports

def touch_1200bps(port: str) -> None:
    """Open `port` at 1200 baud and drop DTR: Arduino-style USB stacks (Mbed core, pico-sdk's
    stdio_usb, arduino-pico) take that as "reset into the bootloader". The port may vanish
    while it is being closed."""
    import serial  # late: only flashing touches serial ports

    try:
        link = serial.Serial(port, 1200)
    except (serial.SerialException, OSError, ValueError) as e:
        raise TlmcError(f"{port}: cannot open it at 1200 baud to reset the board into its bootloader "
                        f"({' '.join(str(e).split())[:200]}); check the port and its permissions "
                        "(group dialout)") from None
    try:
        link.dtr = False
    except (serial.SerialException, OSError):
        pass
    finally:
        try:
            link.close()
        except (serial.SerialException, OSError):
            pass  # the board is already resetting


def _app_port(ctx: _Ctx, port: str | None, why: str) -> str:
    """The application's port: `port` if given, else the one attached port with the board's
    application USB id."""
    if port:
        return port
    ids = _app_ids(ctx.board)
    found = ctx.matching(ids)
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"board {ctx.board.id}: no attached serial port has its USB id ({_hex_ids(ids)}) to {why}; "
                         f"connect the board or pass --port (attached: {_describe_ports(ctx)})")
    raise UsageError(f"board {ctx.board.id}: several ports have its USB id ({', '.join(found)}); "
                     "choose one with --port")


def _wait_app_port(ctx: _Ctx, after: str, fallback: str | None = None) -> str | None:
    """After an upload: the application's port once it is back (bounded). A board without USB
    ids (a plain UART) keeps `fallback`."""
    ids = _app_ids(ctx.board)
    if not ids:
        return fallback
    found = ctx.wait(lambda: ctx.matching(ids), APP_PORT_TIMEOUT)
    if not found:
        raise TlmcError(f"board {ctx.board.id}: {after}, but no serial port with its USB id ({_hex_ids(ids)}) "
                        f"came back within {APP_PORT_TIMEOUT:.0f} s (attached: {_describe_ports(ctx)}); "
                        "the firmware may not have started: replug the board and run 'tlmc test'")
    return fallback if fallback in found else found[0]


# ---------------------------------------------------------------------------------------------
# Methods

def _flash_arduino_cli(ctx: _Ctx, artifact: Path, port: str | None, drive: Path | None) -> dict:
    board = ctx.board
    fqbn = _need(board, "fqbn", "arduino-cli", '"arduino:mbed_nano:nano33ble"')
    core = _core_of(board)
    hint = (f"install the Arduino CLI (arduino.github.io/arduino-cli) and the board's core "
            f"(arduino-cli core install {core})")
    if board.get("bootloader_usb_ids"):
        hint += ", or flash with --method bossac"
    tool = _tool("arduino-cli", hint)
    port = pick_port(board, port, ctx.ports())
    cmd = [tool, "upload", "-p", port, "--fqbn", fqbn]
    if artifact.is_dir() and not any(artifact.glob("*.ino")):
        cmd += ["--input-dir", str(artifact)]
    elif artifact.is_file():
        cmd += ["--input-file", str(artifact)]
    elif artifact.is_dir():
        cmd += [str(artifact)]     # a sketch folder: arduino-cli finds its last build
    else:
        raise UsageError(f"{artifact}: no such file or folder; build first ('tlmc build --board {board.id}')")
    ctx.run(cmd, f"arduino-cli upload to {port} (board {board.id}, {fqbn})")
    after = _wait_app_port(ctx, f"arduino-cli uploaded through {port}", port)
    return {"ports": [port] + ([after] if after and after != port else []), "port": after}


def _flash_bossac(ctx: _Ctx, artifact: Path, port: str | None, drive: Path | None) -> dict:
    board = ctx.board
    boot_ids = _ids(board, "bootloader_usb_ids")
    if not boot_ids:
        _need(board, "bootloader_usb_ids", "bossac", '["2341:005a"]')
    image = _pick_file(artifact, (".bin",), "bossac")
    core = _core_of(board)
    tool = _tool("bossac", "install BOSSA (Arduino's fork ships with its cores: "
                 f"arduino-cli core install {core or 'arduino:mbed_nano'})", BOSSAC_GLOBS)
    used = []
    boot = ctx.matching(boot_ids)
    if boot and (not port or port in boot):
        boot_port = port or boot[0]    # already in the bootloader (double-tapped reset)
    else:
        app = _app_port(ctx, port, "reset it into its bootloader")
        used.append(app)
        if board.get("touch_1200bps", False):
            touch_1200bps(app)
            how = f"after the 1200-baud touch on {app}"
        else:
            how = "(this board has no 1200-baud reset: double-press its reset button)"
        found = ctx.wait(lambda: ctx.matching(boot_ids), BOOTLOADER_TIMEOUT)
        if not found:
            raise TlmcError(f"board {board.id}: no bootloader port ({_hex_ids(boot_ids)}) appeared within "
                            f"{BOOTLOADER_TIMEOUT:.0f} s {how} (attached: {_describe_ports(ctx)}); "
                            "double-press the reset button and retry")
        boot_port = found[0]
    used.append(boot_port)
    cmd = [tool, f"--port={boot_port}", "-U", "-i", "-e", "-w", str(image), "-R"]
    offset = board.get("bossac_offset")
    if offset:
        cmd[2:2] = [f"--offset={offset:#x}"]
    ctx.run(cmd, f"bossac on {boot_port} (board {board.id}'s bootloader)")
    after = _wait_app_port(ctx, f"bossac wrote {image.name} through {boot_port}")
    if after:
        used.append(after)
    return {"ports": used, "port": after}


def find_uf2_drives(globs: Iterable[str] | None = None) -> list[Path]:
    """Mounted UF2 bootloader drives: folders holding INFO_UF2.TXT."""
    found = set()
    for pattern in DRIVE_GLOBS if globs is None else globs:
        for d in glob.glob(pattern):
            try:
                if os.path.isfile(os.path.join(d, UF2_INFO)):
                    found.add(Path(d))
            except OSError:
                continue
    return sorted(found)


def _uf2_image(board: Board, artifact: Path) -> tuple[bytes, Path]:
    src = _pick_file(artifact, (".uf2", ".bin"), "uf2")
    data = src.read_bytes()
    family = board.get("uf2_family_id")
    if src.suffix.lower() == ".bin":
        base = _need(board, "app_flash_offset", "uf2", "0x10000000")
        return uf2.bin_to_uf2(data, base, family), src
    blocks = uf2.parse_uf2(data)
    foreign = sorted({b["family_id"] for b in blocks if b["family_id"] is not None} - {family})
    if family is not None and foreign:
        raise UsageError(f"{src}: UF2 family {foreign[0]:#010x} is not board {board.id}'s ({family:#010x}); "
                         "its bootloader would ignore it: build for this board")
    return data, src


def _write_uf2(drive: Path, data: bytes) -> Path:
    """Write NEW.UF2 on the drive and sync it. The bootloader reboots into the image as soon as
    it has every block, so the drive may vanish under the final flush or close: an error then,
    with INFO_UF2.TXT gone, is success."""
    target = drive / UF2_NAME
    try:
        with open(target, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if not (drive / UF2_INFO).is_file():
            return target          # the board took the image and rebooted
        raise TlmcError(f"{drive}: writing {UF2_NAME} failed ({e.strerror or e}); check the drive is writable "
                        "and has room") from None
    return target


def _flash_uf2(ctx: _Ctx, artifact: Path, port: str | None, drive: Path | None) -> dict:
    board = ctx.board
    data, src = _uf2_image(board, artifact)
    used = []
    if drive is not None:
        drive = Path(drive)
        if not (drive / UF2_INFO).is_file():
            raise UsageError(f"{drive}: not a UF2 bootloader drive (no {UF2_INFO}); put the board in BOOTSEL mode "
                             "and pass the drive's mount folder")
    else:
        drives = find_uf2_drives()
        app_ids = _app_ids(board)
        app = port or next(iter(ctx.matching(app_ids)), None)
        if not drives and board.get("touch_1200bps", False) and app:
            used.append(app)
            touch_1200bps(app)
            drives = ctx.wait(find_uf2_drives, DRIVE_TIMEOUT) or []
            if not drives:
                raise TlmcError(f"board {board.id}: no UF2 drive ({UF2_INFO} under {', '.join(DRIVE_GLOBS)}) was "
                                f"mounted within {DRIVE_TIMEOUT:.0f} s after the 1200-baud touch on {app}; mount "
                                "it (udisksctl mount -b /dev/disk/by-label/RPI-RP2) and pass --drive")
        if not drives:
            raise UsageError(f"board {board.id}: no UF2 drive is mounted ({UF2_INFO} under {', '.join(DRIVE_GLOBS)}) "
                             f"and no serial port with its USB id ({_hex_ids(app_ids)}) to reset it into BOOTSEL; "
                             "hold BOOTSEL while plugging the board in, then retry or pass --drive")
        if len(drives) > 1:
            raise UsageError(f"several UF2 drives are mounted ({', '.join(map(str, drives))}); choose one with --drive")
        drive = drives[0]
    written = _write_uf2(drive, data)
    after = _wait_app_port(ctx, f"{src.name} was copied to {drive}", port)
    if after:
        used.append(after)
    return {"ports": used, "port": after, "drive": str(drive), "file": str(written),
            "blocks": len(data) // uf2.BLOCK_BYTES}


def _flash_pyocd(ctx: _Ctx, artifact: Path, port: str | None, drive: Path | None) -> dict:
    board = ctx.board
    target = _need(board, "pyocd_target", "pyocd", '"stm32f446retx"')
    tool = _tool("pyocd", "install it: pip install pyocd")
    image = _pick_file(artifact, (".elf", ".hex", ".bin"), "pyocd")
    cmd = [tool, "flash", "-t", target]
    if image.suffix.lower() == ".bin" and board.get("app_flash_offset") is not None:
        cmd += ["-a", f"{board['app_flash_offset']:#x}"]
    cmd.append(str(image))
    try:
        ctx.run(cmd, f"pyocd flash (board {board.id}, target {target})")
    except TlmcError as e:
        text = str(e)
        if "target" in text.lower() and any(w in text.lower() for w in ("not recognized", "unknown", "no target")):
            raise TlmcError(f"{text}; pyOCD needs the chip's pack: pyocd pack install {target}") from None
        raise
    after = _wait_app_port(ctx, f"pyocd wrote {image.name}", port)
    return {"ports": [after] if after else [], "port": after}


_FLASHERS = {"arduino-cli": _flash_arduino_cli, "bossac": _flash_bossac, "uf2": _flash_uf2, "pyocd": _flash_pyocd}
assert set(_FLASHERS) == set(METHODS)


# ---------------------------------------------------------------------------------------------
# Public API

def flash(board: Board, artifact: Path, port: str | None = None, *, drive: Path | None = None,
          method: str | None = None, runner: Callable[..., Any] = children.run,
          list_ports: Callable[[], Iterable[Any]] | None = None,
          sleep: Callable[[float], None] = time.sleep) -> dict:
    """Flash `artifact` (a file, or the build folder holding it) onto `board` by `method`
    (default: the board's `upload`). `port`: the application's serial port (default: found by
    USB id); `drive`: the UF2 drive (default: found by INFO_UF2.TXT). Returns {"method",
    "commands" (argv lists run), "ports" (in the order used), "port" (the application's port
    afterwards, or None), "artifact", "seconds"} plus "drive", "file", "blocks" for UF2.
    Raises ValueError for `qemu` (toolchain.target.qemu starts the emulator), UsageError for what the
    user can fix (a missing tool, field or board), TlmcError for a device that misbehaved."""
    method = method or board["upload"]
    if method == "qemu":
        raise ValueError("upload method 'qemu' is not flashed: toolchain.target.qemu starts the emulator")
    if method == "none":
        raise UsageError(f"board {board.id} has nothing to flash (upload = \"none\"): its build runs directly")
    if method not in _FLASHERS:
        raise UsageError(f"unknown upload method {method!r}; use one of {', '.join(METHODS)}")
    if list_ports is None:
        from serial.tools import list_ports as _lp  # late: pyserial only when flashing

        list_ports = _lp.comports
    ctx = _Ctx(board, runner, list_ports, sleep, [])
    artifact = Path(artifact)
    t0 = time.monotonic()
    result = _FLASHERS[method](ctx, artifact, port, drive)
    return {"method": method, "commands": ctx.commands, "artifact": str(artifact),
            "seconds": round(time.monotonic() - t0, 3), **result}
