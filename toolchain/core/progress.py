"""Progress output on stderr: a bar on a terminal, plain lines otherwise (CI logs stay readable).

Every phase that can take more than about two seconds says so on stderr, also when output is
piped: a `Progress` bar (on a terminal) or a plain line every PLAIN_EVERY seconds (otherwise)
for loops with a count, and `phase()` for a step without one ("quantize: converting ...",
then "... done in 4.2 s" when it took long enough to matter).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

PLAIN_EVERY = 5.0  # seconds between two plain progress lines when stderr is not a terminal
SLOW = 2.0  # a phase that took longer reports its time when it ends


class Progress:
    """`enabled`: None picks by the stream (bar on a terminal, plain lines otherwise); True
    forces the bar; False prints only the closing summary."""

    def __init__(self, total: int, label: str, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.total = max(1, total)
        self.label = label
        self.quiet = enabled is False
        self.tty = bool(enabled) or (enabled is None and _isatty(self.stream) and _isatty(sys.stdout))
        self.t0 = time.monotonic()
        self._last = self.t0 if not self.tty else 0.0

    def update(self, done: int, extra: str = "") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        rate = done / max(1e-9, now - self.t0)
        if not self.tty:  # a plain line now and then, never a carriage return
            if now - self._last >= PLAIN_EVERY and done < self.total:
                self._last = now
                self.stream.write(f"{self.label}: {done}/{self.total} {rate:,.0f}/s {extra}".rstrip() + "\n")
                self.stream.flush()
            return
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {rate:,.0f}/s {extra}\x1b[K")
        self.stream.flush()

    def close(self, summary: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{self.label}: {summary}\n")
        self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextmanager
def phase(what: str, say=log):
    """Announce a step that may take a while ("quantize: converting to int8 ..."); when it took
    longer than SLOW seconds, say how long at its end."""
    say(f"{what} ...")
    t0 = time.monotonic()
    yield
    dt = time.monotonic() - t0
    if dt >= SLOW:
        say(f"{what}: done in {dt:.1f} s")
