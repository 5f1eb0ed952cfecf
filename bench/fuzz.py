"""Benchmark: random and mutated protocol lines into a running device, every reply checked.

    python bench/fuzz.py [--project DIR] [--host 100000] [--m4 5000] [--seed 1] [--json]

Builds the project (default: a new tiny project of the built-in recipe, trained first) for the
host and for the emulated Cortex-M4 (mps2-an386), then sends each device its lines one at a
time (the next goes when the last one's final reply is in) and prints, per device: lines,
lines/s, the round-trip latency per line (p50, p99, max: send to final reply, GEN's streamed
lines included) and every violation of docs/protocol.md:

- crash: the device's process ended, or its link closed;
- hang: no final reply within the timeout (a lost reply looks the same: one line is in flight);
- malformed: a reply that is not what the request allows: not `OK ...` / `ERR <code> ...`, an
  error code outside the table or not one the command can give, an OK whose fields do not fit
  the command (INFO's fields, PUSH's count, LOGITS' V int8s, GEN's TOK lines and n=, CMD's and
  TOKENIZE's fields), a streamed line on a command that does not stream, or a reply to a
  blank line (blank lines travel just before an INFO, whose reply must come first).

Lines: a third are random bytes (1 to 400: some over line_max), the rest mutations of valid
and edge-case requests (byte flips, insertions, deletions, repeated runs), with LF or CR LF
ends. What each line must get is predicted from the framing rules alone: line-too-long over
line_max, unknown-command for a NUL byte or an unknown first word (in any case), nothing for a
blank line. tests/test_faults.py runs 10,000 lines into the host build with the same code.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.link.client import Device, DeviceError, DeviceLost  # noqa: E402

CODES = {"unknown-command", "line-too-long", "bad-number", "bad-args", "range", "model", "encode"}
# The codes each command can answer (docs/protocol.md); any command may also answer `model`.
ALLOWED = {
    "INFO": {"bad-args"}, "RESET": {"bad-args"}, "PUSH": {"bad-args", "bad-number", "range"},
    "LOGITS": {"bad-args", "bad-number", "range"}, "GEN": {"bad-args", "bad-number", "range", "encode"},
    "BENCH": {"bad-args", "bad-number", "range"}, "CMD": {"bad-args", "encode"}, "TOKENIZE": {"bad-args", "encode"},
}
INFO_FIELDS = ("proto", "model", "board", "vocab", "context", "kind", "states", "arena", "flash", "ram", "line_max",
               "counter")
_INT = re.compile(rb"-?[0-9]+")


# -- lines --------------------------------------------------------------------------------------
def seed_lines(context: int, vocab: int) -> list[bytes]:
    """Valid requests and the edge cases of the framing and number rules: what mutation starts from."""
    k = b" ".join(b"%d" % (i % vocab) for i in range(3, 3 + context))
    return [
        b"INFO", b"info", b"INFO extra", b"RESET", b"reset", b"RESET 1", b"PUSH 1 2 3", b"PUSH\t4\t5",
        b"PUSH " + b" ".join([b"1"] * 32), b"PUSH " + b" ".join([b"1"] * 33), b"PUSH %d" % vocab, b"PUSH -1",
        b"LOGITS " + k, b"LOGITS  " + k.replace(b" ", b" \t "), b"LOGITS 1 2", b"LOGITS",
        b"GEN 3 1 0 0 turn on", b"GEN 2 9 700 5 hi\\sthere\\x41", b"GEN 4 1 0 0 \\q", b"GEN 3 2147483647 0 0",
        b"GEN 3 2147483648 0 0", b"GEN 3 1 100000 65535 \\s\\sx", b"GEN 9999999999999999999999999 1 0 0",
        b"GEN 12x 1 0 0", b"GEN 0 1 0 0", b"GEN 1", b"gen 2 3 400 0 could you", b"GEN 2 1 0 0\tset the",
        b"BENCH 2", b"BENCH 2 3", b"BENCH 0", b"BENCH 1001", b"BENCH -0", b"BENCH 4294967296",
        b"CMD turn the hallway lamp off", b"CMD \\slamp\\ton\\x41\\s", b"CMD", b"cmd  \\xe2\\x98\\x83 off",
        b"TOKENIZE turn on <unk>", b"TOKENIZE", b"tokenize \\xff\\xfe\\sA\\t", b"TOKENIZE " + b"a" * 200,
        b"FROBNICATE", b"   ", b"\t", b" \t ", b"INFO\x00", b"\x00",
    ]


def mutate(rng: random.Random, line: bytes) -> bytes:
    b = bytearray(line)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes([rng.choice((rng.randrange(256), 0x20, 0x09, 0x5C))])
        elif op == 2 and b:
            del b[min(i, len(b) - 1)]
        elif op == 3:
            b[i:i] = b[i:i + rng.randrange(1, 8)] * rng.randrange(1, 40)
        else:
            b[i:i] = rng.choice((b"0", b"9" * rng.randrange(1, 30), b"-", b" ", b"\\x4", b"\\s"))
    return bytes(b)


def make_lines(n: int, seed: int, context: int, vocab: int) -> list[bytes]:
    """n lines (no terminator, no CR or LF inside), the same for the same arguments."""
    rng = random.Random(seed)
    seeds = seed_lines(context, vocab)
    out = []
    for i in range(n):
        if i % 3 == 0:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        else:
            line = mutate(rng, rng.choice(seeds))
        out.append(line.replace(b"\n", b"x").replace(b"\r", b"x"))
    return out


# -- what a line must get -------------------------------------------------------------------------
def _words(line: bytes) -> list[bytes]:
    return [w for w in re.split(rb"[ \t]+", line) if w]


def expectation(line: bytes, line_max: int, commands: set[str]) -> str:
    """'line-too-long', 'unknown-command', 'blank', or the command (upper case) from framing alone."""
    if len(line) > line_max:
        return "line-too-long"
    if b"\x00" in line:
        return "unknown-command"
    words = _words(line)
    if not words:
        return "blank"
    cmd = words[0].decode("latin-1").upper() if words[0].isascii() else ""
    return cmd if cmd in commands else "unknown-command"


def check_reply(line: bytes, expect: str, final: str, stream: list[str], info: dict) -> str | None:
    """A violation of the protocol in the reply (final line and streamed lines) to `line`, or None."""
    vocab = int(info["vocab"])
    if final.startswith("ERR"):
        parts = final.split(" ", 2)
        code = parts[1] if len(parts) > 1 else ""
        if code not in CODES:
            return f"unknown error code {code!r}"
        if expect in ("line-too-long", "unknown-command"):
            return None if code == expect else f"expected ERR {expect}, got ERR {code}"
        if code in ("line-too-long", "unknown-command") or code not in ALLOWED.get(expect, CODES) | {"model"}:
            return f"{expect} cannot answer ERR {code}"
        if stream:
            return f"{len(stream)} streamed line(s) before an ERR"
        return None
    if not (final == "OK" or final.startswith("OK ")):
        return f"final line is neither OK nor ERR: {final[:60]!r}"
    if expect in ("line-too-long", "unknown-command"):
        return f"expected ERR {expect}, got OK"
    if expect != "GEN" and stream:
        return f"{expect} streamed {len(stream)} line(s): {stream[0][:40]!r}"
    fields = dict(w.split("=", 1) for w in final.split()[1:] if "=" in w)
    words = final.split()[1:]
    argc = len(_words(line)) - 1
    arity = {"INFO": (0, 0), "RESET": (0, 0), "BENCH": (1, 1), "PUSH": (1, 32), "GEN": (4, 10**6)}
    if expect in arity and not arity[expect][0] <= argc <= arity[expect][1]:
        return f"{expect} with {argc} argument(s) answered OK, expected ERR bad-args"
    if expect == "LOGITS" and info.get("kind") == "window" and argc != int(info["context"]):
        return f"LOGITS with {argc} ids answered OK, expected ERR bad-args (context {info['context']})"
    if expect == "INFO":
        missing = [k for k in INFO_FIELDS if k not in fields]
        return f"INFO without {missing}" if missing else None
    if expect == "RESET":
        return None if final == "OK" else f"RESET answered {final[:40]!r}"
    if expect == "PUSH":
        ids = _words(line)[1:]
        return None if words == [str(len(ids))] else f"PUSH of {len(ids)} ids answered {final[:40]!r}"
    if expect == "LOGITS":
        ok = len(words) == vocab and all(_INT.fullmatch(w.encode()) and -128 <= int(w) <= 127 for w in words)
        return None if ok else f"LOGITS answered {len(words)} values, expected {vocab} int8s"
    if expect == "GEN":
        for s in stream:
            p = s.split(" ", 2)
            if p[0] != "TOK" or len(p) < 2 or not p[1].isdigit() or int(p[1]) >= vocab:
                return f"GEN streamed {s[:40]!r}"
        if fields.get("n") != str(len(stream)) or "cycles" not in fields:
            return f"GEN answered {final[:50]!r} after {len(stream)} TOK lines"
        asked = _words(line)[1]
        if _INT.fullmatch(asked) and int(asked) != len(stream):    # GEN generates exactly max tokens
            return f"GEN {int(asked)} gave {len(stream)} tokens"
        return None
    if expect == "BENCH":
        return None if {"steps", "cycles", "per_step", "counter"} <= set(fields) else f"BENCH answered {final[:50]!r}"
    if expect == "CMD":
        ok = {"n", "complete", "cycles"} <= set(fields) and final.split(" ")[-1].startswith("text=")
        return None if ok else f"CMD answered {final[:50]!r}"
    if expect == "TOKENIZE":
        ids = fields.get("ids", "")
        n = len(ids.split(",")) if ids else 0
        return None if fields.get("n") == str(n) and final.split(" ")[-1].startswith("ids=") else \
            f"TOKENIZE answered {final[:50]!r}"
    return None     # a command this tool does not know: a well-formed OK is all it can check


# -- the run --------------------------------------------------------------------------------------
@dataclass
class FuzzResult:
    device: str
    lines: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    replies: dict = field(default_factory=dict)   # OK / ERR <code> / none -> count

    def summary(self) -> dict:
        lat = sorted(self.latencies) or [0.0]
        return {"device": self.device, "lines": self.lines, "seconds": round(self.seconds, 2),
                "lines_per_s": round(self.lines / max(self.seconds, 1e-9), 1),
                "p50_ms": round(1e3 * lat[len(lat) // 2], 3), "p99_ms": round(1e3 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
                "max_ms": round(1e3 * lat[-1], 3), "violations": len(self.violations), "replies": self.replies}

    def text(self) -> str:
        s = self.summary()
        head = (f"{s['device']}: {s['lines']:,} lines in {s['seconds']} s, {s['lines_per_s']:,} lines/s; latency p50 "
                f"{s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms; {s['violations']} violation(s)")
        return "\n".join([head, *(f"  {v}" for v in self.violations[:20])])


def _commands(dev: Device) -> set[str]:
    """The device's commands, from its own unknown-command reply ("try INFO, RESET, ... or X")."""
    try:
        dev.request("FROBNICATE-FUZZ")
    except DeviceError as e:
        names = re.findall(r"\b[A-Z][A-Z_]+\b", str(getattr(e, "text", "")))
        if names:
            return set(names) - {"ERR"}
    return set(ALLOWED)


