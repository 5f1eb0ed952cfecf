"""Stage `train`: a seeded, resumable Keras training run.

A custom loop over a fixed, seeded order of training windows (a permutation per epoch), so an
interrupted run resumes at the exact step it stopped at: the checkpoint holds weights, the
optimizer's state (Adam moments, step count) and the position, and a resumed run ends with the
same weights as an uninterrupted one. Outputs in build/train/: weights.npz (float weights by
name), metrics.json, checkpoint.npz (while unfinished), stamp.json (the run's inputs and the
content hash of each output, core/fsutil.py: a damaged output is named before use, and a
retrain says which input changed), history.json (loss, validation, learning rate and time by
step, history.py; what `tlmc report` draws).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data import dataset as data_mod
from . import history as history_mod
from . import metrics as metrics_mod
from . import limits
from . import models
from ..core.config import Config
from ..core.errors import Damaged, NotBuilt, TlmcError
from ..core.fsutil import (atomic_save_npz, atomic_write_json, check_writable, hash_json, load_npz, read_json,
                           stamp_status, write_stamp)
from ..core.progress import Progress, log, phase
from ..core.tfenv import tf as _tf


class Interrupted(TlmcError):
    exit_code = 130


def stage_inputs(cfg: Config, data_hash: str) -> dict:
    """What a scratch student is trained from: the data stage's output and [model], [train]."""
    return {"data": data_hash, "model": cfg["model"], "train": hashed_train(cfg)}


def hashed_train(cfg: Config) -> dict:
    """[train] as the stage hashes it: `label_smoothing` left out when 0, so a project written
    before the field existed keeps its trained model."""
    return {k: v for k, v in cfg["train"].items() if not (k == "label_smoothing" and v == 0)}


def stage_hash(cfg: Config, data_hash: str) -> str:
    return hash_json(stage_inputs(cfg, data_hash))


# how a stamp's non-tlm.toml inputs read in "retraining: ..." and stale-build messages
INPUT_LABELS = {"data": "the training data", "soft": "the teacher's soft targets", "stream": "the training stream"}
OUTPUTS = ("weights.npz", "metrics.json", "model.keras")  # what a stage's stamp records the hash of
OUTPUT_BYTES_PER_PARAM = 32  # float32 weights in weights.npz and model.keras, a checkpoint (+ Adam), temp copies


