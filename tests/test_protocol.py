"""The serial protocol end to end on the host build (`tlm --serve` on a pty, pyserial client):
the HIL suite, a fuzz of the device parser, and the host client's own pieces."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from toolchain.core import boards
from toolchain.quality import cmdparse
from toolchain.link import client as device
from toolchain.device import hil
from toolchain.cli import main
from toolchain.link.hostlink import HostLink
from toolchain.data.tokenizer import Tokenizer

pytestmark = pytest.mark.slow


def test_escape_round_trips_every_byte():
    rng = random.Random(0)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        esc = device.escape(data)
        assert esc.isascii() and " " not in esc and "\n" not in esc
        assert device.unescape(esc) == data


def test_hil_suite_passes_on_the_host_build(tiny_host, tmp_path):
    p, _ = tiny_host
    junit = tmp_path / "hil.xml"
    r = CliRunner().invoke(main, ["test", "-C", str(p.root), "--board", "host", "--junit", str(junit), "--json",
                                  "--tokens", "200"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["passed"] and summary["devices"][0]["tests"] == 9
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "9" and suite.get("failures") == "0"
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert names == ["handshake", "golden_vectors", "generate_greedy", "generate_seeded", "latency",
                     "robustness", "back_to_back", "commands", "tokenizer"]
    cases = {c["name"]: c["properties"] for c in summary["devices"][0]["cases"]}
    tok = cases["tokenizer"]
    assert tok["strings"] + tok["too_long_to_send"] == hil.Suite.TOKENIZE_PROBES and tok["mismatches"] == 0
    assert tok["kind"] == Tokenizer.load(p.build / "data" / "tokenizer.json").kind
    assert tok["heldout_utterances"] > 0 and tok["strings"] > 400
    cmd = cases["commands"]
    assert cmd["count"] == 100 and cmd["mean_tokens"] > 1
    assert cmd.get("count_compositional", 0) == 100
    props = {p.get("name") for p in suite.findall("testcase[@name='commands']/properties/property")}
    assert {"count", "exact_match", "mean_tokens", "ticks_per_parse"} <= props


def test_suite_refuses_a_device_with_another_model(tiny_host):
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=5) as dev:
        suite = hil.Suite(dev, p.build, boards.resolve("host"))
        suite.report = dict(suite.report, model_hash="0123456789abcdef")
        result = suite.run()
    assert not result.passed and [c.name for c in result.cases] == ["handshake"]
    assert "flash this build" in result.cases[0].message


def _mutate(rng: random.Random, line: bytes) -> bytes:
    b = bytearray(line)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(4)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes([rng.randrange(256)])
        elif op == 2 and b:
            del b[min(i, len(b) - 1)]
        else:
            b[i:i] = b[i:i + rng.randrange(1, 8)] * rng.randrange(1, 40)
    return bytes(b)


def test_fuzzed_lines_never_crash_or_hang_the_device_and_each_gets_one_reply(tiny_host):
    p, _ = tiny_host
    rng = random.Random(1234)
    k = p.cfg["model"]["context"]
    seeds = [b"INFO", b"RESET", b"PUSH 1 2 3", b"LOGITS " + b" ".join([b"5"] * k), b"GEN 3 1 0 0 turn on",
             b"GEN 2 9 700 5 hi\\sthere\\x41", b"BENCH 2", b"GEN 4 1 0 0 \\q", b"CMD turn the hallway lamp off",
             b"CMD \\slamp\\ton\\x41\\s", b"CMD", b"cmd  \\xe2\\x98\\x83 off", b"TOKENIZE turn on <unk>",
             b"TOKENIZE", b"tokenize \\xff\\xfe\\sA\\t", b"TOKENIZE " + b"a" * 200]
    lines = []
    for i in range(3000):
        if i % 3 == 0:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        else:
            line = _mutate(rng, rng.choice(seeds))
        line = line.replace(b"\n", b"x").replace(b"\r", b"x")
        if not line.strip(b" "):
            line = b"?"
        lines.append(line)
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=10) as dev:
        dev.sync()
        finals = 0
        for s in range(0, len(lines), 16):
            chunk = lines[s:s + 16]
            dev.send_raw(b"".join(ln + b"\n" for ln in chunk))
            for _ in chunk:
                while True:
                    got = dev.readline(timeout=10)
                    if got.startswith("OK") or got.startswith("ERR"):
                        finals += 1
                        break
                    assert got.startswith("TOK "), got[:80]
        assert finals == len(lines)
        dev._info = None
        assert dev.info()["proto"] == "1"
        assert link.proc.poll() is None


def test_logits_request_matches_golden_and_bad_ids_leave_the_window(tiny_host):
    p, _ = tiny_host
    z = np.load(p.build / "quantize" / "golden.npz")
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=5) as dev:
        dev.sync()
        assert np.array_equal(dev.logits(z["inputs"][0]), z["outputs"][0])
        with pytest.raises(device.DeviceReplyError) as e:
            dev.request("PUSH 1 99999")
        assert e.value.code == "range"
        # the device goes on after an ERR: the next requests are answered correctly
        dev.request("BENCH 1")
        assert np.array_equal(dev.logits(z["inputs"][1]), z["outputs"][1])


def test_several_ports_are_tested_in_parallel(tiny_host):
    """A rig with N boards: one suite per --port, run concurrently, one JUnit suite each."""
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as a, HostLink(p.build / "host" / "tlm") as b:
        r = hil.run(p.cfg, p.build, "host", [a.port, b.port], gen_tokens=50)
    assert r["passed"] and [d["port"] for d in r["devices"]] == [a.port, b.port]
    assert all(d["tests"] == 9 and d["failures"] == 0 for d in r["devices"])
