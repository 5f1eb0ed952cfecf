"""The C runtime against TFLM and toolchain.sampling: byte for byte, token for token."""

from __future__ import annotations

import numpy as np
import pytest

from toolchain import generate, interp, plan, sampling
from toolchain.tokenizer import Tokenizer

from .runtime_helpers import (build, build_harness, c_logits, make_model, random_spec, run, run_harness,
                              tflm_logits)

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


@pytest.fixture(scope="module", params=range(N_RANDOM_MODELS), ids=lambda i: f"model{i}")
def random_build(request, tmp_path_factory):
    s = SPECS[request.param]
    m = make_model(100 + request.param, s["context"], s["embed"], s["hidden"], s["vocab"], s["scales"])
    exe = build(m, tmp_path_factory.mktemp(f"model{request.param}"))
    return m, exe


def test_c_logits_equal_tflm_on_random_models(random_build):
    m, exe = random_build
    rng = np.random.default_rng(len(m.int8))
    ids = rng.integers(0, m.vocab, (INPUTS_PER_MODEL, m.context))
    ids[0] = 0  # the fresh window: all <pad>
    ids[1] = m.vocab - 1
    want = tflm_logits(m.int8, ids)
    got = c_logits(exe, ids)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert len(bad) == 0, f"{m.name}: {len(bad)} bytes differ, first at vector {bad[0][0]} byte {bad[0][1]}"


def test_our_arena_is_no_larger_than_tflms(random_build):
    m, _ = random_build
    assert plan.build(m.int8).arena_bytes <= interp.tflm_arena(m.int8)["total"]


def test_logits_mode_rejects_bad_lines(random_build):
    m, exe = random_build
    short = run(exe, "--logits", stdin=" ".join(["1"] * (m.context - 1)) + "\n")
    assert short.returncode == 2 and b"expected" in short.stderr
    out_of_range = run(exe, "--logits", stdin=" ".join([str(m.vocab)] * m.context) + "\n")
    assert out_of_range.returncode == 2 and b"token id out of range" in out_of_range.stderr
    junk = run(exe, "--logits", stdin="1 x\n")
    assert junk.returncode == 2


def test_layer_with_rescale_above_one_is_exact(tmp_path):
    """Two equal hidden units and logits weights [r; -r]: the products cancel, the output range
    is the tiny bias, so in_scale * w_scale / out_scale > 1 and the rescale shifts left."""
    from toolchain import quantize

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


def _fc_reference(d, c, ioff, woff, ooff, lo, hi, pc, w, b, m, sh, x):
    """TFLM's reference loop, literally (int32 accumulator wrapping like the hardware)."""
    out = []
    for ch in range(c):
        acc = sum((int(w[ch * d + i]) + woff) * (int(x[i]) + ioff) for i in range(d))
        if b is not None:
            acc += int(b[ch])
        acc = ((acc + (1 << 31)) % (1 << 32)) - (1 << 31)
        k = ch if pc else 0
        v = plan.multiply_by_quantized_multiplier(acc, int(m[k]), int(sh[k])) + ooff
        out.append(min(max(v, lo), hi))
    return out


def test_c_fully_connected_equals_tflms_loop_for_any_offsets(harness):
    """Offsets the converter never produces (per-tensor weight zero points, big biases that
    wrap) still follow TFLM's loop: the kernel's rearranged sum is exact mod 2^32."""
    rng = np.random.default_rng(13)
    lines, want = [], []
    for _ in range(300):
        d, c = int(rng.integers(1, 60)), int(rng.integers(1, 20))
        pc = int(rng.integers(0, 2))
        ioff, ooff = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        woff = 0 if pc else int(rng.choice([0, int(rng.integers(-127, 128))]))
        lo = int(rng.integers(-128, 0))
        hi = int(rng.integers(lo, 128))
        w = rng.integers(-128, 128, c * d)
        has_b = int(rng.integers(0, 2))
        b = rng.integers(-(1 << 31), 1 << 31, c) if rng.random() < 0.3 else rng.integers(-50000, 50000, c)
        n_m = c if pc else 1
        m = rng.integers(1 << 30, 1 << 31, n_m)
        sh = rng.integers(-20, 4, n_m)
        x = rng.integers(-128, 128, d)
        fields = [d, c, ioff, woff, ooff, lo, hi, pc, has_b, *w, *b, *m, *sh, *x]
        lines.append("f " + " ".join(str(int(v)) for v in fields))
        want.append(" ".join(map(str, _fc_reference(d, c, ioff, woff, ooff, lo, hi, pc, w, b if has_b else None,
                                                    m, sh, x))))
    got = run_harness(harness, lines)
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not mismatches, mismatches[:3]


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
# Generation: the C program against the Python reference loop (TFLM logits + toolchain.sampling)

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
