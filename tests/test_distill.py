"""Distillation: teacher, soft targets, the loss, synthetic text, held-out commands and eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import TINY, write_project
from toolchain.train import teacher as teacher_mod

# The acceptance setup: the tiny student of conftest (5.8k params, 240 steps) with an mlp
# teacher that trains in ~15 s on this machine.
TEACHER = """
[teacher]
arch = "mlp"
context = 16
embed = 16
hidden = [256, 256]
steps = 1200
batch = 128
lr = 0.003
[distill]
temperature = 1.0
alpha = 0.9
"""
DISTILL_TINY = TINY + TEACHER


@pytest.fixture(scope="session")
def distilled(tmp_path_factory):
    """Scratch student, teacher and distilled student of one project (same data, seed, steps)."""
    from toolchain.train import distill
    from toolchain.core import project
    from toolchain.train import loop as train

    root = write_project(tmp_path_factory.mktemp("distill"), DISTILL_TINY)
    p = project.Project.load(root)
    scratch = train.run(p.cfg, p.build, progress=False)
    teacher = teacher_mod.train_teacher(p.cfg, p.build, progress=False)
    student = distill.run(p.cfg, p.build, progress=False)
    return p, scratch, teacher, student


def test_distilled_student_beats_scratch_at_equal_steps(distilled):
    """The acceptance check: same seed, data, batch order and 240 steps; only the loss differs."""
    from toolchain.data import dataset as data_mod
    from toolchain.quality import evaluate

    p, scratch, teacher, student = distilled
    assert scratch["steps"] == student["steps"] == 240
    assert student["distilled"] and not scratch["distilled"]
    assert teacher["val_ce"] < scratch["val_ce"]  # a teacher worth learning from
    r = evaluate.run(p.cfg, p.build, tokens=20000)
    e = r["entries"]
    assert e["distilled"]["ce"] < e["scratch"]["ce"] - 0.02, e
    assert e["teacher"]["ce"] < e["distilled"]["ce"]
    assert 0 < r["gap_closed"] < 1
    # eval scores the same targets for every model
    assert e["scratch"]["n"] == e["distilled"]["n"] == e["teacher"]["n"] > 3000
    assert e["distilled_int8"] is None and "tlmc quantize" in r["missing"]["distilled_int8"]
    ds = data_mod.prepare(p.cfg, p.build)
    assert r["val_tokens"] == min(20000, len(ds.val))


def test_kl_term_matches_numpy():
    from toolchain.core.tfenv import tf as _tf
    from toolchain.train.loop import distill_kl

    tf = _tf()
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3, 5, 11)).astype(np.float32)
    sid = np.stack([np.stack([rng.permutation(11)[:4] for _ in range(5)]) for _ in range(3)]).astype(np.int32)
    slog = rng.normal(0, 3, (3, 5, 4)).astype(np.float32)
    for temp in (1.0, 2.5):
        got = distill_kl(tf, tf.constant(logits), tf.constant(sid), tf.constant(slog), temp).numpy()
        z = logits / temp
        s_logp = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z.max(-1, keepdims=True)
        t = slog / temp
        t_logp = t - np.log(np.exp(t).sum(-1, keepdims=True))
        want = (np.exp(t_logp) * (t_logp - np.take_along_axis(s_logp, sid, -1))).sum(-1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # a student equal to a full-vocabulary teacher has zero KL; any other, more
    full = np.broadcast_to(np.arange(11, dtype=np.int32), (3, 5, 11))
    same = distill_kl(tf, tf.constant(logits), tf.constant(full), tf.constant(logits), 2.0).numpy()
    assert np.abs(same).max() < 1e-5
    other = distill_kl(tf, tf.constant(logits * 0.5), tf.constant(full), tf.constant(logits), 2.0).numpy()
    assert other.min() > 0


def test_label_smoothed_ce_matches_numpy():
    """[train] label_smoothing e: the target is (1 - e) on the true id + e / V on every id, the
    loss the weighted mean over positions; e = 0 is the plain CE."""
    from toolchain.core.tfenv import tf as _tf
    from toolchain.train.loop import weighted_ce

    tf = _tf()
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (4, 6, 13)).astype(np.float32)
    y = rng.integers(0, 13, (4, 6)).astype(np.int32)
    w = rng.choice([0.0, 0.1, 1.0], (4, 6)).astype(np.float32)
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    for e in (0.0, 0.1, 0.3):
        want_pos = (1 - e) * nll + e * (-logp.mean(-1))
        want = (want_pos * w).sum() / w.sum()
        got = float(weighted_ce(tf, tf.constant(y), tf.constant(w), tf.constant(logits), e).numpy())
        assert got == pytest.approx(want, rel=1e-5)
    # smoothing bounds what a wrong id costs: the loss is least with the wrong ids a finite
    # gap below the true one, log((1 - e + e/V) / (e/V)), not at minus infinity
    e, v = 0.1, 13
    gap = np.log((1 - e + e / v) / (e / v))
    one = np.zeros((1, v), np.float32)
    losses = []
    for g in (gap - 2, gap, gap + 2, 40.0):
        one[0, 0] = g
        losses.append(float(weighted_ce(tf, tf.constant([0]), tf.constant([1.0]), tf.constant(one), e).numpy()))
    assert losses[1] < min(losses[0], losses[2]) and losses[3] > losses[1] + 1


@pytest.mark.parametrize("arch,m", [
    ("mlp", {"context": 5, "embed": 4, "hidden": [9]}),
    ("gru", {"context": 1, "embed": 6, "hidden": [10, 7]}),
    ("conv", {"context": 1, "embed": 6, "hidden": [6, 8, 8]}),
    ("lstm", {"context": 1, "embed": 6, "hidden": [9]}),
])
def test_batched_stepper_and_stream_logits_equal_keras(arch, m):
    """One token at a time on many rows (synth sampling) and the document-wise stream logits
    (soft targets, eval) both equal the Keras model run on whole sequences."""
    from toolchain.train import models
    from toolchain.train import predict

    a = models.get(arch)
    model = a.build(m, 13)
    w = a.weights(model)
    rng = np.random.default_rng(1)
    lm = predict.wrap(model)
    st = predict.Stepper(arch, w, m)
    docs = [rng.integers(1, 13, n) for n in (7, 1, 30, 12)]
    if a.kind == "window":
        k = m["context"]
        stream = np.concatenate([np.concatenate([np.zeros(k, np.int64), d]) for d in docs])
        got = dict(zip(*[np.concatenate(v) for v in zip(*predict.stream_logits(lm, stream, batch=3))]))
        for t, row in got.items():
            win = np.concatenate([np.zeros(k, np.int64), stream])[t:t + k][None].astype(np.int32)
            np.testing.assert_allclose(row, model(win).numpy()[0], atol=1e-5)
        return
    stream = np.concatenate([np.concatenate([[0], d]) for d in docs])
    pos, rows = [np.concatenate(v) for v in zip(*predict.stream_logits(lm, stream, batch=2, chunk=64, warm=8))]
    assert sorted(pos.tolist()) == [t for t in range(1, len(stream)) if stream[t] != 0]
    starts = np.flatnonzero(stream == 0)
    for t, row in zip(pos, rows):
        s = starts[starts < t].max()
        full = model(stream[s:t][None].astype(np.int32)).numpy()[0, -1]
        np.testing.assert_allclose(row, full, atol=1e-4)
    seqs = rng.integers(1, 13, (5, 9)).astype(np.int32)
    ref = model(np.concatenate([np.zeros((5, 1), np.int32), seqs], 1)).numpy()
    out = [st.reset(5)] + [st.step(seqs[:, j]) for j in range(9)]
    np.testing.assert_allclose(np.stack(out, 1), ref, atol=1e-4)


def test_compositional_holdout_never_trains_on_held_pairs(tiny_quantized):
    from toolchain.data import dataset as data_mod
    from toolchain.data import grammar as grammars
    from toolchain.data.lines import SEPARATOR
    from toolchain.quality.cmdparse import heldout_commands

    p, _, _ = tiny_quantized
    held = data_mod.holdout_pairs(p.cfg)
    assert len(held) == round(0.1 * len(grammars.builtin("smarthome").pairs()))
    ds = data_mod.prepare(p.cfg, p.build)

    def pairs(stream):
        out = []
        for line in ds.tokenizer.decode(stream).split("\n"):
            if SEPARATOR in line:
                cmd = line.split(SEPARATOR)[1].split()
                out.append((cmd[0], cmd[1] if len(cmd) > 1 else None))
        return out

    train_pairs = pairs(ds.train)
    assert len(train_pairs) > 2000 and not held & set(train_pairs)
    comp = heldout_commands(p.build, "compositional")
    assert len(comp) >= 250
    for _, command in comp:
        c = command.split()
        assert (c[0], c[1]) in held
    seen_cmds, seen_targets = {c for c, _ in train_pairs}, {t for _, t in train_pairs}
    assert all(c in seen_cmds and t in seen_targets for c, t in held)  # parts seen, never together
    rand = heldout_commands(p.build, "random")
    assert len(rand) > 150 and not any(tuple(c.split()[:2]) in held for _, c in rand)


def test_soft_target_file_round_trip_and_errors(distilled, tmp_path):
    """The cache is the documented user format: a second project given the file as its
    teacher trains the identical student; broken files get one-line errors."""
    from toolchain.train import distill
    from toolchain.core import project
    from toolchain.train import loop as train
    from toolchain.core.errors import UsageError

    p, _, _, _ = distilled
    cache = p.build / "distill" / "soft_targets.npz"
    z = np.load(cache)
    assert {"tokens", "ids", "logits"} <= set(z.files) and z["ids"].shape[1] == 32
    user = tmp_path / "soft.npz"
    np.savez(user, tokens=z["tokens"], ids=z["ids"].astype(np.int32), logits=z["logits"].astype(np.float32))
    root = write_project(tmp_path / "user", DISTILL_TINY.replace('arch = "mlp"\ncontext = 16', f'soft_targets = "{user}"\ncontext = 16'))
    q = project.Project.load(root)
    got = distill.run(q.cfg, q.build, progress=False)
    assert got["distilled"]
    a, b = train.load_weights(p.build, "distill"), train.load_weights(q.build, "distill")
    assert all(np.array_equal(a[k], b[k]) for k in a)

    bad = tmp_path / "bad.npz"
    for arrays, needle in [
        ({"tokens": z["tokens"], "ids": z["ids"]}, "missing array(s) logits"),
        ({"tokens": z["tokens"][:-5], "ids": z["ids"], "logits": z["logits"]}, "not this project's training stream"),
        ({"tokens": z["tokens"], "ids": z["ids"] + 100, "logits": z["logits"]}, "outside 0.."),
        ({"tokens": z["tokens"], "ids": z["ids"][:, :3], "logits": z["logits"]}, "must both be"),
    ]:
        np.savez(bad, **arrays)
        with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
            distill.load_soft_file(bad, z["tokens"], 47 if "ids" not in needle else int(z["ids"].max()) + 1)
        assert "\n" not in str(e.value)


def test_keras_teacher_file_from_another_project(distilled, tmp_path):
    from toolchain.quality import evaluate
    from toolchain.core import project

    p, _, teacher, _ = distilled
    root = write_project(tmp_path / "k", DISTILL_TINY.replace(
        'arch = "mlp"\ncontext = 16', f'keras_model = "{p.build / "teacher" / "model.keras"}"\ncontext = 16'))
    q = project.Project.load(root)
    r = evaluate.run(q.cfg, q.build, tokens=3000)
    mine = evaluate.run(p.cfg, p.build, tokens=3000)
    assert r["entries"]["teacher"]["ce"] == pytest.approx(mine["entries"]["teacher"]["ce"], abs=1e-6)
    assert r["entries"]["distilled"] is None and "tlmc distill" in r["missing"]["distilled"]


def _copy_with_teacher(p, folder):
    """A second project with the same config, reusing the first one's trained teacher."""
    import shutil

    from toolchain.core import project

    root = write_project(folder, DISTILL_TINY)
    q = project.Project.load(root)
    shutil.copytree(p.build / "teacher", q.build / "teacher")
    return q


