"""Stage `emit`: a plan -> C sources, through jinja2 templates in `templates/`.

Python decides everything (names, values, offsets, comments); the templates only lay the
values out. One strict Environment (StrictUndefined, no autoescape, trailing newlines kept, no
timestamps) so the output is a pure function of the model: emitting twice gives equal bytes.

Generated files (in the output folder):
- tlm_config.h    vocab, context, arena size, model hash, board
- model_data.h/c  const weights, biases, per-channel multipliers/shifts, token table, sampling
                  table and constant, and the TlmModel that ties them to the runtime
- model_plan.c    the forward pass: straight-line kernel calls with literal arena offsets
- golden_data.h/c golden vectors (TFLM's outputs) for the host selftest
- plan.json       the plan as data and the bytes of every const array (for `tlmc report`)
- tlm_commands.h/c a commands project's intents and slot tables (codegen/commands.py)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..export import plan as plan_mod
from ..export import sampling
from . import commands
from ..core.errors import ExportError, TlmcError, UsageError
from ..core.fsutil import atomic_write_json, atomic_write_text, check_writable, load_npz, read_bytes, read_json
from ..core.paths import TEMPLATES

KERNEL_SETS = ("optimized", "reference")  # tlm.toml [board] kernels; firmware/tlm_kernels.h
GENERATED = ("tlm_config.h", "model_data.h", "model_data.c", "model_plan.c", "golden_data.h", "golden_data.c")
PLAN_FILE = "plan.json"  # the plan as data (export.plan.summary) and the model data's bytes by array, for reports
LINE_WIDTH = 100

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary".split())


# ---------------------------------------------------------------------------------------------
# Filters: small, tested, the only formatting the templates do

def c_ident(name: str, prefix: str = "") -> str:
    """A valid C identifier from any text: runs of other characters become one '_'."""
    s = re.sub(r"[^0-9A-Za-z_]+", "_", f"{prefix}{name}").strip("_")
    s = re.sub(r"_+", "_", s) or "_"
    if s[0].isdigit():
        s = "_" + s
    if s in C_KEYWORDS:
        s += "_"
    return s


def c_comment(text: str) -> str:
    """Text safe inside /* */ on one line: no comment terminators, no control characters."""
    s = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return s.replace("*/", "* /").replace("/*", "/ *")


def c_string(data: bytes | str) -> str:
    """A C string literal; non-printable and non-ASCII bytes as octal escapes."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F and ch != "?":  # '?' escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_array(values: Any, indent: int = 4, width: int = LINE_WIDTH, row: int | None = None) -> str:
    """Array initializer lines: numbers right-aligned in equal columns, wrapped at `width`.
    A 2-D array (or `row`) starts each row on a new line."""
    a = np.asarray(values)
    if a.ndim >= 2 and row is None:
        row = int(np.prod(a.shape[1:]))
    flat = [int(v) for v in a.reshape(-1)]
    if not flat:
        raise ValueError("C has no empty arrays")
    cell = max(len(str(v)) for v in flat) + 1  # the comma
    per_line = max(1, (width - indent + 1) // (cell + 1))
    chunks = [flat[i:i + row] for i in range(0, len(flat), row)] if row else [flat]
    lines = []
    for chunk in chunks:
        for i in range(0, len(chunk), per_line):
            cells = [f"{v},".rjust(cell) for v in chunk[i:i + per_line]]
            lines.append(" " * indent + " ".join(cells))
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines)


def c_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(c_ident=c_ident, c_array=c_array, c_comment=c_comment, c_string=c_string, c_shape=c_shape)
    return env


# ---------------------------------------------------------------------------------------------
# Values for the templates

def _array(ctype: str, name: str, values: np.ndarray, comment: str) -> dict:
    values = np.asarray(values)
    return {"ctype": ctype, "name": name, "size": int(values.size), "data": values, "comment": comment}


SPECIAL_TOKENS = ("<pad>", "<unk>")  # word / bpe: ids 0 and 1, matched in the text as typed (tlm_tokenizer.c)


