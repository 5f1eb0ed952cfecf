"""The emulated boards: QEMU running a firmware ELF, its UART on a loopback TCP port.

To the rest of tlmc an emulated board is a serial port like any other: `Emulator.url` is a
pyserial URL (`socket://127.0.0.1:PORT`) that `serial.serial_for_url` opens exactly as it
opens /dev/ttyACM0.

    with qemu.start(elf, "mps2-an386", state_dir=build / "qemu") as emu:
        link = serial.serial_for_url(emu.url, timeout=2)
        ...                                 # QEMU is stopped when the block ends

    emu = qemu.start(elf, "mps2-an386", state_dir=d, detach=True)   # `tlmc flash`: outlives us
    qemu.find_running(d)                    # later, from another process: Emulator or None
    qemu.stop(d)

QEMU runs with `-icount shift=0`: one emulated instruction per nanosecond of virtual time,
so the firmware's SysTick counts instructions (40 per tick on mps2), deterministically.
One cost of it: on microbit, whose firmware arms no near virtual timer, a line sent within
about a second of start is now and then answered ~0.7 s late (never seen on mps2, whose
SysTick keeps a deadline near; not at all without -icount). Give the first exchange a
timeout of 2 s or more.

Lifetime: QEMU gets its own session and process group (a Ctrl-C in the terminal reaches
tlmc, which stops it; signals to the group reach nothing else). Unless `detach=True`, it is
also tied to the calling process: the kernel sends it SIGTERM when its parent dies, however
it dies (prctl PR_SET_PDEATHSIG, Linux: core/children.py), and an atexit hook stops it on a
normal exit.
PR_SET_PDEATHSIG fires when the *thread* that started QEMU ends, so call start() from a
thread that lives as long as the emulator should (the main thread, normally).

A pty instead of the socket (`serial="pty"`, for tests of a host that stops reading): QEMU's
pty backend holds back a firmware whose reader stops reading after some 20-24 KB, as a USB CDC
port does, where the socket absorbs megabytes first (the kernel's send buffer); `url` is then
the pty's path (/dev/pts/N), which pyserial opens like any serial port. QEMU notices a reader
opening the pty only on its once-a-second poll, so the first exchange may be ~1 s late.
Attached only (no `detach`).

State: `state_dir` gets `qemu.pid` (the pid), `qemu.json` ({pid, port, url, elf, machine,
started, detached, log}) and `qemu.log` (QEMU's stdout and stderr, quoted in errors).
A folder holds one emulator: starting another there stops the previous one first, as
flashing a board replaces its firmware.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from ..core import children
from ..core.errors import TlmcError, UsageError
from ..core.fsutil import atomic_write_json, atomic_write_text, read_json

QEMU = "qemu-system-arm"
APT_INSTALL = "apt-get install --no-install-recommends qemu-system-arm"
PID_FILE, STATE_FILE, LOG_FILE = "qemu.pid", "qemu.json", "qemu.log"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0      # QEMU listens within ~0.1 s; a loaded CI machine gets slack
STOP_TIMEOUT_S = 3.0
PORT_ATTEMPTS = 5           # a free port found by us can be taken before QEMU binds it
PTY_CHARDEV = "pty,id=u"    # serial="pty": QEMU says "char device redirected to /dev/pts/N (label u)"
_PTY_RE = re.compile(r"char device redirected to (/dev/pts/\d+) \(label u\)")


class Emulator:
    """A running (or finished) QEMU. `url` is what pyserial opens."""

    def __init__(self, *, pid: int, port: int, machine: str, elf: Path, state_dir: Path,
                 started: str, detached: bool, proc: subprocess.Popen | None = None, pty: str | None = None):
        self.pid, self.port, self.machine = pid, port, machine
        self.pty = pty      # serial="pty": the pty's path (port is 0 then)
        self.elf, self.state_dir = Path(elf), Path(state_dir)
        self.started, self.detached = started, detached
        self._proc = proc   # None when found by find_running() in another process

    @property
    def url(self) -> str:
        return self.pty if self.pty else f"socket://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        return self.state_dir / LOG_FILE

    @property
    def returncode(self) -> int | None:
        """QEMU's exit status once it has ended (a semihosting exit sets it), else None.
        Known only to the process that started it."""
        return self._proc.poll() if self._proc is not None else None

    def alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return _pid_is_qemu(self.pid, self.port)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for QEMU to end by itself; its exit status (None if not our child).
        Raises subprocess.TimeoutExpired after `timeout` seconds."""
        if self._proc is not None:
            return self._proc.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while _pid_is_qemu(self.pid, self.port):
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(QEMU, timeout)
            time.sleep(0.02)
        return None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """End QEMU (SIGTERM to its process group, SIGKILL after `timeout` s) and remove the
        state files. Safe to call twice, and on an emulator that has already exited."""
        if self.alive():
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.wait(timeout)
        elif self._proc is not None:
            self._proc.wait()   # reap
        _remove_state(self.state_dir, self.pid)
        if _started.get(self.pid) is self:
            del _started[self.pid]

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator(machine={self.machine!r}, url={self.url!r}, pid={self.pid})"


