"""Boards as data: one TOML file per board in `boards/`, validated on load. Code never names a board.

A board file says what the chip has, what the application really gets, how to build for it,
how to put firmware on it and how to talk to it. `FIELDS` below is the schema (name -> meaning);
every value is checked on load and a bad one is a one-line `UsageError` naming the file, the
field, the value and the fix.

Budgets. `app_flash_bytes` / `app_ram_bytes` are what the application image may occupy: the chip
minus the bootloader and whatever the vendor's linker script keeps back (the limits arduino-cli
checks a *linked* sketch against). `core_flash_reserve_bytes` / `core_ram_reserve_bytes` are what
the vendor core (Mbed OS, pico-sdk, HAL, USB stack, fixed stacks) takes out of those when it is
linked in. `Board.budget()` gives the net figures the firmware's own objects must fit in.

Public API: `Board`, `all_boards(folder)`, `resolve(name, where, folder)`, `table(folder)`,
`find_ports(board, ports)`, `pick_port(board, port, ports)`, `FIELDS`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import UsageError
from .paths import BOARDS

CORES = ("host", "cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m4f",
         "cortex-m7", "cortex-m7f", "cortex-m33")
CORES_WITHOUT_DWT = ("host", "cortex-m0", "cortex-m0plus")  # ARMv6-M has no DWT cycle counter
PORTS = ("host", "mps2", "microbit", "arduino")              # firmware/ports/<port>
UPLOADS = ("none", "qemu", "arduino-cli", "bossac", "uf2", "pyocd")
CYCLE_COUNTERS = ("dwt", "systick", "timer", "none")  # timer: a peripheral timer (nRF51 TIMER0)
SERIAL_KINDS = ("usb-cdc", "uart", "tcp", "stdio")
SERIAL_SUBFIELDS = ("kind", "baud", "rx_buffer_bytes", "rx_flow_control")

# The schema: field -> (required, meaning). The checks are in _CHECKS / _check_board.
FIELDS: dict[str, tuple[bool, str]] = {
    "id": (True, "board id, equal to the file name without .toml; lowercase letters, digits, '-'"),
    "name": (True, "human name"),
    "mcu": (True, "microcontroller part"),
    "core": (True, "CPU core; selects compiler flags and kernels: " + ", ".join(CORES)),
    "flash_bytes": (True, "flash the chip has (0 = unlimited/not applicable)"),
    "ram_bytes": (True, "RAM the chip has (0 = unlimited/not applicable)"),
    "app_flash_bytes": (True, "flash the application image may occupy: chip minus bootloader and "
                              "linker-reserved areas (the board-file limit for a linked build; 0 = unlimited)"),
    "app_ram_bytes": (True, "RAM the application's .data + .bss may occupy (0 = unlimited)"),
    "port": (True, "firmware/ports/<port> glue: " + ", ".join(PORTS)),
    "upload": (True, "how firmware gets onto the board: " + ", ".join(UPLOADS)),
    "serial": (True, "how the host talks to it: {kind = " + " | ".join(SERIAL_KINDS)
                     + ", baud = N, rx_buffer_bytes = N, rx_flow_control = true|false} (baud required for uart; "
                     "rx_*: the receive buffer the firmware reads from, and whether the link holds the host back "
                     "when it is full instead of losing bytes: docs/protocol.md, 'The link')"),
    "cycle_counter": (True, "what the firmware measures latency with: " + ", ".join(CYCLE_COUNTERS)),
    "aliases": (False, "other names --board accepts (unique across boards)"),
    "clock_hz": (False, "CPU clock the firmware runs at (SysTick clock on emulated boards); 0 = unknown"),
    "core_flash_reserve_bytes": (False, "flash the vendor core/RTOS/USB stack takes out of app_flash_bytes"),
    "core_ram_reserve_bytes": (False, "RAM the vendor core/RTOS/USB stack/fixed stacks take out of app_ram_bytes"),
    "core_reserve_is_estimate": (False, "true when the reserves above are (partly) estimates, not measurements"),
    "core_flash_reserve_is_estimate": (False, "core_reserve_is_estimate for the flash reserve alone (default: it)"),
    "core_ram_reserve_is_estimate": (False, "core_reserve_is_estimate for the RAM reserve alone (default: it)"),
    "main_stack_bytes": (False, "stack the firmware's main loop runs on"),
    "latency_budget_cycles": (False, "per-token latency the tests hold the board to, in cycles"),
    "flash_wait_states": (False, "wait states of a flash read at clock_hz, for the cycle estimate (docs/runtime.md, "
                                 "'Cycle estimates'); 0 or absent = zero wait states"),
    "flash_line_bytes": (False, "bytes one flash read fetches (default 16), for the cycle estimate"),
    "flash_cache_lines": (False, "flash lines (at most 64) the data cache or line buffers hold (default 0), for the "
                                 "cycle estimate"),
    "fqbn": (False, "arduino-cli fully qualified board name (vendor:arch:board[:opt=val,...])"),
    "usb_ids": (False, "USB 'vvvv:pppp' (hex) of the running firmware's serial port, to find it"),
    "bootloader_usb_ids": (False, "USB 'vvvv:pppp' (hex) the board shows in its bootloader/BOOTSEL mode"),
    "touch_1200bps": (False, "opening the port at 1200 baud resets the board into its bootloader"),
    "app_flash_offset": (False, "address the application image starts at (bossac / UF2 / raw .bin)"),
    "uf2_family_id": (False, "UF2 family id (RP2040: 0xe48bff56)"),
    "qemu_machine": (False, "qemu-system-arm -M <machine> (upload = qemu)"),
    "pyocd_target": (False, "pyOCD target name (pyocd flash -t), e.g. stm32f446retx (upload = pyocd)"),
    "arduino_define": (False, "the macro the Arduino core defines for the board (-DARDUINO_<build.board> of "
                              "its boards.txt), e.g. ARDUINO_ARDUINO_NANO33BLE: how the Arduino library tells "
                              "boards apart"),
    "arduino_architectures": (False, "library.properties architectures of the Arduino cores that run the board "
                                     "(default: the fqbn's), e.g. [\"mbed_nano\", \"mbed\"]"),
    "platformio": (False, "its PlatformIO environment: {platform = ..., board = ..., options = {key = \"value\"}} "
                          "(tlmc export --platformio)"),
}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_USB_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")
_W = r"[A-Za-z0-9_.-]+"
_FQBN_RE = re.compile(rf"^{_W}:{_W}:{_W}(:{_W}={_W}(,{_W}={_W})*)?$")
_MACHINE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DEFINE_RE = re.compile(r"^ARDUINO_[A-Z0-9_]+$")
_ARCH_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_PIO_OPTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


@dataclass(frozen=True)
class Board:
    id: str
    data: dict[str, Any]
    path: Path | None = field(default=None, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(self.data.get("aliases", ()))

    @property
    def arduino_architectures(self) -> tuple[str, ...]:
        """The Arduino cores' architectures that run the board: `arduino_architectures`, else
        the fqbn's (vendor:ARCH:board); none without either."""
        if "arduino_architectures" in self.data:
            return tuple(self.data["arduino_architectures"])
        fqbn = self.data.get("fqbn")
        return (fqbn.split(":")[1],) if fqbn else ()

    def usb_ids(self, bootloader: bool = False) -> list[tuple[int, int]]:
        """(vid, pid) pairs of the running firmware's port, or of the bootloader."""
        key = "bootloader_usb_ids" if bootloader else "usb_ids"
        return [_parse_usb_id(s) for s in self.data.get(key, ())]

    def budget(self, core_linked: bool = False) -> dict[str, Any]:
        """What a build may use: {'flash_bytes', 'ram_bytes', 'estimate', 'flash_estimate',
        'ram_estimate'}; None = unlimited. `estimate`: either part's core reserve is an estimate.

        core_linked=False (the firmware's own objects, no vendor core): app_* minus the core
        reserves. core_linked=True (a fully linked sketch, whose size already includes the
        core): app_* itself."""
        both = bool(self.data.get("core_reserve_is_estimate", False))
        out: dict[str, Any] = {}
        for kind in ("flash", "ram"):
            app = int(self.data[f"app_{kind}_bytes"])
            reserve = 0 if core_linked else int(self.data.get(f"core_{kind}_reserve_bytes", 0))
            out[f"{kind}_bytes"] = None if app == 0 else app - reserve
            out[f"{kind}_estimate"] = bool(self.data.get(f"core_{kind}_reserve_is_estimate", both)) and not core_linked
        out["estimate"] = out["flash_estimate"] or out["ram_estimate"]
        return out


