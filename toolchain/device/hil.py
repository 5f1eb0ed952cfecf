"""The hardware-in-the-loop suite: what `tlmc test` runs against a device over serial.

Each check is one JUnit testcase with its time and properties. The device can be a real
board on USB, the emulated board on a TCP socket, or the host build on a pty: the suite only
sees a `device.Device`.
"""

from __future__ import annotations

import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..export import generate as gen_mod
from ..link.client import Device, DeviceError, DeviceLost, DeviceReplyError, Interrupted, command_request
from ..core.errors import TlmcError
from ..core.fsutil import atomic_write_bytes, load_npz, read_json
from ..target import cycles
from ..target.build import token_cost


@dataclass
class Case:
    name: str
    passed: bool = False
    seconds: float = 0.0
    message: str = ""
    properties: dict = field(default_factory=dict)


@dataclass
class SuiteResult:
    port: str
    board: str
    cases: list[Case]
    error: str = ""             # the link fault that ended the suite (no device, device gone), one line
    interrupted: bool = False   # Ctrl-C ended it: `cases` are the checks finished by then

    @property
    def passed(self) -> bool:
        return not self.error and not self.interrupted and all(c.passed for c in self.cases)

    def to_json(self) -> dict:
        return {"port": self.port, "board": self.board, "passed": self.passed, "error": self.error or None,
                "interrupted": self.interrupted,
                "tests": len(self.cases), "failures": sum(not c.passed for c in self.cases),
                "cases": [{"name": c.name, "passed": c.passed, "seconds": round(c.seconds, 4),
                           "message": c.message, "properties": c.properties} for c in self.cases]}


class CheckFailed(AssertionError):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


PROMPTS = ("turn off the", "could you", "")


