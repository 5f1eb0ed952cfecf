"""The float teacher of a distilled project: its config and identity, its training stream
(the student's plus `[teacher] recipe_lines`), training it (`tlmc train --teacher`) and loading
it as a float LM or a one-token-at-a-time stepper. Distillation and synthetic data both start
here, so neither imports the other for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.config import Config
from ..core.errors import UsageError
from ..core.fsutil import hash_json, sha256_file
from ..core.progress import log
from ..data import dataset as data_mod
from . import loop as train_mod
from . import predict


def teacher_model_cfg(cfg: Config) -> dict:
    t = cfg["teacher"]
    return {"arch": t["arch"], "context": t["context"], "embed": t["embed"], "hidden": list(t["hidden"])}


def teacher_train_cfg(cfg: Config) -> dict:
    t = cfg["teacher"]
    return {"epochs": t["epochs"], "steps": t["steps"], "batch": t["batch"], "seq_len": t["seq_len"], "lr": t["lr"],
            "seed": cfg["train"]["seed"], "checkpoint_steps": cfg["train"]["checkpoint_steps"],
            "utterance_weight": cfg["train"]["utterance_weight"]}


def require_teacher(cfg: Config) -> None:
    if not cfg.has_teacher():
        raise UsageError(f"{cfg.path.name}: no teacher; set [teacher] arch = \"gru\" (or keras_model / soft_targets) "
                         f"in {cfg.path.name}")


def teacher_hash(cfg: Config) -> str:
    """Identifies the teacher: its config and data, or the content of the user's file."""
    t = cfg["teacher"]
    if t["keras_model"]:
        return hash_json({"keras_model": sha256_file(cfg.teacher_path("keras_model"))})
    if t["soft_targets"]:
        return hash_json({"soft_targets": sha256_file(cfg.teacher_path("soft_targets"))})
    return hash_json({"data": data_mod.stage_hash(cfg), "model": teacher_model_cfg(cfg),
                      "train": teacher_train_cfg(cfg), "recipe_lines": t["recipe_lines"]})


def train_teacher(cfg: Config, build: Path, *, force: bool = False, progress: bool | None = None,
                  stop_after_steps: int | None = None) -> dict:
    """`tlmc train --teacher`: train (resume, reuse) the float teacher of `[teacher] arch`."""
    require_teacher(cfg)
    t = cfg["teacher"]
    if not t["arch"]:
        what = "keras_model" if t["keras_model"] else "soft_targets"
        raise UsageError(f"{cfg.path.name}: [teacher] {what} = {t[what]!r} is given, so there is no teacher to train; "
                         f"run 'tlmc distill'")
    ds = data_mod.prepare(cfg, build, log)
    tc = teacher_train_cfg(cfg)
    h = teacher_hash(cfg)
    if not force and (metrics := train_mod.cached_metrics(build / "teacher", h)) is not None:
        return metrics
    stream = teacher_stream(cfg, ds)
    job = train_mod.Job("teacher", build / "teacher", h, teacher_model_cfg(cfg), tc,
                        stream, ds.val, ds.context, ds.tokenizer.vocab_size,
                        weights=data_mod.target_weights(stream, ds.tokenizer, tc["utterance_weight"]))
    return train_mod.fit(job, force=force, progress=progress, stop_after_steps=stop_after_steps)


def teacher_stream(cfg: Config, ds: data_mod.Dataset) -> np.ndarray:
    """The teacher's training stream: the student's, plus (`[teacher] recipe_lines`) the recipe's
    (or grammar's) next lines. Both are prefix-stable, so the extra lines continue the project's corpus and
    none of them is a validation line by construction (a repeated phrasing can recur, as within
    the project's own split)."""
    n, d = cfg["teacher"]["recipe_lines"], cfg["data"]
    if not n:
        return ds.train
    from ..data import commands

    held = data_mod.holdout_pairs(cfg)
    extra = commands.source(cfg).lines(n, d["recipe_seed"], held=held)[d["recipe_lines"]:]
    log(f"teacher: {len(extra):,} more recipe lines than the student sees")
    return np.concatenate([ds.train, data_mod.to_stream([ln + "\n" for ln in extra], ds.tokenizer, ds.context)])


def teacher_lm(cfg: Config, build: Path, vocab: int, *, train_if_needed: bool = True) -> predict.FloatLM | None:
    """The teacher as a float LM over this project's ids (None when only soft targets exist)."""
    t = cfg["teacher"]
    if t["keras_model"]:
        return predict.load(cfg.teacher_path("keras_model"), vocab)
    if t["soft_targets"]:
        return None
    if train_if_needed:
        train_teacher(cfg, build)
    elif not train_mod.is_current(build / "teacher", teacher_hash(cfg)):
        return None
    return predict.load(build / "teacher" / "model.keras", vocab)


def teacher_stepper(cfg: Config, build: Path) -> predict.Stepper | None:
    """A batched one-token-at-a-time teacher for sampling (registry teachers only)."""
    if not cfg["teacher"]["arch"]:
        return None
    train_teacher(cfg, build)
    return predict.Stepper(cfg["teacher"]["arch"], train_mod.load_weights(build, "teacher"), teacher_model_cfg(cfg))
