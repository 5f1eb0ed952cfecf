"""docs/protocol.md, rule by rule, on the host build (`tlm --serve` on a pty) and on the
emulated Cortex-M4 (mps2-an386 in QEMU, its UART on a socket): the same firmware source, the
same replies. Each test names the rule it checks; bench/fuzz.py checks the same rules on
random lines."""

from __future__ import annotations

import numpy as np
import pytest

from toolchain.core import children
from toolchain.export import generate as gen_mod
from toolchain.link import client as device
from toolchain.link.hostlink import HostLink
from toolchain.target import build, qemu

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["host", "mps2-an386"])
def dev(request, tiny_quantized, tmp_path_factory):
    """A synced Device on the tiny project's firmware, and the project: (dev, project)."""
    p, _, _ = tiny_quantized
    if request.param == "host":
        build.build(p.cfg, p.build, "host")
        link = HostLink(p.build / "host" / "tlm")
        url, pid, stop = link.port, link.proc.pid, link.stop
    else:
        r = build.build(p.cfg, p.build, "mps2-an386")
        emu = qemu.start(r["firmware"], "mps2-an386", state_dir=tmp_path_factory.mktemp("qemu-conformance"))
        url, pid, stop = emu.url, emu.pid, emu.stop
    try:
        with device.Device(url, timeout=20) as d:
            d.sync()
            yield d, p
    finally:
        stop()
    assert not children.wait_gone([pid]), f"{request.param} device process {pid} left running"


def exchange(d: device.Device, raw: bytes, finals: int = 1) -> list[str]:
    """Send raw bytes; the lines received up to and including the `finals`-th OK/ERR line."""
    d.send_raw(raw)
    lines: list[str] = []
    while finals:
        line = d.readline(timeout=20)
        lines.append(line)
        finals -= line.startswith(("OK", "ERR"))
    return lines


def err_code(d: device.Device, line: bytes) -> str:
    got = exchange(d, line + b"\n")[-1]
    assert got.startswith("ERR "), (line, got)
    return got.split()[1]


def test_blank_lines_get_no_reply(dev):
    """Framing: blank lines (empty, or only spaces and tabs) are ignored and get no reply."""
    d, _ = dev
    got = exchange(d, b"\n   \n\t\n \t \t\r\n\r\nINFO\n")
    assert len(got) == 1 and got[0].startswith("OK proto=1 "), got
    assert exchange(d, b"RESET\n") == ["OK"]   # nothing else was pending


def test_cr_lf_and_a_lone_cr_end_a_line(dev):
    d, _ = dev
    assert exchange(d, b"RESET\r\nRESET\rRESET\n", finals=3) == ["OK", "OK", "OK"]


def test_a_line_of_line_max_bytes_is_read_and_one_byte_more_is_line_too_long(dev):
    d, _ = dev
    line_max = int(d.info()["line_max"])
    assert line_max == 256
    fits = b"TOKENIZE " + b"a" * (line_max - len(b"TOKENIZE "))
    assert exchange(d, fits + b"\n")[-1].startswith("OK n=")
    assert err_code(d, fits + b"a") == "line-too-long"
    assert err_code(d, b"X" * 5000) == "line-too-long"
    assert exchange(d, b"RESET\n") == ["OK"]    # the long line was read to its end


def test_an_unknown_command_or_a_nul_byte_is_unknown_command(dev):
    d, _ = dev
    for line in (b"FROBNICATE", b"\xff\xfe", b"INFO\x00", b"\x00", b"INFOX", b"-1"):
        assert err_code(d, line) == "unknown-command", line


def test_command_words_are_case_insensitive(dev):
    d, _ = dev
    want = exchange(d, b"INFO\n")
    assert exchange(d, b"info\n") == want and exchange(d, b"iNfO\n") == want
    assert exchange(d, b"reset\n") == ["OK"] and exchange(d, b"bench 1\n")[-1].startswith("OK steps=1 ")


def test_words_are_separated_by_runs_of_spaces_and_tabs(dev):
    d, _ = dev
    assert exchange(d, b"  \tPUSH \t 1\t\t2   3 \t\n") == ["OK 3"]
    assert exchange(d, b"BENCH\t1\n")[-1].startswith("OK steps=1 ")
    assert exchange(d, b"\tINFO \t\n")[-1].startswith("OK proto=1 ")


