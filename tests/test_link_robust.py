"""Serial that survives a real USB host (docs/protocol.md, "The link"): a host that closes the
port mid-`GEN 4096` or stops reading costs the device one write timeout, not one per piece of
every line, and the next host gets INFO at once; request lines fit a 63-byte receive buffer.

On the host build (`tlm --serve` on a pty that HostLink keeps open, so a closed client looks
like a USB port whose host is gone: the pty fills, writes find no room) and on the emulated M4
(QEMU mps2-an386: its socket drops what a closed client would get, its pty backend holds back a
firmware whose reader stopped reading). Run with -s to see the measured figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from toolchain.core import boards
from toolchain.core.paths import FIRMWARE
from toolchain.link import client as device
from toolchain.link.hostlink import HostLink
from toolchain.target import build, qemu

pytestmark = pytest.mark.slow

GEN_4096 = device.gen_request("turn on the", 4096).encode() + b"\n"


def lines_until_quiet(d: device.Device, quiet: float, limit: float = 10.0) -> list[str]:
    """Every line the device sends until it has been silent for `quiet` s (at most `limit` s)."""
    buf = bytearray(d._rx)
    d._rx.clear()
    last = start = time.monotonic()
    while time.monotonic() - last < quiet and time.monotonic() - start < limit:
        got = d._read_chunk()
        if got:
            buf += got
            last = time.monotonic()
    return [ln.decode("ascii", "replace") for ln in bytes(buf).split(b"\n") if ln]


def finals(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith(("OK", "ERR"))]


def info_at_once(d: device.Device, t0: float) -> tuple[dict, float]:
    """INFO, whose reply must be the very next line: (its fields, seconds since t0)."""
    r = d.request("INFO", timeout=1.0)
    assert not r.stream, f"the device was still busy: {r.stream[:2]}"
    return r.fields(), time.monotonic() - t0


@pytest.fixture(scope="module")
def mps2_elf(tiny_quantized) -> Path:
    p, _, _ = tiny_quantized
    return Path(build.build(p.cfg, p.build, "mps2-an386")["firmware"])


def qemu_cpu_seconds(pid: int) -> float:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])      # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------
# The host build


def test_host_build_closed_mid_gen_answers_info_within_1s_after_reconnect(tiny_host):
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as link:
        with device.Device(link.port, timeout=5) as d:
            d.sync()
            d.send_raw(GEN_4096)
            assert d.readline().startswith("TOK ")
        time.sleep(0.6)             # the device fills the pty, times out once, drops the rest
        t0 = time.monotonic()
        with device.Device(link.port, timeout=5) as d:  # opening drops what the pty holds
            assert lines_until_quiet(d, 0.2) == [], "the device is still streaming the GEN"
            t1 = time.monotonic()
            info, seconds = info_at_once(d, t0)
            print(f"\nhost: INFO {(time.monotonic() - t1) * 1e3:.1f} ms after asking, {seconds * 1e3:.0f} ms "
                  "after reconnecting (0.2 s of it: the check that nothing streams)")
            assert seconds < 1.0 and info["link_timeouts"] == "1"
            assert d.generate("turn", 5)[2].final.startswith("OK n=5 ")


def test_host_build_reader_that_stops_reading_costs_one_timeout(tiny_host):
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=5) as d:
        d.sync()
        t0 = time.monotonic()
        d.send_raw(GEN_4096)
        time.sleep(0.6)             # not reading: the pty fills after ~20 KiB, then one timeout
        got = lines_until_quiet(d, 0.3)
        toks = [ln for ln in got if ln.startswith("TOK ")]
        assert 0 < len(toks) < 4096 and finals(got) == [], "the GEN went on instead of being dropped"
        info, seconds = info_at_once(d, t0)
        print(f"\nhost: {len(toks)} TOK lines were buffered before the stall; INFO {seconds:.2f} s after GEN")
        assert info["link_timeouts"] == "1"
        assert d.generate("turn", 5)[2].final.startswith("OK n=5 ")


def test_a_blank_line_stops_gen_and_another_line_waits_its_turn(tiny_host):
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=5) as d:
        d.sync()
        d.send_raw(GEN_4096 + b"\n")
        got = []
        while not got or not got[-1].startswith(("OK", "ERR")):
            got.append(d.readline())
        assert got[-1].startswith("ERR aborted after ") and got[-1].endswith("of 4096 tokens: a blank line came in")
        assert int(got[-1].split()[3]) == len(got) - 1 < 4096
        d.send_raw(device.gen_request("turn", 20).encode() + b"\r\n")   # CR LF's LF is no blank line
        assert lines_until_quiet(d, 0.2)[-1].startswith("OK n=20 ")
        d.send_raw(device.gen_request("turn", 30).encode() + b"\nINFO\n\n")
        assert [ln[:9] for ln in finals(lines_until_quiet(d, 0.2))] == ["OK n=30 c", "OK proto="]


def test_a_256_byte_request_is_safe_on_a_63_byte_receive_buffer(tiny_host):
    """`tlm --serve --rx-max 63` loses input as stm32duino's Serial does when bytes come faster
    than the firmware reads (port_host.c). The client's pieces keep a 256-byte TOKENIZE whole;
    the same line in one write loses its end."""
    p, _ = tiny_host
    text = ("turn the lamp " * 18)[:246] + "x"
    line = device.tokenize_request(text)
    assert len(line) == 256
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=5) as d:
        d.sync()
        want = d.tokenize(text)
    # 9600 baud: the pause after each 63-byte piece is its 66 ms on such a wire, which also
    # outlasts the scheduling delays of a busy test machine
    with HostLink(p.build / "host" / "tlm", ("--rx-max", "63")) as link, \
            device.Device(link.port, baud=9600, timeout=5) as d:
        d.sync()
        assert d.info()["rx_max"] == "63" and d.rx_limit() == 63
        assert d.tokenize(text) == want
        d.ser.write(line.encode() + b"\n")      # all at once, not in pieces
        with pytest.raises(device.DeviceError, match="no reply"):
            d.readline(timeout=0.5)
        d.sync()
        assert d.tokenize(text) == want


# ------------------------------------------------------------------------------------------
# The emulated M4


def test_qemu_closed_mid_gen_answers_info_within_1s_after_reconnect(mps2_elf, tmp_path):
    """QEMU drops what the firmware sends while no client is connected, so the device cannot
    tell; the reconnecting host's LF (as Device.sync sends it) stops the GEN."""
    with qemu.start(mps2_elf, "mps2-an386", state_dir=tmp_path) as emu:
        figures = []
        for how in ("raw", "sync"):
            with device.Device(emu.url, timeout=20) as d:
                d.sync()
                d.send_raw(GEN_4096)
                assert d.readline(timeout=5).startswith("TOK ")
            t0 = time.monotonic()
            with device.Device(emu.url, timeout=5) as d:
                if how == "raw":
                    d.send_raw(b"\n")
                    last = finals(lines_until_quiet(d, 0.2, limit=1.0))
                    assert len(last) == 1 and last[0].startswith("ERR aborted after "), last
                    assert last[0].endswith("of 4096 tokens: a blank line came in")
                    info, seconds = info_at_once(d, t0)
                else:
                    d.sync()
                    info, seconds = d.info(), time.monotonic() - t0
                figures.append(seconds)
                assert seconds < 1.0 and info["link_timeouts"] == "0" and info["rx_max"] == "0"
        print(f"\nmps2-an386 (socket): INFO {figures[0] * 1e3:.0f} ms after reconnecting and an LF (0.2 s of it: "
              f"waiting for quiet after the ERR aborted), {figures[1] * 1e3:.0f} ms with Device.sync")
        assert boards.resolve("mps2-an386")["serial"]["rx_flow_control"] is True