# Emulators this process started and has not stopped, by pid: find_running() returns these
# objects (they can reap their process); the ones not detached are stopped at exit.
_started: dict[int, Emulator] = {}


@atexit.register
def _stop_owned() -> None:
    for emu in list(_started.values()):
        if not emu.detached:
            try:
                emu.stop()
            except Exception:   # exiting anyway; PR_SET_PDEATHSIG is the backstop
                pass


def qemu_command(elf: Path, machine: str, port: int, *, icount: bool = True,
                 semihosting: bool = False, extra_args: tuple[str, ...] = (), serial: str = "tcp") -> list[str]:
    """The QEMU command line for `elf` on `machine`, UART 0 on 127.0.0.1:port (serial="pty":
    on a new pty instead, port unused); `extra_args` go last (e.g. `-plugin` for
    bench/qemu_plugin)."""
    # nodelay: without it a short line's round trip is ~44 ms (Nagle), with it ~0.3 ms.
    # wait=off: the firmware runs at once; what it prints before a client connects is lost.
    chardev = PTY_CHARDEV if serial == "pty" else f"socket,id=u,host={HOST},port={port},server=on,wait=off,nodelay=on"
    cmd = [_qemu_exe(), "-M", machine, "-nographic", "-monitor", "none",
           "-chardev", chardev, "-serial", "chardev:u", "-kernel", str(elf)]
    if icount:
        cmd += ["-icount", "shift=0"]
    if semihosting:
        cmd += ["-semihosting-config", "enable=on,target=native"]
    return cmd + list(extra_args)


def start(elf: Path, machine: str, *, port: int | None = None, state_dir: Path,
          icount: bool = True, semihosting: bool = False, detach: bool = False,
          extra_args: tuple[str, ...] = (), serial: str = "tcp",
          timeout: float = READY_TIMEOUT_S) -> Emulator:
    """Start QEMU `machine` (e.g. "mps2-an386", "microbit") with `elf`, and return once its
    UART's TCP port accepts connections (serial="pty": once QEMU has named its pty).

    `port`: None picks a free loopback port (unused with serial="pty"). `semihosting`: let the
    firmware end QEMU with an exit status (tlm_port_exit under TLM_SEMIHOSTING=1). `detach`: QEMU outlives this process
    (for `tlmc flash`); find it again with find_running(state_dir). Raises UsageError when
    qemu-system-arm or the ELF is missing, TlmcError with QEMU's own words when it fails."""
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise UsageError(f"{elf}: no such firmware image; build it first")
    if serial not in ("tcp", "pty"):
        raise ValueError(f"serial must be 'tcp' or 'pty', not {serial!r}")
    if serial == "pty" and detach:
        raise ValueError("a pty emulator cannot be detached: its pty is known to this process only")
    _qemu_exe()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    stop(state_dir)     # one emulator per folder: flashing replaces the firmware

    attempts = 1 if port is not None or serial == "pty" else PORT_ATTEMPTS
    for attempt in range(attempts):
        chosen = 0 if serial == "pty" else port if port is not None else _free_port()
        emu = _launch(elf, machine, chosen, state_dir, icount=icount, semihosting=semihosting, extra_args=extra_args,
                      detach=detach, serial=serial)
        try:
            _wait_ready(emu, timeout)
        except _PortTaken:
            emu.stop()
            if attempt + 1 < attempts:
                continue
            raise TlmcError(f"{QEMU} could not bind {HOST}:{chosen}: {_log_tail(emu.log)}") from None
        except BaseException:
            emu.stop()
            raise
        _write_state(emu, emu.log)
        return emu
    raise AssertionError("unreachable")


def find_running(state_dir: Path) -> Emulator | None:
    """The emulator recorded in `state_dir` if it is still running (its pid alive and a
    qemu-system process serving the recorded port), else None; stale files are removed."""
    state_dir = Path(state_dir)
    try:
        info = read_json(state_dir / STATE_FILE)
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_is_qemu(pid, port):
        _remove_state(state_dir, pid)
        return None
    if pid in _started:     # started by this process: that object can also reap it
        return _started[pid]
    return Emulator(pid=pid, port=port, machine=str(info.get("machine", "")),
                    elf=Path(info.get("elf", "")), state_dir=state_dir,
                    started=str(info.get("started", "")), detached=bool(info.get("detached")),
                    pty=str(info.get("url", "")) if port == 0 else None)


