"""Train -> quantize -> generate on tiny real models (real TensorFlow, real int8 conversion, TFLM)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolchain.data import dataset as data_mod
from toolchain.export import generate
from toolchain.export import interp
from toolchain.train import models
from toolchain.core import project
from toolchain.export import quantize
from toolchain.export import sampling
from toolchain.export import tflite_model
from toolchain.train import loop as train
from toolchain.train import metrics as train_metrics
from toolchain.core.errors import ExportError, UsageError

from .conftest import TINY, write_project

pytestmark = pytest.mark.slow


def test_training_lowers_the_loss_well_below_an_untrained_model(tiny_quantized):
    p, metrics, _ = tiny_quantized
    ds = data_mod.prepare(p.cfg, p.build)
    untrained = models.get("mlp").build(p.cfg["model"], ds.tokenizer.vocab_size)
    before = train_metrics.score_batches(lambda x: untrained(x).numpy(),
                                         train.window_batches(ds.val, ds.val_positions()[:2000], ds.context))
    assert metrics["val_ce"] < 0.6 * before["ce"], (metrics["val_ce"], before["ce"])
    assert metrics["val_ce"] < 0.6 * math.log(ds.tokenizer.vocab_size)
    assert metrics["val_acc"] > 0.4


def test_quantized_model_is_full_int8_with_only_the_allowed_ops(tiny_quantized):
    p, _, report = tiny_quantized
    model = tflite_model.load(p.build / "quantize" / "model.tflite")
    assert set(model.op_names()) <= quantize.ALLOWED_OPS["mlp"]
    assert model.float_tensors() == []
    assert model.tensors[model.inputs[0]].dtype == "INT32"
    assert model.tensors[model.outputs[0]].dtype == "INT8"
    fc_weights = [model.tensors[o.inputs[1]] for o in model.ops if o.name == "FULLY_CONNECTED"]
    assert all(len(w.scale) == w.shape[0] > 1 for w in fc_weights)  # per-channel
    assert report["ops"] == model.op_names()


def test_int8_quality_is_close_to_float(tiny_quantized):
    _, _, r = tiny_quantized
    assert abs(r["int8_ce"] - r["float_ce"]) / r["float_ce"] < 0.03, r
    assert abs(r["int8_acc"] - r["float_acc"]) < 0.03
    assert r["tflm_arena_bytes"] > 0 and r["tflite_bytes"] > r["weight_bytes"] > 0


def test_golden_vectors_reproduce_in_tflm(tiny_quantized):
    p, _, report = tiny_quantized
    z = np.load(p.build / "quantize" / "golden.npz")
    assert z["inputs"].shape == (report["golden_vectors"], p.cfg["model"]["context"])
    assert z["outputs"].dtype == np.int8
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    again = interp.Runner(buf, "tflm").batch(z["inputs"])
    assert np.array_equal(again, z["outputs"])
    # the goldens are not degenerate: outputs vary across inputs
    assert len({row.tobytes() for row in z["outputs"]}) > report["golden_vectors"] // 2


def test_second_run_is_cached_and_a_quantize_change_redoes_only_quantize(tiny_quantized, tmp_path):
    p, _, _ = tiny_quantized
    assert train.run(p.cfg, p.build)["cached"] is True
    assert quantize.run(p.cfg, p.build)["cached"] is True
    text = (p.root / "tlm.toml").read_text().replace("golden_vectors = 60", "golden_vectors = 61")
    (p.root / "tlm.toml").write_text(text)
    try:
        p2 = project.Project.load(p.root)
        assert train.run(p2.cfg, p2.build)["cached"] is True
        r = quantize.run(p2.cfg, p2.build)
        assert r["cached"] is False and r["golden_vectors"] == 61
    finally:
        (p.root / "tlm.toml").write_text(text.replace("golden_vectors = 61", "golden_vectors = 60"))
        quantize.run(project.Project.load(p.root).cfg, p.build)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    a = project.Project.load(write_project(tmp_path / "a"))
    with pytest.raises(train.Interrupted, match="resume"):
        train.run(a.cfg, a.build, stop_after_steps=73, progress=False)
    meta = (a.build / "train" / "checkpoint.json").read_text()
    assert '"step": 73' in meta
    resumed = train.run(a.cfg, a.build, progress=False)
    assert resumed["cached"] is False and not (a.build / "train" / "checkpoint.npz").exists()

    b = project.Project.load(write_project(tmp_path / "b"))
    train.run(b.cfg, b.build, progress=False)
    wa, wb = train.load_weights(a.build), train.load_weights(b.build)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k


def test_int8_greedy_generation_follows_tflm_argmax(tiny_quantized):
    p, _, _ = tiny_quantized
    r = generate.generate(p.build, "turn off the ", 40, int8=True)
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    run = interp.Runner(buf, "tflm")
    k = p.cfg["model"]["context"]
    window = [0] * k + r.prompt_ids
    ids = []
    for _ in range(40):
        nxt = int(np.argmax(run(np.array(window[-k:]))))
        ids.append(nxt)
        window.append(nxt)
    assert r.ids == ids
    assert len(r.ids) == 40  # tokens, not characters (the tiny project uses BPE)


def test_seeded_sampling_is_repeatable_and_seed_dependent(tiny_quantized):
    p, _, _ = tiny_quantized
    a = generate.generate(p.build, "set the ", 60, seed=5, temperature=1.0, top_k=10, int8=True)
    b = generate.generate(p.build, "set the ", 60, seed=5, temperature=1.0, top_k=10, int8=True)
    c = generate.generate(p.build, "set the ", 60, seed=6, temperature=1.0, top_k=10, int8=True)
    assert a.ids == b.ids and a.ids != c.ids
    f = generate.generate(p.build, "set the ", 30, seed=5, temperature=0.7, int8=False)
    assert len(f.ids) == 30


def test_float_island_is_an_export_error_naming_the_op():
    tf = pytest.importorskip("tensorflow")
    w = tf.constant(np.linspace(-1, 1, 8 * 4, dtype=np.float32).reshape(8, 4))

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.int32)])
    def step(tokens):
        x = tf.reshape(tf.gather(w, tokens), [1, 16])
        return tf.square(x)  # no int8 kernel: the converter leaves it in float

    calib = np.random.default_rng(0).integers(0, 8, (20, 4))
    buf = quantize.convert(step, calib)
    with pytest.raises(ExportError, match="SQUARE|not full int8"):
        quantize.check_int8(tflite_model.parse(buf), None, "test model")


def test_corrupt_tflite_is_a_one_line_usage_error(tiny_quantized):
    p, _, _ = tiny_quantized
    with pytest.raises(UsageError, match="not a TFLite flatbuffer"):
        tflite_model.parse(b"hello world, not a model")
    buf = (p.build / "quantize" / "model.tflite").read_bytes()
    for cut in (16, 200, len(buf) // 2):
        with pytest.raises(UsageError) as e:
            tflite_model.parse(buf[:cut], "cut.tflite")
        assert "\n" not in str(e.value) and "cut.tflite" in str(e.value)


def test_int8_sampler_matches_its_spec_on_real_logits(tiny_quantized):
    p, _, report = tiny_quantized
    z = np.load(p.build / "quantize" / "golden.npz")
    k = sampling.logit_k(report["output_scale"])
    for row in z["outputs"][:10]:
        w = sampling.weights(row, 800, 5, k)
        assert sum(1 for x in w if x) <= 5 and max(w) == 65536


def test_ctrl_c_mid_epoch_then_train_again_resumes(tmp_path):
    """A real SIGINT to a running `tlmc train`: exit 130 with a checkpoint, then a second run
    resumes from it instead of starting over."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    root = write_project(tmp_path / "p", TINY.replace("steps = 240", "steps = 1200"))
    cmd = [sys.executable, "-m", "toolchain.cli", "train", "-C", str(root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    meta = root / "build" / "train" / "checkpoint.json"
    deadline = time.monotonic() + 120
    while not meta.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert meta.exists(), proc.stderr.read() if proc.poll() is not None else "no checkpoint in time"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume" in err and "Traceback" not in err
    step = json.loads(meta.read_text())["step"]
    assert 0 < step < 1200
    out = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"resuming at step {step}/1200" in out.stderr
    assert json.loads(out.stdout)["steps"] == 1200


def test_eval_commands_reports_parts_bits_per_char_and_verbatim_exclusions(tiny_quantized):
    from toolchain.quality import evaluate
    from toolchain.core.fsutil import read_json

    p, _, _ = tiny_quantized
    r = evaluate.run(p.cfg, p.build, task="commands", tokens=3000, commands=30)
    assert r["commands"] == {"random": 30, "compositional": 30}
    assert r["excluded_verbatim"] == read_json(p.build / "data" / "stamp.json")["heldout_excluded_verbatim"] > 0
    for name in ("scratch", "scratch_int8"):
        e = r["entries"][name]
        # utterance and command partition every scored target: the overall CE lies between them
        assert min(e["ce_utterance"], e["ce_command"]) <= e["ce"] <= max(e["ce_utterance"], e["ce_command"])
        # a BPE token is one or more characters: fewer bits per character than per token
        assert 0 < e["bpc"] <= e["ce"] / np.log(2)
        assert 0 <= e["exact_match_random"] <= 1 and 0 <= e["exact_match_compositional"] <= 1