def test_qemu_reader_that_stops_reading_costs_one_timeout(mps2_elf, tmp_path):
    """On QEMU's pty the UART's TXFULL stays set once the reader stops reading: the device waits
    TLM_WRITE_TIMEOUT_MS of its own time (instructions under -icount), then drops the rest."""
    with qemu.start(mps2_elf, "mps2-an386", state_dir=tmp_path, serial="pty") as emu:
        with device.Device(emu.url, timeout=20) as d:
            d.sync()
            cpu0, t0 = qemu_cpu_seconds(emu.pid), time.monotonic()
            d.send_raw(GEN_4096)
            # ~24 KB to fill the pty (~1 s of GEN), then the timeout (~0.35 s of QEMU's CPU):
            # waited for in QEMU's CPU time, which other work on the machine does not stretch
            while qemu_cpu_seconds(emu.pid) - cpu0 < 2.5 and time.monotonic() - t0 < 20:
                time.sleep(0.05)
            stalled = time.monotonic() - t0
            got = lines_until_quiet(d, 1.0)
            toks = [ln for ln in got if ln.startswith("TOK ")]
            assert 0 < len(toks) < 4096 and finals(got) == [], "the GEN went on instead of being dropped"
            info, seconds = info_at_once(d, time.monotonic())
            print(f"\nmps2-an386 (pty): {len(toks)} TOK lines buffered, not read for {stalled:.1f} s; "
                  f"INFO {seconds * 1e3:.0f} ms after reading again")
            assert info["link_timeouts"] == "1"
            assert d.generate("turn", 5)[2].final.startswith("OK n=5 ")


