"""Helpers for tests that run `tlmc` as a process, signal it, and check what it left behind:
no `tlm --serve`, gcc (cc1, as, ld) or QEMU process may outlive the command."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from toolchain.core import children

TLMC = [sys.executable, "-m", "toolchain.cli"]
# What a tlmc command starts and must not leave behind (executable base names).
TOOLS = ("tlm", "gcc", "cc1", "as", "collect2", "ld", "arm-none-eabi-gcc", "qemu-system-arm", "sh")


def start_tlmc(args: list[str], cwd: Path, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """`tlmc ARGS` in `cwd`, in its own session (signals sent to it reach it alone, as a
    terminal's Ctrl-C reaches only tlmc: its children have sessions of their own)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([*TLMC, *args], cwd=cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)


def run_tlmc(args: list[str], cwd: Path, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([*TLMC, *args], cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout,
                          env=env)


def name_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except OSError:
        return ""
    return os.path.basename(argv0.decode(errors="replace"))


def tools_below(pid: int) -> dict[int, str]:
    """The tool processes (TOOLS) among the live descendants of `pid`: {pid: name}."""
    return {p: n for p in children.descendants(pid) if (n := name_of(p)) in TOOLS}


def wait_for_tool(proc: subprocess.Popen, names: tuple[str, ...], timeout: float = 60.0) -> dict[int, str]:
    """Poll until a process named one of `names` runs below `proc`; all its tools then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = tools_below(proc.pid)
        if any(n in names for n in found.values()):
            return found
        if proc.poll() is not None:
            raise AssertionError(f"tlmc ended ({proc.returncode}) before {names} ran: {proc.stderr.read()[-800:]}")
        time.sleep(0.01)
    raise AssertionError(f"no {names} below tlmc within {timeout} s")


def wait_connected(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll until `proc` holds a socket (it has connected to the emulator's UART)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            links = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        except OSError:
            links = []
        if any(ln.startswith("socket:") for ln in links):
            return
        if proc.poll() is not None:
            raise AssertionError(f"tlmc ended ({proc.returncode}) before connecting: {proc.stderr.read()[-800:]}")
        time.sleep(0.02)
    raise AssertionError(f"tlmc did not connect within {timeout} s")


def wait_replied(pid: int, timeout: float = 60.0) -> None:
    """Poll until process `pid` (the host build's `tlm --serve`) has written a reply."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/io") as f:
                io = dict(ln.split(": ") for ln in f.read().splitlines())
            if int(io["syscw"]) > 0:
                return
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"process {pid} wrote nothing within {timeout} s")


def in_folder(root: Path) -> list[int]:
    """Live tool processes working in `root` (their cwd is in it, or their command line names
    it): what a killed command could have orphaned there."""
    root_s = str(Path(root).resolve())
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if name_of(pid) not in TOOLS or not children._alive(pid):
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace")
        except OSError:
            continue
        if cwd == root_s or cwd.startswith(root_s + "/") or root_s in argv:
            out.append(pid)
    return out


def assert_nothing_left(root: Path, seen=(), timeout: float = 5.0) -> None:
    """No process of `seen` (pids seen below the command) and no tool working in `root` is
    alive within `timeout` s; any that is gets killed (so one failure does not cascade)."""
    left = children.wait_gone(set(seen) | set(in_folder(root)), timeout)
    left += [p for p in in_folder(root) if p not in left]
    if left:
        names = {p: _describe(p) for p in left}
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise AssertionError(f"left behind: {names}")


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            ppid = f.read().rsplit(")", 1)[1].split()[1]
    except OSError:
        return "(gone)"
    return f"{argv[:160]} (parent {ppid})"


def one_error_line(stderr: str, allow_before: tuple[str, ...] = ()) -> str:
    """The one `error: ...` line of stderr, after checking there is no traceback and no other
    line but those starting with one of `allow_before` (progress, 'connected to')."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, stderr
    others = [ln for ln in lines if not ln.startswith("error: ") and not ln.startswith(allow_before)]
    assert not others, stderr
    return errors[0]


def copy_project(src: Path, dst: Path) -> Path:
    """A copy of a built project (tlm.toml and build/), minus any emulator state."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("qemu", "qemu-*"))
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeDevice:
    """A TCP listener on 127.0.0.1 standing in for a device: `mode` is 'silent' (accepts,
    never answers), 'close' (accepts and closes at once), 'garbage' (sends non-protocol
    lines) or a function line -> reply lines (a scripted device)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.mode == "close":
                conn.close()
                continue
            self._conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(0.1)
        while not self._stop.is_set():
            if self.mode == "garbage":
                try:
                    conn.sendall(b"hello from another program\n")
                except OSError:
                    return
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("latin-1").rstrip("\r")
                self.requests.append(text)
                if callable(self.mode) and text.strip():
                    for reply in self.mode(text):
                        conn.sendall(reply.encode() + b"\n")

    def close(self) -> None:
        self._stop.set()
        for c in self._conns:
            c.close()
        self.sock.close()
        self._thread.join(1)

    def __enter__(self) -> "FakeDevice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