def tokenizer_table_bytes(n_text: int, vocab: int, n_chars: int = 0, n_words: int = 0, n_merges: int = 0) -> int:
    """Flash bytes of the token tables (docs/tokenizers.md): the texts (n_text bytes) and their
    uint32 offsets (V + 1) for every kind; char / bpe 8 B per character (uint32 code point,
    int32 id); word 2 B per word (uint16 id); bpe 8 B per merge (uint32 key, uint16 rank, id)."""
    return n_text + 4 * (vocab + 1) + 8 * n_chars + 2 * n_words + 8 * n_merges


def _token_tables(tokenizer, vocab: int) -> dict:
    """The tokenizer's const tables for model_data.c: token texts and offsets (decoding, every
    kind), the code point -> id table (char, bpe), the ids sorted by text (word), the merges
    sorted by pair (bpe), plus the kind, the lowercase flag and what they cost in flash."""
    empty_u32, empty_i32, empty_u16 = np.zeros(0, np.uint32), np.zeros(0, np.int32), np.zeros(0, np.uint16)
    words, keys, ranks, merged = empty_u16, empty_u32, empty_u16, empty_u16
    lowercase, pairs = False, []
    if tokenizer is None:  # a placeholder: id i prints as "<i>", every character encodes as <unk>
        texts = [b"" if i == 0 else f"<{i}>".encode() for i in range(vocab)]
        kind, name, label = "TLM_TOKENIZER_CHAR", "placeholder", "placeholder (no tokenizer: ids print as <i>)"
    else:
        if tokenizer.vocab_size != vocab:
            raise ExportError(f"tokenizer has {tokenizer.vocab_size} ids but the model has {vocab} logits; "
                              "rebuild with 'tlmc quantize' after 'tlmc train'")
        if vocab >= 1 << 16:
            raise ExportError(f"vocabulary {vocab} is too large for the device's tokenizer tables (max 65535)")
        texts = [tokenizer.token_text(i) for i in range(vocab)]
        name, lowercase = tokenizer.kind, bool(tokenizer.lowercase)
        kind = f"TLM_TOKENIZER_{name.upper()}"
        fold = ", ASCII lowercased" if lowercase else ""
        if name == "byte":
            label = f"byte (byte b is id b + 1{fold})"
        elif name == "char":
            pairs = sorted((ord(c), i) for i, c in enumerate(tokenizer.chars) if i >= 2 and len(c) == 1)
            label = f"char ({len(pairs)} characters, others are <unk>{fold})"
        elif name in ("word", "bpe"):
            _check_device_encodes_alike(tokenizer)
            if name == "word":
                order = sorted(range(2, vocab), key=lambda i: texts[i])
                if any(texts[a] == texts[b] for a, b in zip(order, order[1:])):
                    raise ExportError("word tokenizer: two ids have the same text; retrain the tokenizer")
                words = np.asarray(order, np.uint16)
                label = f"word ({len(order)} words, other pieces are <unk>{fold})"
            else:
                for i in range(2, vocab):
                    t = texts[i].decode("utf-8")
                    if len(t) == 1:
                        pairs.append((ord(t), i))
                pairs.sort()
                table: dict[int, tuple[int, int]] = {}
                for rank, (left, right, out) in enumerate(tokenizer.merges()):
                    table[(left << 16) | right] = (rank, out)  # a repeated pair: the last wins, as in HF
                if len(table) >= 0xFFFF:
                    raise ExportError(f"bpe tokenizer: {len(table)} merges, the device takes at most 65534")
                keys = np.asarray(sorted(table), np.uint32)
                ranks = np.asarray([table[k][0] for k in keys.tolist()], np.uint16)
                merged = np.asarray([table[k][1] for k in keys.tolist()], np.uint16)
                label = f"bpe ({len(pairs)} characters, {len(keys)} merges, other characters are <unk>{fold})"
        else:
            raise ExportError(f"tokenizer kind {name!r} has no device encoder (char, byte, word, bpe)")
    starts = np.cumsum([0] + [len(t) for t in texts]).astype(np.uint32)
    blob = np.frombuffer(b"".join(texts) or b"\0", np.uint8)
    codes = np.asarray([c for c, _ in pairs], np.uint32) if pairs else empty_u32
    ids = np.asarray([i for _, i in pairs], np.int32) if pairs else empty_i32
    n_bytes = tokenizer_table_bytes(len(blob), vocab, len(codes), len(words), len(keys))
    return {"kind": kind, "name": name, "label": label, "lowercase": int(lowercase), "texts": texts, "blob": blob,
            "starts": starts, "codes": codes, "ids": ids, "words": words, "merge_keys": keys, "merge_ranks": ranks,
            "merge_ids": merged, "bytes": n_bytes}