# ------------------------------------------------------------------------------------------
# The client's rules, against a scripted serial port


class ScriptedPort:
    """A pyserial stand-in: answers each request line it receives with `answer(line)`, and
    records every write with its time and how many requests were unanswered at that moment."""

    def __init__(self, answer):
        self.answer, self.timeout = answer, 0.2
        self.writes: list[tuple[float, bytes, int]] = []
        self._in = bytearray()
        self._out = bytearray()
        self.pending = 0            # requests received whose answers the client has not read

    def write(self, data: bytes) -> int:
        self.writes.append((time.monotonic(), bytes(data), self.pending))
        self._in += data
        while b"\n" in self._in:
            line, _, rest = bytes(self._in).partition(b"\n")
            self._in = bytearray(rest)
            reply = self.answer(line.decode())
            if reply:
                self._out += reply.encode()
                self.pending += 1
        return len(data)

    def read(self, n: int = 1) -> bytes:
        got, self._out = bytes(self._out[:n]), self._out[n:]
        if got.endswith(b"\n") or b"\n" in got:
            self.pending = max(0, self.pending - got.count(b"\n"))
        return got

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        self._out.clear()

    def close(self) -> None:
        pass


def scripted_device(answer, rx_max: str = "0") -> tuple[device.Device, ScriptedPort]:
    d = device.Device.__new__(device.Device)
    d.port, d.timeout, d.baud, d.rx_max = "/dev/ttyFAKE", 2.0, 115200, 0
    d._rx, d._info, d._heard = bytearray(), None, ""
    d._cancel = __import__("threading").Event()
    info = f"OK proto=1 model=m board=b line_max=256 rx_max={rx_max}\n"
    port = ScriptedPort(lambda ln: info if ln == "INFO" else answer(ln))
    d.ser = port
    return d, port


def test_sync_reads_on_past_the_err_of_a_gen_its_lf_stopped():
    state = {"lf": False}

    def answer(line):
        if line == "":
            state["lf"] = True      # the LF stops a GEN whose ERR comes only after the drain
            return None
        return None

    d, port = scripted_device(answer)
    real_answer = port.answer

    def late(line):
        if line == "INFO" and state["lf"]:
            state["lf"] = False
            return "TOK 7 x\nERR aborted after 12 of 4096 tokens: a blank line came in\n" + real_answer("INFO")
        return real_answer(line)

    port.answer = late
    d.sync(within=2)
    assert d.info()["proto"] == "1"


def test_client_sends_long_lines_in_paced_pieces_and_one_request_at_a_time():
    def answer(line):
        if line.startswith("TOKENIZE"):
            return "OK n=1 cycles=0 ids=5\n"
        return None

    d, port = scripted_device(answer, rx_max="63")
    d.sync()
    assert d.rx_limit() == 63
    port.writes.clear()
    line = device.tokenize_request("x" * 247)
    assert d.tokenize("x" * 247) == [5]
    sent = [w for _, w, _ in port.writes]
    assert b"".join(sent) == line.encode() + b"\n" and max(map(len, sent)) <= 63 and len(sent) == 5
    gaps = [b[0] - a[0] for a, b in zip(port.writes, port.writes[1:])]
    assert min(gaps) >= 0.9 * 63 * 10 / 115200, gaps      # each piece had its time on the wire
    port.writes.clear()
    assert d.tokenize_many(["a", "b", "c"], in_flight=8) == [[5], [5], [5]]   # a lossy buffer: no batches
    assert [pending for _, _, pending in port.writes] == [0, 0, 0]   # never a request in flight


# ------------------------------------------------------------------------------------------
# The Arduino port on each core, against stubs of the calls it makes


ARDUINO_H = """\
#pragma once
#include <stddef.h>
#include <stdint.h>
struct TestSerial {
    int room = 0;                   /* what availableForWrite() says */
    int writes = 0;
    void begin(unsigned long baud) { (void)baud; }
    int read() { return -1; }
    int available() { return 0; }
    int availableForWrite() { return room; }
    size_t write(const uint8_t *buf, size_t n) { (void)buf; writes++; return n; }
    void flush() {}
};
extern TestSerial Serial;
unsigned long millis();
void yield();
#if defined(ARDUINO_ARCH_RP2040)
struct TestRP2040 { uint32_t getCycleCount() { return 1234u; } };
extern TestRP2040 rp2040;
#elif defined(ARDUINO_ARCH_STM32)
#define SERIAL_RX_BUFFER_SIZE 64
#elif defined(ARDUINO_ARCH_MBED)
#define SERIAL_CDC 1                /* the Nano 33 BLE's pins_arduino.h */
#endif
"""

