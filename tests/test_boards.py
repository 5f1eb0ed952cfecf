"""boards/*.toml: every board loads and validates; broken files give one-line errors naming the
file and the field; aliases resolve; serial ports are matched by USB id."""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolchain.core import boards
from toolchain.core.errors import UsageError
from toolchain.core.paths import BOARDS


@pytest.fixture(autouse=True)
def fresh_cache():
    """all_boards is cached per folder: keep one test's files from leaking into another."""
    boards.all_boards.cache_clear()
    yield
    boards.all_boards.cache_clear()


EXPECTED = {"host", "nano33", "pico", "nucleo-f446re", "mps2-an386", "microbit"}


# ---------------------------------------------------------------- the shipped board files

def test_every_board_file_loads_and_validates():
    found = boards.all_boards()
    assert EXPECTED <= set(found)
    for b in found.values():
        assert b.path is not None and b.path.stem == b.id
        for key, (required, meaning) in boards.FIELDS.items():
            assert meaning
            if required:
                assert key in b.data, (b.id, key)


@pytest.mark.parametrize("name, board_id", [
    ("nano33", "nano33"), ("nano33ble", "nano33"), ("nano33-sense", "nano33"), ("NANO33BLE", "nano33"),
    ("rpipico", "pico"), ("nucleo", "nucleo-f446re"), ("mps2", "mps2-an386"), ("host", "host"),
])
def test_ids_and_aliases_resolve(name, board_id):
    assert boards.resolve(name).id == board_id


def test_unknown_board_suggests_the_closest():
    with pytest.raises(UsageError, match=r"unknown board 'nano34'.*did you mean 'nano33'") as e:
        boards.resolve("nano34")
    assert "\n" not in str(e.value)


def test_real_boards_cite_budgets_and_reserve_for_the_core():
    for bid in ("nano33", "pico", "nucleo-f446re"):
        b = boards.resolve(bid)
        assert 0 < b["app_flash_bytes"] <= b["flash_bytes"] and 0 < b["app_ram_bytes"] <= b["ram_bytes"]
        assert b["core_flash_reserve_bytes"] > 0 and b["core_ram_reserve_bytes"] > 0
        net = b.budget()
        assert net["flash_bytes"] == b["app_flash_bytes"] - b["core_flash_reserve_bytes"]
        assert net["ram_bytes"] == b["app_ram_bytes"] - b["core_ram_reserve_bytes"]
        linked = b.budget(core_linked=True)
        assert linked["flash_bytes"] == b["app_flash_bytes"] and linked["estimate"] is False
        text = b.path.read_text()
        for key in ("app_flash_bytes", "app_ram_bytes"):  # every budget line carries its source
            lines = text.splitlines()
            i = next(n for n, ln in enumerate(lines) if ln.startswith(key))
            block = [lines[i]]
            while i > 0 and lines[i - 1].startswith("#"):  # the comment block right above it
                i -= 1
                block.append(lines[i])
            assert "boards.txt" in "\n".join(block), (bid, key)


def test_known_facts():
    nano, pico, nucleo = boards.resolve("nano33"), boards.resolve("pico"), boards.resolve("nucleo-f446re")
    assert nano["app_flash_bytes"] == 983_040 and nano["app_flash_offset"] == 0x10000
    assert set(nano["usb_ids"]) == {"2341:805a", "2341:005a", "2341:015a", "2341:025a"}
    assert nano["fqbn"] == "arduino:mbed_nano:nano33ble"
    assert pico["uf2_family_id"] == 0xE48BFF56 and "2e8a:000a" in pico["usb_ids"]
    assert pico["bootloader_usb_ids"] == ["2e8a:0003"] and pico["cycle_counter"] == "systick"  # getCycleCount()
    assert nucleo["usb_ids"][0] == "0483:374b" and nucleo["app_ram_bytes"] == 131_072
    mps2 = boards.resolve("mps2-an386")
    assert mps2["qemu_machine"] == "mps2-an386" and mps2["serial"]["kind"] == "tcp"
    assert mps2["clock_hz"] == 25_000_000 and 1_000_000_000 // mps2["clock_hz"] == 40
    assert boards.resolve("host").budget() == {"estimate": False, "flash_bytes": None, "ram_bytes": None,
                                               "flash_estimate": False, "ram_estimate": False}
    # the pico's flash reserve is measured (a linked sketch), its RAM reserve an estimate
    pico = boards.resolve("pico").budget()
    assert pico["estimate"] and pico["ram_estimate"] and not pico["flash_estimate"]
    assert pico["flash_bytes"] == boards.resolve("pico")["app_flash_bytes"] - 55_530
    assert boards.resolve("pico").budget(core_linked=True)["estimate"] is False


