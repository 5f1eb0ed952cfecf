"""Stages `teacher` and `distill`: a bigger float teacher, its soft targets cached once, and a
student trained on them (docs/distill.md).

- teacher: `[teacher] arch` trains a float model of the registry (lstm too: teacher-only) on
  the real training stream into build/teacher/ (weights.npz, model.keras, metrics.json); or
  `[teacher] keras_model` loads a user's saved Keras model; or `[teacher] soft_targets` gives
  precomputed top-k logits and no teacher model at all.
- soft targets: the teacher's top-k logits for every position of the student's training stream
  (real text, plus synthetic text when `[synth]` mixes it in), computed once and cached in
  build/distill/soft_targets.npz, in the same format a user supplies.
- distill: the student of `[model]`, with the `[train]` budget and seed, trained on
  alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(hard labels), into build/distill/.
  A project with a teacher deploys this student (`tlmc quantize` / `build` use it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import dataset as data_mod
from . import predict
from .teacher import require_teacher, teacher_hash, teacher_lm, teacher_stream
from . import loop as train_mod
from ..core.config import Config
from ..core.errors import Damaged, UsageError
from ..core.fsutil import atomic_save_npz, atomic_write_json, hash_json, load_npz, read_json, sha256_bytes
from ..core.progress import log

SOFT_FORMAT = 1


# ---------------------------------------------------------------------------------------------
# soft targets

@dataclass
class SoftTargets:
    """Row i: the teacher's top-k logits for the token at stream position i (given what precedes
    it in its document). Rows of <pad> positions are unused."""

    ids: np.ndarray  # [N, k] int16/int32
    logits: np.ndarray  # [N, k] float16/float32
    hash: str

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])


def stream_hash(stream: np.ndarray) -> str:
    return sha256_bytes(np.ascontiguousarray(stream, np.int32).tobytes())


def soft_hash(cfg: Config, stream: np.ndarray) -> str:
    return hash_json({"teacher": teacher_hash(cfg), "stream": stream_hash(stream), "top_k": cfg["distill"]["top_k"],
                      "format": SOFT_FORMAT})


def compute_soft_targets(lm: predict.FloatLM, stream: np.ndarray, top_k: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(top_k, lm.vocab)
    ids = np.zeros((len(stream), k), np.int16 if lm.vocab < 32768 else np.int32)
    logits = np.zeros((len(stream), k), np.float16)
    for pos, z in predict.stream_logits(lm, stream, batch=batch):
        top = np.argpartition(-z, k - 1, axis=1)[:, :k]
        ids[pos] = top
        logits[pos] = np.take_along_axis(z, top, axis=1)
    return ids, logits


def load_soft_file(path: Path, stream: np.ndarray, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """A user's soft-target .npz (docs/distill.md), checked against the training stream."""
    try:
        z = np.load(path)
        files = set(z.files)
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"{path}: not a readable .npz ({type(e).__name__}); write it with numpy.savez") from None
    missing = {"tokens", "ids", "logits"} - files
    if missing:
        raise UsageError(f"{path}: missing array(s) {', '.join(sorted(missing))}; docs/distill.md lists the format")
    tokens, ids, logits = z["tokens"], z["ids"], z["logits"]
    if tokens.shape != stream.shape or not np.array_equal(tokens.astype(np.int64), stream.astype(np.int64)):
        raise UsageError(f"{path}: 'tokens' ({len(tokens):,} ids) is not this project's training stream "
                         f"({len(stream):,} ids, build/data/streams.npz 'train'); recompute the targets on it")
    if ids.ndim != 2 or ids.shape != logits.shape or ids.shape[0] != len(stream):
        raise UsageError(f"{path}: 'ids' {ids.shape} and 'logits' {logits.shape} must both be [{len(stream)}, k]")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise UsageError(f"{path}: 'ids' holds token ids outside 0..{vocab - 1}; use build/data/tokenizer.json's ids")
    if not np.isfinite(logits.astype(np.float32)).all():
        raise UsageError(f"{path}: 'logits' holds NaN or infinite values; write finite logits")
    return ids.astype(np.int32), logits.astype(np.float32)


