"""The device's tokenizer (firmware/tlm_tokenizer.c) against the host reference
(Tokenizer.encode, HuggingFace tokenizers for word and bpe), id for id (docs/tokenizers.md).

- the host build of the encoder, through a small driver over the generated tables: >= 10,000
  probe strings (toolchain/data/tokcheck.py) per kind, char and byte with lowercasing on and off,
  word and bpe trained on recipe lines (bpe also on tinyshakespeare when it is there);
  malformed UTF-8, adversarial BPE strings, <unk> for typos, the symbol-buffer limit;
- the protocol's TOKENIZE and INFO on the host program (`tlm --serve`);
- the emulated Cortex-M4 (mps2-an386 under QEMU): >= 10,000 strings through TOKENIZE for
  word and bpe, both emulators at once.
"""

from __future__ import annotations

import codecs
import random
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from toolchain.core import boards
from toolchain.target import build as build_mod
from toolchain.target import compile as compile_mod
from toolchain.target import cross
from toolchain.link import client as device
from toolchain.codegen import emit
from toolchain.target import qemu
from toolchain.data import grammar as grammars
from toolchain.data import tokcheck
from toolchain.link.hostlink import HostLink
from toolchain.core.paths import FIRMWARE
from toolchain.data.tokenizer import UNK, Tokenizer

from .runtime_helpers import make_model

N_PROBES = 10_000
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"

DRIVER_C = r"""
#include <stdio.h>
#include "model_data.h"
#include "tlm_runtime.h"
/* stdin: records of a 4-byte little-endian length and that many bytes of text; stdout: one
 * line per record, its ids (tlm_encode) separated by spaces, or "ERR <status>" when a check
 * (no callback) fails. */
static int print_id(int32_t id, void *user) {
    int *n = (int *)user;
    printf(*n ? " %ld" : "%ld", (long)id);
    (*n)++;
    return 0;
}
static int stop_after_two(int32_t id, void *user) {
    int *n = (int *)user;
    (void)id;
    return ++*n == 2;
}
int main(void) {
    static unsigned char buf[1 << 16];
    unsigned char head[4];
    while (fread(head, 1, 4, stdin) == 4) {
        size_t len = (size_t)head[0] | ((size_t)head[1] << 8) | ((size_t)head[2] << 16);
        int n = 0;
        int stops = 0;
        TlmStatus st;
        if (len > sizeof buf || fread(buf, 1, len, stdin) != len) return 2;
        st = tlm_encode(&tlm_model, buf, len, NULL, NULL);   /* check only */
        if (st != TLM_OK) printf("ERR %d", (int)st);
        else if (tlm_encode(&tlm_model, buf, len, print_id, &n) != TLM_OK) return 4;
        /* a callback's stop is kept: at most two ids reported, and TLM_OK */
        if (tlm_encode(&tlm_model, buf, len, stop_after_two, &stops) == TLM_OK && stops > 2) return 3;
        printf("\n");
    }
    return 0;
}
"""

_MODELS: dict[int, bytes] = {}  # vocab -> a tiny random int8 model (its logits do not matter here)


def _model(vocab: int) -> bytes:
    if vocab not in _MODELS:
        _MODELS[vocab] = make_model(vocab, 2, 2, [3], vocab).int8
    return _MODELS[vocab]


def _recipe_lines(n: int = 3000, seed: int = 1) -> list[str]:
    return grammars.builtin("smarthome").generate(n, seed=seed)


def _utterances(lines: list[str]) -> list[str]:
    return [ln.split(" => ")[0] for ln in lines]


def _tokenizers() -> dict[str, Tokenizer]:
    lines = _recipe_lines()
    toks = {
        "word": Tokenizer.learn(lines, "word", vocab_size=1000),
        "word-lowercase": Tokenizer.learn(lines, "word", vocab_size=1000, lowercase=True),
        "bpe": Tokenizer.learn(lines, "bpe", vocab_size=512),
        "bpe-lowercase": Tokenizer.learn(lines, "bpe", vocab_size=512, lowercase=True),
        "char": Tokenizer.learn(lines + ["ÀÉ ß"], "char"),
        "char-lowercase": Tokenizer.learn(lines + ["ÀÉ ß Q"], "char", lowercase=True),
        "byte": Tokenizer.learn([], "byte"),
        "byte-lowercase": Tokenizer.learn([], "byte", lowercase=True),
    }
    return toks


KINDS = ["word", "word-lowercase", "bpe", "bpe-lowercase", "bpe-shakespeare", "char", "char-lowercase", "byte",
         "byte-lowercase"]
_TOKS: dict[str, Tokenizer] = {}