# ---------------------------------------------------------------- validation

def _parse_usb_id(s: str) -> tuple[int, int]:
    v, p = s.split(":")
    return int(v, 16), int(p, 16)


def _bad(path: Path, key: str, value: Any, must: str, fix: str = "fix the board file") -> UsageError:
    msg = f"{path}: field '{key}' = {value!r} {must}; {fix}"
    return UsageError(" ".join(msg.splitlines()))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg_int(path, key, v):
    if not _is_int(v):
        raise _bad(path, key, v, "must be an integer (bytes/Hz; '_' separators allowed)")
    if v < 0:
        raise _bad(path, key, v, "must be 0 or more")


def _positive_int(path, key, v):
    _nonneg_int(path, key, v)
    if v == 0:
        raise _bad(path, key, v, "must be more than 0", "give a positive number or leave the field out")


def _u32(path, key, v):
    if not _is_int(v) or not 0 <= v <= 0xFFFFFFFF:
        raise _bad(path, key, v, "must be a 32-bit unsigned integer, e.g. 0x10000")


def _text(path, key, v):
    if not isinstance(v, str) or not v.strip():
        raise _bad(path, key, v, "must be a non-empty string")


def _boolean(path, key, v):
    if not isinstance(v, bool):
        raise _bad(path, key, v, "must be true or false")