def fuzz(dev: Device, lines: list[bytes], *, name: str, timeout: float = 10.0, alive=None, seed: int = 1,
         progress=None) -> FuzzResult:
    """Send `lines` one at a time to `dev` (synced first) and check every reply. `alive()`
    says whether the device's process still runs (checked after a fault and every 1,000
    lines). Stops at a crash or a hang (the device can no longer be trusted to answer)."""
    rng = random.Random(seed)
    dev.sync()
    info = dev.info()
    line_max = int(info.get("line_max", 256))
    commands = _commands(dev)
    res = FuzzResult(name)
    t_start = time.monotonic()
    for i, line in enumerate(lines):
        expect = expectation(line, line_max, commands)
        end = b"\r\n" if rng.random() < 0.1 else b"\n"
        data, checked = line + end, line
        if expect == "blank":        # must get nothing: an INFO right behind it must be answered first
            data, checked, expect = data + b"INFO\n", b"INFO", "INFO"
        stream: list[str] = []
        t0 = time.monotonic()
        try:
            dev.send_raw(data)
            while True:
                got = dev.readline(timeout=timeout, expect=f"reply to line {i}")
                if got.startswith("OK") or got.startswith("ERR"):
                    break
                stream.append(got)
        except DeviceLost as e:
            res.violations.append(f"crash at line {i} {line[:60]!r}: {e}")
            break
        except DeviceError as e:
            down = alive is not None and not alive()
            res.violations.append(f"{'crash' if down else 'hang'} at line {i} {line[:60]!r}: {e}")
            break
        res.latencies.append(time.monotonic() - t0)
        res.lines += 1
        key = "OK" if got.startswith("OK") else " ".join(got.split(" ", 2)[:2])
        res.replies[key] = res.replies.get(key, 0) + 1
        bad = check_reply(checked, expect, got, stream, info)
        if bad is not None:
            res.violations.append(f"malformed at line {i} {line[:60]!r}: {bad}")
            dev.sync()  # drop anything out of step before going on
        if (i + 1) % 1000 == 0:
            if alive is not None and not alive():
                res.violations.append(f"crash: the device's process ended by line {i}")
                break
            if progress is not None:
                progress(i + 1)
    res.seconds = time.monotonic() - t_start
    if alive is not None and not alive() and not any(v.startswith("crash") for v in res.violations):
        res.violations.append("crash: the device's process ended")
    return res