def tokenizer_for(name: str) -> Tokenizer:
    if not _TOKS:
        _TOKS.update(_tokenizers())
    if name == "bpe-shakespeare" and name not in _TOKS:
        if not SHAKESPEARE.is_file():
            pytest.skip(f"{SHAKESPEARE} is absent (an optional corpus)")
        text = SHAKESPEARE.read_text(encoding="utf-8")[:300_000]
        _TOKS[name] = Tokenizer.learn(text.splitlines(keepends=True), "bpe", vocab_size=1024, lowercase=True)
    return _TOKS[name]


def build_driver(tok: Tokenizer, out: Path) -> Path:
    """The driver over `tok`'s generated tables (emitted with a tiny random model)."""
    out.mkdir(parents=True, exist_ok=True)
    emit.emit_model(_model(tok.vocab_size), tok, out)
    (out / "driver.c").write_text(DRIVER_C)
    exe = out / "driver"
    srcs = [out / "driver.c", out / "model_data.c", out / "model_plan.c",
            *compile_mod.runtime_sources("optimized", "host")]
    subprocess.run([shutil.which("gcc") or "gcc", *compile_mod.HOST_FLAGS, f"-I{out}", f"-I{FIRMWARE}",
                    *map(str, srcs), "-o", str(exe)], check=True, capture_output=True)
    return exe


def c_encode(exe: Path, texts: list) -> list:
    """Each text's ids from the driver (a list of ints), or "ERR <status>"."""
    data = b"".join(struct.pack("<I", len(b)) + b for b in (t if isinstance(t, bytes) else t.encode() for t in texts))
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout.decode().splitlines()
    assert len(out) == len(texts)
    return [line if line.startswith("ERR") else [int(v) for v in line.split()] for line in out]


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(name: str) -> tuple[Tokenizer, Path]:
        tok = tokenizer_for(name)
        if name not in cache:
            cache[name] = build_driver(tok, tmp_path_factory.mktemp(name))
        return tok, cache[name]

    return get


# ---------------------------------------------------------------------------------------------
# The host build of the encoder


@pytest.mark.parametrize("name", KINDS)
def test_device_encoder_equals_the_host_tokenizer_on_probe_strings(drivers, name):
    tok, exe = drivers(name)
    strings = tokcheck.probe_strings(tok, N_PROBES, seed=KINDS.index(name),
                                     utterances=_utterances(_recipe_lines(1500, seed=9)))
    assert len(strings) == N_PROBES and "" in strings
    assert max(len(s.encode()) for s in strings) == 256
    bad = tokcheck.mismatches(tok, strings, lambda ss: c_encode(exe, ss))
    assert not bad, f"{len(bad)}/{len(strings)} differ: " + "; ".join(b.describe() for b in bad[:3])


def _per_byte(raw: bytes) -> str:
    """The text the device sees in `raw`: each malformed byte one character (U+FFFD, which the
    test vocabularies do not have)."""
    return raw.decode("utf-8", "tlmc-per-byte")


codecs.register_error("tlmc-per-byte", lambda e: ("\ufffd", e.start + 1))


@pytest.mark.parametrize("name", ["word", "bpe", "char-lowercase"])
def test_malformed_utf8_counts_one_character_per_byte(drivers, name):
    """Bytes the host never sends (random bytes, broken sequences in real lines): the device
    does not crash and encodes as if each malformed byte were one unknown character."""
    tok, exe = drivers(name)
    assert "\ufffd".encode() not in [tok.token_text(i) for i in range(2, tok.vocab_size)]
    rng = random.Random(5)
    lines = _recipe_lines(500, seed=4)
    raw = []
    for i in range(3000):
        if i % 2:
            raw.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))))
        else:
            b = bytearray(rng.choice(lines).encode())
            for _ in range(rng.randint(1, 4)):
                b.insert(rng.randrange(len(b) + 1), rng.choice([0xE2, 0x98, 0xFF, 0xC3, 0x80, 0xED, 0xF4, 0xC0]))
            raw.append(bytes(b))
    got = c_encode(exe, raw)
    want = [h.tolist() for h in tok.encode_batch([_per_byte(r) for r in raw])]
    bad = [(r, g, w) for r, g, w in zip(raw, got, want) if g != w]
    assert not bad, bad[:3]