class Suite:
    """The checks, bound to one device and one build folder."""

    def __init__(self, dev: Device, build: Path, board, *, gen_tokens: int = 500, golden_limit: int | None = None,
                 cmd_count: int = 100):
        self.dev, self.build, self.board = dev, Path(build), board
        self.report = read_json(self.build / "quantize" / "report.json")
        z = load_npz(self.build / "quantize" / "golden.npz")
        self.gx, self.gy = z["inputs"], z["outputs"]
        if golden_limit:
            self.gx, self.gy = self.gx[:golden_limit], self.gy[:golden_limit]
        self.gen_tokens = gen_tokens
        self.cmd_count = cmd_count
        # a step model's golden vectors are sequences [N, T] with logits after every id [N, T, V]
        # (docs/state.md); LOGITS sends a whole sequence and answers its last step's logits
        self.step_model = self.gy.ndim == 3
        self.g_last = self.gy[:, -1] if self.step_model else self.gy

    def cases(self) -> list[tuple[str, Callable[[Case], None]]]:
        return [("handshake", self.handshake), ("golden_vectors", self.golden),
                ("generate_greedy", self.greedy), ("generate_seeded", self.seeded),
                ("latency", self.latency), ("robustness", self.robustness),
                ("back_to_back", self.back_to_back), ("commands", self.commands), ("tokenizer", self.tokenizer)]

    def run(self, results: list[Case] | None = None) -> SuiteResult:
        """Every check in order; each finished case is appended to `results` as it ends (a
        caller's list: what Ctrl-C keeps). A link fault (the device gone, no answer at the
        handshake) or Device.cancel() ends the suite at that check."""
        results = [] if results is None else results
        error, interrupted = "", False
        for name, fn in self.cases():
            case = Case(name)
            t0 = time.monotonic()
            self.running = (name, t0)   # what a Ctrl-C report names as cut short
            try:
                fn(case)
                case.passed = True
            except Interrupted:
                case.message, interrupted = "interrupted (Ctrl-C) before it finished", True
            except DeviceLost as e:
                case.message = error = str(e)
            except (CheckFailed, DeviceError) as e:
                case.message = str(e)
                if name == "handshake" and not isinstance(e, CheckFailed):
                    error = case.message    # no answer: there is no device to test
            except Exception as e:  # a bug in a check must not hide the other results
                case.message = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
            case.seconds = time.monotonic() - t0
            results.append(case)
            if error or interrupted or (name == "handshake" and not case.passed):
                break  # the wrong firmware or no device: nothing else is meaningful
        return SuiteResult(self.dev.port, self.board.id, results, error=error, interrupted=interrupted)

    # -- checks -------------------------------------------------------------------------------
    def handshake(self, case: Case) -> None:
        self.dev.sync()
        info = self.dev.info()
        case.properties.update({f"device_{k}": v for k, v in info.items()})
        check(info.get("model") == self.report["model_hash"],
              f"device runs model {info.get('model')}, the build is {self.report['model_hash']}: flash this build")
        check(info.get("board") == self.board.id, f"device says board {info.get('board')}, expected {self.board.id}")
        if self.step_model:
            check(info.get("kind") == "step", f"device runs a {info.get('kind', 'window')} model, the build a step model")
        else:
            check(int(info.get("context", -1)) == self.gx.shape[1], f"context {info.get('context')} differs from the build")
        check(int(info.get("vocab", -1)) == self.gy.shape[-1], f"vocab {info.get('vocab')} differs from the build")

    def golden(self, case: Case) -> None:
        """Each golden vector through LOGITS: a window, or a whole sequence of a step model
        (compared with TFLM's logits after its last id)."""
        bad = []
        for i, (x, y) in enumerate(zip(self.gx, self.g_last)):
            got = self.dev.logits(x)
            if not np.array_equal(got, y):
                diff = np.flatnonzero(got != y)
                bad.append(f"vector {i}: {len(diff)} bytes differ, first at logit {diff[0]} "
                           f"(device {got[diff[0]]}, TFLM {y[diff[0]]})" if len(got) == len(y)
                           else f"vector {i}: {len(got)} logits, expected {len(y)}")
        case.properties["vectors"] = len(self.gx)
        case.properties["vectors_equal"] = len(self.gx) - len(bad)
        check(not bad, f"{len(bad)}/{len(self.gx)} golden vectors differ; " + "; ".join(bad[:3]))

    def _compare_generation(self, case: Case, temp_milli: int, top_k: int, seed: int) -> None:
        total_ticks = 0
        for prompt in PROMPTS:
            host = gen_mod.generate(self.build, prompt, self.gen_tokens, seed=seed, temperature=temp_milli / 1000,
                                    top_k=top_k, int8=True)
            ids, text, reply = self.dev.generate(prompt, self.gen_tokens, seed, temp_milli, top_k)
            total_ticks += int(reply.fields().get("cycles", 0))
            first = next((i for i, (a, b) in enumerate(zip(ids, host.ids)) if a != b), None)
            check(len(ids) == len(host.ids) and first is None,
                  f"prompt {prompt!r}: device generation differs from the host's at token "
                  f"{first if first is not None else min(len(ids), len(host.ids))}")
            check(text.decode("utf-8", "replace") == host.text, f"prompt {prompt!r}: device text differs from host text")
        case.properties["tokens"] = self.gen_tokens * len(PROMPTS)
        case.properties["ticks_per_token"] = total_ticks // max(1, self.gen_tokens * len(PROMPTS))

    def greedy(self, case: Case) -> None:
        self._compare_generation(case, 0, 0, 1)

    def seeded(self, case: Case) -> None:
        self._compare_generation(case, 800, 10, 7)

    def latency(self, case: Case) -> None:
        steps = 20
        r = self.dev.bench(steps)
        per = int(r["per_step"])
        counter = r.get("counter", "none")
        case.properties.update(counter=counter, ticks_per_step=per, kernels=kernel_set_of(self.build, self.board))
        case.properties.update(token_cost(self.board, counter, int(r.get("cycles", per * steps)), steps,
                                          self.report["macs_per_token"]))
        case.properties.update(cycles.for_test(self.build, self.board, self.report["macs_per_token"],
                                               self.report["model_hash"]))   # labelled estimated_*
        budget = self.board.get("latency_budget_cycles")
        if budget and counter in ("dwt", "systick"):
            check(per <= budget, f"{per} ticks per token, over the board's budget of {budget}")
        if counter != "none":
            check(per > 0, f"the device's {counter} counter did not advance")

    def robustness(self, case: Case) -> None:
        context = int(self.dev.info()["context"])
        line_max = int(self.dev.info().get("line_max", 255))
        probes = [
            (b"FROBNICATE\n", "unknown-command"),
            (b"X" * 2048 + b"\n", "line-too-long"),
            (bytes(range(128, 256)) + b"\n", "unknown-command"),
            (b"\x00\x01\x02binary\xff\n", "unknown-command"),
            (b"GEN ten 1 0 0\n", "bad-number"),
            (b"GEN 99999999999999999999 1 0 0\n", "range"),
            (b"GEN 0 1 0 0\n", "range"),
            (b"LOGITS\n" if self.step_model else b"LOGITS 1 2\n", "bad-args"),
            (b"LOGITS " + b" ".join([b"-1"] * context) + b"\n", "range"),
            (b"PUSH\n", "bad-args"),
            (b"BENCH 0\n", "range"),
        ]
        for raw, code in probes:
            self.dev.send_raw(raw)
            got = self.dev.readline()
            check(got.startswith(f"ERR {code}"), f"{raw[:24]!r}...: expected ERR {code}, got {got[:60]!r}")
            self.dev._info = None
            self.dev.info()  # still answers
        # GEN past the context: a correct reply, not an error
        n = context * 3
        ids, _, reply = self.dev.generate("a", n)
        check(len(ids) == n, f"GEN {n} (past the context of {context}) returned {len(ids)} tokens")
        case.properties["probes"] = len(probes) + 1
        case.properties["line_max"] = line_max

    def back_to_back(self, case: Case) -> None:
        n = 200
        vectors = [self.gx[i % len(self.gx)] for i in range(n)]
        expected = [self.g_last[i % len(self.g_last)] for i in range(n)]
        # requests in flight: 8 where the device's input has flow control (INFO rx_max=0); one at
        # a time where a small lossy buffer would overflow while the device computes a reply
        batch = self.dev.in_flight(8)
        for s in range(0, n, batch):
            chunk = range(s, min(n, s + batch))
            self.dev.send_raw(b"".join(b"LOGITS " + " ".join(map(str, vectors[i])).encode() + b"\n" for i in chunk))
            for i in chunk:
                line = self.dev.readline()
                check(line.startswith("OK "), f"request {i}: {line[:60]!r}")
                got = np.array([int(v) for v in line.split()[1:]], np.int8)
                check(np.array_equal(got, expected[i]), f"request {i}: reply belongs to another request or differs")
        case.properties["requests"] = n
        case.properties["in_flight"] = batch

    def commands(self, case: Case) -> None:
        """A commands project: `CMD <utterance>` for held-out utterances (random ones never
        seen verbatim in training, then the compositional split if the data has it, `cmd_count`
        of each) answers exactly the host's greedy
        int8 parse (cmdparse.decode_int8). How often that parse is the true command is reported,
        not checked: it measures the model, not the device."""
        from ..quality import cmdparse

        val = cmdparse.heldout_commands(self.build, "random", limit=self.cmd_count)
        if not val:
            case.properties["skipped"] = "not a commands project"
            return
        comp = cmdparse.heldout_commands(self.build, "compositional", limit=self.cmd_count)
        info = self.dev.info()
        line_max = int(info.get("line_max", 255))
        cap = int(info.get("cmd_max", cmdparse.MAX_TOKENS))
        sets = {name: [(u, c) for u, c in pairs if len(command_request(u)) <= line_max]
                for name, pairs in (("val", val), ("compositional", comp)) if pairs}
        dec = cmdparse.Int8Decoder(self.build)
        bad, tokens, ticks, n, complete = [], 0, 0, 0, 0
        for name, pairs in sets.items():
            exact = 0
            for utterance, truth in pairs:
                host = dec(utterance, cap)
                text, fields = self.dev.command(utterance)
                got = (text, int(fields.get("n", -1)), fields.get("complete") == "1")
                if got != (host.text, len(host.ids), host.complete):
                    bad.append(f"{utterance!r}: device {got[0]!r} ({got[1]} tokens), host {host.text!r} "
                               f"({len(host.ids)} tokens)")
                exact += text == truth
                tokens += got[1]
                complete += got[2]
                ticks += int(fields.get("cycles", 0))
                n += 1
            key = "" if name == "val" else "_compositional"
            case.properties[f"count{key}"] = len(pairs)
            case.properties[f"exact_match{key}"] = round(exact / max(1, len(pairs)), 4)
        case.properties["mean_tokens"] = round(tokens / max(1, n), 2)
        case.properties["complete"] = round(complete / max(1, n), 4)  # share of parses ended by LF
        case.properties["ticks_per_parse"] = ticks // max(1, n)
        case.properties["max_tokens"] = cap
        try:
            self.dev.request("CMD")
            bad.append("an empty CMD got OK, expected ERR bad-args")
        except DeviceReplyError as e:
            if e.code != "bad-args":
                bad.append(f"an empty CMD got ERR {e.code}, expected ERR bad-args")
        check(n > 0, f"no held-out utterance fits a request line of {line_max} bytes")
        check(not bad, f"{len(bad)}/{n + 1} CMD replies differ from the host's parse; " + "; ".join(bad[:3]))

    TOKENIZE_PROBES = 500  # tokenizer case: probe strings per device

    def tokenizer(self, case: Case) -> None:
        """`TOKENIZE <text>` for probe strings (tokcheck.probe_strings: the project's held-out
        utterances, then vocabulary mixes, typos, digits, punctuation, upper case, non-ASCII,
        whitespace runs, the empty text, texts as long as a request line takes) answers exactly
        the ids of the build's tokenizer. Firmware without TOKENIZE (INFO has no tokenize=1) is
        skipped."""
        from ..quality import cmdparse
        from ..data import tokcheck
        from ..link.client import tokenize_request
        from ..data.tokenizer import Tokenizer

        info = self.dev.info()
        if info.get("tokenize") != "1":
            case.properties["skipped"] = "the firmware has no TOKENIZE (built by an older tlmc)"
            return
        tok = Tokenizer.load(self.build / "data" / "tokenizer.json")
        check(info.get("tokenizer") == tok.kind, f"device tokenizer {info.get('tokenizer')}, the build's {tok.kind}")
        check(info.get("lowercase") == str(int(tok.lowercase)),
              f"device lowercase={info.get('lowercase')}, the build's tokenizer {int(tok.lowercase)}")
        line_max = int(info.get("line_max", 256))
        utterances = [u for u, _ in cmdparse.heldout_commands(self.build, "random")]
        strings = tokcheck.probe_strings(tok, self.TOKENIZE_PROBES, seed=1, line_max=line_max - len("TOKENIZE "),
                                         utterances=utterances)
        fit = [s for s in strings if len(tokenize_request(s)) <= line_max]
        t0 = time.monotonic()
        # one request at a time: a UART board with a small receive buffer loses pipelined bytes
        bad = tokcheck.mismatches(tok, fit, lambda ss: self.dev.tokenize_many(ss, in_flight=1))
        seconds = time.monotonic() - t0
        case.properties.update(kind=tok.kind, vocab=tok.vocab_size, lowercase=int(tok.lowercase),
                               strings=len(fit), too_long_to_send=len(strings) - len(fit),
                               heldout_utterances=len(utterances),
                               host_ids=int(sum(len(t) for t in tok.encode_batch(fit))), mismatches=len(bad),
                               strings_per_second=round(len(fit) / max(seconds, 1e-9), 1))
        check(not bad, f"{len(bad)}/{len(fit)} TOKENIZE replies differ from the host tokenizer; "
              + "; ".join(b.describe() for b in bad[:3]))