def soft_targets(cfg: Config, build: Path, stream: np.ndarray, vocab: int, tokenizer_json: str) -> SoftTargets:
    """The cached soft targets for `stream` (computed once per teacher, stream and top-k)."""
    t, d = cfg["teacher"], cfg["distill"]
    h = soft_hash(cfg, stream)
    if t["soft_targets"]:
        ids, logits = load_soft_file(cfg.teacher_path("soft_targets"), stream, vocab)
        if ids.shape[1] > d["top_k"]:  # keep the k largest of each row
            order = np.argsort(-logits, axis=1, kind="stable")[:, :d["top_k"]]
            ids, logits = np.take_along_axis(ids, order, 1), np.take_along_axis(logits, order, 1)
        return SoftTargets(ids, logits, h)
    out = build / "distill"
    path, stamp = out / "soft_targets.npz", out / "soft_targets.json"
    if path.is_file() and stamp.is_file() and read_json(stamp).get("hash") == h:
        z = load_npz(path)
        return SoftTargets(z["ids"], z["logits"], h)
    lm = teacher_lm(cfg, build, vocab)
    t0 = time.monotonic()
    log(f"distill: teacher logits for {len(stream):,} positions (top-{d['top_k']}) ...")
    ids, logits = compute_soft_targets(lm, stream, d["top_k"], d["teacher_batch"])
    atomic_save_npz(path, tokens=stream.astype(np.int32), ids=ids, logits=logits,
                    tokenizer=np.array(tokenizer_json))
    atomic_write_json(stamp, {"hash": h, "positions": int(len(stream)), "top_k": int(ids.shape[1]),
                              "seconds": round(time.monotonic() - t0, 2)})
    log(f"distill: cached in {path} ({time.monotonic() - t0:.1f} s)")
    return SoftTargets(ids, logits, h)


# ---------------------------------------------------------------------------------------------
# the distilled student

def student_stream(cfg: Config, build: Path, ds: data_mod.Dataset, *, sample: bool = True) -> tuple[np.ndarray, dict]:
    """The distilled student's training stream: the real one, plus synthetic text by ratio.
    sample=False: do not run the synth stage (raises LookupError if it is not current)."""
    from . import synth

    s = cfg["synth"]
    none = {"synthetic_tokens": 0, "synthetic_share": 0.0}
    if s["ratio"] <= 0:
        return ds.train, none
    if not synth.is_current(cfg, build):  # no samples from this teacher yet (or settings changed)
        if s["tokens"] <= 0:
            return ds.train, none
        if cfg["teacher"]["soft_targets"]:
            raise UsageError(f"{cfg.path.name}: [synth] tokens = {s['tokens']} needs a teacher model to sample from, "
                             f"but [teacher] gives only soft_targets; set [synth] tokens = 0")
        if not sample:
            raise LookupError("synth")
        synth.run(cfg, build)
    syn = read_json(build / "synth" / "report.json")
    stream = load_npz(build / "synth" / "synth.npz")["stream"]
    # real : synthetic = (1 - ratio) : ratio, capped by what was sampled
    want = int(len(ds.train) * s["ratio"] / (1.0 - s["ratio"]))
    if want < len(stream):
        cut = np.flatnonzero(stream[:want + 1] == 0)  # end on a document boundary
        stream = stream[:int(cut[-1])] if len(cut) and cut[-1] > 0 else stream[:want]
    mixed = np.concatenate([ds.train, stream])
    return mixed, {"synthetic_tokens": int(len(stream)), "synthetic_share": round(len(stream) / len(mixed), 4),
                   "synth_hash": syn["hash"]}