@pytest.mark.parametrize("line", [b"INFO extra", b"RESET 1", b"BENCH 2 3", b"INFO\t1"])
def test_extra_arguments_are_bad_args(dev, line):
    d, _ = dev
    assert err_code(d, line) == "bad-args"


def test_missing_arguments_are_bad_args(dev):
    d, _ = dev
    k = int(d.info()["context"])
    for line in (b"BENCH", b"GEN", b"GEN 1", b"GEN 1 1 0", b"PUSH", b"LOGITS " + b"1 " * (k - 1), b"CMD"):
        assert err_code(d, line) == "bad-args", line


def test_a_word_that_is_not_a_number_is_bad_number(dev):
    d, _ = dev
    for line in (b"GEN ten 1 0 0", b"BENCH 12x", b"BENCH " + b"9" * 30 + b"x", b"BENCH --1", b"BENCH -",
                 b"PUSH 1 two", b"GEN 1 1 0 +5"):
        assert err_code(d, line) == "bad-number", line


def test_a_number_out_of_its_range_is_range_however_many_digits(dev):
    d, _ = dev
    vocab = int(d.info()["vocab"])
    for line in (b"BENCH " + b"9" * 25, b"GEN " + b"1" * 25 + b" 1 0 0", b"BENCH 0", b"BENCH 1001", b"BENCH -1",
                 b"PUSH -1", b"PUSH %d" % vocab, b"GEN 3 2147483648 0 0", b"GEN 4097 1 0 0", b"GEN 1 1 100001 0",
                 b"GEN 1 1 0 65536"):
        assert err_code(d, line) == "range", line
    assert exchange(d, b"GEN 1 2147483647 0 0\n")[-1].startswith("OK n=1 ")   # the top seed is in range


def test_push_takes_1_to_32_ids(dev):
    d, _ = dev
    assert exchange(d, b"PUSH " + b"1 " * 32 + b"\n") == ["OK 32"]
    assert err_code(d, b"PUSH " + b"1 " * 33) == "bad-args"


def test_gen_prompt_is_the_rest_of_the_line_after_one_separator(dev):
    """`GEN 3 1 0 0  turn` (two spaces) and `GEN 3 1 0 0 \\sturn` both prompt " turn", as the
    host does (client.gen_request sends a leading space as \\s)."""
    d, p = dev
    want = gen_mod.generate(p.build, " turn", 3, seed=1, temperature=0, int8=True).ids

    def ids(raw: bytes) -> list[int]:
        got = exchange(d, raw)
        assert got[-1].startswith("OK n=3 "), got
        return [int(s.split()[1]) for s in got[:-1]]

    assert ids(b"GEN 3 1 0 0  turn\n") == want
    assert ids(b"GEN 3 1 0 0 \\sturn\n") == want
    assert ids(b"GEN 3 1 0 0\t turn\n") == want
    assert d.generate(" turn", 3)[0] == want


def test_every_request_gets_exactly_one_final_reply_and_streams_come_first(dev):
    d, _ = dev
    lines = [b"INFO", b"GEN 4 3 700 5 could you", b"FROBNICATE", b"PUSH 1", b"", b"BENCH 2", b"GEN 2 1 0 0",
             b"X" * 300, b"RESET", b"TOKENIZE turn on", b"CMD turn the lamp on", b"   "]
    got = exchange(d, b"".join(ln + b"\n" for ln in lines), finals=len(lines) - 2)
    finals = [ln for ln in got if ln.startswith(("OK", "ERR"))]
    assert len(finals) == len(lines) - 2
    streamed = [ln for ln in got if not ln.startswith(("OK", "ERR"))]
    assert len(streamed) == 6 and all(ln.startswith("TOK ") for ln in streamed)
    assert finals[1].startswith("OK n=4 ") and finals[5].startswith("OK n=2 ")
    assert exchange(d, b"RESET\n") == ["OK"]


def test_after_an_err_the_device_answers_as_before(dev):
    d, p = dev
    z = np.load(p.build / "quantize" / "golden.npz")
    before = d.logits(z["inputs"][0])
    for line in (b"LOGITS 1 2", b"PUSH 1 99999", b"BENCH 0", b"GEN x", b"\xff", b"X" * 400, b"INFO extra"):
        err_code(d, line)
    assert np.array_equal(d.logits(z["inputs"][0]), before)
    assert np.array_equal(before, z["outputs"][0])