def kernel_set_of(build: Path, board) -> str:
    """The kernel set the board's generated sources were emitted for ('?' if unknown)."""
    from ..target.compile import kernel_set

    try:
        return kernel_set(Path(build) / board.id)
    except Exception:
        return "?"


def junit_xml(results: list[SuiteResult], path: Path) -> None:
    """One <testsuite> per device; properties carry the measured figures."""
    root = ET.Element("testsuites", name="tlmc-hil")
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=f"hil.{r.board}", tests=str(len(r.cases)),
                              failures=str(sum(not c.passed for c in r.cases)),
                              time=f"{sum(c.seconds for c in r.cases):.3f}", hostname=r.port)
        for c in r.cases:
            tc = ET.SubElement(suite, "testcase", classname=f"hil.{r.board}", name=c.name, time=f"{c.seconds:.3f}")
            if c.properties:
                props = ET.SubElement(tc, "properties")
                for k, v in c.properties.items():
                    ET.SubElement(props, "property", name=str(k), value=str(v))
            if not c.passed:
                ET.SubElement(tc, "failure", message=c.message.splitlines()[0][:300] if c.message else "failed").text = c.message
    ET.indent(root)
    atomic_write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))


class TestInterrupted(TlmcError):
    """Ctrl-C during `tlmc test`, after the partial results were written. Exit code 130."""

    exit_code = 130


