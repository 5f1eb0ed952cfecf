"""The C runtime against TFLM and toolchain.export.sampling: byte for byte, token for token."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from toolchain.export import generate
from toolchain.export import interp
from toolchain.export import plan
from toolchain.export import sampling
from toolchain.data.tokenizer import Tokenizer

from .runtime_helpers import (build, build_harness, c_logits, fc_harness_line, fc_reference, make_model,
                              random_fc_cases, random_spec, run, run_harness, tflm_logits)

N_RANDOM_MODELS = 12
INPUTS_PER_MODEL = 400


# ---------------------------------------------------------------------------------------------
# Bit-exact logits on random models


def _specs() -> list[dict]:
    rng = np.random.default_rng(2024)
    specs = [random_spec(rng) for _ in range(N_RANDOM_MODELS)]
    # make sure the corners are there whatever the draw: a 1-wide layer (per-tensor rescale),
    # K = 1, E = 1, the smallest and the largest vocabulary, tiny and wide layer ranges
    specs[0].update(hidden=[1, 7], scales=[1.0, 1.0, 1.0])
    specs[1].update(context=1, embed=1, vocab=3)
    specs[2].update(vocab=300, scales=[1e-3] + specs[2]["scales"][1:])
    specs[3].update(scales=[100.0] * len(specs[3]["scales"]))
    return specs


SPECS = _specs()


_MODELS: dict[int, tuple] = {}  # model index -> (model, ids, TFLM's logits), shared by both kernel sets


def random_model(i: int) -> tuple:
    if i not in _MODELS:
        s = SPECS[i]
        m = make_model(100 + i, s["context"], s["embed"], s["hidden"], s["vocab"], s["scales"])
        rng = np.random.default_rng(len(m.int8))
        ids = rng.integers(0, m.vocab, (INPUTS_PER_MODEL, m.context))
        ids[0] = 0  # the fresh window: all <pad>
        ids[1] = m.vocab - 1
        _MODELS[i] = (m, ids, tflm_logits(m.int8, ids))
    return _MODELS[i]


@pytest.fixture(scope="module", params=[(k, i) for k in ("optimized", "reference") for i in range(N_RANDOM_MODELS)],
                ids=lambda p: f"{p[0]}-model{p[1]}")
def random_build(request, tmp_path_factory):
    kernels, i = request.param
    m, _, _ = random_model(i)
    exe = build(m, tmp_path_factory.mktemp(f"model{i}-{kernels}"), kernels=kernels)
    return m, exe, i


def test_c_logits_equal_tflm_on_random_models(random_build):
    """Both kernel sets (on the host: the reference loop and the portable packed kernel)."""
    m, exe, i = random_build
    _, ids, want = random_model(i)
    got = c_logits(exe, ids)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert len(bad) == 0, f"{m.name}: {len(bad)} bytes differ, first at vector {bad[0][0]} byte {bad[0][1]}"


def test_our_arena_is_no_larger_than_tflms(random_build):
    m, _, _ = random_build
    assert plan.build(m.int8).arena_bytes <= interp.tflm_arena(m.int8)["total"]


def test_logits_mode_rejects_bad_lines(random_build):
    m, exe, _ = random_build
    short = run(exe, "--logits", stdin=" ".join(["1"] * (m.context - 1)) + "\n")
    assert short.returncode == 2 and b"expected" in short.stderr
    out_of_range = run(exe, "--logits", stdin=" ".join([str(m.vocab)] * m.context) + "\n")
    assert out_of_range.returncode == 2 and b"token id out of range" in out_of_range.stderr
    junk = run(exe, "--logits", stdin="1 x\n")
    assert junk.returncode == 2


RING_DRIVER = r"""
#include <stdio.h>
#include "model_data.h"
#include "tlm_config.h"
#include "tlm_runtime.h"
/* stdin: ids; for each, tlm_push then tlm_step and print the logits. "w" + K ids: write the
 * window directly and call tlm_window_changed (what LOGITS does). */