def test_bpe_merges_equal_huggingface_on_adversarial_strings(tmp_path):
    """A vocabulary of merges over two letters (aa, aaa, aaaa..., ab, abab...): long runs of
    one letter and repeated pairs, where the order of equal-rank and overlapping merges
    decides the answer."""
    rng = random.Random(11)
    train = ["".join(rng.choice("ab") for _ in range(rng.randint(1, 30))) for _ in range(2000)]
    train += ["a" * k for k in range(1, 70)] * 4 + ["ab" * k for k in range(1, 40)] * 4 + ["aab" * k for k in range(20)]
    tok = Tokenizer.learn(train, "bpe", vocab_size=300, min_count=1)
    assert len(tok.merges()) > 100
    exe = build_driver(tok, tmp_path)
    strings = ["a" * k for k in range(1, 257)] + ["ab" * k for k in range(1, 129)] + ["ba" * k + "b" for k in range(127)]
    strings += ["aab" * k for k in range(1, 86)] + ["abb" * k for k in range(1, 86)]
    strings += ["".join(rng.choice("ab") for _ in range(rng.randint(1, 256))) for _ in range(1500)]
    strings += [" ".join("".join(rng.choice("ab") for _ in range(rng.randint(1, 12))) for _ in range(8))
                for _ in range(500)]
    bad = tokcheck.mismatches(tok, strings, lambda ss: c_encode(exe, ss))
    assert not bad, "; ".join(b.describe() for b in bad[:3])


def test_typos_and_unknown_words_become_unk_as_on_the_host(drivers):
    word, w_exe = drivers("word")
    bpe, b_exe = drivers("bpe")
    good = "turn on the kitchen light"
    typos = ["turn on the kitchn light", "turn on the kitchen lihgt", "trun on the kitchen light",
             "turn on the zyxwv light", "Turn On The Kitchen Light"]
    w_good = c_encode(w_exe, [good])[0]
    assert UNK not in w_good and w_good == word.encode(good).tolist()
    for text, ids in zip(typos, c_encode(w_exe, typos)):
        assert ids == word.encode(text).tolist() and UNK in ids, text
        assert len(ids) == len(w_good)  # one <unk> per unknown piece, never split
    # bpe has no unknown words, only unknown characters: a typo is other subwords
    for text, ids in zip(typos + ["café ☃"], c_encode(b_exe, typos + ["café ☃"])):
        assert ids == bpe.encode(text).tolist(), text
    assert c_encode(b_exe, ["é☃"])[0] == [UNK, UNK] == bpe.encode("é☃").tolist()


def test_special_token_texts_are_ids_0_and_1_for_word_and_bpe(drivers):
    """As HuggingFace matches special tokens before anything else: "<pad>"/"<unk>" typed in
    the text are ids 0 and 1 (not lowercased: "<UNK>" is three pieces)."""
    for name in ("word", "bpe-lowercase"):
        tok, exe = drivers(name)
        texts = ["<pad>", "x<unk>y", "a <pad> b", "<UNK>", "<<unk>>", "<unk"]
        got = c_encode(exe, texts)
        assert got[0] == [0] and 1 in got[1] and 0 in got[2]
        assert got == [tok.encode(t).tolist() for t in texts]


def test_a_bpe_piece_longer_than_the_symbol_buffer_is_an_error_not_a_wrong_answer(drivers):
    tok, exe = drivers("bpe")
    ok, long_run, long_word = c_encode(exe, ["a" * 256, "a" * 257, "x " + "b" * 300])
    assert ok == tok.encode("a" * 256).tolist()
    assert long_run == long_word == "ERR 5"  # TLM_ERR_TEXT
    w_tok, w_exe = drivers("word")  # word looks a piece up whole: any length
    assert c_encode(w_exe, ["a" * 3000]) == [[UNK]]


# ---------------------------------------------------------------------------------------------
# The protocol on the host program


@pytest.fixture(scope="module")
def served_bpe(tmp_path_factory):
    """`tlm --serve` over the lowercasing bpe tokenizer, with request lines of up to 1100 bytes."""
    tok = tokenizer_for("bpe-lowercase")
    out = tmp_path_factory.mktemp("serve-bpe")
    emit.emit_model(_model(tok.vocab_size), tok, out)
    exe = compile_mod.build_host(out, extra_flags=("-DTLM_LINE_MAX=1100",))["binary"]
    return tok, Path(exe)


def test_tokenize_request_answers_the_host_ids_and_info_says_the_kind(served_bpe):
    tok, exe = served_bpe
    strings = tokcheck.probe_strings(tok, 1500, seed=5, utterances=_utterances(_recipe_lines(300, seed=3)))
    with HostLink(exe) as link, device.Device(link.port, timeout=10) as dev:
        dev.sync()
        info = dev.info()
        assert (info["tokenizer"], info["lowercase"], info["tokenize"], info["piece_max"]) == ("bpe", "1", "1", "256")
        bad = tokcheck.mismatches(tok, strings, lambda ss: dev.tokenize_many(ss, in_flight=32))
        assert not bad, "; ".join(b.describe() for b in bad[:3])
        assert dev.request("TOKENIZE").final.endswith(" ids=") and dev.tokenize("") == []
        assert dev.request("tokenize Hi").fields()["ids"] == ",".join(map(str, tok.encode("Hi").tolist()))
        assert dev.tokenize("  two  spaces ") == tok.encode("  two  spaces ").tolist()
        for line, code in (("TOKENIZE bad \\q", "bad-args"), ("TOKENIZE " + "a" * 300, "encode")):
            with pytest.raises(device.DeviceReplyError) as e:
                dev.request(line)
            assert e.value.code == code, line
        assert dev.tokenize("still here") == tok.encode("still here").tolist()