def _check_device_encodes_alike(tokenizer) -> None:
    """Word / bpe: the tokenizer.json must be one the device encodes alike: tlmc's normalizer
    (none, or ASCII lowercasing), its PIECE pre-tokenizer, the special tokens <pad> (0) and
    <unk> (1) only, and (bpe) plain character-level merges."""
    from ..data.tokenizer import PIECE, hf_template

    obj = tokenizer.to_json()
    where = f"{tokenizer.kind} tokenizer"
    got = sorted((t.get("id"), t.get("content"), t.get("normalized"), t.get("lstrip"), t.get("rstrip"),
                  t.get("single_word")) for t in obj.get("added_tokens") or [])
    if got != [(0, SPECIAL_TOKENS[0], False, False, False, False), (1, SPECIAL_TOKENS[1], False, False, False, False)]:
        raise ExportError(f"{where}: special tokens {[g[:2] for g in got]}; the device knows exactly "
                          f"{SPECIAL_TOKENS[0]} (id 0) and {SPECIAL_TOKENS[1]} (id 1); retrain it with 'tlmc train'")
    want = json.loads(hf_template(tokenizer.kind, tokenizer.lowercase).to_str())
    if obj.get("normalizer") != want.get("normalizer"):
        raise ExportError(f"{where}: normalizer {str(obj.get('normalizer'))[:80]}; the device folds ASCII A-Z "
                          "only; retrain it with 'tlmc train'")
    pre = obj.get("pre_tokenizer") or {}
    if pre.get("type") != "Split" or pre.get("pattern") != {"Regex": PIECE} or pre.get("behavior") != "Isolated" \
            or pre.get("invert"):
        raise ExportError(f"{where}: pre-tokenizer {str(pre)[:80]}; the device splits by {PIECE!r} only; "
                          "retrain it with 'tlmc train'")
    model = obj.get("model", {})
    if tokenizer.kind == "bpe" and (model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")
                                    or model.get("fuse_unk") or model.get("byte_fallback")
                                    or model.get("dropout") or model.get("ignore_merges")):
        raise ExportError(f"{where}: BPE options the device does not have (subword prefix/suffix, fuse_unk, "
                          "byte_fallback, dropout, ignore_merges); retrain it with 'tlmc train'")


def _describe(b: plan_mod.Buffer) -> str:
    return f"'{b.name}' {b.dtype.lower()} {c_shape(b.shape)} @{b.offset}"


