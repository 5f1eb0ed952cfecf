"""Flashing real boards, against fakes only: fake bossac/arduino-cli/pyocd on PATH that record
their argv, fake serial port lists on a fake clock, a fake serial.Serial, a temp folder as the
RPI-RP2 drive. Plus UF2 conversion and the Arduino sketch folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
import serial

from toolchain.target import flash as flash_mod
from toolchain.target import sketch as sketch_mod
from toolchain.target import uf2
from toolchain.core.boards import Board, resolve
from toolchain.core.errors import TlmcError, UsageError
from toolchain.target.flash import flash

Port = namedtuple("Port", "device vid pid")

NANO_APP = Port("/dev/ttyACM0", 0x2341, 0x805A)
NANO_BOOT = Port("/dev/ttyACM1", 0x2341, 0x005A)
PICO_APP = Port("/dev/ttyACM0", 0x2E8A, 0x000A)
STLINK = Port("/dev/ttyACM0", 0x0483, 0x374B)
OTHER = Port("/dev/ttyS0", None, None)


# ---------------------------------------------------------------------------------------------
# Fakes

class Clock:
    """Fake time: sleep() advances it; port lists are scheduled on it."""

    def __init__(self):
        self.t = 0.0
        self.sleeps = 0

    def sleep(self, seconds):
        self.t += seconds
        self.sleeps += 1


def schedule(clock, *steps):
    """list_ports() whose answer depends on the fake time: steps of (from_t, [ports])."""
    def list_ports():
        current = []
        for start, ports in steps:
            if clock.t >= start - 1e-9:
                current = ports
        return list(current)
    return list_ports


class FakeSerial:
    """Records opens (port, baud), DTR changes and closes; `on_close` simulates the reset."""

    opened: list = []
    on_close = None
    fail = None

    def __init__(self, port, baudrate=9600, **kw):
        if FakeSerial.fail:
            raise serial.SerialException(FakeSerial.fail)
        self.port, self.baudrate, self.log = port, baudrate, []
        FakeSerial.opened.append(self)

    @property
    def dtr(self):
        return self.log.count("dtr=0") == 0

    @dtr.setter
    def dtr(self, value):
        self.log.append(f"dtr={int(value)}")

    def close(self):
        self.log.append("close")
        if FakeSerial.on_close:
            FakeSerial.on_close()


@pytest.fixture
def fake_serial(monkeypatch):
    FakeSerial.opened, FakeSerial.on_close, FakeSerial.fail = [], None, None
    monkeypatch.setattr(serial, "Serial", FakeSerial)
    return FakeSerial


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """A bin folder that is the whole PATH (HOME too is a temp folder, so no bossac is found
    in ~/.arduino15); tools.add(name) writes a fake that logs its argv as JSON lines."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "tools.log"
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAKE_TOOL_LOG", str(log))

    class Tools:
        def add(self, name, exit_code=0, stdout="", stderr=""):
            script = bindir / name
            script.write_text(
                f"#!{sys.executable}\n"
                "import json, os, sys\n"
                "with open(os.environ['FAKE_TOOL_LOG'], 'a') as f:\n"
                "    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + '\\n')\n"
                f"sys.stdout.write({stdout!r})\n"
                f"sys.stderr.write({stderr!r})\n"
                f"sys.exit({exit_code})\n")
            script.chmod(0o755)
            return script

        def calls(self):
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines()]

    return Tools()


@pytest.fixture
def nano33():
    return resolve("nano33")


@pytest.fixture
def pico():
    return resolve("pico")


@pytest.fixture
def nucleo():
    b = resolve("nucleo-f446re")
    return Board(b.id, {**b.data, "pyocd_target": "stm32f446retx"}, b.path)


