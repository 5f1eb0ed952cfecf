"""Stage `train`: a seeded, resumable Keras training run.

A custom loop over a fixed, seeded order of training windows (a permutation per epoch), so an
interrupted run resumes at the exact step it stopped at: the checkpoint holds weights, the
optimizer's state (Adam moments, step count) and the position, and a resumed run ends with the
same weights as an uninterrupted one. Outputs in build/train/: weights.npz (float weights by
name), metrics.json, checkpoint.npz (while unfinished), stamp.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data import dataset as data_mod
from . import metrics as metrics_mod
from . import models
from ..core.config import Config
from ..core.errors import TlmcError
from ..core.fsutil import atomic_save_npz, atomic_write_json, hash_json, read_json
from ..core.progress import Progress, log
from ..core.tfenv import tf as _tf


class Interrupted(TlmcError):
    exit_code = 130


def stage_hash(cfg: Config, data_hash: str) -> str:
    return hash_json({"data": data_hash, "model": cfg["model"], "train": cfg["train"]})


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


def run(cfg: Config, build: Path, *, force: bool = False, stop_after_steps: int | None = None,
        progress: bool | None = None) -> dict:
    """Train (or resume, or reuse) the model of `cfg` from scratch; returns the metrics dict.

    `stop_after_steps` simulates Ctrl-C after that many steps of this call (for tests)."""
    ds = data_mod.prepare(cfg, build, log)
    job = Job("train", build / "train", stage_hash(cfg, data_mod.stage_hash(cfg)), cfg["model"], cfg["train"],
              ds.train, ds.val, ds.context, ds.tokenizer.vocab_size,
              weights=data_mod.target_weights(ds.train, ds.tokenizer, cfg["train"]["utterance_weight"]))
    return fit(job, force=force, stop_after_steps=stop_after_steps, progress=progress)


def is_current(out: Path, h: str) -> bool:
    stamp = out / "stamp.json"
    return stamp.is_file() and read_json(stamp).get("hash") == h and (out / "weights.npz").is_file()


def cached_metrics(out: Path, h: str) -> dict | None:
    """The metrics of a finished run with hash `h` in `out` (marked cached), or None."""
    if not is_current(out, h):
        return None
    metrics = read_json(out / "metrics.json")
    metrics["cached"] = True
    return metrics


def fit(job: Job, *, force: bool = False, stop_after_steps: int | None = None, progress: bool | None = None) -> dict:
    """The training loop shared by scratch students, teachers and distilled students."""
    out, h = job.out, job.hash
    if not force and (metrics := cached_metrics(out, h)) is not None:
        return metrics

    tf = _tf()
    m, t = job.model_cfg, job.train_cfg
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
    if not force and ckpt.is_file() and ckpt_meta.is_file():
        meta = read_json(ckpt_meta)
        if meta.get("hash") == h:
            z = np.load(ckpt)
            model.set_weights([z[f"w{i}"] for i in range(meta["n_weights"])])
            for i, v in enumerate(opt.variables):
                v.assign(z[f"o{i}"])
            step = meta["step"]
            log(f"{job.name}: resuming at step {step}/{total} (epoch {step // per_epoch + 1})")
        else:
            log(f"{job.name}: config or data changed since the checkpoint; starting over")

    def save_checkpoint(at: int) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(opt.variables)})
        atomic_save_npz(ckpt, **arrays)
        atomic_write_json(ckpt_meta, {"hash": h, "step": at, "n_weights": len(model.get_weights())})

    def hard_loss(y, w, logits):
        """Weighted mean CE; `w` is 0 at <pad> targets (never trained on), else the position's weight."""
        ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return tf.reduce_sum(ce * w) / tf.maximum(tf.reduce_sum(w), 1e-6)

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
        + (f", distilling (T={job.distill_cfg['temperature']}, alpha={job.distill_cfg['alpha']}, "
           f"top-{soft.k})" if soft is not None else ""))
    t0 = time.monotonic()
    done_here = 0
    losses: list[float] = []
    try:
        while step < total:
            epoch = step // per_epoch
            bar = Progress(min(per_epoch, total - epoch * per_epoch), f"{job.name} epoch {epoch + 1}", enabled=progress)
            while step < total and step // per_epoch == epoch:
                if stop_after_steps is not None and done_here >= stop_after_steps:
                    raise KeyboardInterrupt
                idx = batch_indices(len(train_pos), t["batch"], t["seed"], epoch, step % per_epoch)
                batch = [tf.constant(a) for a in get_batch(idx)]
                losses.append(float(distill_step(*batch) if soft is not None else train_step(*batch)))
                step += 1
                done_here += 1
                if step % t["checkpoint_steps"] == 0:
                    save_checkpoint(step)
                bar.update(step - epoch * per_epoch, f"loss {np.mean(losses[-50:]):.3f}")
            save_checkpoint(step)
            val = evaluate(job.val, 20000)
            bar.close(f"loss {np.mean(losses[-per_epoch:]):.4f}  val CE {val['ce']:.4f}  "
                      f"ppl {val['ppl']:.2f}  acc {val['acc']:.3f}")
    except KeyboardInterrupt:
        save_checkpoint(step)
        again = {"train": "tlmc train", "teacher": "tlmc train --teacher", "distill": "tlmc distill"}.get(job.name, "it")
        raise Interrupted(f"{job.name}: interrupted at step {step}/{total}; checkpoint saved in {ckpt.parent}; "
                          f"run '{again}' again to resume") from None

    weights = arch.weights(model)
    val = evaluate(job.val, 10**9)
    tr = evaluate(train_stream, 20000, 1)
    metrics = {"arch": m["arch"], "params": params, "macs_per_token": macs, "steps": total,
               "train_seconds": round(time.monotonic() - t0, 2), "vocab_size": job.vocab,
               "val_ce": val["ce"], "val_ppl": val["ppl"], "val_acc": val["acc"], "val_windows": val["n"],
               "train_ce": tr["ce"], "final_loss": float(np.mean(losses[-50:])) if losses else None,
               "distilled": soft is not None}
    atomic_save_npz(out / "weights.npz", **weights)
    save_keras(model, out / "model.keras")
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_json(out / "stamp.json", {"hash": h})
    for p in (ckpt, ckpt_meta):
        p.unlink(missing_ok=True)
    metrics["cached"] = False
    return metrics


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
        raise TlmcError(f"{p}: no trained model; run 'tlmc {stage}' first")
    z = np.load(p)
    return {k: z[k] for k in z.files}
