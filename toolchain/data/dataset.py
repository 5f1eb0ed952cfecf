"""Stage `data`: text -> tokenizer + train/val token streams.

Each document (a line of a recipe, or a file of a corpus, per `[data] documents`) is preceded by
`context` <pad> tokens in the stream, so the model learns to start from the same all-<pad>
window a freshly reset device holds. Windows whose target is <pad> are never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import Config
from ..core.errors import Damaged, UsageError
from ..core.fsutil import atomic_save_npz, atomic_write_json, check_writable, hash_json, load_npz, sha256_file, \
    stamp_status, write_stamp
from ..core.progress import phase
from .tokenizer import PAD, Tokenizer


def read_documents(cfg: Config) -> list[str]:
    """The raw text as a list of documents (recipe or grammar lines, corpus files or corpus lines)."""
    from . import commands

    d = cfg["data"]
    src = commands.source(cfg)
    if src is not None:
        lines = src.lines(d["recipe_lines"], d["recipe_seed"], held=holdout_pairs(cfg))
        docs = [ln + "\n" for ln in lines]
        return docs if cfg.documents() == "lines" else ["".join(docs)]
    docs = []
    for path, rel in zip(cfg.corpus_paths(), d["corpus"]):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(
                f"{rel}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); convert it, e.g. "
                f"'iconv -f latin1 -t utf-8'") from None
        if not text.strip():
            raise UsageError(f"{rel}: the corpus file is empty; add text or remove it from [data] corpus")
        if cfg.documents() == "lines":
            docs.extend(ln + "\n" for ln in text.splitlines() if ln.strip())
        else:
            docs.append(text)
    return docs


def augment_documents(cfg: Config, n_train: int) -> list[str]:
    """Commands projects: extra training lines (noise and coverage augmentation; validation and
    the compositional split are untouched, held-out pairs stay out):
    - `[data] typo_lines * n_train` lines whose utterance has one typo each, so the model learns
      to read misspelt words (which a subword tokenizer splits into other pieces);
    - `[data] value_lines * n_train` lines of commands with a value (numbers, durations, clock
      times; a grammar's: lines that bind a numeric slot), whose digits the model must copy or
      compute."""
    from . import commands

    d = cfg["data"]
    src = commands.source(cfg)
    if src is None:
        return []
    held = holdout_pairs(cfg)
    lines: list[str] = []
    n = int(round(d["typo_lines"] * n_train))
    if n > 0:
        lines += src.lines(n, d["recipe_seed"] + 104729, held=held, typo_rate=1.0)
    n = int(round(d["value_lines"] * n_train))
    if n > 0:
        lines += src.lines(n, d["recipe_seed"] + 130363, held=held, with_value=True)
    if not lines:
        return []
    docs = [ln + "\n" for ln in lines]
    return docs if cfg.documents() == "lines" else ["".join(docs)]


def holdout_pairs(cfg: Config) -> frozenset:
    """Pairs kept out of training (compositional test): the grammar's (intent, list value)
    pairs, e.g. (light.off, kitchen)."""
    from . import commands

    d = cfg["data"]
    src = commands.source(cfg)
    if src is None or d["compositional"] <= 0:
        return frozenset()
    return src.holdout(d["compositional"], d["recipe_seed"])


def compositional_documents(cfg: Config) -> list[str]:
    """Lines whose (command, target) pair never occurs in training: as many as the random
    validation split holds (at least 50), from their own seed."""
    from . import commands

    held = holdout_pairs(cfg)
    if not held:
        return []
    d = cfg["data"]
    n = max(50, int(round(d["recipe_lines"] * d["val_fraction"])))
    lines = commands.source(cfg).lines(n, d["recipe_seed"] + 7919, held=held, only_held=True)
    return [ln + "\n" for ln in lines]


def split_documents(docs: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out validation text. Many documents: a seeded random share of them. Few: the tail
    of each document (so a single-file corpus still gets a validation split)."""
    if len(docs) >= 20:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(docs))
        n_val = max(1, int(round(len(docs) * val_fraction)))
        val_idx = set(order[:n_val].tolist())
        return ([d for i, d in enumerate(docs) if i not in val_idx],
                [d for i, d in enumerate(docs) if i in val_idx])
    train, val = [], []
    for d in docs:
        cut = int(len(d) * (1 - val_fraction))
        train.append(d[:cut])
        val.append(d[cut:])
    return train, val