def stop(state_dir: Path) -> bool:
    """Stop the emulator recorded in `state_dir`; True if one was running."""
    emu = find_running(state_dir)
    if emu is None:
        return False
    emu.stop()
    return True


# ------------------------------------------------------------------------------------------
# Internals


class _PortTaken(Exception):
    pass


def _qemu_exe() -> str:
    exe = shutil.which(QEMU)
    if exe is None:
        raise UsageError(f"{QEMU} not found on PATH; install it: {APT_INSTALL}")
    return exe


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _launch(elf: Path, machine: str, port: int, state_dir: Path, *, icount: bool, extra_args: tuple[str, ...] = (),
            semihosting: bool, detach: bool, serial: str = "tcp") -> Emulator:
    cmd = qemu_command(elf, machine, port, icount=icount, semihosting=semihosting, extra_args=extra_args,
                       serial=serial)
    log_path = state_dir / LOG_FILE
    with open(log_path, "wb") as log:
        log.write((" ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True,
                                preexec_fn=None if detach else children.die_with_parent())
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    emu = Emulator(pid=proc.pid, port=port, machine=machine, elf=elf, state_dir=state_dir,
                   started=started, detached=detach, proc=proc)
    _started[emu.pid] = emu
    return emu


def _wait_ready(emu: Emulator, timeout: float) -> None:
    """Until QEMU listens on its UART port. QEMU ending first is an error quoting its log,
    unless it ended silently: then the firmware ended it (a semihosting exit) and
    emu.returncode says with what."""
    deadline = time.monotonic() + timeout
    while True:
        code = emu.returncode
        if code is not None:
            tail = _log_tail(emu.log)
            if "Address already in use" in tail:
                raise _PortTaken()
            if not tail:
                return
            raise TlmcError(f"{QEMU} -M {emu.machine} exited with status {code} before its UART "
                            f"port opened: {tail}")
        if emu.port == 0:       # serial="pty": QEMU names it on its output
            m = _PTY_RE.search(emu.log.read_text(errors="replace"))
            if m:
                emu.pty = m.group(1)
                return
        elif _listening(emu.pid, emu.port):
            return
        if time.monotonic() > deadline:
            where = "its pty" if emu.port == 0 else f"{HOST}:{emu.port}"
            raise TlmcError(f"{QEMU} -M {emu.machine} did not open {where} within "
                            f"{timeout:g} s; its log: {_log_tail(emu.log) or '(empty)'}")
        time.sleep(0.01)


def _listening(pid: int, port: int) -> bool:
    """Process `pid` holds a socket listening on 127.0.0.1:port. From /proc on Linux (exact,
    and no connection is made); elsewhere, a connection to the port succeeds."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            return False
    local = f"0100007F:{port:04X}"      # 127.0.0.1 in /proc's little-endian hex
    inodes = {f"socket:[{f[9]}]" for f in (ln.split() for ln in table)
              if len(f) > 9 and f[1] == local and f[3] == "0A"}     # 0A: LISTEN
    if not inodes:
        return False
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            pass
    return False


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[1:]    # line 1 is the command
    except OSError:
        return ""
    return " | ".join(ln.strip() for ln in text[-lines:] if ln.strip())


def _write_state(emu: Emulator, log: Path) -> None:
    atomic_write_json(emu.state_dir / STATE_FILE, {
        "pid": emu.pid, "port": emu.port, "url": emu.url, "elf": str(emu.elf),
        "machine": emu.machine, "started": emu.started, "detached": emu.detached, "log": str(log),
    })
    atomic_write_text(emu.state_dir / PID_FILE, f"{emu.pid}\n")


def _remove_state(state_dir: Path, pid: int) -> None:
    """Remove the state files if they describe `pid` (not a newer emulator's)."""
    try:
        recorded = int(read_json(state_dir / STATE_FILE)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        recorded = pid
    if recorded != pid:
        return
    for name in (STATE_FILE, PID_FILE):
        (state_dir / name).unlink(missing_ok=True)


def _pid_is_qemu(pid: int, port: int) -> bool:
    """pid is a live (not zombie) qemu-system process serving `port`. Where /proc is missing,
    only that the pid is alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    serving = PTY_CHARDEV.encode() if port == 0 else f"port={port},".encode()
    return (bool(argv) and os.path.basename(argv[0]).startswith(b"qemu-system")
            and any(serving in a for a in argv))


def _signal_group(pid: int, sig: int) -> None:
    """Signal QEMU's process group (its own: started with a new session), else the pid."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