def schedule(n_windows: int, t: dict) -> tuple[int, int]:
    """(steps per epoch, total steps)."""
    per_epoch = max(1, n_windows // t["batch"])
    total = t["steps"] if t["steps"] > 0 else per_epoch * t["epochs"]
    return per_epoch, total


_perm_cache: dict[tuple[int, int, int], np.ndarray] = {}


def batch_indices(n: int, batch: int, seed: int, epoch: int, step_in_epoch: int) -> np.ndarray:
    """Indices of one batch: a fixed permutation of the windows per (seed, epoch)."""
    key = (n, seed, epoch)
    if key not in _perm_cache:
        _perm_cache.clear()
        _perm_cache[key] = np.random.default_rng([seed, epoch]).permutation(n)
    s = step_in_epoch * batch
    return _perm_cache[key][s:s + batch]


def window_batches(stream: np.ndarray, positions: np.ndarray, context: int,
                   batch: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(windows [b, context], targets [b]) for the target `positions`, `batch` at a time."""
    for s in range(0, len(positions), batch):
        yield data_mod.windows(stream, positions[s:s + batch], context)


def chunk_starts(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """Starts of the non-overlapping training sequences of a step model (x = [s, s+T), y = x + 1)."""
    n = (len(stream) - 1) // seq_len
    return np.arange(n, dtype=np.int64) * seq_len


def sequences(stream: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    idx = starts[:, None] + np.arange(seq_len)[None, :]
    return stream[idx].astype(np.int32), stream[idx + 1].astype(np.int32)


def sequence_batches(stream: np.ndarray, starts: np.ndarray, seq_len: int,
                     batch: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(sequences [b, seq_len], targets [b, seq_len]) of the chunks at `starts`, `batch` at a
    time; a sequence model scores each chunk from a zero state (a streaming figure comes from
    `tlmc quantize` and `tlmc eval`)."""
    for s in range(0, len(starts), batch):
        yield sequences(stream, starts[s:s + batch], seq_len)


def eval_positions(positions: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    if len(positions) <= limit:
        return positions
    return np.sort(np.random.default_rng(seed).choice(positions, size=limit, replace=False))


@dataclass
class Job:
    """One training run: a model config and budget over a training stream, into `out`.
    `soft` (distillation) holds top-k teacher logits per stream position (toolchain/train/distill.py)."""

    name: str  # "train", "teacher", "distill": the log prefix
    out: Path
    hash: str
    model_cfg: dict
    train_cfg: dict
    train: np.ndarray
    val: np.ndarray
    context: int
    vocab: int
    soft: Any = None  # distill.SoftTargets
    distill_cfg: dict | None = None
    weights: np.ndarray | None = None  # loss weight of each stream position as a target (None: 1, <pad> 0)
    inputs: dict | None = None  # what `hash` hashes, kept in the stamp to say later which input changed
    extra_metrics: dict | None = None  # recorded with the metrics of a finished run


def run(cfg: Config, build: Path, *, force: bool = False, stop_after_steps: int | None = None,
        progress: bool | None = None) -> dict:
    """Train (or resume, or reuse) the model of `cfg` from scratch; returns the metrics dict.

    `stop_after_steps` simulates Ctrl-C after that many steps of this call (for tests)."""
    check_limits(cfg)  # a model too big whatever the vocabulary: refused before the data stage
    ds = data_mod.prepare(cfg, build, log)
    check_limits(cfg, ds.tokenizer.vocab_size)
    inputs = stage_inputs(cfg, data_mod.stage_hash(cfg))
    job = Job("train", build / "train", hash_json(inputs), cfg["model"], cfg["train"],
              ds.train, ds.val, ds.context, ds.tokenizer.vocab_size,
              weights=data_mod.target_weights(ds.train, ds.tokenizer, cfg["train"]["utterance_weight"]),
              inputs=inputs)
    return fit(job, force=force, stop_after_steps=stop_after_steps, progress=progress)


def check_limits(cfg: Config, vocab: int | None = None) -> dict:
    """train.limits for the deployed student of `cfg`: its size for this machine and, once the
    vocabulary is known, for the flash of `[board] id`. ConfigError (exit 2) before any work."""
    from ..core import boards

    board = boards.resolve(cfg["board"]["id"]) if vocab is not None else None
    return limits.check(cfg["model"], cfg["train"], vocab or 2, where=cfg.path.name, board=board)


def status(out: Path, h: str, inputs: dict | None = None) -> str | None:
    """None when `out` holds the finished run of inputs hashed `h`, its files intact; else why
    not ("not built", or which input changed). A damaged output raises Damaged."""
    return stamp_status(out, h, required=("weights.npz", "metrics.json"), inputs=inputs, labels=INPUT_LABELS,
                        record=OUTPUTS)


def is_current(out: Path, h: str) -> bool:
    return status(out, h) is None


def cached_metrics(out: Path, h: str) -> dict | None:
    """The metrics of a finished run with hash `h` in `out` (marked cached), or None."""
    if not is_current(out, h):
        return None
    metrics = read_json(out / "metrics.json")
    metrics["cached"] = True
    return metrics


def fit(job: Job, *, force: bool = False, stop_after_steps: int | None = None, progress: bool | None = None) -> dict:
    """The training loop shared by scratch students, teachers and distilled students.

    A checkpoint of this very run (same inputs) is resumed even when an earlier finished run
    of the same inputs exists: that is an interrupted `--force`, which the user asked to redo."""
    out, h = job.out, job.hash
    m, t = job.model_cfg, job.train_cfg
    resume = None if force else _checkpoint_of(out, h, job.name)
    why = "--force" if force else None
    if not force and resume is None:
        why = status(out, h, job.inputs)
        if why is None:
            return cached_metrics(out, h)
    teacher = job.name == "teacher"
    est = limits.check(m, t, job.vocab, section="[teacher]" if teacher else "[model]",
                       train_section="[teacher]" if teacher else "[train]")
    check_writable(out, OUTPUT_BYTES_PER_PARAM * est["params"] + (1 << 20))  # before the work, not after
    if why == "--force":
        log(f"{job.name}: training from scratch (--force)")
    elif why not in (None, "not built"):
        log(f"{job.name}: retraining: {why}")

    with phase(f"{job.name}: starting TensorFlow"):
        tf = _tf()
    arch = models.get(m["arch"])
    tf.keras.utils.set_random_seed(t["seed"])
    tf.config.experimental.enable_op_determinism()
    model = arch.build(m, job.vocab)
    step_model = arch.kind == "step"
    seq_len = t["seq_len"]
    train_stream = job.train
    context = job.context if step_model else m["context"]  # a teacher's window may differ from the stream's pads
    train_pos = chunk_starts(train_stream, seq_len) if step_model else data_mod.target_positions(train_stream, context)
    soft = job.soft
    weights = job.weights if job.weights is not None else (train_stream != 0).astype(np.float32)

    def get_batch(idx):
        if step_model:
            x, y = sequences(train_stream, train_pos[idx], seq_len)
            targets = train_pos[idx][:, None] + 1 + np.arange(seq_len)[None, :]
        else:
            x, y = data_mod.windows(train_stream, train_pos[idx], context)
            targets = train_pos[idx]
        w = weights[targets]
        if soft is None:
            return x, y, w
        return x, y, w, soft.ids[targets].astype(np.int32), soft.logits[targets].astype(np.float32)

    def evaluate(stream, limit, seed=0):
        fn = lambda x: model(x, training=False).numpy()  # noqa: E731
        if step_model:
            starts = eval_positions(chunk_starts(stream, seq_len), max(1, limit // seq_len), seed)
            return metrics_mod.score_batches(fn, sequence_batches(stream, starts, seq_len))
        pos = data_mod.target_positions(stream, context)
        return metrics_mod.score_batches(fn, window_batches(stream, eval_positions(pos, limit, seed), context))
    per_epoch, total = schedule(len(train_pos), t)
    lr = tf.keras.optimizers.schedules.CosineDecay(t["lr"], decay_steps=total, alpha=0.1)
    opt = tf.keras.optimizers.Adam(learning_rate=lr)
    opt.build(model.trainable_variables)

    step = 0
    ckpt, ckpt_meta = out / "checkpoint.npz", out / "checkpoint.json"
    if resume is not None:
        meta, z = resume
        model.set_weights([z[f"w{i}"] for i in range(meta["n_weights"])])
        for i, v in enumerate(opt.variables):
            v.assign(z[f"o{i}"])
        step = meta["step"]
        log(f"{job.name}: resuming at step {step}/{total} (epoch {step // per_epoch + 1})")
    val_sampled = (len(chunk_starts(job.val, seq_len)) > max(1, VAL_SAMPLE // seq_len) if step_model
                   else len(data_mod.target_positions(job.val, context)) > VAL_SAMPLE)

    hist = history_mod.History.start(out / history_mod.FILE, job.name, h, total, per_epoch, t["batch"], step)

    def save_checkpoint(at: int) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(opt.variables)})
        atomic_save_npz(ckpt, **arrays)
        atomic_write_json(ckpt_meta, {"hash": h, "step": at, "n_weights": len(model.get_weights())})
        hist.save(at)

    smoothing = float(t.get("label_smoothing", 0.0))

    def hard_loss(y, w, logits):
        return weighted_ce(tf, y, w, logits, smoothing)

    @tf.function(jit_compile=False, reduce_retracing=True)
    def train_step(x, y, w):
        with tf.GradientTape() as tape:
            loss = hard_loss(y, w, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    if soft is not None:
        temp = float(job.distill_cfg["temperature"])
        alpha = float(job.distill_cfg["alpha"])

        @tf.function(jit_compile=False, reduce_retracing=True)
        def distill_step(x, y, w, sid, slog):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                ce = hard_loss(y, w, logits)
                kl = distill_kl(tf, logits, sid, slog, temp)
                soft_loss = tf.reduce_sum(kl * w) / tf.maximum(tf.reduce_sum(w), 1e-6)
                loss = alpha * temp * temp * soft_loss + (1.0 - alpha) * ce
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

    params, macs = arch.count(arch.weights(model), m)
    log(f"{job.name}: {m['arch']} {params:,} params, {macs:,} MACs/token, {len(train_pos):,} "
        f"{'sequences' if step_model else 'windows'}, {total} steps of {t['batch']}"
        + (f", label smoothing {smoothing:g}" if smoothing > 0 else "")
        + (f", distilling (T={job.distill_cfg['temperature']}, alpha={job.distill_cfg['alpha']}, "
           f"top-{soft.k})" if soft is not None else ""))
    t0 = time.monotonic()
    done_here = 0
    losses: list[float] = []
    try:
        while step < total:
            epoch = step // per_epoch
            bar = Progress(min(per_epoch, total - epoch * per_epoch), span_label(job.name, epoch, per_epoch, total),
                           enabled=progress)
            while step < total and step // per_epoch == epoch:
                if stop_after_steps is not None and done_here >= stop_after_steps:
                    raise KeyboardInterrupt
                idx = batch_indices(len(train_pos), t["batch"], t["seed"], epoch, step % per_epoch)
                batch = [tf.constant(a) for a in get_batch(idx)]
                losses.append(float(distill_step(*batch) if soft is not None else train_step(*batch)))
                step += 1
                done_here += 1
                hist.add_loss(step, losses[-1], lambda s: float(lr(s)))
                if hist.val_due(step):
                    hist.add_val(step, evaluate(job.val, 20000))
                if step % t["checkpoint_steps"] == 0:
                    save_checkpoint(step)
                bar.update(step - epoch * per_epoch, f"loss {np.mean(losses[-50:]):.3f}")
            save_checkpoint(step)
            val = evaluate(job.val, 20000)
            hist.add_val(step, val)
            hist.save(step)
            bar.close(f"loss {np.mean(losses[-per_epoch:]):.4f}  val CE {val['ce']:.4f}  "
                      f"ppl {val['ppl']:.2f}  acc {val['acc']:.3f}"
                      + (f"  (on a {val['n']:,}-target sample; the final figure scores them all)" if val_sampled else ""))
    except KeyboardInterrupt:
        save_checkpoint(step)
        again = {"train": "tlmc train", "teacher": "tlmc train --teacher", "distill": "tlmc distill"}.get(job.name, "it")
        raise Interrupted(f"{job.name}: interrupted at step {step}/{total}; checkpoint saved in {ckpt.parent}; "
                          f"run '{again}' again to resume") from None

    weights = arch.weights(model)
    with phase(f"{job.name}: final validation on every validation target"):
        val = evaluate(job.val, 10**9)
        tr = evaluate(train_stream, VAL_SAMPLE, 1)
    metrics = {"arch": m["arch"], "params": params, "macs_per_token": macs, "steps": total,
               "train_seconds": round(time.monotonic() - t0, 2), "vocab_size": job.vocab,
               "val_ce": val["ce"], "val_ppl": val["ppl"], "val_acc": val["acc"], "val_windows": val["n"],
               "train_ce": tr["ce"], "final_loss": float(np.mean(losses[-50:])) if losses else None,
               "distilled": soft is not None, **(job.extra_metrics or {})}
    atomic_save_npz(out / "weights.npz", **weights)
    save_keras(model, out / "model.keras")
    hist.save(total, {k: metrics[k] for k in ("val_ce", "val_ppl", "val_acc", "train_ce", "train_seconds")})
    atomic_write_json(out / "metrics.json", metrics)
    write_stamp(out, h, OUTPUTS, job.inputs)
    for p in (ckpt, ckpt_meta):
        p.unlink(missing_ok=True)
    metrics["cached"] = False
    return metrics


def weighted_ce(tf, y, w, logits, smoothing: float = 0.0):
    """Weighted mean CE; `w` is 0 at <pad> targets (never trained on), else the position's
    weight. With `[train] label_smoothing` e > 0 the target puts 1 - e on the true id and e
    spread evenly over every id (Keras' label smoothing): the wrong ids' logits stop short of
    minus infinity, so a value never seen after some intent is not learnt as impossible there."""
    if smoothing > 0:
        vocab = logits.shape[-1]
        ce = tf.keras.losses.categorical_crossentropy(tf.one_hot(y, vocab), logits, from_logits=True,
                                                      label_smoothing=smoothing)
    else:
        ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return tf.reduce_sum(ce * w) / tf.maximum(tf.reduce_sum(w), 1e-6)


def distill_kl(tf, logits, sid, slog, temp: float):
    """Per-position KL(teacher_T || student_T) over the teacher's top-k ids: the teacher's top-k
    logits are softened by `temp` and renormalised over those k ids; the student's log-probs are
    taken over its full vocabulary (softened by the same `temp`) at the k ids."""
    s_logp = tf.nn.log_softmax(logits / temp, axis=-1)
    s_at = tf.gather(s_logp, sid, batch_dims=len(sid.shape) - 1)
    t_logp = tf.nn.log_softmax(slog / temp, axis=-1)
    return tf.reduce_sum(tf.exp(t_logp) * (t_logp - s_at), axis=-1)


def save_keras(model, path: Path) -> None:
    """The trained Keras model as one .keras file (atomically): what `tlmc eval` and a
    `[teacher] keras_model` load."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)


def load_weights(build: Path, stage: str = "train") -> dict[str, np.ndarray]:
    p = build / stage / "weights.npz"
    if not p.is_file():
        cmd = {"teacher": "tlmc train --teacher"}.get(stage, f"tlmc {stage}")
        raise NotBuilt(f"{p}: no trained model; run '{cmd}' first")
    return load_npz(p)


VAL_SAMPLE = 20000  # validation targets an epoch's line scores (the final figure scores all)


def span_label(name: str, epoch: int, per_epoch: int, total: int) -> str:
    """The progress label of one epoch: "train epoch 2/3"; a last epoch cut short says how
    much of it runs, and a run shorter than one epoch says so ("train (300 steps, 0.21 of an
    epoch)") rather than calling itself an epoch."""
    if total < per_epoch:
        return f"{name} ({total:,} steps, {total / per_epoch:.2f} of an epoch)"
    n_epochs = -(-total // per_epoch)
    steps = min(per_epoch, total - epoch * per_epoch)
    return f"{name} epoch {epoch + 1}/{n_epochs}" + (f" ({steps:,} of {per_epoch:,} steps)" if steps < per_epoch else "")


def _checkpoint_of(out: Path, h: str, name: str):
    """(meta, arrays) of an unfinished run of inputs `h` in `out`, or None (also when the
    checkpoint belongs to other inputs, or is damaged: the run then starts over)."""
    ckpt, ckpt_meta = out / "checkpoint.npz", out / "checkpoint.json"
    if not (ckpt.is_file() and ckpt_meta.is_file()):
        return None
    try:
        meta = read_json(ckpt_meta)
        if meta.get("hash") != h:
            log(f"{name}: config or data changed since the checkpoint; starting over")
            return None
        return meta, load_npz(ckpt)
    except Damaged as e:
        log(f"{name}: the checkpoint is damaged ({e.why}); starting over")
        return None
