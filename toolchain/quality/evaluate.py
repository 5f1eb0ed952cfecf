"""`tlmc eval`: teacher, scratch student, distilled student and the deployed int8 student on the
same validation tokens; with `--task commands`, exact-match parse accuracy on held-out commands.

Every model is scored on the same targets: each non-<pad> token among the first `tokens`
tokens of the validation stream, predicted from what precedes it in its document (window
models: the last K tokens; sequence models: the document so far, as a device streams it). The
int8 entry is the quantize stage's model scored by the function that gives `tlmc quantize` its
int8 figure (`export.quantize.tflite_metrics`: with `--tokens` equal to `[quantize]
eval_samples` the two numbers are one; TFLM-equal arithmetic is checked elsewhere, scoring
uses LiteRT for speed). A parse is the greedy continuation of "<utterance> =>" up to the
newline, compared with the true command; int8 parses use TFLM, exactly what a device answers.
Held-out random utterances that occur word for word in training are not scored.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data import dataset as data_mod
from ..train import distill as distill_mod
from ..train import metrics as metrics_mod
from ..train import predict
from ..train import loop as train_mod
from ..core.config import Config
from ..core.errors import UsageError
from ..core.progress import log

TASKS = ("commands",)



def _float_entry(cfg: Config, build: Path, name: str, vocab: int):
    """(FloatLM or None, why not) for teacher / scratch / distilled, only if current."""
    if name == "teacher":
        if not cfg.has_teacher():
            return None, "no [teacher] in tlm.toml"
        if cfg["teacher"]["soft_targets"]:
            return None, "teacher given as soft targets only"
        lm = distill_mod.teacher_lm(cfg, build, vocab, train_if_needed=False)
        return (lm, "") if lm is not None else (None, "not trained: run 'tlmc train --teacher'")
    stage = "train" if name == "scratch" else "distill"
    if stage == "distill" and not cfg.has_teacher():
        return None, "no [teacher] in tlm.toml"
    out = build / stage
    if stage == "train":
        current = train_mod.is_current(out, train_mod.stage_hash(cfg, data_mod.stage_hash(cfg)))
    else:
        current = distill_mod.is_current(cfg, build)
    if not current:
        return None, f"not trained: run 'tlmc {stage}'"
    if not (out / "model.keras").is_file():
        return None, f"{out}/model.keras missing (trained by an older tlmc): run 'tlmc {stage} --force'"
    return predict.load(out / "model.keras", vocab), ""


def score_extras(cfg: Config, ds) -> dict:
    """Scorer keywords every entry shares (train.metrics): characters per id (bits per
    character), and for commands lines the utterance / command parts (CE of each, as the
    device sees them)."""
    tok = ds.tokenizer
    chars = np.array([len(tok.token_text(i).decode("utf-8", "replace")) for i in range(tok.vocab_size)], np.int64)
    extra: dict = {"token_chars": chars}
    if cfg.commands_source() is not None:
        w = data_mod.target_weights(ds.val, tok, 0.5)
        extra["parts"] = {"utterance": w == 0.5, "command": w == 1.0}
    return extra


def float_parses(lm: predict.FloatLM, tok, utterances: list[str]) -> list[str]:
    from .cmdparse import MAX_TOKENS, command_text, prompt

    nl = int(tok.encode("\n")[0])
    prompts = [tok.encode(prompt(u)).tolist() for u in utterances]
    outs = predict.decode(lm, prompts, MAX_TOKENS, stop_id=nl)
    return [command_text(tok.decode(o)) for o in outs]


def run(cfg: Config, build: Path, *, task: str | None = None, tokens: int = 20000, commands: int = 1000) -> dict:
    """The eval table as a dict: {"entries": {name: {...} or None}, "missing": {name: why}, ...}."""
    if task is not None and task not in TASKS:
        raise UsageError(f"--task {task}: unknown task; known: {', '.join(TASKS)}")
    if tokens < 1 or commands < 1:
        raise UsageError("--tokens and --commands must be at least 1")
    ds = data_mod.prepare(cfg, build, log)
    vocab = ds.tokenizer.vocab_size
    extra = score_extras(cfg, ds)
    int8_name = "distilled_int8" if cfg.has_teacher() else "scratch_int8"
    names = ["teacher", "scratch", "distilled", int8_name]
    sets: dict[str, list[tuple[str, str]]] = {}
    if task == "commands":
        if cfg.commands_source() is None:
            raise UsageError(f"--task commands needs a commands project ([data] recipe = \"commands\" or "
                             f"grammar = \"file.yaml\" in {cfg.path.name})")
        from . import cmdparse

        sets["random"] = cmdparse.heldout_commands(build, "random", commands)
        comp = cmdparse.heldout_commands(build, "compositional", commands)
        if comp:
            sets["compositional"] = comp
    entries: dict[str, dict | None] = {}
    parses: dict[str, dict[str, list[str]]] = {}  # entry -> split -> the parse of each utterance
    missing: dict[str, str] = {}
    for name in names:
        t0 = time.monotonic()
        if name == int8_name:
            from ..export.quantize import stage_hash as q_hash
            from ..core.fsutil import read_json

            stamp = build / "quantize" / "stamp.json"
            try:
                current = read_json(stamp).get("hash") == q_hash(cfg, build)
            except Exception:  # noqa: BLE001 - no stamp or no trained student yet
                current = False
            if not current:
                entries[name], missing[name] = None, "not quantized: run 'tlmc quantize'"
                continue
            from ..export import quantize, stream

            e = quantize.tflite_metrics(quantize.load_int8(build), stream.read_signature(build), ds.val, tokens,
                                        **extra)
            if sets:
                from . import cmdparse

                for split, pairs in sets.items():
                    got = cmdparse.decode_int8(build, [u for u, _ in pairs])
                    parses.setdefault(name, {})[split] = got
                    e[f"exact_match_{split}"] = float(np.mean([g == c for g, (_, c) in zip(got, pairs)]))
        else:
            lm, why = _float_entry(cfg, build, name, vocab)
            if lm is None:
                entries[name], missing[name] = None, why
                continue
            e = metrics_mod.score_stream(predict.stream_logits(lm, ds.val, limit=tokens), ds.val, **extra)
            for split, pairs in sets.items():
                got = float_parses(lm, ds.tokenizer, [u for u, _ in pairs])
                parses.setdefault(name, {})[split] = got
                e[f"exact_match_{split}"] = float(np.mean([g == c for g, (_, c) in zip(got, pairs)]))
        if sets:
            e["exact_match"] = e["exact_match_random"]
        e["seconds"] = round(time.monotonic() - t0, 2)
        entries[name] = e
    result = {"entries": entries, "missing": missing, "val_tokens": int(min(tokens, len(ds.val))),
              "task": task, "commands": {k: len(v) for k, v in sets.items()}, "tokenizer": ds.tokenizer.kind}
    if sets:
        from ..core.fsutil import read_json

        result["excluded_verbatim"] = int(read_json(build / "data" / "stamp.json").get("heldout_excluded_verbatim", 0))
    sc, te, di = entries.get("scratch"), entries.get("teacher"), entries.get("distilled")
    if sc and te and di and te["ce"] < sc["ce"]:  # only meaningful when the teacher is better
        result["gap_closed"] = (sc["ce"] - di["ce"]) / (sc["ce"] - te["ce"])
    save(build, result, sets, parses)
    return result


WRONG_KEPT = 300  # wrong parses kept per model and split in build/eval/commands.json


def parse_summary(pairs: list[tuple[str, str]], got: list[str]) -> dict:
    """One model's parses of one split: count, exact matches, per intent (the command's first
    word) [count, exact], and the wrong ones as [utterance, expected, got] (the first WRONG_KEPT)."""
    per_intent: dict[str, list[int]] = {}
    wrong = []
    for (utterance, truth), g in zip(pairs, got):
        row = per_intent.setdefault(truth.split(" ", 1)[0], [0, 0])
        row[0] += 1
        row[1] += g == truth
        if g != truth and len(wrong) < WRONG_KEPT:
            wrong.append([utterance, truth, g])
    return {"count": len(pairs), "exact": sum(r[1] for r in per_intent.values()),
            "per_intent": dict(sorted(per_intent.items())), "wrong": wrong}


def save(build: Path, result: dict, sets: dict, parses: dict) -> None:
    """The eval result as build/eval/<task or 'lm'>.json (what `tlmc report` reads), with the
    per-intent counts and wrong parses of each model and split for a task."""
    from ..core.fsutil import atomic_write_json

    out = dict(result, parses={name: {split: parse_summary(sets[split], got) for split, got in by_split.items()}
                               for name, by_split in parses.items()})
    atomic_write_json(Path(build) / "eval" / f"{result['task'] or 'lm'}.json", out)


def table(r: dict) -> str:
    """The text table of `run`'s result."""
    splits = sorted({k[len("exact_match_"):] for e in r["entries"].values() if e for k in e if k.startswith("exact_match_")})
    parts = [k for k in ("ce_utterance", "ce_command") if any(e and k in e for e in r["entries"].values())]
    head = (f"{'model':16}{'CE':>9}{'ppl':>9}{'acc':>8}{'bpc':>8}" + "".join(f"{'CE ' + k[3:7]:>9}" for k in parts)
            + "".join(f"{'exact ' + s[:4]:>12}" for s in splits))
    lines = [head]
    for name, e in r["entries"].items():
        if e is None:
            lines.append(f"{name:16}  -- {r['missing'][name]}")
            continue
        lines.append(f"{name:16}{e['ce']:>9.4f}{e['ppl']:>9.3f}{e['acc']:>8.4f}{e.get('bpc', float('nan')):>8.3f}"
                     + "".join(f"{e[k]:>9.4f}" if k in e else f"{'-':>9}" for k in parts)
                     + "".join(f"{100 * e['exact_match_' + s]:>11.1f}%" for s in splits))
    lines.append(f"on the first {r['val_tokens']:,} validation tokens ({r.get('tokenizer', '?')} tokens; CE in nats "
                 f"per token, bpc bits per character)"
                 + "".join(f"; {n} {s} held-out commands" for s, n in r["commands"].items()))
    if r["commands"]:
        lines.append(f"random held-out utterances exclude {r.get('excluded_verbatim', 0)} that occur word for word "
                     f"in training")
    if "gap_closed" in r:
        lines.append(f"distillation closed {100 * r['gap_closed']:.1f}% of the scratch-to-teacher CE gap")
    return "\n".join(lines)