@pytest.fixture
def image(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    p = d / "tlm_demo.ino.bin"
    p.write_bytes(bytes(range(256)) * 10 + b"tail")
    return p


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


# ---------------------------------------------------------------------------------------------
# UF2

def test_uf2_round_trip_keeps_payload_family_block_count_and_contiguous_addresses():
    data = os.urandom(1000)
    out = uf2.bin_to_uf2(data, 0x10000000, 0xE48BFF56)
    assert len(out) == 4 * 512
    assert out[:4] == b"UF2\n" and out[4:8] == (0x9E5D5157).to_bytes(4, "little")
    assert out[508:512] == (0x0AB16F30).to_bytes(4, "little")
    blocks = uf2.parse_uf2(out)
    assert [b["block_no"] for b in blocks] == [0, 1, 2, 3]
    assert {b["num_blocks"] for b in blocks} == {4}
    assert {b["payload_size"] for b in blocks} == {256}
    assert {b["family_id"] for b in blocks} == {0xE48BFF56}
    assert all(b["flags"] & uf2.FLAG_FAMILY_ID for b in blocks)
    assert [b["address"] for b in blocks] == [0x10000000 + 256 * i for i in range(4)]
    payload = b"".join(b["data"] for b in blocks)
    assert payload[:1000] == data and payload[1000:] == bytes(24)
    assert uf2.uf2_to_bin(out) == (0x10000000, payload)


def test_uf2_of_an_exact_multiple_has_no_extra_block_and_without_family_clears_the_flag():
    blocks = uf2.parse_uf2(uf2.bin_to_uf2(bytes(512), 0x2000, None))
    assert len(blocks) == 2
    assert all(b["flags"] == 0 and b["family_id"] is None and b["file_size"] == 0 for b in blocks)


@pytest.mark.parametrize("data, base, fix", [(b"", 0x10000000, "empty"), (b"x", 0x10000080, "multiple of 256"),
                                             (b"x", -256, "non-negative")])
def test_uf2_refuses_empty_input_and_misaligned_address(data, base, fix):
    with pytest.raises(UsageError) as e:
        uf2.bin_to_uf2(data, base, 0xE48BFF56)
    assert fix in one_line(e)


def test_parse_uf2_rejects_what_is_not_uf2():
    with pytest.raises(UsageError, match="whole number"):
        uf2.parse_uf2(b"\0" * 100)
    with pytest.raises(UsageError, match="block 1"):
        uf2.parse_uf2(uf2.bin_to_uf2(b"a", 0, None) + b"\0" * 512)


# ---------------------------------------------------------------------------------------------
# bossac: touch, bootloader port, upload, application port back

def test_bossac_touches_waits_for_the_bootloader_uploads_and_finds_the_app_port_again(
        tools, fake_serial, nano33, image):
    tools.add("bossac")
    clock = Clock()
    ports = schedule(clock, (0, [NANO_APP, OTHER]), (0.3, [OTHER]), (0.6, [NANO_BOOT, OTHER]), (1.2, [OTHER]),
                     (1.5, [NANO_APP, OTHER]))
    result = flash(nano33, image, method="bossac", list_ports=ports, sleep=clock.sleep)
    (touch,) = fake_serial.opened
    assert (touch.port, touch.baudrate) == ("/dev/ttyACM0", 1200)
    assert touch.log == ["dtr=0", "close"]
    assert tools.calls() == [["bossac", "--port=/dev/ttyACM1", "-U", "-i", "-e", "-w", str(image), "-R"]]
    assert result["method"] == "bossac" and result["port"] == "/dev/ttyACM0"
    assert result["ports"] == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyACM0"]
    assert result["commands"][0][0].endswith("bossac") and result["seconds"] >= 0
    assert 1.5 <= clock.t < 2.0     # polled every 0.1 s of fake time, no real waiting


def test_bossac_times_out_when_the_bootloader_port_never_appears(tools, fake_serial, nano33, image):
    tools.add("bossac")
    clock = Clock()
    with pytest.raises(TlmcError) as e:
        flash(nano33, image, method="bossac", list_ports=schedule(clock, (0, [NANO_APP])), sleep=clock.sleep)
    msg = one_line(e)
    assert "2341:005a" in msg and "/dev/ttyACM0" in msg and "10 s" in msg
    assert tools.calls() == []
    assert clock.t == pytest.approx(flash_mod.BOOTLOADER_TIMEOUT)


def test_bossac_uses_a_board_already_in_its_bootloader_without_touching_it(tools, fake_serial, nano33, image):
    tools.add("bossac")
    clock = Clock()
    ports = schedule(clock, (0, [NANO_BOOT]), (0.2, [NANO_APP]))
    result = flash(nano33, image.parent, method="bossac", list_ports=ports, sleep=clock.sleep)
    assert fake_serial.opened == []
    assert tools.calls()[0][1] == "--port=/dev/ttyACM1" and tools.calls()[0][-2] == str(image)
    assert result["port"] == "/dev/ttyACM0"


def test_bossac_failure_surfaces_as_one_line_naming_the_port(tools, fake_serial, nano33, image):
    tools.add("bossac", exit_code=1, stdout="Set binary mode\n", stderr="No device found on /dev/ttyACM1\n")
    clock = Clock()
    ports = schedule(clock, (0, [NANO_APP]), (0.1, [NANO_BOOT]))
    with pytest.raises(TlmcError) as e:
        flash(nano33, image, method="bossac", list_ports=ports, sleep=clock.sleep)
    msg = one_line(e)
    assert "/dev/ttyACM1" in msg and "No device found" in msg and "exit 1" in msg


def test_bossac_reports_an_app_port_that_does_not_come_back(tools, fake_serial, nano33, image):
    tools.add("bossac")
    clock = Clock()
    ports = schedule(clock, (0, [NANO_APP]), (0.1, [NANO_BOOT]))
    with pytest.raises(TlmcError) as e:
        flash(nano33, image, method="bossac", list_ports=ports, sleep=clock.sleep)
    msg = one_line(e)
    assert "2341:805a" in msg and "came back" in msg and "/dev/ttyACM1" in msg
    assert len(tools.calls()) == 1


def test_bossac_touch_that_cannot_open_the_port_names_it(tools, fake_serial, nano33, image):
    tools.add("bossac")
    fake_serial.fail = "could not open port /dev/ttyACM0: [Errno 13] Permission denied"
    clock = Clock()
    with pytest.raises(TlmcError) as e:
        flash(nano33, image, method="bossac", list_ports=schedule(clock, (0, [NANO_APP])), sleep=clock.sleep)
    msg = one_line(e)
    assert "/dev/ttyACM0" in msg and "1200 baud" in msg and "dialout" in msg


def test_bossac_without_the_board_attached_lists_what_is_attached(tools, fake_serial, nano33, image):
    tools.add("bossac")
    clock = Clock()
    with pytest.raises(UsageError) as e:
        flash(nano33, image, method="bossac", list_ports=schedule(clock, (0, [OTHER])), sleep=clock.sleep)
    assert "2341:805a" in one_line(e) and "/dev/ttyS0" in str(e.value) and "--port" in str(e.value)


def test_missing_bossac_says_where_it_comes_from(tools, fake_serial, nano33, image):
    with pytest.raises(UsageError) as e:
        flash(nano33, image, method="bossac", list_ports=lambda: [NANO_APP], sleep=Clock().sleep)
    assert "bossac not found" in one_line(e) and "arduino-cli core install arduino:mbed_nano" in str(e.value)


def test_bossac_takes_a_bin_not_an_elf(tools, fake_serial, nano33, tmp_path):
    tools.add("bossac")
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(UsageError, match=r"\.bin"):
        flash(nano33, elf, method="bossac", list_ports=lambda: [NANO_APP], sleep=Clock().sleep)


# ---------------------------------------------------------------------------------------------
# arduino-cli

def test_arduino_cli_uploads_the_build_folder_to_the_port(tools, nano33, image):
    tools.add("arduino-cli")
    clock = Clock()
    result = flash(nano33, image.parent, "/dev/ttyACM0", list_ports=schedule(clock, (0, [NANO_APP])),
                   sleep=clock.sleep)
    assert tools.calls() == [["arduino-cli", "upload", "-p", "/dev/ttyACM0", "--fqbn", "arduino:mbed_nano:nano33ble",
                              "--input-dir", str(image.parent)]]
    assert result["method"] == "arduino-cli" and result["port"] == "/dev/ttyACM0"


def test_arduino_cli_finds_the_port_by_usb_id_and_takes_a_file(tools, nano33, image):
    tools.add("arduino-cli")
    clock = Clock()
    flash(nano33, image, list_ports=schedule(clock, (0, [OTHER, NANO_APP])), sleep=clock.sleep)
    assert tools.calls()[0][1:4] == ["upload", "-p", "/dev/ttyACM0"]
    assert tools.calls()[0][-2:] == ["--input-file", str(image)]


def test_arduino_cli_failure_is_one_line(tools, nano33, image):
    tools.add("arduino-cli", exit_code=1, stderr="Error during Upload: Failed uploading: no upload port provided\n")
    with pytest.raises(TlmcError) as e:
        flash(nano33, image.parent, "/dev/ttyACM0", list_ports=lambda: [NANO_APP], sleep=Clock().sleep)
    assert "Failed uploading" in one_line(e) and "/dev/ttyACM0" in str(e.value)


def test_missing_arduino_cli_names_the_product_and_the_bossac_alternative(tools, nano33, image):
    with pytest.raises(UsageError) as e:
        flash(nano33, image.parent, "/dev/ttyACM0", list_ports=lambda: [NANO_APP], sleep=Clock().sleep)
    msg = one_line(e)
    assert "arduino-cli not found" in msg and "Arduino CLI" in msg and "--method bossac" in msg


# ---------------------------------------------------------------------------------------------
# UF2 drive

def make_drive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    return folder


def test_uf2_converts_a_bin_and_writes_it_to_the_given_drive(tools, pico, image, tmp_path):
    drive = make_drive(tmp_path / "RPI-RP2")
    clock = Clock()
    result = flash(pico, image, drive=drive, list_ports=schedule(clock, (0, []), (0.5, [PICO_APP])),
                   sleep=clock.sleep)
    written = uf2.parse_uf2((drive / "NEW.UF2").read_bytes())
    assert written[0]["address"] == 0x10000000 and {b["family_id"] for b in written} == {0xE48BFF56}
    assert b"".join(b["data"] for b in written)[:image.stat().st_size] == image.read_bytes()
    assert result["blocks"] == len(written) == 11
    assert result["drive"] == str(drive) and result["port"] == "/dev/ttyACM0" and result["commands"] == []


def test_uf2_touches_into_bootsel_and_finds_the_drive_by_info_uf2(tools, fake_serial, pico, image, tmp_path,
                                                                   monkeypatch):
    media = tmp_path / "media"
    monkeypatch.setattr(flash_mod, "DRIVE_GLOBS", (str(media / "*" / "*"),))
    (media / "user" / "USB-STICK").mkdir(parents=True)       # a drive that is not a UF2 bootloader
    fake_serial.on_close = lambda: make_drive(media / "user" / "RPI-RP2")
    clock = Clock()
    ports = schedule(clock, (0, [PICO_APP]), (0.1, []), (1.0, [PICO_APP]))
    result = flash(pico, image, list_ports=ports, sleep=clock.sleep)
    assert [(s.port, s.baudrate) for s in fake_serial.opened] == [("/dev/ttyACM0", 1200)]
    assert (media / "user" / "RPI-RP2" / "NEW.UF2").is_file()
    assert result["drive"] == str(media / "user" / "RPI-RP2") and result["port"] == "/dev/ttyACM0"


def test_uf2_without_a_drive_or_a_port_says_to_hold_bootsel(tools, pico, image, tmp_path, monkeypatch):
    monkeypatch.setattr(flash_mod, "DRIVE_GLOBS", (str(tmp_path / "none" / "*"),))
    monkeypatch.setattr(flash_mod, "find_uf2_drives", lambda globs=None: [])
    with pytest.raises(UsageError) as e:
        flash(pico, image, list_ports=lambda: [], sleep=Clock().sleep)
    assert "2e8a:000a" in one_line(e) and "hold BOOTSEL" in str(e.value)


def test_uf2_times_out_when_no_drive_is_mounted_after_the_touch(tools, fake_serial, pico, image, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(flash_mod, "DRIVE_GLOBS", (str(tmp_path / "none" / "*"),))
    clock = Clock()
    with pytest.raises(TlmcError) as e:
        flash(pico, image, list_ports=schedule(clock, (0, [PICO_APP])), sleep=clock.sleep)
    assert "INFO_UF2.TXT" in one_line(e) and "--drive" in str(e.value) and "/dev/ttyACM0" in str(e.value)
    assert clock.t == pytest.approx(flash_mod.DRIVE_TIMEOUT)


def test_uf2_file_is_copied_as_is_and_a_foreign_family_is_refused(tools, pico, tmp_path):
    drive = make_drive(tmp_path / "RPI-RP2")
    good = tmp_path / "fw.uf2"
    good.write_bytes(uf2.bin_to_uf2(b"\1" * 300, 0x10000000, 0xE48BFF56))
    flash(pico, good, drive=drive, list_ports=lambda: [PICO_APP], sleep=Clock().sleep)
    assert (drive / "NEW.UF2").read_bytes() == good.read_bytes()
    bad = tmp_path / "other.uf2"
    bad.write_bytes(uf2.bin_to_uf2(b"\1" * 300, 0x2000, 0x68ED2B88))
    with pytest.raises(UsageError) as e:
        flash(pico, bad, drive=drive, list_ports=lambda: [PICO_APP], sleep=Clock().sleep)
    assert "0x68ed2b88" in one_line(e)


def test_uf2_drive_vanishing_during_the_final_sync_is_success(tools, pico, image, tmp_path, monkeypatch):
    drive = make_drive(tmp_path / "RPI-RP2")

    def rebooting_fsync(fd):
        (drive / "INFO_UF2.TXT").unlink()      # the RP2040 took every block and rebooted
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(flash_mod.os, "fsync", rebooting_fsync)
    result = flash(pico, image, drive=drive, list_ports=lambda: [PICO_APP], sleep=Clock().sleep)
    assert result["port"] == "/dev/ttyACM0"


def test_uf2_write_error_on_a_present_drive_is_reported(tools, pico, image, tmp_path, monkeypatch):
    drive = make_drive(tmp_path / "RPI-RP2")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(flash_mod.os, "fsync", full)
    with pytest.raises(TlmcError) as e:
        flash(pico, image, drive=drive, list_ports=lambda: [PICO_APP], sleep=Clock().sleep)
    assert str(drive) in one_line(e) and "No space left" in str(e.value)


def test_uf2_refuses_a_folder_that_is_not_a_uf2_drive(tools, pico, image, tmp_path):
    with pytest.raises(UsageError, match="INFO_UF2.TXT"):
        flash(pico, image, drive=tmp_path, list_ports=lambda: [PICO_APP], sleep=Clock().sleep)


# ---------------------------------------------------------------------------------------------
# pyocd

def test_pyocd_flashes_the_elf_with_the_board_target(tools, nucleo, tmp_path):
    tools.add("pyocd")
    out = tmp_path / "build"
    out.mkdir()
    for name in ("tlm_demo.ino.elf", "tlm_demo.ino.bin", "tlm_demo.ino.hex"):
        (out / name).write_bytes(b"x")
    result = flash(nucleo, out, list_ports=lambda: [STLINK], sleep=Clock().sleep)
    assert tools.calls() == [["pyocd", "flash", "-t", "stm32f446retx", str(out / "tlm_demo.ino.elf")]]
    assert result["port"] == "/dev/ttyACM0"


def test_pyocd_gives_a_bin_its_flash_address(tools, nucleo, image):
    tools.add("pyocd")
    flash(nucleo, image, list_ports=lambda: [STLINK], sleep=Clock().sleep)
    assert tools.calls()[0][1:] == ["flash", "-t", "stm32f446retx", "-a", "0x8000000", str(image)]


def test_pyocd_unknown_target_suggests_the_pack(tools, nucleo, image):
    tools.add("pyocd", exit_code=1, stderr="0000 C Target type 'stm32f446retx' not recognized.\n")
    with pytest.raises(TlmcError) as e:
        flash(nucleo, image, list_ports=lambda: [STLINK], sleep=Clock().sleep)
    assert "pyocd pack install stm32f446retx" in one_line(e)


def test_missing_pyocd_names_pip_install(tools, nucleo, image):
    with pytest.raises(UsageError) as e:
        flash(nucleo, image, list_ports=lambda: [STLINK], sleep=Clock().sleep)
    assert "pip install pyocd" in one_line(e)


def test_pyocd_needs_the_target_field(tools, image):
    tools.add("pyocd")
    from toolchain.core.boards import Board

    real = resolve("nucleo-f446re")
    without = Board(real.id, {k: v for k, v in real.data.items() if k != "pyocd_target"}, real.path)
    with pytest.raises(UsageError) as e:
        flash(without, image, list_ports=lambda: [STLINK], sleep=Clock().sleep)
    assert "pyocd_target" in one_line(e) and "nucleo-f446re.toml" in str(e.value)


# ---------------------------------------------------------------------------------------------
# Method choice

def test_qemu_is_not_flashed_here_and_host_has_nothing_to_flash(image):
    with pytest.raises(ValueError):
        flash(resolve("mps2-an386"), image, list_ports=lambda: [])
    with pytest.raises(UsageError, match="nothing to flash"):
        flash(resolve("host"), image, list_ports=lambda: [])
    with pytest.raises(UsageError, match="unknown upload method"):
        flash(resolve("nano33"), image, method="dfu", list_ports=lambda: [])


# ---------------------------------------------------------------------------------------------
# The Arduino sketch

@pytest.mark.parametrize("project", ["demo", "my project!", "int", "", "9 lives", "x" * 100])
def test_sketch_name_is_a_valid_identifier(project):
    name = sketch_mod.sketch_name(project)
    assert name.isidentifier() and name.startswith("tlm_") and len(name) <= 63


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """A small random model emitted for nano33 (the generated files a sketch needs)."""
    from toolchain.codegen import emit
    from toolchain.data.tokenizer import Tokenizer

    from .runtime_helpers import make_model

    model = make_model(5, 4, 4, [12], 20)
    out = tmp_path_factory.mktemp("emit")
    tok = Tokenizer(kind="char", chars=["", ""] + sorted("abcdefghijklmnopq "))
    emit.emit_model(model.int8, tok, out, board_id="nano33", model_hash="0123456789abcdef")
    return out


ARDUINO_STUB = Path(__file__).parent / "arduino"   # Arduino.h: the core API the Arduino code uses, declared


def test_write_sketch_makes_a_flat_folder_whose_sources_compile(emitted, nano33):
    folder = sketch_mod.write_sketch(emitted, nano33, "My Demo")
    assert folder == emitted / "sketch" / "tlm_my_demo" and folder.name.isidentifier()
    names = {p.name for p in folder.iterdir()}
    assert all(p.is_file() for p in folder.iterdir())      # flat: Arduino compiles the top level
    assert {"tlm_my_demo.ino", "tlm_port_arduino.cpp", "tlm_config.h", "model_data.h", "model_data.c",
            "model_plan.c", "tlm_runtime.c", "tlm_protocol.c", "tlm_protocol.h", "tlm_port.h"} <= names
    assert "golden_data.c" not in names and "port_host.c" not in names
    ino = (folder / "tlm_my_demo.ino").read_text()
    assert ino.startswith("/* generated by tlmc ") and "0123456789abcdef" in ino
    assert "TLM_ARENA_BYTES" in ino and "tlm_protocol_feed" in ino
    assert "tlm_fc_dsp.c" in names and "tlm_fc_reference.c" not in names   # the M4's optimized kernel set
    for c in sorted(folder.glob("*.c")):
        # the DSP kernel is Cortex-M4 code (SMLAD): checked with the board's compiler and core
        cc = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb"] if c.name == "tlm_fc_dsp.c" else ["gcc"]
        subprocess.run([*cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-I{folder}", str(c)],
                       check=True, capture_output=True)
    # The C++ files need Arduino.h: check them against the tests' declarations of the calls they make.
    cxx = ["-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{ARDUINO_STUB}", f"-I{folder}"]
    for compiler, flags in (("g++", []), ("arm-none-eabi-g++", ["-mcpu=cortex-m4", "-mthumb"]),
                            ("arm-none-eabi-g++", ["-mcpu=cortex-m0plus", "-mthumb"])):
        if shutil.which(compiler) is None:
            continue
        for src, lang in ((folder / "tlm_port_arduino.cpp", []), (folder / "tlm_my_demo.ino", ["-x", "c++"])):
            proc = subprocess.run([compiler, *cxx, *flags, "-include", "Arduino.h", *lang, str(src)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{compiler} {flags} {src.name}: {proc.stderr}"


def test_write_sketch_removes_files_a_previous_sketch_had(emitted, nano33):
    folder = sketch_mod.write_sketch(emitted, nano33, "stale")
    (folder / "tlm_old_kernel.c").write_text("#error stale\n")
    sketch_mod.write_sketch(emitted, nano33, "stale")
    assert not (folder / "tlm_old_kernel.c").exists()


def test_write_sketch_refuses_files_emitted_for_another_board_or_a_non_arduino_board(emitted, pico, tmp_path):
    with pytest.raises(UsageError) as e:
        sketch_mod.write_sketch(emitted, pico, "demo")
    assert "'nano33'" in one_line(e) and "tlmc emit --board pico" in str(e.value)
    with pytest.raises(UsageError, match="not as an Arduino sketch"):
        sketch_mod.write_sketch(emitted, resolve("mps2-an386"), "demo")
    with pytest.raises(UsageError, match="not generated"):
        sketch_mod.write_sketch(tmp_path, pico, "demo")


SIZE_REPORT = ("Sketch uses 123456 bytes (12%) of program storage space. Maximum is 983040 bytes.\n"
               "Global variables use 65432 bytes (24%) of dynamic memory, leaving 196712 bytes for local variables. "
               "Maximum is 262144 bytes.\n")


def test_compile_sketch_runs_arduino_cli_and_reads_the_sizes(tools, tmp_path):
    tools.add("arduino-cli", stdout=SIZE_REPORT)
    sketch = tmp_path / "sketch" / "tlm_demo"
    sketch.mkdir(parents=True)
    result = sketch_mod.compile_sketch(sketch, "arduino:mbed_nano:nano33ble")
    assert tools.calls() == [["arduino-cli", "compile", "--fqbn", "arduino:mbed_nano:nano33ble", "--output-dir",
                              str(tmp_path / "sketch" / "build"), str(sketch)]]
    assert (result["flash_bytes"], result["flash_max"], result["ram_bytes"], result["ram_max"]) == \
        (123456, 983040, 65432, 262144)


def test_compile_sketch_without_arduino_cli_returns_none(tools, tmp_path):
    assert sketch_mod.compile_sketch(tmp_path, "arduino:mbed_nano:nano33ble") is None


def test_compile_sketch_failure_quotes_the_error(tools, tmp_path):
    tools.add("arduino-cli", exit_code=1, stderr="Error during build: Platform 'arduino:mbed_nano' not found\n")
    with pytest.raises(TlmcError) as e:
        sketch_mod.compile_sketch(tmp_path, "arduino:mbed_nano:nano33ble")
    assert "Platform 'arduino:mbed_nano' not found" in one_line(e)
    assert "arduino-cli core install arduino:mbed_nano" in str(e.value)


def test_size_report_without_maximum_still_parses():
    sizes = sketch_mod.parse_sizes("Sketch uses 100056 bytes (38%) of program storage space. Maximum is 262144 "
                                   "bytes.\nGlobal variables use 16600 bytes of dynamic memory.\n")
    assert sizes == {"flash_bytes": 100056, "flash_max": 262144, "ram_bytes": 16600, "ram_max": None}