# ---------------------------------------------------------------------------------------------
# The emulated Cortex-M4


def _emulated_mismatches(tok: Tokenizer, out: Path, seed: int) -> tuple[int, list]:
    """Build mps2-an386 firmware over `tok` (request lines up to 1100 bytes, so 256-byte texts
    of any characters fit escaped), start QEMU, TOKENIZE N_PROBES strings: mostly short ones
    (the emulated UART takes ~25 KB/s), 400 of them up to 256 bytes."""
    board = boards.resolve("mps2-an386")
    out.mkdir(parents=True, exist_ok=True)
    emit.emit_model(_model(tok.vocab_size), tok, out, board_id=board.id)
    srcs = [*build_mod._firmware_sources(out, board["core"]), FIRMWARE / "ports" / "baremetal_main.c"]
    elf = cross.build_elf(board["port"], srcs, [out], out / "firmware.elf", cross.CORE_FLAGS[board["core"]],
                          {"TLM_LINE_MAX": 1100})
    utterances = _utterances(_recipe_lines(1500, seed=seed))
    strings = (tokcheck.probe_strings(tok, N_PROBES - 400, seed=seed, line_max=40, utterances=utterances)
               + tokcheck.probe_strings(tok, 400, seed=seed + 1, line_max=256))
    with qemu.start(Path(elf["elf"]), board["qemu_machine"], state_dir=out / "qemu") as emu:
        with device.Device(emu.url, timeout=30) as dev:
            dev.sync()
            assert dev.info()["tokenizer"] == tok.kind and dev.info()["tokenize"] == "1"
            return len(strings), tokcheck.mismatches(tok, strings, lambda ss: dev.tokenize_many(ss, in_flight=16))


def test_emulated_m4_tokenizes_10000_strings_like_the_host_for_word_and_bpe(tmp_path):
    """Both emulators at once (the time is the UART's, not the CPU's)."""
    jobs = {"word": tokenizer_for("word"), "bpe": tokenizer_for("bpe")}
    for tok in jobs.values():
        _model(tok.vocab_size)  # in this thread: the converter is not thread-safe
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(_emulated_mismatches, tok, tmp_path / name, 20 + i)
                   for i, (name, tok) in enumerate(jobs.items())}
        results = {name: f.result() for name, f in futures.items()}
    for name, (n, bad) in results.items():
        assert n >= 10_000
        assert not bad, f"{name}: {len(bad)}/{n} differ: " + "; ".join(b.describe() for b in bad[:3])


def test_probe_strings_are_deterministic_and_cover_the_contract():
    tok = tokenizer_for("word")
    a = tokcheck.probe_strings(tok, 600, seed=3, line_max=64, utterances=["turn the lamp on"])
    assert a == tokcheck.probe_strings(tok, 600, seed=3, line_max=64, utterances=["turn the lamp on"])
    assert a != tokcheck.probe_strings(tok, 600, seed=4, line_max=64)
    assert len(a) == 600 and "" in a and "turn the lamp on" in a
    assert all(len(s.encode()) <= 64 for s in a) and sum(len(s.encode()) == 64 for s in a) >= 10
    assert "a" * 64 in a
    joined = "".join(a)
    for probe in ("\t", "\n", "  ", "<unk>", "é", "你", "😀"):
        assert probe in joined, probe
    assert any(c.isdigit() for c in joined) and any(c.isupper() for c in joined)
    assert any(UNK in ids for ids in tok.encode_batch(a))  # typos and unknown words
    for s in a:  # every string travels escaped in one request line
        assert device.unescape(device.tokenize_request(s)[len("TOKENIZE "):]).decode() == s if s else True
    assert np.mean([len(s) for s in a]) < 40


def test_hil_tokenizer_case_skips_firmware_without_tokenize(tmp_path):
    """Firmware built before TOKENIZE says nothing of it in INFO: the HIL case is skipped, not
    failed (and nothing is sent)."""
    from toolchain.device import hil

    class OldFirmware:
        def info(self):
            return {"proto": "1", "tokenizer": "char"}

        def tokenize_many(self, *a, **k):  # pragma: no cover - must not be called
            raise AssertionError("TOKENIZE sent to firmware without it")

    suite = object.__new__(hil.Suite)
    suite.dev, suite.build = OldFirmware(), tmp_path
    case = hil.Case("tokenizer")
    suite.tokenizer(case)
    assert "skipped" in case.properties
