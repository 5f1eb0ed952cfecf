"""Step models (docs/state.md) in the C runtime: the elementwise kernels against the
tflite_micro wheel, and random GRU-like and dilated-conv-like step models run token by token
by the host build and the emulated Cortex-M4, byte for byte equal to TFLM with the states
carried as the contract says; generation equal to a Python reference loop."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from toolchain.target import compile as compile_mod
from toolchain.codegen import emit
from toolchain.export import plan
from toolchain.export import sampling
from toolchain.core.errors import ExportError
from toolchain.data.tokenizer import Tokenizer

from .state_helpers import (TflmStepper, build_harness, c_sequences, conv_step, convert_step, gru_step, harness_line,
                            requantize, run_harness, single_op_model, tflm_single_op)

CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz .,!?'\n"))
CHAR_TOK = Tokenizer(kind="char", chars=["", ""] + CHARS)
BYTE_TOK = Tokenizer(kind="byte", chars=[])
TOKENIZERS = {CHAR_TOK.vocab_size: CHAR_TOK, BYTE_TOK.vocab_size: BYTE_TOK}  # by vocabulary size
GOLDEN_SEQ, GOLDEN_LEN = 6, 12
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


# ---------------------------------------------------------------------------------------------
# The elementwise kernels alone, against the wheel


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("elementwise"))


def _spec(shape, scale, zp, const=None):
    return {"shape": shape, "scale": np.float32(scale), "zero_point": int(zp), "const": const}


@pytest.mark.parametrize("function", ["LOGISTIC", "TANH"])
def test_activation_tables_equal_tflm_for_every_int8_input(harness, function):
    """All 256 inputs, input scales from 1e-4 (everything near the middle) to 2 (saturation
    radius of a few steps), any zero point: the plan's table is TFLM's fixed-point answer."""
    rng = np.random.default_rng(1 if function == "TANH" else 2)
    out = _spec([1, 256], 1 / 256, -128) if function == "LOGISTIC" else _spec([1, 256], 1 / 128, 0)
    scales = [1e-4, 1 / 16, 1 / 8, 0.5, 2.0] + list(10 ** rng.uniform(-4, 0.3, 95))
    lines, want = [], []
    for i, scale in enumerate(scales):
        buf = single_op_model(function, [_spec([1, 256], scale, int(rng.integers(-128, 128)) if i else 0)], out)
        step = plan.op_step(buf)
        expected = tflm_single_op(buf, [ALL_INT8.reshape(1, 256)])
        assert np.array_equal(step.table, expected), f"scale {scale}: {np.flatnonzero(step.table != expected)[:5]}"
        lines.append(harness_line(step, ALL_INT8))
        want.append(expected)
    got = run_harness(harness, lines)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def _binary_case(rng, op: str, n: int = 96):
    """A random single-op ADD/SUB/MUL: scales over three decades with output ranges from much
    narrower (saturating) to much wider than the inputs', any zero points, a fused activation,
    and sometimes a constant or a one-element (broadcast) operand."""
    s1, s2 = (np.float32(10 ** rng.uniform(-3, 0)) for _ in range(2))
    if op == "MUL":
        so = np.float32(s1 * s2 * 127 * 10 ** rng.uniform(-1.5, 0.7))
    else:
        so = np.float32(max(s1, s2) * 10 ** rng.uniform(-1.2, 1.3))
    z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
    act = int(rng.choice([0, 0, 0, 1, 2, 3]))  # NONE, RELU, RELU_N1_TO_1, RELU6
    a = rng.integers(-128, 128, n).astype(np.int8)
    kind = rng.choice(["tensors", "const", "scalar_b", "scalar_a"], p=[0.55, 0.15, 0.15, 0.15])
    nb = 1 if kind == "scalar_b" else n
    na = 1 if kind == "scalar_a" else n
    a = a[:na]
    b = rng.integers(-128, 128, nb).astype(np.int8)
    const = b if kind in ("const", "scalar_b") else None
    inputs = [_spec([1, na], s1, z1), _spec([nb] if const is not None else [1, nb], s2, z2, const)]
    buf = single_op_model(op, inputs, _spec([1, n], so, zo), {"fusedActivationFunction": act})
    feeds = [a.reshape(1, na)] + ([] if const is not None else [b.reshape(1, nb)])
    return buf, a, b, feeds


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_binary_ops_equal_tflm_on_random_operands(harness, op):
    rng = np.random.default_rng({"ADD": 3, "SUB": 4, "MUL": 5}[op])
    lines, want, saturated = [], [], 0
    for _ in range(150):
        buf, a, b, feeds = _binary_case(rng, op)
        step = plan.op_step(buf)
        expected = tflm_single_op(buf, feeds)
        saturated += int(np.sum((expected == step.act_min) | (expected == step.act_max)))
        lines.append(harness_line(step, a, b))
        want.append(expected)
    got = run_harness(harness, lines)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not np.array_equal(g, w)]
    assert not bad, f"{len(bad)} cases differ, first {bad[0]}: {got[bad[0]][:8]} vs {want[bad[0]][:8]}"
    assert saturated > 500  # the clamps were exercised


def test_sub_computes_its_rescales_in_float32_as_tflm_does(harness):
    """TFLM's SUB (sub_common.cc) forms the ratios in float32, its ADD in double: find scales
    where the two give different multipliers and check the plan took the float32 ones and the
    kernel equals TFLM on every 17th of all 65,536 input pairs."""
    rng = np.random.default_rng(6)
    while True:
        s1, s2, so = (np.float32(10 ** rng.uniform(-3, 0)) for _ in range(3))
        twice32 = np.float32(2) * max(s1, s2)
        as_float = plan.quantize_multiplier(float(np.float32(twice32 / (np.float32(1 << 20) * so))))
        as_double = plan.quantize_multiplier(2 * float(max(s1, s2)) / ((1 << 20) * float(so)))
        if as_float != as_double:
            break
    pairs = np.stack(np.meshgrid(ALL_INT8, ALL_INT8), -1).reshape(-1, 2)[::17]
    n = len(pairs)
    buf = single_op_model("SUB", [_spec([1, n], s1, 3), _spec([1, n], s2, -7)], _spec([1, n], so, 5))
    step = plan.op_step(buf)
    assert (step.output_multiplier, step.output_shift) == as_float
    expected = tflm_single_op(buf, [pairs[:, 0].reshape(1, n), pairs[:, 1].reshape(1, n)])
    (got,) = run_harness(harness, [harness_line(step, pairs[:, 0], pairs[:, 1])])
    assert np.array_equal(got, expected)


def test_requantize_kernel_follows_the_state_contract(harness):
    """docs/state.md: q_in = clamp(zp_in + MBQM(q_out - zp_out, QuantizeMultiplier(s_out / s_in)))."""
    rng = np.random.default_rng(7)
    lines, want = [], []
    for _ in range(200):
        s_out, s_in = (float(np.float32(10 ** rng.uniform(-3, 0))) for _ in range(2))
        zp_out, zp_in = (int(v) for v in rng.integers(-128, 128, 2))
        m, sh = plan.quantize_multiplier(s_out / s_in)
        lines.append(f"r 256 {-zp_out} {zp_in} {m} {sh} " + " ".join(map(str, ALL_INT8)))
        want.append(requantize(ALL_INT8, s_out, zp_out, s_in, zp_in))
    got = run_harness(harness, lines)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert any((w == -128).any() and (w == 127).any() for w in want)  # saturating rescales included


def test_plan_refuses_elementwise_ops_tflm_cannot_run():
    tiny_out = single_op_model("ADD", [_spec([1, 4], 0.5, 0), _spec([1, 4], 0.5, 0)], _spec([1, 4], 1e-7, 0))
    with pytest.raises(ExportError, match="not below 1"):
        plan.op_step(tiny_out, where="add.tflite")
    odd = single_op_model("LOGISTIC", [_spec([1, 4], 0.1, 0)], _spec([1, 4], 1 / 128, 0))
    with pytest.raises(ExportError, match="LOGISTIC.*zero point -128"):
        plan.op_step(odd)
    broadcast = single_op_model("MUL", [_spec([1, 4], 0.1, 0), _spec([1, 2], 0.1, 0)], _spec([1, 4], 0.1, 0))
    with pytest.raises(ExportError, match="broadcasts"):
        plan.op_step(broadcast)
    with pytest.raises(ExportError) as info:
        plan.op_step(single_op_model("TANH", [_spec([1, 4], 0.1, 0)], _spec([1, 4], 1 / 256, -128)))
    assert "TANH" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Whole step models: random GRU-like and dilated-conv-like models, host build against TFLM

MODEL_SPECS = {
    # name: (architecture, vocab (35: the char tokenizer, 257: bytes), sizes, calibration gains per state)
    "gru": ("gru", 35, {"embed": 8, "hidden": [24]}, None),
    # two layers, byte vocabulary; layer 1's state input calibrated on a 1.8x wider range than
    # its output gets: requantized feedback
    "gru2-requant": ("gru", 257, {"embed": 6, "hidden": [16, 20]}, {1: 1.8}),
    # delays 1, 2, 4 (models.py's conv dilates layer l by 2**l); a residual where the width stays
    "conv": ("conv", 35, {"embed": 8, "widths": [12, 12, 16]}, None),
    # the delay-4 tap calibrated on half its range: requantized feedback that saturates
    "conv-requant": ("conv", 35, {"embed": 8, "widths": [8, 8, 8]}, {2: 0.5}),
}


def _make(name: str):
    arch, vocab, sizes, gains = MODEL_SPECS[name]
    rng = np.random.default_rng(sorted(MODEL_SPECS).index(name) + 40)
    if arch == "gru":
        step, states = gru_step(rng, vocab, sizes["embed"], sizes["hidden"])
    else:
        step, states = conv_step(rng, vocab, sizes["embed"], sizes["widths"])
    return convert_step(name, step, states, vocab, rng, gains=gains)


def _sequences(rng, vocab: int, n: int, max_len: int = 40) -> list[list[int]]:
    """Random sequences, most starting with <pad> as the contract's do, some not."""
    seqs = []
    for i in range(n):
        s = list(rng.integers(0, vocab, int(rng.integers(1, max_len + 1))))
        if i % 8:
            s[0] = 0
        seqs.append([int(t) for t in s])
    return seqs


