"""The bare-metal ports on QEMU, through the same pyserial client a real board gets.

Builds firmware/ports/echo_main.c for mps2-an386 (Cortex-M4F) and microbit (nRF51, Cortex-M0,
built for cortex-m0plus), starts QEMU with toolchain.target.qemu and talks to the UART through
`serial.serial_for_url("socket://...")`. Run with -s to see the measured figures.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import serial

from toolchain.target import cross
from toolchain.target import qemu
from toolchain.core.errors import TlmcError, UsageError
from toolchain.core.paths import FIRMWARE, REPO_ROOT

ECHO = FIRMWARE / "ports" / "echo_main.c"

# machine -> (port, core, counter, emulated instructions per counter tick under -icount shift=0)
MACHINES = {
    "mps2-an386": ("mps2", "cortex-m4f", "systick", 40.0),     # SysTick at 25 MHz
    "microbit": ("microbit", "cortex-m0plus", "timer", 62.5),   # TIMER0 at 16 MHz
}


def build_for(machine: str, source: Path, out_dir: Path, name: str) -> dict:
    port, core, _, _ = MACHINES[machine]
    return cross.build_elf(port, [source], [], out_dir / f"{name}-{machine}.elf",
                           cross.CORE_FLAGS[core], {"TLM_SEMIHOSTING": 1})


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:    # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def echo_elves(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("echo")
    return {m: build_for(m, ECHO, out, "echo") for m in MACHINES}


@pytest.fixture(params=list(MACHINES))
def board(request, echo_elves, tmp_path):
    """(machine, emulator, open serial link) running echo_main; QEMU stopped afterwards."""
    machine = request.param
    emu = qemu.start(Path(echo_elves[machine]["elf"]), machine, state_dir=tmp_path / "qemu",
                     semihosting=True)
    link = serial.serial_for_url(emu.url, timeout=5)
    try:
        yield machine, emu, link
    finally:
        link.close()
        emu.stop()
        assert not pid_alive(emu.pid), f"QEMU {emu.pid} outlived its test"


def ask(link, line: bytes) -> bytes:
    link.write(line + b"\n")
    reply = link.readline()
    assert reply.endswith(b"\n"), f"no full reply to {line[:40]!r}: {reply[:80]!r}"
    return reply[:-1]


# ------------------------------------------------------------------------------------------
# Serial through the emulated UART


def test_echo_round_trips_100_lines_fast(board):
    machine, _, link = board
    times = []
    for i in range(100):
        t0 = time.perf_counter()
        assert ask(link, b"line %d" % i) == b"echo line %d" % i
        times.append(time.perf_counter() - t0)
    median_ms = statistics.median(times) * 1e3
    print(f"\n{machine}: round trip of a short line, median of 100: {median_ms:.3f} ms")
    assert median_ms < 20


def test_echo_1kb_line(board):
    _, _, link = board
    payload = bytes(random.Random(1).choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(1024))
    assert ask(link, payload) == b"echo " + payload


def test_host_to_device_throughput(board):
    """16 KiB in one over-long line: the device reads every byte and answers in one short line,
    so the time is the host->device transfer alone."""
    machine, _, link = board
    n = 16 * 1024
    t0 = time.perf_counter()
    assert ask(link, b"y" * n) == b"toolong %d" % n
    rate = (n + 1) / (time.perf_counter() - t0) / 1024
    print(f"\n{machine}: host->device {rate:.1f} KiB/s")
    assert rate > 2


def test_echo_binary_bytes(board):
    _, _, link = board
    data = bytes(b for b in range(256) if b != 0x0A)   # every byte value but the line end
    assert ask(link, data + b"!") == b"echo " + data + b"!"  # ! so that \r is not the last byte


def test_overlong_line_is_refused_not_crashed(board):
    _, _, link = board
    assert ask(link, b"x" * 3000) == b"toolong 3000"
    assert ask(link, b"still here") == b"echo still here"


# ------------------------------------------------------------------------------------------
# Cycle counter


def cycles(link, iterations: int | None = None) -> tuple[str, int, int]:
    reply = ask(link, b"cycles" if iterations is None else b"cycles %d" % iterations).decode()
    word, counter, ticks, insns_word, insns = reply.split()
    assert (word, insns_word) == ("cycles", "insns"), reply
    return counter, int(ticks), int(insns)


def test_cycle_counter_counts_instructions(board):
    """mps2: SysTick under -icount counts exactly 40 instructions a tick, and a measurement is
    the same every time; microbit: TIMER0 counts 62.5 instructions a tick, to within one tick."""
    machine, _, link = board
    _, _, expected_counter, insns_per_tick = MACHINES[machine]
    counter, ticks, insns = cycles(link)
    again = cycles(link)
    _, ticks_half, insns_half = cycles(link, 12500)
    print(f"\n{machine}: counter {counter}: {ticks} ticks, again {again[1]}; "
          f"{insns - insns_half} instructions = {ticks - ticks_half} ticks: "
          f"{(insns - insns_half) / (ticks - ticks_half):.3f} instructions per tick")
    assert counter == expected_counter
    assert ticks > 0
    if machine == "mps2-an386":
        assert again == (counter, ticks, insns)
        assert (insns - insns_half) == 40 * (ticks - ticks_half)
    else:
        assert abs(again[1] - ticks) <= 1
        assert abs((insns - insns_half) / (ticks - ticks_half) - insns_per_tick) < 0.1


def test_systick_count_carries_past_24_bits(echo_elves, tmp_path):
    """20 M ticks (800 M instructions) cross the 2^24-tick SysTick wrap at least once: the
    count keeps going through the wrap interrupt. Each wrap interrupt adds its own few
    instructions, so the reading may be one tick over the exact figure."""
    elf = Path(echo_elves["mps2-an386"]["elf"])
    with qemu.start(elf, "mps2-an386", state_dir=tmp_path) as emu:
        with serial.serial_for_url(emu.url, timeout=30) as link:
            _, small, _ = cycles(link, 1000)      # 2 * 1000 + the loop's overhead
            counter, ticks, insns = cycles(link, 10_000_000)
    overhead = small - 2000
    assert counter == "systick" and insns == 800_000_000
    assert 20_000_000 + overhead <= ticks <= 20_000_000 + overhead + 1, (ticks, overhead)


def test_counter_never_steps_back_or_skips(board):
    """Back-to-back readings over 200,000 ticks; on mps2 centred on the SysTick wrap (every
    2^24 ticks), where a careless 24+8-bit reading steps 2^24 ahead for one tick."""
    machine, _, link = board
    link.timeout = 30
    request = b"monotonic 200000 16777216" if machine == "mps2-an386" else b"monotonic 200000"
    word, reads, max_step = ask(link, request).split()
    assert word == b"monotonic" and int(reads) > 10_000
    assert int(max_step) <= 2


# ------------------------------------------------------------------------------------------
# Exits, faults and QEMU's lifetime


def test_semihosting_exit_code_reaches_the_caller(board):
    _, emu, link = board
    link.write(b"exit 3\n")
    assert emu.wait(10) == 3


def test_exit_without_semihosting_halts_quietly(echo_elves, tmp_path):
    """A semihosting build in a QEMU without semihosting: the breakpoint faults, the core
    halts in wfi; QEMU must neither abort (a fault in the HardFault handler is a lockup,
    fatal to QEMU 7.2) nor spin."""
    with qemu.start(Path(echo_elves["mps2-an386"]["elf"]), "mps2-an386", state_dir=tmp_path) as emu:
        with serial.serial_for_url(emu.url, timeout=0.3) as link:
            link.write(b"exit 3\n")
            assert link.readline() == b""
        assert emu.alive()
    assert "Lockup" not in emu.log.read_text()


def test_unexpected_exception_exits_with_128_plus_its_number(tmp_path):
    """The startup code's default handler: an undefined instruction becomes a HardFault
    (exception 3: UsageFault is not enabled on the M4, and the M0 has none), exit status 131."""
    src = tmp_path / "fault_main.c"
    src.write_text(textwrap.dedent("""\
        #include "tlm_port.h"
        int main(void) {
            tlm_port_init();
            __asm__ volatile("udf #0");
            return 0;
        }
        """))
    for machine in MACHINES:
        elf = build_for(machine, src, tmp_path, "fault")["elf"]
        with qemu.start(Path(elf), machine, state_dir=tmp_path / machine, semihosting=True) as emu:
            assert emu.wait(10) == 131, machine


def test_main_returning_exits_with_its_value(tmp_path):
    src = tmp_path / "ret_main.c"
    src.write_text('#include "tlm_port.h"\nint main(void) { tlm_port_init(); return 42; }\n')
    elf = build_for("mps2-an386", src, tmp_path, "ret")["elf"]
    with qemu.start(Path(elf), "mps2-an386", state_dir=tmp_path / "q", semihosting=True) as emu:
        assert emu.wait(10) == 42


def run_python(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            text=True, **kw)


def test_qemu_dies_with_a_killed_caller(echo_elves, tmp_path):
    elf = echo_elves["mps2-an386"]["elf"]
    child = run_python(textwrap.dedent(f"""\
        import time
        from pathlib import Path
        from toolchain.target import qemu
        emu = qemu.start(Path({elf!r}), "mps2-an386", state_dir=Path({str(tmp_path)!r}))
        print(emu.pid, flush=True)
        time.sleep(60)
        """))
    try:
        pid = int(child.stdout.readline())
        assert pid_alive(pid)
    finally:
        child.send_signal(signal.SIGKILL)   # no atexit, no finally: only the kernel can help
        child.wait()
    assert wait_gone(pid), f"QEMU {pid} outlived its SIGKILLed parent"
    assert qemu.find_running(tmp_path) is None


def test_detached_qemu_outlives_its_caller_and_is_found_and_stopped(echo_elves, tmp_path):
    elf = echo_elves["microbit"]["elf"]
    child = run_python(textwrap.dedent(f"""\
        from pathlib import Path
        from toolchain.target import qemu
        emu = qemu.start(Path({elf!r}), "microbit", state_dir=Path({str(tmp_path)!r}), detach=True)
        print(emu.pid)
        """))
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    pid = int(out)
    try:
        emu = qemu.find_running(tmp_path)
        assert emu is not None and emu.pid == pid and emu.machine == "microbit"
        assert (tmp_path / "qemu.pid").read_text().strip() == str(pid)
        with serial.serial_for_url(emu.url, timeout=5) as link:
            assert ask(link, b"still there") == b"echo still there"
        assert qemu.stop(tmp_path) is True
        assert wait_gone(pid)
        assert qemu.find_running(tmp_path) is None
        assert qemu.stop(tmp_path) is False
        assert not (tmp_path / "qemu.json").exists()
    finally:
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def test_starting_again_in_a_folder_replaces_the_running_emulator(echo_elves, tmp_path):
    elf = Path(echo_elves["mps2-an386"]["elf"])
    first = qemu.start(elf, "mps2-an386", state_dir=tmp_path)
    with qemu.start(elf, "mps2-an386", state_dir=tmp_path) as second:
        assert wait_gone(first.pid)
        assert qemu.find_running(tmp_path).pid == second.pid
    assert not pid_alive(second.pid)


def test_qemu_failing_to_start_says_why(echo_elves, tmp_path):
    with pytest.raises(TlmcError, match="exited with status .*unsupported machine type|nosuchboard"):
        qemu.start(Path(echo_elves["mps2-an386"]["elf"]), "nosuchboard", state_dir=tmp_path)
    assert qemu.find_running(tmp_path) is None


def test_a_port_already_in_use_is_refused(echo_elves, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TlmcError, match=f"could not bind 127.0.0.1:{port}.*in use"):
            qemu.start(Path(echo_elves["microbit"]["elf"]), "microbit", port=port, state_dir=tmp_path)
    assert qemu.find_running(tmp_path) is None


# ------------------------------------------------------------------------------------------
# Tools and the build


def test_missing_qemu_is_a_one_line_usage_error(echo_elves, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError) as err:
        qemu.start(Path(echo_elves["mps2-an386"]["elf"]), "mps2-an386", state_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install --no-install-recommends qemu-system-arm" in message


def test_missing_cross_compiler_is_a_one_line_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError) as err:
        build_for("microbit", ECHO, tmp_path, "echo")
    message = str(err.value)
    assert "\n" not in message and "arm-none-eabi-gcc" in message
    assert "apt-get install --no-install-recommends gcc-arm-none-eabi" in message


def test_malloc_fails_the_link_with_a_clear_message(tmp_path):
    src = tmp_path / "heap_main.c"
    src.write_text('#include <stdlib.h>\n#include "tlm_port.h"\n'
                   "int main(void) { char *p = malloc(16); tlm_port_init(); return p != 0; }\n")
    with pytest.raises(TlmcError, match="uses malloc.*no heap"):
        build_for("mps2-an386", src, tmp_path, "heap")


def test_elf_sizes_add_up_and_fit_the_boards(echo_elves):
    for machine, info in echo_elves.items():
        print(f"\n{machine}: echo_main: text {info['text']} data {info['data']} bss {info['bss']} "
              f"(stack {info['stack']}): flash {info['flash']} B, ram {info['ram']} B")
        assert info["flash"] == info["text"] + info["data"]
        assert info["ram"] == info["data"] + info["bss"]
        assert info["bss"] >= info["stack"] > 0
        assert Path(info["elf"]).is_file() and Path(info["map"]).is_file()
    assert echo_elves["microbit"]["ram"] <= 16 * 1024
    assert echo_elves["microbit"]["flash"] <= 256 * 1024


def test_unknown_port_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="known ports: microbit, mps2"):
        cross.build_elf("nosuchport", [ECHO], [], tmp_path / "x.elf", cross.CORE_FLAGS["cortex-m4f"], {})