def _context(p: plan_mod.Plan, tokenizer, golden, board_id: str, tflm_arena_bytes: int | None,
             kernels: str = "optimized") -> dict:
    arrays: list[dict] = []
    steps: list[dict] = []
    ring = None
    for s in p.steps:
        head = f"op {s.op} {type(s).__name__}"
        if isinstance(s, plan_mod.Gather) and p.ring is not None and s is p.ring.gather:
            table = f"tlm_op{s.op}_table"
            arrays.append(_array("int8_t", table, s.table,
                                 f"op {s.op} GATHER table '{s.table_name}' {c_shape(s.table.shape)}"))
            ring = {"table": table, "row_len": s.row_len, "at": p.ring.buffer.offset,
                    "comment": f"head + {2 * p.context} rows of {s.row_len} B ({p.ring.buffer.size} B)"}
            steps.append({"kind": "ring", "op": s.op,
                          "comment": f"op {s.op} GATHER: rows of '{s.table_name}' {c_shape(s.table.shape)} by the "
                                     f"window: kept in the embedding ring @{p.ring.buffer.offset}, one row copied "
                                     "per tlm_push: no code"})
        elif isinstance(s, plan_mod.Gather):
            table = f"tlm_op{s.op}_table"
            arrays.append(_array("int8_t", table, s.table,
                                 f"op {s.op} GATHER table '{s.table_name}' {c_shape(s.table.shape)}"))
            steps.append({"kind": "gather", "op": s.op, "var": f"op{s.op}", "table": table, "rows": s.rows,
                          "row_len": s.row_len, "n_ids": s.n_ids, "ids_at": s.ids.offset, "out_at": s.out.offset,
                          "comment": f"op {s.op} GATHER: rows of '{s.table_name}' {c_shape(s.table.shape)} "
                                     f"by {_describe(s.ids)} -> {_describe(s.out)}"})
        elif isinstance(s, plan_mod.Reshape):
            steps.append({"kind": "alias", "op": s.op,
                          "comment": f"op {s.op} RESHAPE: {_describe(s.out)} aliases {_describe(s.input)}: no code"})
        elif isinstance(s, plan_mod.FullyConnected):
            base = f"tlm_op{s.op}"
            mode = "per channel" if s.per_channel else "per tensor"
            packed = kernels == "optimized"
            reads_ring = p.ring is not None and s.op in p.ring.readers
            if packed:  # TLM_FC_PACKED4: rows interleaved by 4, input offset folded into the bias
                arrays.append(_array("int8_t", f"{base}_weights", s.packed_weights(),
                                     f"op {s.op} FULLY_CONNECTED weights '{s.weights_name}' "
                                     f"{c_shape(s.weights.shape)}, packed 4 rows at a time"))
                arrays.append(_array("int32_t", f"{base}_rows", s.packed_rows(),
                                     f"op {s.op} per row: bias '{s.bias_name or '(none)'}' + input offset * row sum, "
                                     f"rescale multiplier, shift, rounding lo, hi ({mode})"))
            else:  # TLM_FC_ROWS: as the model has them
                arrays.append(_array("int8_t", f"{base}_weights", s.weights, f"op {s.op} FULLY_CONNECTED weights "
                                     f"'{s.weights_name}' {c_shape(s.weights.shape)}"))
                if s.bias is not None:
                    arrays.append(_array("int32_t", f"{base}_bias", s.bias,
                                         f"op {s.op} bias '{s.bias_name}' {c_shape(s.bias.shape)}"))
                arrays.append(_array("int32_t", f"{base}_multiplier", s.multiplier,
                                     f"op {s.op} output rescale, Q31 significands ({mode})"))
                arrays.append(_array("int32_t", f"{base}_shift", s.shift, f"op {s.op} output rescale, shifts ({mode})"))
            steps.append({"kind": "fully_connected", "op": s.op, "var": f"op{s.op}", "base": base,
                          "in_features": s.in_features, "out_features": s.out_features,
                          "input_offset": s.input_offset, "weights_offset": s.weights_offset,
                          "output_offset": s.output_offset, "act_min": s.act_min, "act_max": s.act_max,
                          "per_channel": int(s.per_channel), "has_bias": s.bias is not None, "packed": packed,
                          "layout": "TLM_FC_PACKED4" if packed else "TLM_FC_ROWS",
                          "in_at": s.input.offset, "out_at": s.out.offset, "ring": reads_ring,
                          "ring_at": p.ring.buffer.offset if reads_ring else 0,
                          "ring_row": p.ring.gather.row_len if reads_ring else 0,
                          "comment": f"op {s.op} FULLY_CONNECTED {s.activation} ({mode}): "
                                     f"{'the embedding ring' if reads_ring else _describe(s.input)} -> "
                                     f"{_describe(s.out)}"})
        elif isinstance(s, (plan_mod.Add, plan_mod.Mul)):
            steps.append(_elementwise_step(s, arrays))
        elif isinstance(s, plan_mod.Lookup):
            table = next((a["name"] for a in arrays if a.get("lookup") and np.array_equal(a["data"], s.table)), None)
            if table is None:  # ops with the same input quantization share one table
                table = f"tlm_op{s.op}_{s.function.lower()}"
                arrays.append({**_array("int8_t", table, s.table, f"op {s.op} {s.function}: TFLM's int8 result for "
                                        "inputs -128..127 (gemmlowp fixed point, toolchain/export/plan/)"), "lookup": True})
            steps.append({"kind": "lookup", "op": s.op, "var": f"op{s.op}", "n": s.n, "table": table,
                          "in_at": s.input.offset, "out_at": s.out.offset,
                          "comment": f"op {s.op} {s.function} (table {table}): {_describe(s.input)} -> {_describe(s.out)}"})
        else:  # pragma: no cover - plan.build admits only the kinds above
            raise ExportError(f"{head}: no emitter")
    tok = _token_tables(tokenizer, p.vocab)
    k_const = sampling.logit_k(p.output_scale)
    if not 0 < k_const < 1 << 52:
        raise ExportError(f"output scale {p.output_scale} gives a sampling constant {k_const} outside int64; "
                          "the logits' quantization range is unusable, retrain or recalibrate")
    if p.vocab >= 1 << 16:
        raise ExportError(f"vocabulary {p.vocab} is too large for the 32-bit sampler (max 65535)")
    g_in, g_out, g_len = _golden(p, golden)
    return {
        "version": __version__, "model_hash": p.model_hash, "board": board_id, "kernels": kernels, "ring": ring,
        "vocab": p.vocab, "context": p.context, "arena_bytes": p.arena_bytes, "persistent_bytes": p.persistent_bytes,
        "tflm_arena_bytes": tflm_arena_bytes, "window_at": p.input.offset, "logits_at": p.output.offset,
        "input": _describe(p.input), "output": _describe(p.output),
        "output_scale": repr(p.output_scale), "output_zero_point": p.output_zero_point,
        "arrays": arrays, "steps": steps,
        "buffers": [{"comment": _describe(b) + f" size {b.size} live ops {max(b.first, 0)}..{b.last}"
                     + (" (persistent)" if b.persistent else "") + (" (alias)" if b.alias_of is not None else "")}
                    for b in sorted(p.buffers.values(), key=lambda b: (b.offset, b.tensor))],
        "logit_k": k_const, "pow2": np.asarray(sampling.POW2_FRAC_Q16, np.uint32), "tok": tok,
        "golden_count": len(g_in),
        "golden_inputs": g_in if len(g_in) else np.zeros((1, p.context), np.int32),
        "golden_outputs": g_out if len(g_out) else np.zeros((1, p.vocab), np.int8),
        "golden_len": g_len, "kind": p.kind, "states": _states(p),
        "control_at": p.control.offset if p.control is not None else 0, "state_bytes": p.state_bytes,
    }