class _PortRun:
    """The suite on one port, run in a thread: what Ctrl-C needs to stop it (cancel) and to
    keep what it finished (partial)."""

    def __init__(self, port: str, build: Path, board, baud: int, kw: dict):
        self.port, self.build, self.board, self.baud, self.kw = port, build, board, baud, dict(kw)
        self.cases: list[Case] = []
        self.result: SuiteResult | None = None
        self.dev: Device | None = None
        self.suite: Suite | None = None
        self._cancelled = threading.Event()

    def __call__(self) -> None:
        try:
            dev = Device(self.port, baud=self.baud, timeout=self.kw.pop("timeout", 10.0))
        except DeviceError as e:
            self.result = SuiteResult(self.port, self.board.id, [Case("handshake", False, 0.0, str(e))], error=str(e))
            return
        self.dev = dev
        if self._cancelled.is_set():
            dev.cancel()
        with dev:
            self.suite = Suite(dev, self.build, self.board, **self.kw)
            self.result = self.suite.run(self.cases)

    def cancel(self) -> None:
        self._cancelled.set()
        if self.dev is not None:
            self.dev.cancel()

    def partial(self) -> SuiteResult:
        """The result so far: the finished result, or the checks finished by now."""
        if self.result is not None:
            return self.result
        cases = list(self.cases)
        name, t0 = getattr(self.suite, "running", (None, 0.0))
        if name is not None and name not in {c.name for c in cases}:
            cases.append(Case(name, False, time.monotonic() - t0, "interrupted (Ctrl-C) before it finished"))
        return SuiteResult(self.port, self.board.id, cases, interrupted=True)


