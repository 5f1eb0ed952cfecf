"""Project configuration: `tlm.toml`, validated field by field.

The schema below is the one source of truth for what a field may hold: `load()` checks every
field against it and `tlmc init` writes a commented file from the same defaults. Every error is
one line naming the file, the field, the value and the fix (exit code 2).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError

CONFIG_NAME = "tlm.toml"

BUILTIN_GRAMMARS = Path(__file__).resolve().parents[1] / "data" / "grammars"
RECIPE_GRAMMAR = "smarthome"   # the built-in grammar `[data] recipe = "commands"` trains on
"""Where the grammars shipped with tlmc live (data/grammar reads them; config checks the names)."""


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] | None = None  # returns a complaint, or None if fine
    help: str = ""


def _range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be from {lo} to {hi}"

    return check


def _choice(*options: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in options else "must be one of " + ", ".join(repr(o) for o in options)

    return check


def _hidden(v: Any) -> str | None:
    if not v or len(v) > 8 or not all(isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 4096 for h in v):
        return "must be a list of 1 to 8 integers from 1 to 4096, e.g. [256, 256]"
    return None


def _corpus(v: Any) -> str | None:
    if not all(isinstance(p, str) and p for p in v):
        return 'must be a list of file paths, e.g. ["data/a.txt", "data/b.txt"]'
    return None


SCHEMA: dict[str, dict[str, Field]] = {
    "project": {
        "name": Field(str, "tlm", None, "a name for reports and generated code"),
    },
    "data": {
        "recipe": Field(str, "commands", _choice("commands", ""),
                        'built-in data: "commands" = the shipped smart-home grammar (smarthome.yaml); "" to use corpus files'),
        "grammar": Field(str, "", None, "your own commands: a grammar file (path relative to this file) or a built-in "
                                        "grammar's name, instead of recipe (docs/grammar.md)"),
        "corpus": Field(list, [], _corpus, "UTF-8 text files (paths relative to this file); used when recipe is empty"),
        "recipe_lines": Field(int, 100000, _range(10, 10_000_000), "how many lines the recipe generates"),
        "recipe_seed": Field(int, 1, _range(0, 2**31 - 1), "seed of the recipe generator"),
        "documents": Field(str, "auto", _choice("auto", "lines", "files"),
                           "what the model starts fresh on: each line or each file (auto: lines for a recipe, files for a corpus)"),
        "val_fraction": Field(float, 0.1, _range(0.001, 0.5), "share of the text held out for validation"),
        "typo_lines": Field(float, 0.5, _range(0.0, 4.0),
                            "commands: extra training lines with one typo each, as a share of the training lines "
                            "(noise augmentation; validation keeps the grammar's typo rate)"),
        "value_lines": Field(float, 0.5, _range(0.0, 4.0),
                             "commands: extra training lines of commands with a value (numbers, durations, "
                             "times), as a share of the training lines"),
        "compositional": Field(float, 0.1, _range(0.0, 0.5),
                               "commands: share of (intent, value) pairs such as (light.off, kitchen) never "
                               "trained on; their lines form a compositional test set (0: none)"),
    },
    "tokenizer": {
        "kind": Field(str, "bpe", _choice("char", "byte", "word", "bpe"),
                      "bpe: subwords; word: whole words, others <unk> (docs/tokenizers.md); char: characters; "
                      "byte: 256 byte values"),
        "max_vocab": Field(int, 96, _range(3, 4096), "char only: keep the most frequent characters, the rest map to <unk>"),
        "vocab_size": Field(int, 1024, _range(16, 65535), "word / bpe: at most this many ids, <pad> and <unk> included"),
        "min_count": Field(int, 2, _range(1, 1_000_000),
                           "word: pieces seen fewer times are <unk>; bpe: merges seen fewer times are not learned"),
        "lowercase": Field(bool, False, None, "fold ASCII A-Z to a-z before encoding (host and device alike)"),
    },
    "model": {
        "arch": Field(str, "mlp", _choice("mlp", "gru", "conv"),
                      "mlp: window of the last K tokens; gru / conv: step models with state (docs/state.md)"),
        "context": Field(int, 32, _range(1, 512), "mlp: tokens the model sees (K)"),
        "embed": Field(int, 24, _range(1, 1024), "embedding width (conv: also the channels of layer 0's input)"),
        "hidden": Field(list, [256, 128], _hidden,
                        "mlp: Dense+ReLU widths; gru: GRU layer widths; conv: channels per layer (dilation 1, 2, 4...)"),
    },
    "train": {
        "epochs": Field(int, 2, _range(1, 10_000), "passes over the training windows"),
        "steps": Field(int, 15000, _range(0, 100_000_000), "if > 0: stop after this many steps in all (overrides epochs)"),
        "batch": Field(int, 512, _range(1, 65536), "windows (mlp) or sequences (gru, conv) per step"),
        "seq_len": Field(int, 64, _range(2, 4096), "gru / conv: tokens per training sequence"),
        "lr": Field(float, 0.003, _range(1e-6, 1.0), "Adam learning rate (cosine decay to 10%)"),
        "seed": Field(int, 1, _range(0, 2**31 - 1), "seed for weights and data order"),
        "utterance_weight": Field(float, 0.1, _range(0.0, 1.0),
                                  "commands lines: loss weight of the utterance (up to ' => '); the command weighs 1"),
        "label_smoothing": Field(float, 0.0, _range(0.0, 0.5),
                                 "target 1 - e on the true token, e spread over all (commands: 0.1, so an intent "
                                 "and a value seen apart are parsed together; docs/grammar.md)"),
        "checkpoint_steps": Field(int, 500, _range(1, 100_000_000), "save a resumable checkpoint this often"),
    },
    "teacher": {
        "arch": Field(str, "", _choice("", "mlp", "gru", "conv", "lstm"),
                      'a bigger float model to distill from ("": no teacher); lstm is teacher-only'),
        "context": Field(int, 32, _range(1, 512), "mlp teacher: tokens it sees"),
        "embed": Field(int, 32, _range(1, 1024), "teacher embedding width"),
        "hidden": Field(list, [384], _hidden, "teacher layer widths (as [model] hidden)"),
        "keras_model": Field(str, "", None, "instead of arch: a saved Keras model (.keras) over this project's tokens"),
        "soft_targets": Field(str, "", None, "instead of arch: precomputed top-k teacher logits (.npz, docs/distill.md)"),
        "recipe_lines": Field(int, 0, _range(0, 10_000_000),
                              "recipe only: train the teacher on this many lines (more than [data] recipe_lines; 0: the same data)"),
        "epochs": Field(int, 4, _range(1, 10_000), "teacher training passes"),
        "steps": Field(int, 0, _range(0, 100_000_000), "if > 0: teacher training steps (overrides epochs)"),
        "batch": Field(int, 64, _range(1, 65536), "teacher batch"),
        "seq_len": Field(int, 128, _range(2, 4096), "gru / conv / lstm teacher: tokens per training sequence"),
        "lr": Field(float, 0.003, _range(1e-6, 1.0), "teacher Adam learning rate (cosine decay to 10%)"),
    },
    "distill": {
        "temperature": Field(float, 1.0, _range(0.1, 100.0), "softens teacher and student distributions (T)"),
        "alpha": Field(float, 0.9, _range(0.0, 1.0),
                       "weight of the soft-target term T^2 * KL; 1 - alpha weighs the hard-label CE"),
        "top_k": Field(int, 32, _range(1, 4096), "teacher logits kept per position (bounds the cache)"),
        "teacher_batch": Field(int, 256, _range(1, 65536), "sequences / windows per teacher call when caching"),
    },
    "synth": {
        "tokens": Field(int, 0, _range(0, 1_000_000_000), "synthetic tokens to sample from the teacher (0: none)"),
        "ratio": Field(float, 0.5, _range(0.0, 0.95), "share of synthetic text in the distilled student's training stream"),
        "temperature": Field(float, 1.0, _range(0.05, 10.0), "teacher sampling temperature"),
        "seed": Field(int, 1, _range(0, 2**31 - 1), "seed of the sampler"),
        "min_chars": Field(int, 8, _range(1, 1_000_000), "drop synthetic documents shorter than this"),
        "max_chars": Field(int, 400, _range(2, 1_000_000), "longest synthetic document (longer ones are cut)"),
    },
    "quantize": {
        "calibration_samples": Field(int, 500, _range(10, 100_000), "training windows for int8 calibration"),
        "eval_samples": Field(int, 20000, _range(10, 1_000_000),
                              "first validation tokens the float vs int8 report scores (as tlmc eval --tokens does)"),
        "golden_vectors": Field(int, 200, _range(1, 100_000), "TFLM reference input/output pairs saved with the model"),
    },
    "board": {
        "id": Field(str, "host", None, "target board (see boards/)"),
        "kernels": Field(str, "optimized", _choice("optimized", "reference"),
                         "optimized: packed weights, folded offsets, SMLAD where the core has DSP; "
                         "reference: TFLM's loop as written (to measure against)"),
    },
}


WINDOW_ARCHS = ("mlp",)  # [model] arch values that read a window of K ids (the rest step with state)


@dataclass
class Config:
    """A validated tlm.toml. `sections[name][field]` holds every field, defaults filled in."""

    path: Path
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def corpus_paths(self) -> list[Path]:
        return [(self.root / p) for p in self.sections["data"]["corpus"]]

    def has_teacher(self) -> bool:
        """True when the project distills: the deployed student is then the distilled one."""
        t = self.sections["teacher"]
        return bool(t["arch"] or t["keras_model"] or t["soft_targets"])

    def teacher_path(self, key: str) -> Path:
        return self.root / self.sections["teacher"][key]

    def document_pad(self) -> int:
        """<pad> tokens the data stage puts before each document: a window model (mlp) reads the
        last K ids, so K of them; a step model (gru, conv) one start step. Arch.kind in
        train/models.py says which is which; tests/test_archs.py checks the two agree."""
        m = self.sections["model"]
        return m["context"] if m["arch"] in WINDOW_ARCHS else 1

    def documents(self) -> str:
        d = self.sections["data"]["documents"]
        if d != "auto":
            return d
        return "lines" if self.sections["data"]["recipe"] or self.sections["data"]["grammar"] else "files"

    def commands_source(self) -> "CommandsSource | None":
        """What writes this project's `<utterance> => <command>` lines: a grammar, the user's
        (`[data] grammar`) or the shipped smart-home one (`[data] recipe = "commands"`, the
        default); None for a corpus project. Every stage that treats commands projects apart
        asks this one question; `data.commands.source` turns the answer into the generator."""
        d = self.sections["data"]
        if d["grammar"]:
            return CommandsSource("grammar", d["grammar"], grammar_path(self.root, d["grammar"]))
        if d["recipe"] == "commands":
            return CommandsSource("grammar", RECIPE_GRAMMAR, BUILTIN_GRAMMARS / f"{RECIPE_GRAMMAR}.yaml")
        return None


@dataclass(frozen=True)
class CommandsSource:
    """A commands project's line generator: ``kind`` "grammar" (the only kind), ``name`` as
    tlm.toml writes it (a built-in name resolves to the shipped file), ``path`` the file."""

    kind: str
    name: str
    path: Path | None


_GRAMMAR_NAME = re.compile(r"[a-z][a-z0-9_]*")


def grammar_path(root: Path, value: str) -> Path:
    """The file `[data] grammar = value` names: a built-in grammar for a bare name such as
    "smarthome", else a path relative to the project folder `root`."""
    if _GRAMMAR_NAME.fullmatch(value):
        return BUILTIN_GRAMMARS / f"{value}.yaml"
    return root / value


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", bool: "true or false"}
    return names.get(kind, str(kind)) if isinstance(kind, type) else " or ".join(names[k] for k in kind)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(options)})"


def validate(raw: dict[str, Any], path: Path) -> Config:
    """Check `raw` (parsed TOML) against SCHEMA; fill defaults; raise ConfigError on the first problem."""
    name = path.name
    sections: dict[str, dict[str, Any]] = {}
    for sec in raw:
        if sec not in SCHEMA:
            raise ConfigError(f"{name}: unknown section [{sec}]{_suggest(sec, list(SCHEMA))}; remove or rename it")
        if not isinstance(raw[sec], dict):
            raise ConfigError(f"{name}: '{sec}' must be a [{sec}] table, not a value")
    for sec, fields in SCHEMA.items():
        given = raw.get(sec, {})
        for key in given:
            if key not in fields:
                raise ConfigError(
                    f"{name}: unknown field [{sec}] {key}{_suggest(key, list(fields))}; remove or rename it")
        out: dict[str, Any] = {}
        for key, spec in fields.items():
            v = given.get(key, spec.default)
            if spec.kind is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if isinstance(v, bool) and spec.kind is not bool or not isinstance(v, spec.kind):
                raise ConfigError(
                    f"{name}: [{sec}] {key} = {v!r}: must be {_type_name(spec.kind)}; "
                    f"fix it in {name} (default: {spec.default!r})")
            if spec.check is not None:
                complaint = spec.check(v)
                if complaint:
                    raise ConfigError(f"{name}: [{sec}] {key} = {v!r}: {complaint}; fix it in {name}")
            out[key] = list(v) if isinstance(v, list) else v
        sections[sec] = out
    cfg = Config(path=path, sections=sections)
    d = sections["data"]
    if d["grammar"]:
        _check_grammar(name, path, d, raw.get("data", {}))
    if not d["recipe"] and not d["corpus"] and not d["grammar"]:
        raise ConfigError(f'{name}: [data] has neither recipe nor corpus; set recipe = "commands" or corpus = ["file.txt"] '
                          f'(or grammar = "file.yaml")')
    if d["recipe"] and d["corpus"]:
        raise ConfigError(f'{name}: [data] sets both recipe = {d["recipe"]!r} and corpus; keep one (recipe = "" to use the corpus)')
    t = sections["teacher"]
    given = [k for k in ("arch", "keras_model", "soft_targets") if t[k]]
    if len(given) > 1:
        raise ConfigError(f"{name}: [teacher] sets {' and '.join(given)}; keep one way to get the teacher")
    for key in ("keras_model", "soft_targets"):
        if t[key] and not (path.parent / t[key]).is_file():
            raise ConfigError(f"{name}: [teacher] {key} file {t[key]!r} not found (looked in {path.parent}); fix the path")
    if t["recipe_lines"] and (not (d["recipe"] or d["grammar"]) or t["recipe_lines"] <= d["recipe_lines"]):
        raise ConfigError(f"{name}: [teacher] recipe_lines = {t['recipe_lines']} needs a recipe or grammar and more lines than "
                          f"[data] recipe_lines = {d['recipe_lines']}; raise it or set 0")
    s = sections["synth"]
    if s["min_chars"] > s["max_chars"]:
        raise ConfigError(f"{name}: [synth] min_chars = {s['min_chars']} exceeds max_chars = {s['max_chars']}; "
                          f"lower min_chars or raise max_chars")
    for p, rel in zip(cfg.corpus_paths(), d["corpus"]):
        if not p.is_file():
            raise ConfigError(f"{name}: [data] corpus file {rel!r} not found (looked in {p.parent}); fix the path")
    from . import boards  # late: boards imports nothing heavy, but keep config importable alone

    try:
        boards.resolve(sections["board"]["id"], where=f"{name}: [board] id")
    except ConfigError:
        raise
    except Exception as e:  # UsageError from the board registry: same message, config class
        raise ConfigError(str(e)) from None
    return cfg


def _check_grammar(name: str, path: Path, d: dict, raw_data: dict) -> None:
    """`[data] grammar`: exclusive with recipe and corpus; names an existing file or a built-in
    grammar. Sets recipe to "" (its default "commands" gives way to the grammar). The file's
    own content is checked where it is read (data.grammar.load), its errors naming the file."""
    g = d["grammar"]
    if raw_data.get("recipe"):
        raise ConfigError(f'{name}: [data] sets both recipe = {raw_data["recipe"]!r} and grammar = {g!r}; keep one '
                          f'(recipe = "" to use the grammar)')
    if d["corpus"]:
        raise ConfigError(f"{name}: [data] sets both grammar = {g!r} and corpus; keep one")
    d["recipe"] = ""
    file = grammar_path(path.parent, g)
    if _GRAMMAR_NAME.fullmatch(g):
        if not file.is_file():
            known = ", ".join(sorted(p.stem for p in BUILTIN_GRAMMARS.glob("*.yaml"))) or "none"
            raise ConfigError(f"{name}: [data] grammar = {g!r}: no such built-in grammar (known: {known}); "
                              f"give a file name ending in .yaml or a built-in name")
    elif not file.is_file():
        raise ConfigError(f"{name}: [data] grammar file {g!r} not found (looked in {path.parent}); fix the path")


def load(path: Path | str) -> Config:
    """Read and validate a tlm.toml (a file, or a folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: no {CONFIG_NAME} here; run 'tlmc init DIR' or pass --project DIR")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}; fix the syntax") from None
    return validate(raw, path)


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