@pytest.fixture(scope="module", params=sorted(MODEL_SPECS))
def step_build(request, tmp_path_factory):
    """(model, host program, output folder, golden (inputs [N, T], outputs [N, T, V]))."""
    m = _make(request.param)
    ref = TflmStepper(m.int8, m.signature)
    gx = np.random.default_rng(9).integers(0, m.vocab, (GOLDEN_SEQ, GOLDEN_LEN)).astype(np.int32)
    gx[:, 0] = 0  # as quantize writes them: each sequence starts with <pad>
    gy = np.stack([ref.run(s) for s in gx])
    out = tmp_path_factory.mktemp(request.param)
    emit.emit_model(m.int8, TOKENIZERS[m.vocab], out, golden=(gx, gy), signature=m.signature, model_hash=f"{request.param}-hash"[:16])
    exe = Path(compile_mod.build_host(out)["binary"])
    return m, exe, out, (gx, gy)


def test_c_step_model_equals_tflm_at_every_step(step_build):
    m, exe, _, _ = step_build
    seqs = _sequences(np.random.default_rng(len(m.int8)), m.vocab, 300)
    ref = TflmStepper(m.int8, m.signature)
    want = [ref.run(s) for s in seqs]
    got = c_sequences(exe, seqs)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not np.array_equal(g, w)]
    if bad:
        g, w = got[bad[0]], want[bad[0]]
        t = int(np.argwhere(g != w)[0][0])
        pytest.fail(f"{m.name}: {len(bad)}/{len(seqs)} sequences differ; first: sequence {bad[0]} step {t}")
    assert sum(len(s) for s in seqs) > 4000