def test_interrupted_distill_resumes_bit_exact(distilled, tmp_path):
    from toolchain.train import distill
    from toolchain.train import loop as train
    from toolchain.train.loop import Interrupted

    p, _, _, _ = distilled
    q = _copy_with_teacher(p, tmp_path / "r")
    with pytest.raises(Interrupted, match="tlmc distill"):
        distill.run(q.cfg, q.build, progress=False, stop_after_steps=101)
    assert train.is_current(q.build / "teacher", teacher_mod.teacher_hash(q.cfg))
    distill.run(q.cfg, q.build, progress=False)
    a, b = train.load_weights(p.build, "distill"), train.load_weights(q.build, "distill")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_synth_samples_filtered_deduplicated_and_seeded(distilled, tmp_path):
    from toolchain.train import distill
    from toolchain.data import grammar as grammars
    from toolchain.data.lines import parse_line
    from toolchain.train import synth

    p = _copy_with_teacher(distilled[0], tmp_path / "s")  # synthetic text would change the fixture's student
    r = synth.run(p.cfg, p.build, tokens=3000, progress=False)
    text = (p.build / "synth" / "synth.txt").read_text()
    lines = text.splitlines()
    assert r["documents"] == len(lines) == len(set(lines)) > 20
    assert r["tokens"] >= 3000 and r["sampled"] == r["documents"] + sum(
        r[k] for k in ("duplicate", "format", "unfinished", "too_short", "charset"))
    for ln in lines:
        u, c = parse_line(ln)
        assert grammars.builtin("smarthome").parse_command(c) is not None and len(ln) >= 8
    from toolchain.data import dataset as data_mod

    ds = data_mod.prepare(p.cfg, p.build)
    real_lines = set(ds.tokenizer.decode(ds.train).split("\n"))
    assert not real_lines & set(lines)  # deduplicated against the real training text too
    again = synth.run(p.cfg, p.build, tokens=3000, progress=False)
    assert again["cached"]
    synth.run(p.cfg, p.build, tokens=3000, force=True, progress=False)
    assert (p.build / "synth" / "synth.txt").read_text() == text  # seeded: the same samples
    # distill mixes it in by [synth] ratio (default 0.5; here capped by the 3,000 sampled tokens)
    stream, mix = distill.student_stream(p.cfg, p.build, ds)
    assert mix["synthetic_tokens"] == r["tokens"] and len(stream) == len(ds.train) + r["tokens"]
    assert not distill.is_current(p.cfg, p.build)