MBED_USB_H = """\
#pragma once
#include <stdint.h>
namespace arduino {
struct USBSerial {
    bool connected = true;          /* DTR */
    void send_nb(uint8_t *buffer, uint32_t size, uint32_t *actual, bool now = true) {
        (void)buffer; (void)now;
        *actual = connected ? (size < 64u ? size : 64u) : 0u;
    }
};
}
extern arduino::USBSerial _SerialUSB;
"""

CHECK_CPP = """\
#include <stdio.h>
#include "Arduino.h"
#include "tlm_port.h"
TestSerial Serial;
static int yields = 0;
unsigned long millis() { static unsigned long t = 0; return t++; }
void yield() { yields++; }
#if defined(ARDUINO_ARCH_RP2040)
TestRP2040 rp2040;
#endif
#if defined(ARDUINO_ARCH_MBED)
#include "USB/PluggableUSBSerial.h"
arduino::USBSerial _SerialUSB;
#endif
int main() {
    static const char line[100] = "TOK 1 x";
    size_t a, b;
    tlm_port_init();
    printf("counter %s %u rx_max %u\\n", tlm_port_counter(), (unsigned)tlm_port_cycles(), (unsigned)tlm_port_rx_max());
#if defined(ARDUINO_ARCH_MBED)
    a = tlm_port_write_some(line, 100);
    _SerialUSB.connected = false;
    b = tlm_port_write_some(line, 100);
#else
    Serial.room = 5;
    a = tlm_port_write_some(line, 100);
    Serial.room = 0;
    b = tlm_port_write_some(line, 100);
#endif
    const int y = yields, w = Serial.writes;
    const size_t g = tlm_port_write(line, 10);
    printf("took %u %u yields %d writes %d gave_up %u\\n", (unsigned)a, (unsigned)b, y, w, (unsigned)g);
    return 0;
}
"""

CORES = {   # core macro -> (what the check prints, the arm core its boards have)
    "ARDUINO_ARCH_RP2040": ("counter systick 1234 rx_max 0\ntook 5 0 yields 1 writes 1 gave_up 0", "cortex-m0plus"),
    "ARDUINO_ARCH_STM32": ("counter none 0 rx_max 63\ntook 5 0 yields 1 writes 1 gave_up 0", "cortex-m4"),
    "ARDUINO_ARCH_MBED": ("counter none 0 rx_max 0\ntook 64 0 yields 1 writes 0 gave_up 0", "cortex-m4"),
}


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.parametrize("core", list(CORES))
def test_arduino_port_asks_each_core_for_room_and_names_its_counter(core, tmp_path):
    """Mbed: USBCDC::send_nb, never the blocking Serial.write; arduino-pico and STM32duino: no
    more than availableForWrite(); Pico: rp2040.getCycleCount() as "systick". tlm_port_write
    gives up after TLM_WRITE_TIMEOUT_MS (the stub's millis() ticks once a call)."""
    want, arm_core = CORES[core]
    (tmp_path / "USB").mkdir()
    (tmp_path / "Arduino.h").write_text(ARDUINO_H)
    (tmp_path / "USB" / "PluggableUSBSerial.h").write_text(MBED_USB_H)
    (tmp_path / "check.cpp").write_text(CHECK_CPP)
    port = FIRMWARE / "ports" / "arduino" / "tlm_port_arduino.cpp"
    flags = ["-Wall", "-Wextra", "-Werror", f"-D{core}", f"-I{tmp_path}", f"-I{FIRMWARE}"]
    exe = tmp_path / "check"
    subprocess.run(["g++", *flags, str(port), str(tmp_path / "check.cpp"), "-o", str(exe)], check=True,
                   capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == textwrap.dedent(want), out
    if shutil.which("arm-none-eabi-g++"):
        proc = subprocess.run(["arm-none-eabi-g++", f"-mcpu={arm_core}", "-mthumb", "-fsyntax-only", *flags,
                               str(port)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    if core == "ARDUINO_ARCH_STM32":
        nucleo = boards.resolve("nucleo-f446re")["serial"]
        assert nucleo["rx_buffer_bytes"] == 63 and nucleo["rx_flow_control"] is False