def stage_inputs(cfg: Config, soft_hash: str) -> dict:
    return {"data": data_mod.stage_hash(cfg), "model": cfg["model"], "train": train_mod.hashed_train(cfg),
            "distill": cfg["distill"], "soft": soft_hash}


def stage_hash(cfg: Config, soft_hash: str) -> str:
    return hash_json(stage_inputs(cfg, soft_hash))


def run(cfg: Config, build: Path, *, force: bool = False, progress: bool | None = None,
        stop_after_steps: int | None = None) -> dict:
    """`tlmc distill`: the student of [model] with the [train] budget, taught by the teacher."""
    require_teacher(cfg)
    train_mod.check_limits(cfg)
    ds = data_mod.prepare(cfg, build, log)
    train_mod.check_limits(cfg, ds.tokenizer.vocab_size)
    stream, mix = student_stream(cfg, build, ds)
    tok_json = (build / "data" / "tokenizer.json").read_text()
    soft = soft_targets(cfg, build, stream, ds.tokenizer.vocab_size, tok_json)
    inputs = stage_inputs(cfg, soft.hash)
    extra = {**mix, "temperature": cfg["distill"]["temperature"], "alpha": cfg["distill"]["alpha"], "top_k": soft.k}
    job = train_mod.Job("distill", build / "distill", hash_json(inputs), cfg["model"], cfg["train"], stream,
                        ds.val, ds.context, ds.tokenizer.vocab_size, soft=soft, distill_cfg=cfg["distill"],
                        weights=data_mod.target_weights(stream, ds.tokenizer, cfg["train"]["utterance_weight"]),
                        inputs=inputs, extra_metrics=extra)
    return train_mod.fit(job, force=force, progress=progress, stop_after_steps=stop_after_steps)


def is_current(cfg: Config, build: Path) -> bool:
    """Is build/distill the distilled student of the current config? Runs nothing."""
    if not cfg.has_teacher() or not (build / "distill" / "stamp.json").is_file():
        return False
    ds = data_mod.prepare(cfg, build)
    try:
        stream, _ = student_stream(cfg, build, ds, sample=False)
    except LookupError:
        return False
    return train_mod.is_current(build / "distill", stage_hash(cfg, soft_hash(cfg, stream)))


def deployed_stage(cfg: Config) -> str:
    """Which student `tlmc quantize` converts: the distilled one when the project has a teacher."""
    if cfg.has_teacher():
        return "distill"
    return "train"


def deployed_status(cfg: Config, build: Path) -> str | None:
    """None when the deployed student (scratch or distilled) is trained from tlm.toml as it is
    now, its files intact; else why not ("not built", or which input changed). Trains
    nothing; Damaged when an output is."""
    from ..core.fsutil import stamp_status

    if deployed_stage(cfg) == "train":
        inputs = train_mod.stage_inputs(cfg, data_mod.stage_hash(cfg))
        why = train_mod.status(build / "train", hash_json(inputs), inputs)
        if why and train_mod.INPUT_LABELS["data"] in why:  # say what changed in the data, if its stamp still knows
            d_inputs = data_mod.stage_inputs(cfg)
            try:
                d_why = stamp_status(build / "data", hash_json(d_inputs), inputs=d_inputs, labels=data_mod.INPUT_LABELS)
            except Damaged:
                d_why = None
            if d_why and d_why != "not built":
                why = why.replace(f"{train_mod.INPUT_LABELS['data']} changed", d_why)
        return why
    if not (build / "distill" / "stamp.json").is_file():
        return "not built"
    ds = data_mod.prepare(cfg, build)
    try:
        stream, _ = student_stream(cfg, build, ds, sample=False)
    except LookupError:
        return "the synthetic text is not sampled yet"
    inputs = stage_inputs(cfg, soft_hash(cfg, stream))
    return train_mod.status(build / "distill", hash_json(inputs), inputs)


def run_deployed(cfg: Config, build: Path) -> dict:
    return run(cfg, build) if deployed_stage(cfg) == "distill" else train_mod.run(cfg, build)