def _golden(p: plan_mod.Plan, golden) -> tuple[np.ndarray, np.ndarray, int]:
    """(inputs [N, L], outputs [N * rows, V], L): a window model's vectors are K ids and one
    row of logits; a step model's are token sequences [N, T] with logits after every step
    [N, T, V] (docs/state.md)."""
    if golden is None:
        return np.zeros((0, p.context), np.int32), np.zeros((0, p.vocab), np.int8), p.context
    g_in, g_out = np.asarray(golden[0], np.int32), np.asarray(golden[1], np.int8)
    if p.kind == "step":
        if g_in.ndim != 2 or g_out.shape != (*g_in.shape, p.vocab) or g_in.shape[1] < 1:
            raise UsageError(f"golden vectors: a step model needs inputs [N, T] and outputs [N, T, {p.vocab}], got "
                             f"{list(g_in.shape)} and {list(g_out.shape)}; rerun 'tlmc quantize --force'")
        return g_in, g_out.reshape(-1, p.vocab), int(g_in.shape[1])
    g_in, g_out = g_in.reshape(-1, p.context), g_out.reshape(-1, p.vocab)
    if len(g_in) != len(g_out):
        raise UsageError(f"golden vectors: {len(g_in)} inputs but {len(g_out)} outputs; rerun 'tlmc quantize'")
    return g_in, g_out, p.context


def _operand(o: plan_mod.Operand, name: str, arrays: list[dict], what: str) -> dict:
    """An elementwise operand for the template: an arena offset or a constant array."""
    if o.const is not None:
        arrays.append(_array("int8_t", name, o.const, f"{what} '{o.const_name}' ({o.size})"))
        return {"const": name, "at": 0, "step": int(o.size > 1), "text": f"constant {name}"}
    return {"const": None, "at": o.buffer.offset, "step": int(o.size > 1), "text": _describe(o.buffer)}


