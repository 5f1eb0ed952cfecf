"""Child processes that never outlive the command that started them.

    proc = children.run([gcc, ..., "-o", tmp])      # subprocess.run(capture_output, text)
    child = children.spawn([exe, "--serve"], stdin=fd, stdout=fd)   # runs beside the command
    ...
    child.stop()

A child is tied to this process three ways:
- It gets its own session and process group, and the group is what gets stopped: a compiler
  driver's own children (cc1, as, collect2, ld) go with it. A Ctrl-C in the terminal reaches
  only tlmc, which stops the group (an exception in the waiting thread stops it before it
  propagates).
- On Linux, PR_SET_PDEATHSIG: the kernel sends the child a signal when the thread that
  started it ends, however the process ends (kill -9 included). It reaches the child alone,
  not the child's children, and it fires when the *thread* ends: start a child from a thread
  that lives as long as the child should (the main thread, normally).
- A watcher: a small `sh` reading a pipe that only this process can write. When this
  process dies the pipe closes, and the watcher signals the child's whole group (SIGTERM,
  then SIGKILL a moment later). A normal end writes `done` to the pipe and the watcher
  leaves without signalling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 3.0

# $0 is the group to watch (dash's kill takes a negative pid for a group, but not `--`).
# `read` returns at `done` (a normal end) or at end of file (this process died: every copy of
# the pipe's write end is gone). SIGTERM lets gcc remove its temporary files; what ignores it
# gets SIGKILL a moment later.
_WATCHER = ('read -r x; [ "$x" = done ] && exit 0; kill -TERM "-$0" 2>/dev/null || exit 0; sleep 0.2; '
            'kill -KILL "-$0" 2>/dev/null; exit 0')


def die_with_parent(sig: int = signal.SIGTERM):
    """A preexec_fn: in the child, before exec, ask the kernel for `sig` when the parent
    (the thread that forked) dies. None where the platform has no PR_SET_PDEATHSIG."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)   # loaded before fork: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), int(sig))

    return preexec


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Child:
    """A running child process (`proc`, a subprocess.Popen) tied to this process."""

    def __init__(self, proc: subprocess.Popen, watcher: subprocess.Popen | None, pipe: int | None):
        self.proc = proc
        self._watcher, self._pipe = watcher, pipe

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to the child's group, SIGKILL after `timeout` s (and to whatever else of
        the group remains once the child has ended), then reap it and release(). Safe to call
        twice and on a child that has ended."""
        pid = self.proc.pid
        if self.proc.returncode is None:    # not reaped: its pid (the group id) is still ours
            _killpg(pid, signal.SIGTERM)
            if not self._ended(timeout):
                _killpg(pid, signal.SIGKILL)
            _killpg(pid, signal.SIGKILL)    # the rest of the group, before the id is freed
            self.proc.wait()
        self.release()

    def _ended(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the child to end, without reaping it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                    return True
            except ChildProcessError:   # reaped elsewhere
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def release(self) -> None:
        """The child has ended (or was stopped): send the watcher away and reap it."""
        if self._pipe is not None:
            try:
                os.write(self._pipe, b"done\n")
            except OSError:
                pass
            os.close(self._pipe)
            self._pipe = None
        if self._watcher is not None:
            try:
                self._watcher.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._watcher.kill()
                self._watcher.wait()
            self._watcher = None

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def spawn(cmd: list[str], *, die_signal: int = signal.SIGTERM, **popen_kw) -> Child:
    """Start `cmd` (subprocess.Popen keywords pass through) in its own process group, tied
    to this process as the module says."""
    proc = subprocess.Popen(cmd, start_new_session=True, close_fds=True, preexec_fn=die_with_parent(die_signal),
                            **popen_kw)
    watcher, pipe = None, None
    try:
        read_end, pipe = os.pipe()
        try:
            watcher = subprocess.Popen(["/bin/sh", "-c", _WATCHER, str(proc.pid)], stdin=read_end,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                       close_fds=True)
        finally:
            os.close(read_end)
    except OSError:     # no /bin/sh: PR_SET_PDEATHSIG and stop() remain
        if pipe is not None:
            os.close(pipe)
        pipe = None
    except BaseException:
        Child(proc, watcher, pipe).stop()
        raise
    return Child(proc, watcher, pipe)


def run(cmd: list[str], *, timeout: float | None = None, input: str | bytes | None = None,
        capture_output: bool = True, text: bool = True, check: bool = False,
        **popen_kw) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, ...) (its keywords, capturing text output by default) for a child
    tied to this process: on a timeout (subprocess.TimeoutExpired), Ctrl-C or any other
    exception in this thread, the child's whole group is stopped before the exception
    propagates."""
    if capture_output:
        popen_kw.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = spawn(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL, text=text, **popen_kw)
    try:
        out, err = child.proc.communicate(input, timeout=timeout)
    except BaseException:
        child.stop()
        raise
    child.release()
    done = subprocess.CompletedProcess(cmd, child.proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def descendants(pid: int | None = None) -> list[int]:
    """Live (not zombie) processes below `pid` (default: this process), from /proc: for tests
    that check nothing was left behind. Empty where /proc is missing."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def wait_gone(pids, timeout: float = 2.0) -> list[int]:
    """Wait until none of `pids` is alive (zombies count as gone); the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while True:
        alive = [p for p in alive if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not os.path.isdir("/proc")