def test_table_has_one_row_per_board():
    rows = boards.table()
    assert [r["id"] for r in rows] == sorted(boards.all_boards())
    nano = next(r for r in rows if r["id"] == "nano33")
    assert nano == {"id": "nano33", "name": "Arduino Nano 33 BLE / BLE Sense", "mcu": "nRF52840",
                    "core": "cortex-m4f", "clock_hz": 64_000_000, "app_flash_bytes": 983_040,
                    "app_ram_bytes": 262_144, "upload": "arduino-cli", "serial": "usb-cdc",
                    "aliases": ["nano33ble", "nano33-sense", "nano33ble-sense"]}


# ---------------------------------------------------------------- broken board files

GOOD = """\
id = "{id}"
name = "Test board"
mcu = "nRF52840"
core = "cortex-m4f"
clock_hz = 64_000_000
flash_bytes = 1_048_576
ram_bytes = 262_144
app_flash_bytes = 983_040
app_ram_bytes = 262_144
core_flash_reserve_bytes = 1000
core_ram_reserve_bytes = 1000
port = "arduino"
upload = "arduino-cli"
fqbn = "arduino:mbed_nano:nano33ble"
usb_ids = ["2341:805a"]
serial = {{ kind = "usb-cdc", baud = 115200 }}
cycle_counter = "dwt"
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def edit(text: str, key: str, value: str | None) -> str:
    """Replace (or with None, drop) the line `key = ...`; append it when missing."""
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    if value is not None:
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def test_a_good_test_board_loads(tmp_path):
    write(tmp_path, "tb", GOOD.format(id="tb"))
    assert boards.resolve("tb", folder=tmp_path)["mcu"] == "nRF52840"


@pytest.mark.parametrize("key, value, must_name", [
    ("name", None, ["missing required field 'name'"]),
    ("serial", None, ["missing required field 'serial'"]),
    ("ram_bytes", '"256k"', ["'ram_bytes'", "'256k'", "integer"]),
    ("flash_bytes", "true", ["'flash_bytes'", "True", "integer"]),
    ("flash_bytes", "-1", ["'flash_bytes'", "-1", "0 or more"]),
    ("core", '"cortex-m5"', ["'core'", "'cortex-m5'", "one of", "cortex-m4f"]),
    ("core", '"cortex-m4"', None),  # a valid core loads
    ("port", '"zephyr"', ["'port'", "'zephyr'", "one of"]),
    ("upload", '"dfu"', ["'upload'", "'dfu'", "one of"]),
    ("cycle_counter", '"cyccnt"', ["'cycle_counter'", "one of"]),
    ("usb_ids", '["2341-805a"]', ["'usb_ids'", "'2341-805a'", "vvvv:pppp"]),
    ("usb_ids", '["2341:805"]', ["'usb_ids'", "'2341:805'"]),
    ("usb_ids", '["2341:805a", "2341:805A"]', ["'usb_ids'", "twice"]),
    ("usb_ids", '"2341:805a"', ["'usb_ids'", "list"]),
    ("usb_ids", None, ["'usb_ids'", "usb-cdc"]),
    ("bootloader_usb_ids", '["zzzz:0003"]', ["'bootloader_usb_ids'", "'zzzz:0003'"]),
    ("serial", '{ kind = "spi" }', ["'serial.kind'", "'spi'", "one of"]),
    ("serial", '{ baud = 9600 }', ["'serial'", "no kind"]),
    ("serial", '{ kind = "uart" }', ["'serial.baud'", "uart"]),
    ("serial", '{ kind = "usb-cdc", speed = 1 }', ["'serial.speed'"]),
    ("serial", '"usb-cdc"', ["'serial'", "table"]),
    ("aliases", '["Bad Alias"]', ["'aliases'", "'Bad Alias'"]),
    ("aliases", '"nano"', ["'aliases'", "list"]),
    ("fqbn", '"nano33ble"', ["'fqbn'", "'nano33ble'"]),
    ("fqbn", None, ["'upload'", "needs field 'fqbn'"]),
    ("app_flash_bytes", "2_000_000", ["'app_flash_bytes'", "2000000", "flash_bytes"]),
    ("core_ram_reserve_bytes", "300_000", ["'core_ram_reserve_bytes'", "app_ram_bytes"]),
    ("uf2_family_id", "0x1_0000_0000", ["'uf2_family_id'", "32-bit"]),
    ("core_reserve_is_estimate", '"yes"', ["'core_reserve_is_estimate'", "true or false"]),
    ("main_stack_bytes", "0", ["'main_stack_bytes'", "more than 0"]),
    ("usb_id", '["2341:805a"]', ["'usb_id'", "not a board field", "did you mean 'usb_ids'"]),
])
def test_broken_board_file_is_a_one_line_error_naming_file_and_field(tmp_path, key, value, must_name):
    path = write(tmp_path, "tb", edit(GOOD.format(id="tb"), key, value))
    if must_name is None:
        boards.all_boards(tmp_path)
        return
    with pytest.raises(UsageError) as e:
        boards.all_boards(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(str(path)), msg
    for part in must_name:
        assert part in msg, msg
    assert e.value.exit_code == 2


def test_id_must_equal_file_name(tmp_path):
    path = write(tmp_path, "tb", GOOD.format(id="other"))
    with pytest.raises(UsageError, match=r"field 'id' = 'other' must equal the file name 'tb'") as e:
        boards.all_boards(tmp_path)
    assert str(e.value).startswith(str(path))


def test_dwt_needs_a_core_that_has_one(tmp_path):
    write(tmp_path, "tb", edit(GOOD.format(id="tb"), "core", '"cortex-m0plus"'))
    with pytest.raises(UsageError, match=r"'cycle_counter' = 'dwt' is not available on cortex-m0plus.*systick"):
        boards.all_boards(tmp_path)


def test_qemu_board_needs_machine_and_tcp(tmp_path):
    text = edit(GOOD.format(id="tb"), "upload", '"qemu"')
    write(tmp_path, "tb", text)
    with pytest.raises(UsageError, match=r"needs field 'qemu_machine'"):
        boards.all_boards(tmp_path)
    boards.all_boards.cache_clear()
    write(tmp_path, "tb", edit(text, "qemu_machine", '"mps2-an386"'))
    with pytest.raises(UsageError, match=r"'serial.kind' = 'usb-cdc' must be \"tcp\""):
        boards.all_boards(tmp_path)


def test_bad_toml_and_duplicate_aliases(tmp_path):
    path = write(tmp_path, "tb", "id = \n")
    with pytest.raises(UsageError, match="not valid TOML") as e:
        boards.all_boards(tmp_path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)
    boards.all_boards.cache_clear()
    write(tmp_path, "tb", edit(GOOD.format(id="tb"), "aliases", '["x1"]'))
    write(tmp_path, "tc", edit(GOOD.format(id="tc"), "aliases", '["x1"]'))
    with pytest.raises(UsageError, match=r"tc\.toml: field 'aliases'.*'x1', already an alias of board 'tb'"):
        boards.all_boards(tmp_path)
    boards.all_boards.cache_clear()
    write(tmp_path, "tc", edit(GOOD.format(id="tc"), "aliases", '["tb"]'))
    with pytest.raises(UsageError, match=r"'tb', which is the id of another board"):
        boards.all_boards(tmp_path)


def test_shipped_files_fail_loudly_when_broken(tmp_path):
    """Each real file, copied and damaged one required field at a time, names that field."""
    for src in sorted(BOARDS.glob("*.toml")):
        data = tomllib.loads(src.read_text())
        for key in ("core", "upload"):
            folder = tmp_path / f"{src.stem}-{key}"
            text = re.sub(rf"^{key} = .*$", f'{key} = "bogus"', src.read_text(), flags=re.M)
            write(folder, src.stem, text)
            with pytest.raises(UsageError, match=rf"{re.escape(src.stem)}\.toml: field '{key}' = 'bogus'"):
                boards.all_boards(folder)
        assert data["id"] == src.stem


def test_cache_is_per_folder_and_clearable(tmp_path):
    write(tmp_path, "tb", GOOD.format(id="tb"))
    assert set(boards.all_boards(tmp_path)) == {"tb"}
    write(tmp_path, "tc", GOOD.format(id="tc"))
    assert set(boards.all_boards(tmp_path)) == {"tb"}  # cached
    boards.all_boards.cache_clear()
    assert set(boards.all_boards(tmp_path)) == {"tb", "tc"}
    assert "nano33" in boards.all_boards()  # the shipped folder is unaffected
    shutil.rmtree(tmp_path)


# ---------------------------------------------------------------- serial port matching

@dataclass
class FakePort:
    """What the code reads of pyserial's ListPortInfo."""
    device: str
    vid: int | None = None
    pid: int | None = None