def run_on_port(port: str, build: Path, board, baud: int, **kw) -> SuiteResult:
    one = _PortRun(port, build, board, baud, kw)
    one()
    return one.partial()


CANCEL_WAIT_S = 1.0     # Ctrl-C: how long the checks in progress get to end before the report is written


def _run_all(ports: list[str], build: Path, board, baud: int, kw: dict, junit: Path | None) -> list[SuiteResult]:
    """The suite on every port, one (daemon) thread each. On Ctrl-C: cancel them, give them
    CANCEL_WAIT_S to end, write the JUnit report of what finished, raise TestInterrupted."""
    runs = [_PortRun(p, build, board, baud, kw) for p in ports]
    threads = [threading.Thread(target=r, name=f"hil {r.port}", daemon=True) for r in runs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except KeyboardInterrupt:
        for r in runs:
            r.cancel()
        deadline = time.monotonic() + CANCEL_WAIT_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        results = [r.partial() for r in runs]
        done = sum(len(r.cases) for r in results)
        where = ""
        if junit is not None:
            junit_xml(results, Path(junit))
            where = f"; the partial JUnit report is in {junit}"
        raise TestInterrupted(f"interrupted after {done} check(s){where}") from None
    return [r.partial() for r in runs]


def resolve_ports(build: Path, board, ports: list[str] | None):
    """(ports, link): the given ports, or the board's own link: the host build on a pty (then
    `link` must be stopped by the caller), the running emulator, or the one attached board."""
    from ..core import boards

    if ports:
        return ports, None
    if board["port"] == "host":
        from ..link.hostlink import HostLink

        link = HostLink(build / board.id / "tlm")
        return [link.port], link
    if board["upload"] == "qemu":
        from ..target import qemu
        from ..core.errors import UsageError

        emu = qemu.find_running(build / board.id / "qemu")
        if emu is None:
            raise UsageError(f"board {board.id}: no emulator running; run 'tlmc flash --board {board.id}' first "
                             f"or pass --port")
        return [emu.url], None
    return [boards.pick_port(board, None)], None


def run(cfg, build: Path, board_name: str | None = None, ports: list[str] | None = None,
        junit: Path | None = None, **kw) -> dict:
    """`tlmc test`: the suite on every port given (in parallel), or on the board's own link
    (host: the host build on a pty). Returns a JSON-able summary; `passed` is the verdict."""
    from ..core import boards

    board = boards.resolve(board_name or cfg["board"]["id"])
    baud = int(board.get("serial", {}).get("baud", 115200) or 115200)
    ports, link = resolve_ports(build, board, ports)
    try:
        results = _run_all(ports, build, board, baud, kw, junit)
    finally:
        if link is not None:
            link.stop()
    if junit is not None:
        junit_xml(results, Path(junit))
    summary = {"board": board.id, "passed": all(r.passed for r in results), "devices": [r.to_json() for r in results],
               "junit": str(junit) if junit else None}
    save_latest(Path(build) / board.id, results, summary)
    return summary


LATEST_JSON, LATEST_XML = "hil.json", "hil.xml"  # in build/<board>/: the latest run, for tlmc report


def save_latest(out: Path, results: list[SuiteResult], summary: dict) -> None:
    """Keep the latest run of the suite on a board as build/<board>/hil.json (the summary and
    when it ran) and hil.xml (its JUnit), whatever --junit said."""
    from ..core.fsutil import atomic_write_json

    junit_xml(results, Path(out) / LATEST_XML)
    atomic_write_json(Path(out) / LATEST_JSON, dict(summary, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")))
