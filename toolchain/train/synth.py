"""Stage `synth`: synthetic training text sampled from the teacher, filtered and deduplicated.

Documents are sampled the way the data stage cuts them: for line documents (the commands
recipe, `documents = "lines"`) each sample starts from a fresh document and ends at its newline;
for file documents each sample continues a random 32-token prompt from the real training text
(the prompt is not kept) for up to `max_chars` tokens. Filters, in order: the character set
(<pad> and <unk> are never sampled; byte-level samples must be valid UTF-8), length
(`min_chars`; a line that does not end within `max_chars` is dropped), the commands format
(`<utterance> => <command>` with a command its recipe or grammar can write) for commands
projects, and exact duplicates (of each other and of real training documents). Output in
build/synth/: synth.txt (one document per sample, for reading), synth.npz (the token stream the
student trains on), report.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data import commands as commands_mod
from ..data import dataset as data_mod
from ..core.config import Config
from ..core.errors import UsageError
from ..core.fsutil import atomic_save_npz, atomic_write_json, atomic_write_text, hash_json, read_json
from .predict import sample_rows
from ..core.progress import Progress, log
from ..data.tokenizer import PAD, UNK

PROMPT_TOKENS = 32


def stage_hash(cfg: Config) -> str:
    """The teacher and the sampling settings (not the token count, nor the mixing ratio)."""
    from .teacher import teacher_hash

    s = {k: v for k, v in cfg["synth"].items() if k not in ("tokens", "ratio")}
    return hash_json({"teacher": teacher_hash(cfg), "synth": s, "v": 1})


def is_current(cfg: Config, build: Path, tokens: int | None = None) -> bool:
    """Is there synthetic text from the current teacher and settings (of `tokens` requested
    tokens, if given)?"""
    rep = build / "synth" / "report.json"
    if not rep.is_file() or not (build / "synth" / "synth.npz").is_file():
        return False
    r = read_json(rep)
    return r.get("hash") == stage_hash(cfg) and (tokens is None or r.get("requested_tokens") == tokens)


def _valid_command_line(text: str, source) -> bool:
    """`<utterance> => <command>` with a command its generator (`data.commands.source`) can write."""
    from ..data import lines

    try:
        utterance, command = lines.parse_line(text)
    except ValueError:
        return False
    return bool(utterance.strip()) and source.is_command(command)


def run(cfg: Config, build: Path, *, tokens: int | None = None, force: bool = False,
        progress: bool | None = None) -> dict:
    """Sample (or reuse) `tokens` synthetic tokens (default `[synth] tokens`); returns the report."""
    from .teacher import require_teacher, teacher_stepper

    require_teacher(cfg)
    s = cfg["synth"]
    tokens = s["tokens"] if tokens is None else tokens
    if tokens <= 0:
        raise UsageError(f"{cfg.path.name}: [synth] tokens = {tokens}: nothing to sample; pass --tokens N or set [synth] tokens")
    out = build / "synth"
    h = stage_hash(cfg)
    if not force and is_current(cfg, build, tokens):
        rep = read_json(out / "report.json")
        rep["cached"] = True
        return rep
    stepper = teacher_stepper(cfg, build)
    if stepper is None:
        raise UsageError(f"{cfg.path.name}: synthetic text is sampled from a [teacher] arch model; a keras_model "
                         f"or soft_targets teacher cannot be stepped here")
    ds = data_mod.prepare(cfg, build, log)
    tok = ds.tokenizer
    lines = cfg.documents() == "lines"
    commands = commands_mod.source(cfg)  # None: not a commands project
    newline = tok.encode("\n")
    stop = int(newline[0]) if lines and len(newline) == 1 and newline[0] != UNK else None
    if lines and stop is None:
        raise UsageError("[synth]: line documents need a newline token in the vocabulary")
    seen = set(_real_documents(ds.train, tok)) if lines else set()
    rng = np.random.default_rng(s["seed"])
    doc_starts = np.flatnonzero(ds.train != PAD)
    kept: list[str] = []
    kept_tokens = 0
    counts = {"sampled": 0, "too_short": 0, "unfinished": 0, "charset": 0, "format": 0, "duplicate": 0}
    t0 = time.monotonic()
    rows = 256
    bar = Progress(tokens, "synth", enabled=progress)
    while kept_tokens < tokens:
        prompts = None
        if not lines:
            starts = rng.choice(doc_starts[doc_starts < len(ds.train) - PROMPT_TOKENS], size=rows)
            prompts = ds.train[starts[:, None] + np.arange(PROMPT_TOKENS)[None, :]]
        got = sample_rows(stepper, rows, s["max_chars"] + (1 if lines else 0), rng, s["temperature"], stop,
                          banned=(PAD, UNK), prompts=prompts)
        for row in got:
            ids = row[row >= 0]
            counts["sampled"] += 1
            if lines:
                if len(ids) == 0 or ids[-1] != stop:
                    counts["unfinished"] += 1
                    continue
            try:
                text = tok.decode(ids.tolist(), errors="strict")
            except UnicodeDecodeError:
                counts["charset"] += 1
                continue
            if len(text.rstrip("\n")) < s["min_chars"]:
                counts["too_short"] += 1
                continue
            if commands is not None and not _valid_command_line(text.rstrip("\n"), commands):
                counts["format"] += 1
                continue
            if text in seen:
                counts["duplicate"] += 1
                continue
            seen.add(text)
            kept.append(text)
            kept_tokens += len(ids) + ds.context
            if kept_tokens >= tokens:
                break
        bar.update(min(kept_tokens, tokens))
        if counts["sampled"] >= 10 * rows and len(kept) < 0.05 * counts["sampled"]:
            raise UsageError(f"[synth]: the filters kept {len(kept)} of {counts['sampled']} samples "
                             f"({', '.join(f'{k} {v}' for k, v in counts.items() if k != 'sampled' and v)}); "
                             f"the teacher is too weak: train it longer ([teacher] steps) or lower [synth] temperature")
    stream = data_mod.to_stream(kept, tok, ds.context)
    atomic_write_text(out / "synth.txt", "".join(t if t.endswith("\n") else t + "\n" for t in kept))
    atomic_save_npz(out / "synth.npz", stream=stream)
    report = {"hash": h, "documents": len(kept), "tokens": int(len(stream)), "requested_tokens": tokens,
              "temperature": s["temperature"], "seconds": round(time.monotonic() - t0, 2),
              "kept_share": round(len(kept) / max(1, counts["sampled"]), 4), **counts}
    bar.close(f"{len(kept):,} documents, {len(stream):,} tokens, {report['kept_share']:.0%} of samples kept")
    atomic_write_json(out / "report.json", report)
    report["cached"] = False
    return report


def _real_documents(stream: np.ndarray, tok) -> list[str]:
    """The real training documents' text (split at <pad> runs), for deduplication."""
    cuts = np.flatnonzero(stream == PAD)
    docs, prev = [], 0
    for c in np.concatenate([cuts, [len(stream)]]):
        if c > prev:
            docs.append(tok.decode(stream[prev:c].tolist()))
        prev = c + 1
    return docs