NANO_RUNNING = FakePort("/dev/ttyACM0", 0x2341, 0x805A)
NANO_BOOT = FakePort("/dev/ttyACM3", 0x2341, 0x005A)
FTDI = FakePort("/dev/ttyUSB0", 0x0403, 0x6001)
BUILTIN = FakePort("/dev/ttyS0")
PICO = FakePort("/dev/ttyACM1", 0x2E8A, 0x000A)
STLINK = FakePort("/dev/ttyACM2", 0x0483, 0x374B)


def test_no_matching_port_says_connect_or_pass_port():
    nano = boards.resolve("nano33")
    assert boards.find_ports(nano, [FTDI, BUILTIN]) == []
    with pytest.raises(UsageError) as e:
        boards.pick_port(nano, None, [FTDI, BUILTIN])
    msg = str(e.value)
    assert "\n" not in msg and "connect the board or pass --port" in msg
    assert "2341:805a" in msg and "/dev/ttyUSB0 (0403:6001)" in msg and "/dev/ttyS0 (no USB id)" in msg
    with pytest.raises(UsageError, match=r"attached ports: none"):
        boards.pick_port(nano, None, [])


def test_one_matching_port_is_picked():
    assert boards.pick_port(boards.resolve("nano33"), None, [FTDI, NANO_RUNNING, PICO]) == "/dev/ttyACM0"
    assert boards.pick_port(boards.resolve("pico"), None, [FTDI, NANO_RUNNING, PICO]) == "/dev/ttyACM1"
    assert boards.pick_port(boards.resolve("nucleo-f446re"), None, [STLINK, PICO]) == "/dev/ttyACM2"