static uint32_t arena[(TLM_ARENA_BYTES + 3) / 4];
int main(void) {
    Tlm tlm;
    char word[16];
    const int8_t *logits;
    int i, id;
    if (tlm_init(&tlm, &tlm_model, arena, sizeof arena) != TLM_OK) return 3;
    while (scanf("%15s", word) == 1) {
        if (word[0] == 'w') {
            for (i = 0; i < TLM_CONTEXT; i++) if (scanf("%d", &tlm.window[i]) != 1) return 2;
            if (tlm_window_changed(&tlm) != TLM_OK) return 4;
        } else if (sscanf(word, "%d", &id) != 1 || tlm_push(&tlm, id) != TLM_OK) {
            return 2;
        }
        if (tlm_step(&tlm, &logits) != TLM_OK) return 5;
        for (i = 0; i < TLM_VOCAB; i++) printf(i + 1 < TLM_VOCAB ? "%d " : "%d\n", logits[i]);
    }
    return 0;
}
"""


def test_embedding_ring_follows_pushes_and_whole_windows(tmp_path):
    """The optimized set keeps the window's embedding rows in a ring (one row copied per push):
    after every push, at every head position, and after a window written whole (LOGITS), the
    logits equal TFLM's for the window."""
    import shutil

    from toolchain.target import compile as compile_mod
    from toolchain.codegen import emit
    from toolchain.core.paths import FIRMWARE

    m = make_model(61, 5, 6, [11], 13)
    emit_summary = emit.emit_model(m.int8, None, tmp_path)
    assert plan.build(m.int8).arena_bytes < emit_summary["arena_bytes"]  # the ring is there
    (tmp_path / "driver.c").write_text(RING_DRIVER)
    exe = tmp_path / "driver"
    srcs = [tmp_path / "driver.c", tmp_path / "model_data.c", tmp_path / "model_plan.c",
            *compile_mod.runtime_sources("optimized", "host")]
    subprocess.run([shutil.which("gcc") or "gcc", *compile_mod.HOST_FLAGS, f"-I{tmp_path}", f"-I{FIRMWARE}",
                    *map(str, srcs), "-o", str(exe)], check=True, capture_output=True)
    rng = np.random.default_rng(8)
    words, windows, window = [], [], [0] * m.context
    for i in range(40):
        if i in (13, 27):
            window = list(rng.integers(0, m.vocab, m.context))
            words.append("w " + " ".join(map(str, window)))
        else:
            t = int(rng.integers(0, m.vocab))
            window = window[1:] + [t]
            words.append(str(t))
        windows.append(window)
    out = subprocess.run([str(exe)], input="\n".join(words) + "\n", capture_output=True, text=True, check=True)
    got = np.array([[int(v) for v in line.split()] for line in out.stdout.splitlines()])
    assert np.array_equal(got, tflm_logits(m.int8, np.array(windows)))


def test_layer_with_rescale_above_one_is_exact(tmp_path):
    """Two equal hidden units and logits weights [r; -r]: the products cancel, the output range
    is the tiny bias, so in_scale * w_scale / out_scale > 1 and the rescale shifts left."""
    from toolchain.export import quantize

    from .runtime_helpers import RandomModel, random_weights

    rng = np.random.default_rng(0)
    k, e, v = 4, 3, 7
    w = random_weights(rng, k, e, [2], v)
    col = rng.normal(size=k * e).astype(np.float32)
    w["hidden0/kernel"] = np.stack([col, col], 1)
    w["hidden0/bias"] = np.array([0.5, 0.5], np.float32)
    r = rng.normal(size=v).astype(np.float32) * 1000
    w["logits/kernel"] = np.stack([r, -r], 0)
    w["logits/bias"] = (rng.normal(size=v) * 0.01).astype(np.float32)
    cfg = {"arch": "mlp", "context": k, "embed": e, "hidden": [2]}
    f, q = quantize.quantize_weights(w, cfg, rng.integers(0, v, (64, k)).astype(np.int32))
    last = [s for s in plan.build(q).steps if isinstance(s, plan.FullyConnected)][-1]
    assert last.shift.max() > 0
    exe = build(RandomModel("shift-left", cfg, v, q, f), tmp_path)
    ids = rng.integers(0, v, (100, k))
    assert np.array_equal(c_logits(exe, ids), tflm_logits(q, ids))


# ---------------------------------------------------------------------------------------------
# The kernels alone (a harness without any model)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("harness"))


def test_c_rescale_equals_python_for_all_shifts(harness):
    rng = np.random.default_rng(11)
    cases = []
    for _ in range(3000):
        shift = int(rng.integers(-31, 31))
        mult = int(rng.choice([0, 1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31))]))
        x = int(rng.choice([rng.integers(-(1 << 31), 1 << 31), rng.integers(-300, 300), -(1 << 31), (1 << 31) - 1]))
        cases.append((x, mult, shift))
    got = run_harness(harness, [f"m {x} {m} {s}" for x, m, s in cases])
    want = [str(plan.multiply_by_quantized_multiplier(x, m, s)) for x, m, s in cases]
    mismatches = [(c, g, w) for c, g, w in zip(cases, got, want) if g != w]
    assert not mismatches, mismatches[:5]


@pytest.fixture(scope="module", params=["reference", "optimized"])
def fc_harness(request, tmp_path_factory):
    """The kernel harness with each kernel set's FULLY_CONNECTED (the host: portable C)."""
    return request.param, build_harness(tmp_path_factory.mktemp(f"harness-{request.param}"), request.param)


def test_c_fully_connected_equals_tflms_loop_for_any_offsets(fc_harness):
    """Offsets the converter never produces (per-tensor weight zero points, big biases that
    wrap) still follow TFLM's loop, on both kernel sets: the rearranged sums (the optimized
    set's folded bias) are exact mod 2^32, and so is its one-addition rescale."""
    kernels, exe = fc_harness
    rng = np.random.default_rng(13)
    cases = random_fc_cases(rng, 300) + random_fc_cases(rng, 12, d_max=700, c_max=9, extremes=True)
    got = run_harness(exe, [fc_harness_line(k, kernels) for k in cases])
    want = [" ".join(map(str, fc_reference(k))) for k in cases]
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not mismatches, mismatches[:3]


