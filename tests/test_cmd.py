"""`CMD <utterance>`: the device's greedy parse of a commands-recipe utterance equals the host's
int8 reference (toolchain/quality/cmdparse.py), on the host build of a window and a step model, over
the pty as a board is tested; the HIL suite's `commands` case; held-out pairs from the streams."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from toolchain.core import boards
from toolchain.target import build
from toolchain.quality import cmdparse
from toolchain.link import client as device
from toolchain.codegen import emit
from toolchain.device import hil
from toolchain.target import compile as compile_mod
from toolchain.link.hostlink import HostLink
from toolchain.data.tokenizer import Tokenizer

pytestmark = pytest.mark.slow

LINE_MAX = 256


def _odd_utterances() -> list[str]:
    """Utterances a person or a bad link could send: escapes, unknown characters, spaces at the
    ends, and lengths up to the longest request line the device takes."""
    long_room = "please turn the lights in the living room off "
    longest = (long_room * 6)[:LINE_MAX - len("CMD ")]
    return ["turn the hallway lamp off", "turn on\tthe kitchen light", "line\nbreak in the bedroom",
            "back\\slash lamp", "set the café heating to twenty ☃ degrees", "  lamp on  ", " ", "x", "=> =>",
            "é" * 20, "\x01\x7f\x00 garage door", longest, longest[:-2] + "\\"]


def _check_device_equals_host(exe, bld, utterances: list[str]) -> list[tuple[str, dict]]:
    dec = cmdparse.Int8Decoder(bld)
    replies = []
    with HostLink(exe) as link, device.Device(link.port, timeout=10) as dev:
        dev.sync()
        assert int(dev.info()["cmd_max"]) == cmdparse.MAX_TOKENS
        for u in utterances:
            assert len(device.command_request(u)) <= LINE_MAX, u
            text, fields = dev.command(u)
            want = dec(u)
            got = (text, int(fields["n"]), fields["complete"] == "1")
            assert got == (want.text, len(want.ids), want.complete), u
            assert int(fields["cycles"]) >= 0
            replies.append((text, fields))
        # a person types plain spaces and any case; the reply is the same
        assert dev.request("cmd turn the hallway lamp off").fields()["text"] == \
            device.escape(dec("turn the hallway lamp off").text.encode())
        for line, code in (("CMD", "bad-args"), ("CMD ", "bad-args"), ("CMD bad \\q escape", "bad-args"),
                           ("CMD " + "x" * LINE_MAX, "line-too-long")):
            with pytest.raises(device.DeviceReplyError) as e:
                dev.request(line)
            assert e.value.code == code, line
        assert dev.command("x")[0] == dec("x").text  # still answering after the errors
    return replies


def test_cmd_equals_the_host_int8_parse_on_a_window_model(tiny_host):
    p, _ = tiny_host
    pairs = cmdparse.heldout_commands(p.build, "random", limit=40)
    assert len(pairs) == 40
    _check_device_equals_host(p.build / "host" / "tlm", p.build, [u for u, _ in pairs] + _odd_utterances())


def test_cmd_equals_the_host_int8_parse_on_a_step_model(step_quantized):
    _, p, _, _ = step_quantized
    build.build(p.cfg, p.build, "host")
    pairs = cmdparse.heldout_commands(p.build, "random", limit=15)
    _check_device_equals_host(p.build / "host" / "tlm", p.build, [u for u, _ in pairs] + _odd_utterances())


# The tiny trained models above never emit LF within 64 tokens; random models over a small
# vocabulary with LF in it stop at LF for some utterances and run to the cap for others.
SMALL_TOK = Tokenizer(kind="char", chars=["", ""] + sorted(set("abo =>.\n")))


@pytest.fixture(scope="module", params=["window", "step"])
def random_cmd_build(request, tmp_path_factory):
    """(host program, build folder) of a random int8 model over SMALL_TOK."""
    out = tmp_path_factory.mktemp(f"cmd-{request.param}")
    bld = out / "build"
    (bld / "quantize").mkdir(parents=True)
    SMALL_TOK.save(bld / "data" / "tokenizer.json")
    vocab = SMALL_TOK.vocab_size
    if request.param == "window":
        from .runtime_helpers import make_model

        int8, sig = make_model(1, 6, 6, [24], vocab).int8, None
    else:
        from .state_helpers import convert_step, gru_step

        rng = np.random.default_rng(4)  # a seed whose GRU stops at LF for some utterances, not all
        m = convert_step("gru", *gru_step(rng, vocab, 6, [24]), vocab, rng, n_seq=4)
        int8, sig = m.int8, m.signature
        (bld / "quantize" / "signature.json").write_text(json.dumps(sig))
    (bld / "quantize" / "model.tflite").write_bytes(int8)
    emit.emit_model(int8, SMALL_TOK, out / "src", signature=sig)
    return Path(compile_mod.build_host(out / "src")["binary"]), bld


def _random_utterances(n: int = 40) -> list[str]:
    rng = random.Random(7)
    return ["".join(rng.choice("abo .") for _ in range(rng.randrange(1, 30))) for _ in range(n)]


def test_cmd_stops_at_the_newline_token_as_the_host_does(random_cmd_build):
    exe, bld = random_cmd_build
    replies = _check_device_equals_host(exe, bld, _random_utterances() + _odd_utterances())
    complete = [f["complete"] == "1" for _, f in replies]
    assert any(complete) and not all(complete)  # both ends of the loop were compared


def test_host_parse_stops_at_max_tokens_or_newline(random_cmd_build):
    _, bld = random_cmd_build
    dec = cmdparse.Int8Decoder(bld)
    utterances = _random_utterances()
    parses = [dec(u) for u in utterances]
    full = next(p for p in parses if p.complete)
    assert all(p.ids.count(p.ids[-1]) == 1 and p.ids[-1] in dec.newline and "\n" not in p.text
               for p in parses if p.complete)
    assert all(len(p.ids) == cmdparse.MAX_TOKENS and not set(p.ids) & dec.newline for p in parses if not p.complete)
    u = utterances[parses.index(full)]
    cut = dec(u, len(full.ids) - 1)
    assert not cut.complete and cut.ids == full.ids[:-1] and cut.text == full.text
    assert cmdparse.decode_int8(bld, utterances[:5]) == [p.text for p in parses[:5]]
    with pytest.raises(ValueError):
        dec("")


def test_hil_commands_case_compares_with_the_host_and_can_fail(tiny_host, monkeypatch):
    p, _ = tiny_host
    with HostLink(p.build / "host" / "tlm") as link, device.Device(link.port, timeout=10) as dev:
        suite = hil.Suite(dev, p.build, boards.resolve("host"), cmd_count=10)
        dev.sync()
        case = hil.Case("commands")
        suite.commands(case)
        assert case.properties["count"] == 10 and 0 <= case.properties["exact_match"] <= 1
        assert case.properties["mean_tokens"] > 1 and "skipped" not in case.properties

        real = cmdparse.Int8Decoder.__call__

        def off_by_one(self, utterance, max_tokens=cmdparse.MAX_TOKENS):
            r = real(self, utterance, max_tokens)
            return cmdparse.Parse(r.text + "x", r.ids, r.complete)

        monkeypatch.setattr(cmdparse.Int8Decoder, "__call__", off_by_one)
        with pytest.raises(hil.CheckFailed, match="differ from the host"):
            suite.commands(hil.Case("commands"))
        monkeypatch.setattr(cmdparse, "heldout_commands", lambda *a, **k: [])
        case = hil.Case("commands")
        suite.commands(case)
        assert case.properties == {"skipped": "not a commands project"}


def test_heldout_commands_reads_the_data_stages_pairs(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "heldout.json").write_text(json.dumps(
        {"random": [["lamp on", "light.on"], ["two", "x"], ["kitchn off", "light.off kitchen"]],
         "compositional": [["hall off", "light.off hallway"]], "excluded_verbatim": 4}))
    assert cmdparse.heldout_commands(tmp_path) == [("lamp on", "light.on"), ("two", "x"),
                                                   ("kitchn off", "light.off kitchen")]
    assert cmdparse.heldout_commands(tmp_path, "random", limit=2) == [("lamp on", "light.on"), ("two", "x")]
    assert cmdparse.heldout_commands(tmp_path, "compositional") == [("hall off", "light.off hallway")]
    assert cmdparse.heldout_commands(tmp_path, "train") == []
    assert cmdparse.heldout_commands(tmp_path / "nowhere") == []
    (tmp_path / "data" / "heldout.json").write_text("[]")
    with pytest.raises(Exception, match="heldout.json: unreadable"):
        cmdparse.heldout_commands(tmp_path)


def test_command_text_drops_the_space_after_the_separator_and_the_newline():
    assert cmdparse.prompt("lamp on") == "lamp on =>"
    assert cmdparse.command_text(" light.on kitchen\nmore") == "light.on kitchen"
    assert cmdparse.command_text("light.on") == "light.on"
    assert cmdparse.command_text("  two") == " two"  # only one space belongs to the separator


def test_command_request_keeps_spaces_at_the_ends():
    assert device.command_request("lamp on") == "CMD lamp on"
    assert device.command_request(" lamp\ton ") == "CMD \\slamp\\ton\\s"
    assert device.command_request("  ") == "CMD \\s\\s"
    for u in ("  lamp  on ", "é\\ x", " "):
        assert device.unescape(device.command_request(u)[4:].replace(" ", "\\s")) == u.encode()


def test_escape_prompt_keeps_a_backslash_before_an_s():
    """A backslash followed by `s` once came out as `\\ ` (the `\\s` of `\\\\s` read as a space)."""
    for text in ("back\\slash", "a\\ b", "\\s\\\\s", "plain words", ""):
        assert device.unescape(device.escape_prompt(text).replace(" ", "\\s")) == text.encode()