def test_cli_eval_json_and_errors(distilled, tmp_path):
    from toolchain.cli import main

    p, _, _, _ = distilled
    res = CliRunner().invoke(main, ["eval", "-C", str(p.root), "--json", "--tokens", "2000"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for name in ("teacher", "scratch", "distilled"):
        assert set(obj[name]) >= {"ce", "ppl", "acc"}
    assert obj["distilled_int8"] is None
    res = CliRunner().invoke(main, ["eval", "-C", str(p.root), "--tokens", "2000"])
    assert "distillation closed" in res.stdout and "teacher" in res.stdout

    plain = write_project(tmp_path / "plain")
    res = CliRunner().invoke(main, ["train", "--teacher", "-C", str(plain)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "[teacher] arch" in res.output
    res = CliRunner().invoke(main, ["distill", "-C", str(plain)])
    assert res.exit_code == 2 and "no teacher" in res.output
    res = CliRunner().invoke(main, ["synth", "-C", str(plain), "--tokens", "10"])
    assert res.exit_code == 2 and "no teacher" in res.output


@pytest.mark.parametrize("extra,needle", [
    ('[teacher]\narch = "gru"\nkeras_model = "x.keras"\n', "keep one way"),
    ('[teacher]\nsoft_targets = "nope.npz"\n', "not found"),
    ('[teacher]\narch = "transformer"\n', "[teacher] arch"),
    ('[model]\narch = "lstm"\n', "[model] arch"),
    ('[synth]\nmin_chars = 50\nmax_chars = 10\n', "min_chars"),
    ('[distill]\nalpha = 1.5\n', "[distill] alpha"),
    ('[teacher]\narch = "mlp"\nrecipe_lines = 100\n', "[teacher] recipe_lines"),
])
def test_config_errors(tmp_path, extra, needle):
    from toolchain.core import config
    from toolchain.core.errors import ConfigError

    text = "[data]\nrecipe = \"commands\"\n" + extra
    (tmp_path / "tlm.toml").write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")) as e:
        config.load(tmp_path)
    assert "\n" not in str(e.value)


def test_quantize_deploys_the_distilled_student_and_eval_parses(distilled):
    """A project with a teacher deploys the distilled student; --task commands scores parses of
    both held-out splits for every model (float by Keras, int8 by TFLM as a device does)."""
    from toolchain.quality import evaluate
    from toolchain.train import info
    from toolchain.export import quantize

    p, _, _, _ = distilled
    rep = quantize.run(p.cfg, p.build)
    assert info.info(p.cfg)["student"] == "distilled"
    r = evaluate.run(p.cfg, p.build, task="commands", tokens=3000, commands=12)
    e = r["entries"]
    assert r["commands"] == {"random": 12, "compositional": 12}
    assert e["distilled_int8"]["ce"] == pytest.approx(e["distilled"]["ce"], rel=0.05)
    assert rep["float_ce"] == pytest.approx(e["distilled"]["ce"], rel=0.1)
    for name in ("teacher", "scratch", "distilled", "distilled_int8"):
        for key in ("exact_match", "exact_match_random", "exact_match_compositional"):
            assert 0.0 <= e[name][key] <= 1.0
    text = evaluate.table(r)
    assert "exact rand" in text and "exact comp" in text


@pytest.mark.parametrize("arch,m", [("mlp", {"context": 6, "embed": 4, "hidden": [16]}),
                                    ("gru", {"context": 1, "embed": 6, "hidden": [12]})])
def test_batched_decode_equals_one_at_a_time(arch, m):
    """eval's float parses: rows of different prompt lengths decoded together equal each prompt
    decoded alone by the plain loop (a device's RESET, <pad>, prompt, argmax...)."""
    from toolchain.train import models
    from toolchain.train import predict

    model = models.get(arch).build(m, 9)
    lm = predict.wrap(model)
    rng = np.random.default_rng(3)
    prompts = [rng.integers(1, 9, n).tolist() for n in (1, 5, 9, 2, 14)]
    got = predict.decode(lm, prompts, 7, stop_id=3, batch=2)
    for p, g in zip(prompts, got):
        seq = ([0] if arch == "gru" else [0] * m["context"]) + list(p)
        want = []
        for _ in range(7):
            x = np.array([seq[-m["context"]:]] if arch == "mlp" else [seq], np.int32)
            z = model(x).numpy()
            nxt = int(np.argmax(z[0] if arch == "mlp" else z[0, -1]))
            want.append(nxt)
            seq.append(nxt)
            if nxt == 3:
                break
        assert g == want


def test_utterance_weight_marks_only_the_utterance_of_command_lines():
    from toolchain.data import dataset as data_mod
    from toolchain.data.tokenizer import Tokenizer

    docs = ["turn it on => light.on all\n", "no separator here\n", "a => b => c\n", "x => y\n"]
    tok = Tokenizer.learn(docs, "char", 96)
    stream = data_mod.to_stream(docs, tok, 3)
    w = data_mod.target_weights(stream, tok, 0.25)
    assert np.array_equal(data_mod.target_weights(stream, tok, 1.0), (stream != 0).astype(np.float32))
    starts = np.flatnonzero(stream == 0)
    pieces, pos = [], 0
    for d in docs:
        s = pos + 3
        pieces.append((d, w[s:s + len(d)]))
        pos = s + len(d)
    for d, wd in pieces:
        assert len(wd) == len(d)
        if " => " not in d:
            assert (wd == 1).all()
            continue
        cut = d.index(" => ") + 3  # the command starts with the space after the first separator
        assert (wd[:cut] == 0.25).all() and (wd[cut:] == 1).all(), (d, wd)
    assert (w[starts] == 0).all()


def test_teacher_recipe_lines_continue_the_students_corpus(tiny_quantized):
    """[teacher] recipe_lines: the teacher's stream is the student's plus the recipe's next
    lines (same seed and compositional hold-out), so it knows more than the student saw."""
    import copy

    from toolchain.data import dataset as data_mod
    from toolchain.train import distill
    from toolchain.data import grammar as grammars

    p, _, _ = tiny_quantized
    ds = data_mod.prepare(p.cfg, p.build)
    cfg = copy.deepcopy(p.cfg)
    assert teacher_mod.teacher_stream(cfg, ds) is ds.train
    cfg.sections["teacher"]["recipe_lines"] = 3400
    stream = teacher_mod.teacher_stream(cfg, ds)
    assert np.array_equal(stream[:len(ds.train)], ds.train)
    extra = ds.tokenizer.decode(stream[len(ds.train):]).splitlines()
    assert len(extra) == 400
    held = data_mod.holdout_pairs(cfg)
    assert extra == grammars.builtin("smarthome").generate(3400, 1, keep=lambda m: not (m.pairs & held))[3000:]
    assert teacher_mod.teacher_hash(cfg) != teacher_mod.teacher_hash(p.cfg)