# The defaults above are the built-in commands recipe's (the default project), chosen by
# measurement (README, "The voice-command model"), except where RECIPE_INIT says otherwise: what
# `tlmc init` writes for a commands project (built-in or --grammar) on top of them; a field there
# keeps its neutral default for a tlm.toml written before it existed (label smoothing changes
# what a trained model is). `tlmc init --corpus` writes CORPUS_INIT instead: a corpus of free
# text wants a different tokenizer and model (README, "Tokenizers").
RECIPE_INIT = {"tokenizer": {"lowercase": True}, "train": {"label_smoothing": 0.1}}
CORPUS_INIT = {"tokenizer": {"vocab_size": 512, "lowercase": False},
               "model": {"context": 16, "embed": 16, "hidden": [256, 256]},
               "train": {"steps": 0, "epochs": 2, "batch": 128, "lr": 0.002, "utterance_weight": 1.0}}


def render_default(name: str, corpus: list[str] | None = None, overrides: dict[str, dict[str, Any]] | None = None,
                   grammar: str | None = None) -> str:
    """The commented tlm.toml that `tlmc init` writes: every field, its value and what it means
    (`grammar`: a grammar project, `[data] grammar = grammar`, with the recipe's defaults)."""
    base = CORPUS_INIT if corpus else RECIPE_INIT
    merged = {k: dict(v) for k, v in base.items()}
    for k, v in (overrides or {}).items():
        merged.setdefault(k, {}).update(v)
    overrides = merged
    overrides.setdefault("project", {})["name"] = name
    if corpus:
        overrides.setdefault("data", {}).update(recipe="", corpus=corpus)
    if grammar:
        overrides.setdefault("data", {}).update(recipe="", grammar=grammar)
    lines = [f"# tlmc project configuration. Every field is optional; shown with its value.",
             f"# Check it with 'tlmc info'; errors name the field and the fix.", ""]
    for sec, fields in SCHEMA.items():
        lines.append(f"[{sec}]")
        for key, spec in fields.items():
            v = overrides.get(sec, {}).get(key, spec.default)
            lines.append(f"{key} = {_toml_value(v)}".ljust(33) + f" # {spec.help}")
        lines.append("")
    return "\n".join(lines)
