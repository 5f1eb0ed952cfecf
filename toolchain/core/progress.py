"""Progress output on stderr: a bar on a terminal, plain lines otherwise (CI logs stay readable)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.total = max(1, total)
        self.label = label
        self.tty = self.stream.isatty() and sys.stdout.isatty() if enabled is None else enabled
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, done: int, extra: str = "") -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        rate = done / max(1e-9, now - self.t0)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {rate:,.0f}/s {extra}\x1b[K")
        self.stream.flush()

    def close(self, summary: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{self.label}: {summary}\n")
        self.stream.flush()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