def test_plan_reference_equals_tflm(step_build):
    """The plan's Python run (same integer steps as the C kernels, rings included) equals
    TFLM: the constants are right independently of any C."""
    m, _, _, (gx, gy) = step_build
    p = m.plan
    for x, y in zip(gx[:3], gy[:3]):
        assert np.array_equal(plan.reference_sequence(p, x), y)


def test_states_cover_delays_and_requantization():
    plans = {name: _make(name).plan for name in ("gru2-requant", "conv-requant")}
    g, c = plans["gru2-requant"], plans["conv-requant"]
    assert [s.delay for s in c.states] == [1, 2, 4] and c.states[2].ring.size == 3 * 8
    assert g.states[1].requantize is not None and c.states[2].requantize is not None
    # the arena holds the states, rings and control words in the persistent part, first
    assert c.persistent_bytes >= 4 + 8 * (1 + 2 + 4) + 4 * 4
    assert all(s.input.persistent and s.input.offset < c.persistent_bytes for s in c.states)


def test_selftest_checks_every_step_of_the_golden_sequences(step_build, tmp_path):
    m, exe, out, (gx, gy) = step_build
    assert compile_mod.run_selftest(out) == f"selftest: {len(gx)}/{len(gx)} vectors equal ({gx.size} steps)"
    bad = gy.copy()
    bad[2, 5, 3] ^= 1
    emit.emit_model(m.int8, None, tmp_path, golden=(gx, bad), signature=m.signature)
    exe2 = compile_mod.build_host(tmp_path)["binary"]
    proc = subprocess.run([exe2, "--selftest"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout.startswith("selftest: vector 2 step 5 differs at byte 3: got ")


def test_logits_mode_of_a_step_model_rejects_bad_lines(step_build):
    m, exe, _, _ = step_build
    for text, why in (("\n", b"sequence of 1 or more"), (f"0 {m.vocab}\n", b"token id out of range"),
                      ("0 x\n", b"expected")):
        proc = subprocess.run([str(exe), "--logits"], input=text.encode(), capture_output=True)
        assert proc.returncode == 2 and why in proc.stderr, (text, proc.stderr)


def test_golden_of_the_wrong_shape_is_refused(step_build, tmp_path):
    from toolchain.core.errors import UsageError

    m, _, _, (gx, gy) = step_build
    with pytest.raises(UsageError, match=r"inputs \[N, T\] and outputs \[N, T"):
        emit.emit_model(m.int8, None, tmp_path, golden=(gx, gy[:, -1]), signature=m.signature)


def test_multi_input_model_needs_its_signature(step_build):
    m, _, _, _ = step_build
    with pytest.raises(ExportError, match="signature"):
        plan.build(m.int8, "step.tflite")
    sig = json.loads(json.dumps(m.signature))
    sig["states"][0]["input"], sig["token_input"] = sig["token_input"], sig["states"][0]["input"]
    with pytest.raises(ExportError):
        plan.build(m.int8, "step.tflite", signature=sig)
    sig = json.loads(json.dumps(m.signature))
    sig["states"][0]["delay"] = 0
    with pytest.raises(ExportError, match="delay 0"):
        plan.build(m.int8, "step.tflite", signature=sig)


# ---------------------------------------------------------------------------------------------
# Generation and the protocol on the host build


def python_generation(m, prompt: str, n: int, seed: int, temp_milli: int, top_k: int) -> list[int]:
    """docs/state.md's rule on TFLM: reset, step <pad>, step each prompt token, then n times
    pick from the last logits (docs/sampling.md) and step the pick."""
    ref = TflmStepper(m.int8, m.signature)
    k_const = sampling.logit_k(m.plan.output_scale)
    rng = sampling.XorShift32(seed)
    logits = ref.step(0)
    for t in TOKENIZERS[m.vocab].encode(prompt).tolist():
        logits = ref.step(int(t))
    ids = []
    for i in range(n):
        ids.append(sampling.sample(logits, rng, temp_milli, top_k, k_const))
        if i + 1 < n:
            logits = ref.step(ids[-1])
    return ids


def _text(m, ids) -> bytes:
    return b"".join(TOKENIZERS[m.vocab].token_text(i) for i in ids)


@pytest.mark.parametrize("seed, temperature, top_k", [(1, 0.0, 0), (7, 0.8, 0), (99, 1.2, 5)],
                         ids=["greedy", "sampled", "sampled-top5"])
def test_c_generation_equals_python_reference(step_build, seed, temperature, top_k):
    m, exe, _, _ = step_build
    prompt = "the quick brown fox, é "
    proc = subprocess.run([str(exe), "--generate", "--prompt", prompt, "--tokens", "500", "--seed", str(seed),
                           "--temperature", str(temperature), "--top-k", str(top_k)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    want = python_generation(m, prompt, 500, seed, int(round(temperature * 1000)), top_k)
    assert proc.stdout[:-1] == _text(m, want)
    assert len(set(want)) > (1 if temperature == 0 else 5)  # not degenerate: the test would prove little


def _serve(exe: Path, lines: list[str]) -> list[str]:
    proc = subprocess.run([str(exe), "--serve"], input=("\n".join(lines) + "\n").encode(), capture_output=True,
                          timeout=60)
    return proc.stdout.decode().splitlines()


def test_protocol_runs_sequences_on_a_step_model(step_build):
    """LOGITS runs a whole sequence from the zero state; PUSH and BENCH step the model; GEN
    follows the generation rule; an ERR leaves everything as it was."""
    m, exe, _, (gx, gy) = step_build
    ref = TflmStepper(m.int8, m.signature)
    odd = [3 % m.vocab, 1, 2, 5 % m.vocab]  # a sequence not starting with <pad>
    lines = ["INFO", "LOGITS " + " ".join(map(str, gx[0])), "LOGITS " + " ".join(map(str, odd)), "LOGITS",
             f"LOGITS 0 {m.vocab}", "PUSH 1 2 3", "BENCH 7", "RESET", "LOGITS " + " ".join(map(str, gx[1]))]
    replies = _serve(exe, lines)
    assert len(replies) == len(lines), replies
    info = dict(kv.split("=", 1) for kv in replies[0].split()[1:])
    assert info["kind"] == "step" and info["context"] == "1" and int(info["states"]) == len(m.states)
    for reply, want in ((replies[1], gy[0, -1]), (replies[2], ref.run(odd)[-1]), (replies[8], gy[1, -1])):
        assert reply.startswith("OK ") and np.array_equal(np.array(reply.split()[1:], np.int64), want)
    assert replies[3].startswith("ERR bad-args") and replies[4].startswith("ERR range")
    assert replies[5] == "OK 3" and replies[6].startswith("OK steps=7 ") and replies[7] == "OK"
    gen = _serve(exe, ["GEN 60 5 700 0 hello\\sthere"])
    ids = [int(line.split()[1]) for line in gen if line.startswith("TOK ")]
    assert ids == python_generation(m, "hello there", 60, 5, 700, 0) and gen[-1].startswith("OK n=60")


def test_hil_suite_passes_on_a_step_model(step_build, tmp_path):
    """The whole HIL suite (LOGITS per golden sequence, generation against the host's
    `tlmc generate --int8`, robustness) on the host build of a step model."""
    from toolchain.core import boards
    from toolchain.link import client as device
    from toolchain.device import hil
    from toolchain.link.hostlink import HostLink

    m, exe, out, (gx, gy) = step_build
    build = tmp_path / "build"
    (build / "quantize").mkdir(parents=True)
    (build / "data").mkdir()
    (build / "quantize" / "model.tflite").write_bytes(m.int8)
    (build / "quantize" / "signature.json").write_text(json.dumps(m.signature))
    np.savez(build / "quantize" / "golden.npz", inputs=gx, outputs=gy)
    model_hash = f"{m.name}-hash"[:16]
    (build / "quantize" / "report.json").write_text(json.dumps({"model_hash": model_hash, "macs_per_token": 1000}))
    TOKENIZERS[m.vocab].save(build / "data" / "tokenizer.json")
    with HostLink(exe) as link, device.Device(link.port, timeout=10) as dev:
        result = hil.Suite(dev, build, boards.resolve("host"), gen_tokens=150).run()
    failed = {c.name: c.message for c in result.cases if not c.passed}
    assert not failed, failed
    assert [c.name for c in result.cases][:2] == ["handshake", "golden_vectors"]


# ---------------------------------------------------------------------------------------------
# Cortex-M: warning-free object builds, and the emulated mps2-an386 end to end

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")


@needs_arm
@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m0plus"])
def test_step_model_compiles_warning_free_for_cortex_m(step_build, core, tmp_path):
    _, _, out, _ = step_build
    r = compile_mod.build_objects(out, core, obj_dir=tmp_path)
    assert "-Werror" in r["flags"] and "tlm_elementwise.o" in r["objects"]
    assert 0 < r["runtime"]["text"] < 6 * 1024 and r["runtime"]["data"] == r["runtime"]["bss"] == 0


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_step_model_runs_on_the_emulated_cortex_m4(step_build, tmp_path):
    """Golden sequences via LOGITS and 500-token greedy and seeded generation on the emulated
    board equal TFLM and the Python reference loop."""
    from toolchain.core import boards
    from toolchain.target import build
    from toolchain.target import qemu
    from toolchain.link.client import Device

    m, _, out, (gx, gy) = step_build
    board = boards.resolve("mps2-an386")
    emit.emit_model(m.int8, TOKENIZERS[m.vocab], tmp_path, golden=(gx, gy),
                    signature=m.signature, board_id=board.id)
    elf = build.firmware_elf(tmp_path, board)
    with qemu.start(Path(elf["elf"]), board["qemu_machine"], state_dir=tmp_path / "qemu") as emu, \
            Device(emu.url, timeout=20) as dev:
        dev.sync()
        assert dev.info()["kind"] == "step"
        for x, y in zip(gx, gy):
            assert np.array_equal(dev.logits(x), y[-1])
        for seed, temp_milli, top_k in ((1, 0, 0), (7, 800, 10)):
            ids, _, _ = dev.generate("the quick brown fox, ", 500, seed, temp_milli, top_k)
            assert ids == python_generation(m, "the quick brown fox, ", 500, seed, temp_milli, top_k)
        bench = dev.bench(10)
        assert int(bench["steps"]) == 10 and int(bench["cycles"]) > 0