def test_kernel_refuses_constants_laid_out_for_the_other_set(fc_harness):
    """A build linking one kernel set with data emitted for the other fails loudly (exit 3:
    TLM_ERR_MODEL) instead of computing nonsense."""
    kernels, exe = fc_harness
    other = "optimized" if kernels == "reference" else "reference"
    k = random_fc_cases(np.random.default_rng(5), 1, d_max=8, c_max=4)[0]
    k.b = np.zeros(k.c, np.int64)
    from toolchain.export import sampling

    head = " ".join(map(str, sampling.POW2_FRAC_Q16))
    proc = subprocess.run([str(exe)], input=head + "\n" + fc_harness_line(k, other) + "\n", capture_output=True,
                          text=True)
    assert proc.returncode == 3


def test_c_sampler_equals_python(harness):
    rng = np.random.default_rng(12)
    lines, want = [], []
    for _ in range(1500):
        n = int(rng.integers(1, 300))
        spread = int(rng.integers(1, 256))
        q = np.clip(rng.integers(-spread // 2, spread // 2 + 1, n) + int(rng.integers(-60, 60)), -128, 127)
        if rng.random() < 0.3:  # many ties
            q = rng.choice([-5, 0, 3], n)
        temp = int(rng.choice([0, 1, 50, 300, 800, 1000, 2500, 100000]))
        top_k = int(rng.choice([0, 1, 2, 5, n - 1, n, n + 3]))
        k_const = sampling.logit_k(float(10 ** rng.uniform(-3, 0.5)))
        seed = int(rng.choice([0, 1, int(rng.integers(0, 1 << 32))]))
        lines.append(f"s {temp} {max(top_k, 0)} {k_const} {seed} {n} " + " ".join(map(str, q)))
        r = sampling.XorShift32(seed)
        want.append(f"{sampling.sample(q, r, temp, max(top_k, 0), k_const)} {r.state}")
    got = run_harness(harness, lines)
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not mismatches, mismatches[:5]


# ---------------------------------------------------------------------------------------------
# Generation: the C program against the Python reference loop (TFLM logits + toolchain.export.sampling)

CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz .,!?'é\n"))


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    tok = Tokenizer(kind="char", chars=["", ""] + CHARS)
    m = make_model(77, 12, 8, [41, 33], tok.vocab_size, [1.0, 1.0, 0.5])
    exe = build(m, tmp_path_factory.mktemp("char"), tokenizer=tok)
    return m, tok, exe


def _python_generation(m, tok, prompt, n, seed, temperature, top_k) -> bytes:
    runner = interp.Runner(m.int8, "tflm")
    out_t = plan.build(m.int8)
    rng = sampling.XorShift32(seed)
    k_const = sampling.logit_k(out_t.output_scale)
    temp_milli = int(round(temperature * 1000))
    ids = generate.generate_ids(runner, m.context, tok.encode(prompt).tolist(), n,
                                lambda logits: sampling.sample(logits, rng, temp_milli, top_k, k_const))
    return b"".join(tok.token_text(i) for i in ids)


@pytest.mark.parametrize("seed, temperature, top_k", [(1, 0.0, 0), (7, 0.8, 0), (123456789, 1.3, 5)],
                         ids=["greedy", "sampled", "sampled-top5"])
def test_c_generation_equals_python_reference(char_model, seed, temperature, top_k):
    m, tok, exe = char_model
    prompt = "the quick brown fox, é? "
    n = 500
    proc = run(exe, "--generate", "--prompt", prompt, "--tokens", str(n), "--seed", str(seed),
               "--temperature", str(temperature), "--top-k", str(top_k))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"\n")
    want = _python_generation(m, tok, prompt, n, seed, temperature, top_k)
    assert proc.stdout[:-1] == want
    assert len(set(want)) > 3  # not a degenerate model: the test would prove little


def test_prompt_encoding_maps_unknown_characters_to_unk(char_model):
    """Unknown characters (here 'Z' and a 4-byte emoji) push <unk>, like Tokenizer.encode."""
    m, tok, exe = char_model
    prompt = "Zebra \U0001F600 ok"
    proc = run(exe, "--generate", "--prompt", prompt, "--tokens", "40")
    assert proc.stdout[:-1] == _python_generation(m, tok, prompt, 40, 1, 0.0, 0)


def test_generate_rejects_bad_numbers(char_model):
    _, _, exe = char_model
    for args in (["--tokens", "-1"], ["--seed", "x"], ["--temperature", "-0.5"], ["--top-k", "1.5"], ["--bogus"]):
        proc = run(exe, "--generate", *args)
        assert proc.returncode == 2 and proc.stderr.startswith(b"tlm: "), args


def test_byte_tokenizer_encodes_bytes(tmp_path):
    tok = Tokenizer(kind="byte", chars=[])
    m = make_model(5, 4, 2, [9], tok.vocab_size)
    exe = build(m, tmp_path, tokenizer=tok)
    prompt = "héllo"
    proc = run(exe, "--generate", "--prompt", prompt, "--tokens", "30", "--temperature", "0.9", "--seed", "3")
    assert proc.stdout[:-1] == _python_generation(m, tok, prompt, 30, 3, 0.9, 0)