def fuzz_host(exe: Path, n: int, seed: int = 1, **kw) -> FuzzResult:
    """`n` lines into the host build (`exe --serve` on a pty)."""
    from toolchain.link.hostlink import HostLink

    with HostLink(exe) as link, Device(link.port, timeout=10) as dev:
        info = _info(dev)
        lines = make_lines(n, seed, int(info["context"]), int(info["vocab"]))
        return fuzz(dev, lines, name="host", alive=lambda: link.proc.poll() is None, seed=seed, **kw)


def fuzz_emulated(elf: Path, machine: str, n: int, seed: int = 1, state_dir: Path | None = None, **kw) -> FuzzResult:
    """`n` lines into firmware `elf` on QEMU `machine` (its UART on a loopback socket)."""
    from toolchain.target import qemu

    state = state_dir or Path(tempfile.mkdtemp(prefix="tlmc-fuzz-qemu-"))
    with qemu.start(elf, machine, state_dir=state) as emu, Device(emu.url, timeout=60) as dev:
        info = _info(dev)
        lines = make_lines(n, seed, int(info["context"]), int(info["vocab"]))
        return fuzz(dev, lines, name=machine, timeout=60.0, alive=emu.alive, seed=seed, **kw)


def _info(dev: Device) -> dict:
    dev.sync()
    return dev.info()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", type=Path, default=None, help="a tlmc project folder (default: a new tiny project)")
    ap.add_argument("--host", type=int, default=100_000, help="lines into the host build (0: skip)")
    ap.add_argument("--m4", type=int, default=5_000, help="lines into the emulated Cortex-M4, mps2-an386 (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from toolchain.core import project
    from toolchain.target import build

    folder = args.project
    if folder is None:
        from tests.conftest import TINY, write_project

        folder = write_project(Path(tempfile.mkdtemp(prefix="tlmc-fuzz-")), TINY)
        print(f"project: {folder} (tiny, trained now)", file=sys.stderr)
    p = project.Project.load(folder)
    results = []

    def say(done: int) -> None:
        print(f"  ... {done:,} lines", file=sys.stderr, flush=True)

    if args.host:
        build.build(p.cfg, p.build, "host")
        results.append(fuzz_host(p.build / "host" / "tlm", args.host, args.seed, progress=say))
        print(results[-1].text(), flush=True)
    if args.m4:
        b = build.build(p.cfg, p.build, "mps2-an386")
        results.append(fuzz_emulated(Path(b["firmware"]), "mps2-an386", args.m4, args.seed,
                                     state_dir=p.build / "mps2-an386" / "qemu-fuzz", progress=say))
        print(results[-1].text(), flush=True)
    if args.json:
        print(json.dumps([r.summary() for r in results]))
    return 0 if all(not r.violations for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
