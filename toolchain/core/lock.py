"""The project lock: one command at a time writes a project's build/ folder.

`tlmc train`, `distill`, `synth`, `quantize`, `emit`, `build` and `flash` take it before any
work; a second such command on the same project refuses at once with one line naming the
first one's pid and command (exit 1), so two runs never train or write the same files side by
side. Commands that only read (`info`, `eval`, `generate`, `test`, `chat`) do not take it:
every stage writes atomically, so a reader sees the old file or the new one.

The lock is `build/.lock`, held with flock(2): the kernel releases it when its process ends,
however it ends, so the lock of a process that died (kill -9, a crash, a reboot) is taken
over by the next command without anyone deleting the file. The file holds the holder's pid,
command and start time, for the message. A folder tlmc cannot write (read-only, not ours)
needs no lock: nothing can write it, and the first write says why in one line.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

from .errors import Busy, FileError, os_error_message

LOCK_NAME = ".lock"


class ProjectLock:
    """An exclusive lock on `build_dir` (acquire/release, or a context manager)."""

    def __init__(self, build_dir: Path | str, command: str = "tlmc"):
        self.path = Path(build_dir) / LOCK_NAME
        self.command = command
        self.fd: int | None = None

    def acquire(self) -> "ProjectLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return self  # nothing can write here, so there is nothing to keep out
            raise FileError(os_error_message(e, e.filename or self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FileError(os_error_message(e, self.path)) from None
            raise Busy(busy_message(self.path.parent, holder)) from None
        record = json.dumps({"pid": os.getpid(), "command": self.command,
                             "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record + b"\n", 0)
        except OSError:
            pass  # the lock holds without its note (a full disk); the message then lacks the pid
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> "ProjectLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> dict:
    try:
        obj = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def busy_message(build_dir: Path, holder: dict) -> str:
    pid = holder.get("pid")
    who = f"'{holder.get('command', 'tlmc')}' (pid {pid}, since {holder.get('started', '?')})" if pid else \
        "another tlmc command"
    stop = f", or stop it (kill {pid})" if pid else ""
    return f"{build_dir} is in use by {who}; wait for it to finish{stop}, then run this command again"