def to_stream(docs: list[str], tok: Tokenizer, context: int) -> np.ndarray:
    pad = np.zeros(context, dtype=np.int32)
    parts = []
    for ids in tok.encode_batch(docs):
        parts.append(pad)
        parts.append(ids)
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def learn_tokenizer(cfg: Config, train_docs: list[str]) -> Tokenizer:
    """The project's tokenizer, learned from the training documents per [tokenizer]."""
    tk = cfg["tokenizer"]
    return Tokenizer.learn(train_docs, tk["kind"], tk["max_vocab"], vocab_size=tk["vocab_size"],
                           min_count=tk["min_count"], lowercase=tk["lowercase"])


def target_positions(stream: np.ndarray, context: int) -> np.ndarray:
    """Positions t >= context whose token is real text: the window stream[t-context:t] predicts it."""
    pos = np.arange(context, len(stream), dtype=np.int64)
    return pos[stream[context:] != PAD]


def windows(stream: np.ndarray, positions: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """(x [n, context] int32, y [n] int32) for the given target positions."""
    idx = positions[:, None] + np.arange(-context, 0)[None, :]
    return stream[idx].astype(np.int32), stream[positions].astype(np.int32)


def target_weights(stream: np.ndarray, tok: Tokenizer, utterance_weight: float,
                   separator: str | None = None) -> np.ndarray:
    """Loss weight of each stream position as a target: 0 at <pad>; in a document holding
    `separator` (a commands line), `utterance_weight` up to and including the separator and 1
    after it (the command the device must answer, from the space after the separator on: a
    word tokenizer makes that space part of the command's first token); 1 everywhere else."""
    from .lines import PROMPT_END

    w = (stream != PAD).astype(np.float32)
    if utterance_weight == 1.0:
        return w
    sep = tok.encode(PROMPT_END if separator is None else separator)
    n, k = len(stream), len(sep)
    if n < k:
        return w
    hits = np.ones(n - k + 1, bool)
    for j, t in enumerate(sep):
        hits &= stream[j:n - k + 1 + j] == t
    after = np.zeros(n + 1, np.int64)
    after[np.flatnonzero(hits) + k] += 1  # the first position after each separator
    doc = np.cumsum(stream == PAD)  # document index (changes at every <pad>)
    seen = np.cumsum(after[:n])
    # separators seen so far within this document: subtract the count at the document's start
    start_seen = np.zeros(doc.max() + 1, np.int64)
    pads = np.flatnonzero(stream == PAD)
    start_seen[doc[pads]] = seen[pads]
    in_command = (seen - start_seen[doc]) > 0
    has_sep = np.zeros(doc.max() + 1, bool)
    has_sep[doc[np.flatnonzero(hits)]] = True
    utter = has_sep[doc] & ~in_command & (stream != PAD)
    w[utter] = utterance_weight
    return w


def heldout_lines(cfg: Config, train_docs: list[str], val_docs: list[str], comp_docs: list[str]) -> dict | None:
    """Commands projects: the held-out `utterance => command` lines as text (not decoded from
    tokens, so lines with words the tokenizer does not know are scored too). `random`: the
    validation lines whose utterance does not occur word for word in training (how many did is
    `excluded_verbatim`); `compositional`: lines of the held-out (command, target) pairs."""
    from . import lines as line_format

    if cfg.commands_source() is None:
        return None

    def pairs(docs: list[str]) -> list[list[str]]:
        out = []
        for d in docs:
            for line in d.split("\n"):
                try:
                    u, c = line_format.parse_line(line)
                except ValueError:
                    continue
                if u and c:
                    out.append([u, c])
        return out

    seen = {u for u, _ in pairs(train_docs)}
    val = pairs(val_docs)
    fresh = [p for p in val if p[0] not in seen]
    return {"random": fresh, "compositional": pairs(comp_docs), "excluded_verbatim": len(val) - len(fresh)}


@dataclass
class Dataset:
    tokenizer: Tokenizer
    train: np.ndarray  # token stream
    val: np.ndarray
    context: int
    compositional: np.ndarray | None = None  # commands: lines of held-out (intent, value) pairs

    def train_positions(self) -> np.ndarray:
        return target_positions(self.train, self.context)

    def val_positions(self) -> np.ndarray:
        return target_positions(self.val, self.context)


def stage_inputs(cfg: Config) -> dict:
    """What the data stage's output depends on (its stamp keeps it, to say what changed)."""
    from . import commands

    d = cfg["data"]
    src = commands.source(cfg)
    data = {k: v for k, v in d.items() if k != "grammar" or v}  # no grammar: the hash stays as before it existed
    return {"data": data, "tokenizer": cfg["tokenizer"], "context": cfg.document_pad(),
            "documents": cfg.documents(),
            "files": [sha256_file(p) for p in cfg.corpus_paths()], **(src.fingerprint() if src else {})}


def stage_hash(cfg: Config) -> str:
    return hash_json(stage_inputs(cfg))


INPUT_LABELS = {"context": "the <pad>s before each document ([model] arch or context)",
                "files": "the corpus files", "grammar": "the grammar file",
                "grammar_engine": "tlmc's grammar generator"}
OUTPUTS = ("tokenizer.json", "streams.npz", "heldout.json")


def _status(out: Path, h: str, inputs: dict) -> str | None:
    """None when build/data is current and intact, else why not; a damaged file is a reason to
    prepare again (the stage is deterministic and cheap), never an error."""
    try:
        return stamp_status(out, h, required=("streams.npz", "tokenizer.json"), inputs=inputs, labels=INPUT_LABELS,
                            record=OUTPUTS)
    except Damaged as e:
        return f"{e.path.name} is damaged ({e.why})"


def prepare(cfg: Config, build: Path, log=lambda s: None) -> Dataset:
    """Run (or reuse) the data stage; returns the dataset."""
    out = build / "data"
    inputs = stage_inputs(cfg)
    h = hash_json(inputs)
    context = cfg.document_pad()  # <pad>s before each document
    why = _status(out, h, inputs)
    if why is None:
        try:
            z = load_npz(out / "streams.npz")
            return Dataset(Tokenizer.load(out / "tokenizer.json"), z["train"], z["val"], context, z.get("compositional"))
        except Damaged as e:
            why = f"{e.path.name} is damaged ({e.why})"
    check_writable(out)
    if why != "not built":
        log(f"data: preparing again: {why}")
    with phase("data: reading and tokenizing the text", log):
        return _prepare(cfg, out, h, inputs, context, log)


def _prepare(cfg: Config, out: Path, h: str, inputs: dict, context: int, log) -> Dataset:
    docs = read_documents(cfg)
    train_docs, val_docs = split_documents(docs, cfg["data"]["val_fraction"], cfg["train"]["seed"])
    train_docs = train_docs + augment_documents(cfg, len(train_docs))
    tok = learn_tokenizer(cfg, train_docs)
    train = to_stream(train_docs, tok, context)
    val = to_stream(val_docs, tok, context)
    if len(target_positions(train, context)) < 1 or len(target_positions(val, context)) < 1:
        raise UsageError("[data]: too little text for a train and a validation split; add text or raise val_fraction")
    comp_docs = compositional_documents(cfg)
    comp = to_stream(comp_docs, tok, context) if comp_docs else None
    tok.save(out / "tokenizer.json")
    heldout = heldout_lines(cfg, train_docs, val_docs, comp_docs)
    if heldout is not None:
        atomic_write_json(out / "heldout.json", heldout)
    else:
        (out / "heldout.json").unlink(missing_ok=True)
    arrays = {"train": train, "val": val} | ({"compositional": comp} if comp is not None else {})
    atomic_save_npz(out / "streams.npz", **arrays)
    facts = {"vocab_size": tok.vocab_size, "train_tokens": int(len(train)), "val_tokens": int(len(val)),
             "compositional_tokens": int(len(comp)) if comp is not None else 0, "heldout_pairs": len(holdout_pairs(cfg))}
    if heldout is not None:
        facts |= {"heldout_random": len(heldout["random"]), "heldout_compositional": len(heldout["compositional"]),
                  "heldout_excluded_verbatim": heldout["excluded_verbatim"]}
    write_stamp(out, h, OUTPUTS, inputs, **facts)
    log(f"data: {len(docs)} documents, {tok.kind} tokenizer, vocab {tok.vocab_size}, "
        f"{len(train):,} train / {len(val):,} val tokens"
        + (f", {len(comp_docs)} compositional test lines ({len(holdout_pairs(cfg))} held-out pairs)" if comp_docs else ""))
    return Dataset(tok, train, val, context, comp)