def _elementwise_step(s, arrays: list[dict]) -> dict:
    add = isinstance(s, plan_mod.Add)
    name = ("SUB" if s.subtract else "ADD") if add else "MUL"
    a = _operand(s.a, f"tlm_op{s.op}_a", arrays, f"op {s.op} {name} constant input 1")
    b = _operand(s.b, f"tlm_op{s.op}_b", arrays, f"op {s.op} {name} constant input 2")
    sign = {"ADD": "+", "SUB": "-", "MUL": "*"}[name]
    step = {"kind": "add" if add else "mul", "op": s.op, "var": f"op{s.op}", "n": s.n, "a": a, "b": b,
            "a_offset": s.a_offset, "b_offset": s.b_offset, "output_multiplier": s.output_multiplier,
            "output_shift": s.output_shift, "output_offset": s.output_offset, "act_min": s.act_min,
            "act_max": s.act_max, "out_at": s.out.offset,
            "comment": f"op {s.op} {name} {s.activation}: {a['text']} {sign} {b['text']} -> {_describe(s.out)}"}
    if add:
        step.update(subtract=int(s.subtract), left_shift=s.left_shift, a_multiplier=s.a_multiplier,
                    a_shift=s.a_shift, b_multiplier=s.b_multiplier, b_shift=s.b_shift)
    return step


def _states(p: plan_mod.Plan) -> list[dict]:
    out = []
    for s in p.states:
        r = s.requantize
        how = (f"requantized: x{r.multiplier * 2.0 ** (r.shift - 31):.6g}, zero point {-r.input_offset} -> "
               f"{r.output_offset}" if r is not None else "copied")
        out.append({"input_at": s.input.offset, "output_at": s.output.offset,
                    "ring_at": s.ring.offset if s.ring is not None else 0, "size": s.size, "delay": s.delay,
                    "zero": s.zero, "requantize": int(r is not None),
                    "input_offset": r.input_offset if r else 0, "output_offset": r.output_offset if r else 0,
                    "multiplier": r.multiplier if r else 0, "shift": r.shift if r else 0,
                    "comment": f"state {s.name}: {_describe(s.output)} -> {_describe(s.input)} after {s.delay} "
                               f"step(s), {how}"})
    return out


_C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4}


def plan_record(p: plan_mod.Plan, ctx: dict, board_id: str, kernels: str) -> dict:
    """plan.json: the plan's steps and arena buffers (plan.summary) and every const array of
    model_data.c with its op and part (weights, biases and multipliers, tables, constants)."""
    from ..export.plan.summary import plan_summary

    arrays = []
    for a in ctx["arrays"]:
        m = re.match(r"tlm_op(\d+)_(\w+)$", a["name"])
        tail = m.group(2) if m else ""
        part = ("weights" if tail in ("weights", "table") else "biases and multipliers"
                if tail in ("rows", "bias", "multiplier", "shift") else "tables" if a.get("lookup") else "constants")
        arrays.append({"name": a["name"], "op": int(m.group(1)) if m else None, "part": part,
                       "bytes": a["size"] * _C_SIZES[a["ctype"]]})
    return {**plan_summary(p), "board": board_id, "kernels": kernels, "arrays": arrays,
            "tokenizer_bytes": ctx["tok"]["bytes"], "sampling_bytes": 4 * len(ctx["pow2"]),
            "golden_vectors": ctx["golden_count"]}


def plan_macs(p: plan_mod.Plan) -> int:
    """Multiply-accumulates of one step: the FULLY_CONNECTED weights (what the kernels run)."""
    return sum(s.out_features * s.in_features for s in p.steps if isinstance(s, plan_mod.FullyConnected))


# ---------------------------------------------------------------------------------------------
# Public API

