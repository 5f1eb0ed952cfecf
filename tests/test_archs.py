"""Architectures with memory (gru, conv): trained as sequence models, exported as int8 step
models with explicit state (docs/state.md), evaluated streaming, golden sequences from TFLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolchain.export import generate
from toolchain.train import models
from toolchain.export import quantize
from toolchain.export import sampling
from toolchain.export import stream
from toolchain.export import tflite_model

pytestmark = pytest.mark.slow


def test_step_model_trains_and_quantizes_to_full_int8(step_quantized):
    arch, p, metrics, report = step_quantized
    assert metrics["val_ce"] < 2.0 and metrics["val_acc"] > 0.4
    model = tflite_model.load(p.build / "quantize" / "model.tflite")
    assert model.float_tensors() == []
    assert set(model.op_names()) <= quantize.ALLOWED_OPS[arch]
    if arch == "gru":
        assert {"LOGISTIC", "TANH", "MUL", "SUB"} <= set(model.op_names())
    sig = json.loads((p.build / "quantize" / "signature.json").read_text())
    assert sig["kind"] == "step"
    want = models.get(arch).states(p.cfg["model"])
    assert [(s["name"], s["delay"]) for s in sig["states"]] == [(n, d) for n, _, d in want]
    for s in sig["states"]:
        t = model.tensors[model.inputs[s["input"]]]
        assert t.dtype == "INT8" and t.shape == (1, dict((n, w) for n, w, _ in want)[s["name"]])


def test_int8_streaming_quality_is_close_to_float(step_quantized):
    _, _, _, r = step_quantized
    assert r["eval"] == "streaming" and r["eval_windows"] > 300
    assert abs(r["int8_ce"] - r["float_ce"]) / r["float_ce"] < 0.05, r
    assert r["tflm_arena_bytes"] > 0 and r["state_bytes"] > 0


def test_golden_sequences_reproduce_with_states_carried(step_quantized):
    _, p, _, r = step_quantized
    z = np.load(p.build / "quantize" / "golden.npz")
    x, y = z["inputs"], z["outputs"]
    assert x.ndim == 2 and y.ndim == 3 and y.shape[:2] == x.shape and (x[:, 0] == 0).all()
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    runner = stream.StepRunner(buf, stream.read_signature(p.build), "tflm")
    for seq, want in zip(x, y):
        assert np.array_equal(runner.run(seq), want)
    # the state matters: the same token at different positions gives different logits
    assert len({row.tobytes() for row in y[:, 3:].reshape(-1, y.shape[-1])}) > y.shape[0]


def test_conv_taps_are_rings_with_their_delays(step_quantized):
    arch, p, _, r = step_quantized
    if arch != "conv":
        pytest.skip("conv only")
    sig = stream.read_signature(p.build)
    assert [s["delay"] for s in sig["states"]] == [1, 2, 4]
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    runner = stream.StepRunner(buf, sig, "tflm")
    runner.reset()
    ring = runner.states[2]["ring"]
    assert len(ring) == 4 and all(np.array_equal(e, runner.states[2]["zero"]) for e in ring)


def test_requantize_matches_real_arithmetic():
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, 256).astype(np.int8)
    s_out, z_out, s_in, z_in = 0.021, -3, 0.017, 5
    got = stream.requantize(q, s_out, z_out, s_in, z_in).astype(np.float64)
    real = (q.astype(np.float64) - z_out) * s_out
    want = np.clip(np.round(real / s_in) + z_in, -128, 127)
    assert np.abs(got - want).max() <= 1


def test_step_generation_follows_the_contract(step_quantized):
    _, p, _, r = step_quantized
    g = generate.generate(p.build, "turn on the ", 30, int8=True)
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    runner = stream.StepRunner(buf, stream.read_signature(p.build), "tflm")
    runner.reset()
    logits = runner.step(0)
    for t in g.prompt_ids:
        logits = runner.step(t)
    ids = []
    for _ in range(30):
        ids.append(sampling.argmax(logits))
        logits = runner.step(ids[-1])
    assert g.ids == ids
    a = generate.generate(p.build, "set ", 40, seed=3, temperature=0.9, top_k=8, int8=True)
    b = generate.generate(p.build, "set ", 40, seed=3, temperature=0.9, top_k=8, int8=True)
    assert a.ids == b.ids
    f = generate.generate(p.build, "set ", 20, int8=False)
    assert len(f.ids) == 20


def test_the_data_stage_pads_documents_as_each_arch_reads_them():
    """core/config.py's WINDOW_ARCHS (how many <pad>s lead a document) agrees with models.py."""
    from toolchain.core.config import WINDOW_ARCHS

    assert {n for n, a in models.ARCHS.items() if a.kind == "window"} == set(WINDOW_ARCHS)