def test_several_matching_ports_ask_to_choose():
    two = FakePort("/dev/ttyACM5", 0x2341, 0x805A)
    nano = boards.resolve("nano33")
    assert boards.find_ports(nano, [two, NANO_RUNNING, FTDI]) == ["/dev/ttyACM0", "/dev/ttyACM5"]
    with pytest.raises(UsageError, match=r"several attached ports.*/dev/ttyACM0, /dev/ttyACM5; choose one with --port"):
        boards.pick_port(nano, None, [two, NANO_RUNNING])


def test_explicit_port_wins():
    nano = boards.resolve("nano33")
    assert boards.pick_port(nano, "/dev/ttyUSB7", [NANO_RUNNING]) == "/dev/ttyUSB7"
    assert boards.pick_port(nano, "/dev/ttyUSB7", []) == "/dev/ttyUSB7"
    assert boards.pick_port(boards.resolve("mps2-an386"), "socket://127.0.0.1:5555") == "socket://127.0.0.1:5555"


def test_bootloader_ids_are_separate():
    nano = boards.resolve("nano33")
    assert boards.find_ports(nano, [NANO_BOOT], bootloader=True) == ["/dev/ttyACM3"]
    assert boards.find_ports(boards.resolve("pico"), [NANO_BOOT], bootloader=True) == []


def test_boards_without_usb_ids_need_an_explicit_port():
    with pytest.raises(UsageError, match=r"board mps2-an386: its serial port \(tcp\) cannot be found by USB id; pass --port"):
        boards.pick_port(boards.resolve("mps2-an386"), None, [NANO_RUNNING])
    assert boards.find_ports(boards.resolve("host"), [NANO_RUNNING]) == []


def test_default_ports_come_from_pyserial(monkeypatch):
    from serial.tools import list_ports
    monkeypatch.setattr(list_ports, "comports", lambda: [PICO])
    assert boards.find_ports(boards.resolve("pico")) == ["/dev/ttyACM1"]