def emit_model(int8_buf: bytes, tokenizer, out_dir: Path | str, *, golden: tuple[np.ndarray, np.ndarray] | None = None,
               board_id: str = "host", model_hash: str | None = None, tflm_arena_bytes: int | None = None,
               where: str = "model", kernels: str = "optimized", signature: dict | None = None,
               grammar=None) -> dict:
    """Plan and emit one int8 .tflite into `out_dir`. `tokenizer` may be None (a placeholder
    token table); `golden` = (inputs int32 [N, K], outputs int8 [N, V]) for the selftest, or
    for a step model (`signature`, docs/state.md) sequences [N, T] and logits [N, T, V].
    `kernels`: the kernel set the constants are laid out for (KERNEL_SETS; docs/runtime.md).
    `grammar` (a commands project's): also tlm_commands.h/.c (codegen/commands.py)."""
    if kernels not in KERNEL_SETS:
        raise UsageError(f"kernels = {kernels!r}: must be one of {', '.join(map(repr, KERNEL_SETS))}")
    p = plan_mod.build(bytes(int8_buf), where, model_hash=model_hash, signature=signature)
    if kernels == "optimized":  # one embedding row per token instead of K per step (docs/runtime.md)
        plan_mod.use_embedding_ring(p)
    ctx = _context(p, tokenizer, golden, board_id, tflm_arena_bytes, kernels)
    env = _env()
    out = Path(out_dir)
    texts = {name: env.get_template(f"{name}.j2").render(**ctx, file=name, guard=c_ident(name).upper() + "_",
                                                          has_grammar=int(grammar is not None))
             for name in GENERATED}
    # all or nothing: a disk too full for every file fails before the first one is replaced
    check_writable(out, sum(len(t) for t in texts.values()) + (1 << 16))
    files = []
    for name, text in texts.items():
        atomic_write_text(out / name, text)
        files.append(str(out / name))
    if grammar is not None:
        files += commands.write(grammar, out, env, version=__version__, model_hash=p.model_hash)
    else:
        commands.remove(out)
    atomic_write_json(out / PLAN_FILE, plan_record(p, ctx, board_id, kernels))
    return {
        "out_dir": str(out), "files": files, "model_hash": p.model_hash, "vocab": p.vocab, "context": p.context,
        "arena_bytes": p.arena_bytes, "persistent_bytes": p.persistent_bytes, "tflm_arena_bytes": tflm_arena_bytes,
        "weight_bytes": p.weight_bytes(), "ops": p.ops(), "op_counts": dict(p.op_counts),
        "golden_vectors": ctx["golden_count"], "board": board_id, "tokenizer": ctx["tok"]["name"],
        "tokenizer_vocab": p.vocab, "tokenizer_bytes": ctx["tok"]["bytes"],
        "kind": p.kind, "states": len(p.states), "state_bytes": p.state_bytes, "kernels": kernels,
        "macs_per_token": plan_macs(p),
    }


def emit(build_dir: Path | str, out_dir: Path | str, board, kernels: str = "optimized", grammar=None) -> dict:
    """`tlmc emit`: the quantized model of a build folder -> C sources in `out_dir` for `board`
    (a boards.Board or a board id). Reads quantize/model.tflite, golden.npz, report.json and
    data/tokenizer.json; a commands project passes its `grammar` (tlm_commands.h/.c). Returns a
    summary (arena_bytes, tflm_arena_bytes, ops, files, ...)."""
    from ..core.boards import Board, resolve
    from ..data.tokenizer import Tokenizer

    build_dir = Path(build_dir)
    b = board if isinstance(board, Board) else resolve(str(board))
    q = build_dir / "quantize"
    model_path = q / "model.tflite"
    if not model_path.is_file():
        raise TlmcError(f"{model_path}: no int8 model; run 'tlmc quantize' first")
    tok_path = build_dir / "data" / "tokenizer.json"
    if not tok_path.is_file():
        raise TlmcError(f"{tok_path}: no tokenizer; run 'tlmc train' first")
    report = read_json(q / "report.json") if (q / "report.json").is_file() else {}
    golden = None
    if (q / "golden.npz").is_file():  # checked against quantize's stamp; a damaged file names itself
        z = load_npz(q / "golden.npz")
        golden = (z["inputs"], z["outputs"])
    signature = None
    if (q / "signature.json").is_file():  # a step model (docs/state.md)
        try:
            signature = read_json(q / "signature.json")
        except (OSError, ValueError) as e:
            raise UsageError(f"{q / 'signature.json'}: unreadable ({type(e).__name__}); "
                             "rerun 'tlmc quantize --force'") from None
    summary = emit_model(read_bytes(model_path), Tokenizer.load(tok_path), out_dir, golden=golden, board_id=b.id,
                         model_hash=report.get("model_hash"), tflm_arena_bytes=report.get("tflm_arena_bytes"),
                         where=str(model_path), kernels=kernels, signature=signature, grammar=grammar)
    ram = int(b.get("app_ram_bytes", 0) or 0)
    if ram and summary["arena_bytes"] > ram:
        raise ExportError(f"board {b.id}: the arena needs {summary['arena_bytes']} B of RAM but the board has "
                          f"{ram} B for the application; shrink model.hidden or model.context")
    return summary