def _choice(options: tuple[str, ...]) -> Callable[[Path, str, Any], None]:
    def check(path, key, v):
        if not isinstance(v, str) or v not in options:
            close = difflib.get_close_matches(str(v), options, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise _bad(path, key, v, f"must be one of {', '.join(options)}", f"{hint}fix the board file")
    return check


def _str_list(path, key, v):
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise _bad(path, key, v, "must be a list of non-empty strings")
    dup = sorted({s for s in v if v.count(s) > 1})
    if dup:
        raise _bad(path, key, v, f"lists {dup[0]!r} twice", "remove the duplicate")


def _aliases(path, key, v):
    _str_list(path, key, v)
    for s in v:
        if not _ALIAS_RE.match(s):
            raise _bad(path, key, v, f"has {s!r}: aliases are lowercase letters, digits, '-' and '_'")


def _usb_list(path, key, v):
    _str_list(path, key, v)
    for s in v:
        if not _USB_RE.match(s):
            raise _bad(path, key, v, f"has {s!r}: USB ids are 'vvvv:pppp' in hex, e.g. '2341:805a'")
    ids = [s.lower() for s in v]
    if len(set(ids)) != len(ids):
        raise _bad(path, key, v, "lists an id twice", "remove the duplicate")


def _regex(rx: re.Pattern, example: str) -> Callable[[Path, str, Any], None]:
    def check(path, key, v):
        if not isinstance(v, str) or not rx.match(v):
            raise _bad(path, key, v, f"is not valid, expected e.g. {example!r}")
    return check


def _serial(path, key, v):
    if not isinstance(v, dict):
        raise _bad(path, key, v, "must be a table like { kind = \"usb-cdc\", baud = 115200 }")
    for sub in v:
        if sub not in SERIAL_SUBFIELDS:
            raise _bad(path, f"{key}.{sub}", v[sub], f"is not a serial field ({', '.join(SERIAL_SUBFIELDS)})",
                       "remove it")
    if "kind" not in v:
        raise _bad(path, key, v, "has no kind", "add kind = " + " | ".join(f'"{k}"' for k in SERIAL_KINDS))
    _choice(SERIAL_KINDS)(path, f"{key}.kind", v["kind"])
    if "baud" in v:
        _nonneg_int(path, f"{key}.baud", v["baud"])
    if "rx_buffer_bytes" in v:
        _nonneg_int(path, f"{key}.rx_buffer_bytes", v["rx_buffer_bytes"])
    if "rx_flow_control" in v:
        _boolean(path, f"{key}.rx_flow_control", v["rx_flow_control"])
    if v["kind"] == "uart" and not v.get("baud"):
        raise _bad(path, f"{key}.baud", v.get("baud"), "must be set (> 0) for a uart", "add baud = 115200")


def _architectures(path, key, v):
    _str_list(path, key, v)
    for s in v:
        if not _ARCH_RE.match(s):
            raise _bad(path, key, v, f"has {s!r}: an architecture is letters, digits, '_', '.' and '-', "
                       "e.g. 'mbed_nano'")


def _platformio(path, key, v):
    if not isinstance(v, dict):
        raise _bad(path, key, v, 'must be a table like { platform = "ststm32", board = "nucleo_f446re" }')
    for sub in v:
        if sub not in ("platform", "board", "options"):
            raise _bad(path, f"{key}.{sub}", v[sub], "is not a platformio field (platform, board, options)",
                       "remove it")
    for sub in ("platform", "board"):
        if sub not in v:
            raise _bad(path, key, v, f"has no {sub}", f"add {sub} = \"...\" (PlatformIO's name for it)")
        _text(path, f"{key}.{sub}", v[sub])
    options = v.get("options", {})
    if not isinstance(options, dict):
        raise _bad(path, f"{key}.options", options, 'must be a table like { "board_build.core" = "earlephilhower" }')
    for name, value in options.items():
        if not _PIO_OPTION_RE.match(name) or not isinstance(value, str) or "\n" in value:
            raise _bad(path, f"{key}.options", options, f"has {name!r} = {value!r}: an option is a platformio.ini "
                       "key (e.g. 'board_build.core') and a one-line string value")


_CHECKS: dict[str, Callable[[Path, str, Any], None]] = {
    "id": _regex(_ID_RE, "nano33"),
    "name": _text, "mcu": _text,
    "core": _choice(CORES), "port": _choice(PORTS), "upload": _choice(UPLOADS),
    "cycle_counter": _choice(CYCLE_COUNTERS), "serial": _serial,
    "flash_bytes": _nonneg_int, "ram_bytes": _nonneg_int,
    "app_flash_bytes": _nonneg_int, "app_ram_bytes": _nonneg_int,
    "clock_hz": _nonneg_int,
    "core_flash_reserve_bytes": _nonneg_int, "core_ram_reserve_bytes": _nonneg_int,
    "core_reserve_is_estimate": _boolean, "touch_1200bps": _boolean,
    "core_flash_reserve_is_estimate": _boolean, "core_ram_reserve_is_estimate": _boolean,
    "main_stack_bytes": _positive_int, "latency_budget_cycles": _positive_int,
    "flash_wait_states": _nonneg_int, "flash_line_bytes": _positive_int, "flash_cache_lines": _nonneg_int,
    "aliases": _aliases, "usb_ids": _usb_list, "bootloader_usb_ids": _usb_list,
    "fqbn": _regex(_FQBN_RE, "arduino:mbed_nano:nano33ble"),
    "qemu_machine": _regex(_MACHINE_RE, "mps2-an386"),
    "pyocd_target": _text,
    "app_flash_offset": _u32, "uf2_family_id": _u32,
    "arduino_define": _regex(_DEFINE_RE, "ARDUINO_ARDUINO_NANO33BLE"),
    "arduino_architectures": _architectures, "platformio": _platformio,
}
assert set(_CHECKS) == set(FIELDS)


def _check_board(path: Path, data: dict[str, Any]) -> None:
    for key in data:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, list(FIELDS), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise _bad(path, key, data[key], "is not a board field", f"{hint}known fields: {', '.join(FIELDS)}")
    for key, (required, _) in FIELDS.items():
        if key not in data:
            if required:
                raise UsageError(f"{path}: missing required field '{key}' ({FIELDS[key][1]}); add it to the board file")
            continue
        _CHECKS[key](path, key, data[key])
    if data["id"] != path.stem:
        raise _bad(path, "id", data["id"], f"must equal the file name {path.stem!r}", "rename the file or fix the id")
    # Budgets: app within chip, reserves within app.
    for kind in ("flash", "ram"):
        chip, app = data[f"{kind}_bytes"], data[f"app_{kind}_bytes"]
        if chip and not 0 < app <= chip:
            raise _bad(path, f"app_{kind}_bytes", app, f"must be from 1 to {kind}_bytes ({chip})")
        reserve = data.get(f"core_{kind}_reserve_bytes", 0)
        if app and reserve >= app:
            raise _bad(path, f"core_{kind}_reserve_bytes", reserve, f"must be less than app_{kind}_bytes ({app})")
    # What each upload method needs.
    needs = {"qemu": ("qemu_machine",), "arduino-cli": ("fqbn",), "uf2": ("uf2_family_id", "app_flash_offset"),
             "bossac": ("app_flash_offset",), "pyocd": ("pyocd_target",)}
    for key in needs.get(data["upload"], ()):
        if key not in data:
            raise _bad(path, "upload", data["upload"], f"needs field '{key}' ({FIELDS[key][1]})", f"add {key}")
    kind = data["serial"]["kind"]
    if data["upload"] == "qemu" and kind != "tcp":
        raise _bad(path, "serial.kind", kind, "must be \"tcp\" for an emulated board (upload = \"qemu\")")
    if kind == "usb-cdc" and not data.get("usb_ids"):
        raise _bad(path, "usb_ids", data.get("usb_ids"), "must list the board's USB ids for serial kind usb-cdc",
                   "add usb_ids = [\"vvvv:pppp\"]")
    if data["cycle_counter"] == "dwt" and data["core"] in CORES_WITHOUT_DWT:
        raise _bad(path, "cycle_counter", "dwt", f"is not available on {data['core']} (no DWT cycle counter)",
                   "use \"systick\"")


def _load_file(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the board file as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(" ".join(f"{path}: not valid TOML: {e}; fix the board file".splitlines())) from None
    _check_board(path, data)
    return Board(id=data["id"], data=data, path=path)


@lru_cache(maxsize=None)
def all_boards(folder: Path = BOARDS) -> dict[str, Board]:
    """Every board in `folder`, by id, each validated; aliases unique across boards.
    Cached per folder: call `all_boards.cache_clear()` after changing files."""
    boards = {p.stem: _load_file(p) for p in sorted(Path(folder).glob("*.toml"))}
    owner: dict[str, str] = {}
    for b in boards.values():
        for a in b.aliases:
            if a in boards:
                raise _bad(b.path, "aliases", list(b.aliases), f"has {a!r}, which is the id of another board",
                           "remove the alias")
            if a in owner:
                raise _bad(b.path, "aliases", list(b.aliases), f"has {a!r}, already an alias of board {owner[a]!r}",
                           "remove one of them")
            owner[a] = b.id
    return boards


def resolve(name: str, where: str = "--board", folder: Path = BOARDS) -> Board:
    """A board by id or alias (case-insensitive); a UsageError naming the choices otherwise."""
    boards = all_boards(folder)
    key = name.strip().lower()
    if key in boards:
        return boards[key]
    for b in boards.values():
        if key in b.aliases:
            return b
    names = sorted(boards) + sorted(a for b in boards.values() for a in b.aliases)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(f"{where}: unknown board {name!r}; {hint}known boards: {', '.join(sorted(boards))}")


def table(folder: Path = BOARDS) -> list[dict[str, Any]]:
    """One row per board, sorted by id, for `tlmc boards`."""
    rows = []
    for b in sorted(all_boards(folder).values(), key=lambda b: b.id):
        rows.append({
            "id": b.id, "name": b["name"], "mcu": b["mcu"], "core": b["core"],
            "clock_hz": b.get("clock_hz", 0),
            "app_flash_bytes": b["app_flash_bytes"], "app_ram_bytes": b["app_ram_bytes"],
            "upload": b["upload"], "serial": b["serial"]["kind"], "aliases": list(b.aliases),
        })
    return rows


# ---------------------------------------------------------------- serial ports

def _attached(ports: Iterable[Any] | None) -> list[Any]:
    if ports is None:
        from serial.tools import list_ports  # late: only commands that touch hardware need pyserial
        ports = list_ports.comports()
    return list(ports)


def _describe(p: Any) -> str:
    vid, pid = getattr(p, "vid", None), getattr(p, "pid", None)
    return f"{p.device} ({vid:04x}:{pid:04x})" if vid is not None and pid is not None else f"{p.device} (no USB id)"


def find_ports(board: Board, ports: Iterable[Any] | None = None, *, bootloader: bool = False) -> list[str]:
    """Device names of attached serial ports whose USB vid:pid is one of the board's `usb_ids`
    (or `bootloader_usb_ids`). `ports`: ListPortInfo-like objects (device, vid, pid); default
    pyserial's comports()."""
    wanted = set(board.usb_ids(bootloader=bootloader))
    if not wanted:
        return []
    return sorted({p.device for p in _attached(ports)
                   if getattr(p, "vid", None) is not None and (p.vid, p.pid) in wanted})


def pick_port(board: Board, port: str | None, ports: Iterable[Any] | None = None) -> str:
    """The serial port to talk to `board` on: an explicit --port wins; else the one attached port
    matching the board's USB ids. None or several matches are UsageErrors saying what to do."""
    if port:
        return port
    if not board.get("usb_ids"):
        raise UsageError(f"board {board.id}: its serial port ({board['serial']['kind']}) cannot be found by USB id; "
                         f"pass --port")
    attached = _attached(ports)
    matches = find_ports(board, attached)
    if len(matches) == 1:
        return matches[0]
    ids = ", ".join(board["usb_ids"])
    if not matches:
        seen = ", ".join(_describe(p) for p in sorted(attached, key=lambda p: p.device)) or "none"
        raise UsageError(f"board {board.id}: no attached serial port has its USB id ({ids}); connect the board "
                         f"or pass --port (attached ports: {seen})")
    raise UsageError(f"board {board.id}: several attached ports match its USB id ({ids}): {', '.join(matches)}; "
                     f"choose one with --port")
