"""Stage `quantize`: the trained float weights -> a full-int8 .tflite, checked and measured.

1. Export the architecture's single-step graph (a tf.function over constant weights, fixed
   [1, K] int32 input) to a float .tflite and a full-int8 .tflite (int32 token ids in, int8
   logits out, per-channel weights), calibrated on real training windows.
2. Check the int8 flatbuffer: any float tensor left (the converter silently leaves float
   islands around ops without int8 kernels) is an export error naming the op.
3. Report float vs int8 cross-entropy, perplexity and accuracy on the first `[quantize]
   eval_samples` validation tokens, scored as `tlmc eval` scores (LiteRT; `tflite_metrics`),
   and the distribution of the per-token difference (`token_ce_diff`, train.metrics).
4. Load the int8 model in TFLM: a refused op fails here; record the arena TFLM needs.
5. Save golden vectors: inputs and TFLM's int8 outputs, the ground truth for the C runtime.

Outputs in build/quantize/: model.tflite, model_float.tflite, golden.npz, report.json, stamp.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..data import dataset as data_mod
from . import interp
from . import stream
from . import tflite_model
from ..train import loop as train_mod
from ..train import metrics as metrics_mod
from ..train import models
from ..train import predict
from ..core.config import Config
from ..core.errors import ExportError, NotBuilt
from ..core.fsutil import (atomic_save_npz, atomic_write_bytes, atomic_write_json, captured_fds, hash_json,
                     check_writable, read_bytes, read_json, sha256_bytes, stamp_status, write_stamp)
from ..core.progress import log
from ..core.tfenv import tf as _tf

# Ops each architecture's int8 export may contain; anything else is an export error.
ALLOWED_OPS = {"mlp": {"GATHER", "RESHAPE", "FULLY_CONNECTED"},
               "gru": {"GATHER", "RESHAPE", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "LOGISTIC", "TANH"},
               "conv": {"GATHER", "RESHAPE", "FULLY_CONNECTED", "ADD"}}
GOLDEN_SEQ_LEN = 16  # tokens per golden sequence of a step model


def convert(step_fn, representative: Iterable[np.ndarray] | None) -> bytes:
    """Convert a step tf.function to .tflite: float if `representative` is None, else full int8."""
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([step_fn.get_concrete_function()], step_fn)
    if representative is not None:
        # items: a token window (window models) or a list of inputs (step models: token, states)
        samples = [[np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else [np.asarray(x, np.int32).reshape(1, -1)]
                   for x in representative]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: iter(samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8  # state inputs; int32 token ids stay int32
        conv.inference_output_type = tf.int8
    import warnings

    with captured_fds() as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            buf = conv.convert()
        except Exception as e:
            err = e
        else:
            err = None
    if err is not None:
        lines = [ln for ln in (out.text + "\n" + str(err)).splitlines() if "error" in ln.lower()]
        raise ExportError(f"the TFLite converter failed: {(lines or [str(err)])[0].strip()[:300]}")
    return bytes(buf)


def check_int8(model: tflite_model.Model, allowed: set[str] | None, where: str) -> None:
    """Full-int8 or an ExportError naming the first float tensor's op, or a disallowed op."""
    floats = model.float_tensors()
    if floats:
        t, op = floats[0]
        raise ExportError(
            f"{where}: not full int8: tensor {t.name!r} is {t.dtype}"
            + (f" around op {op.name} (#{op.index})" if op else "")
            + "; that op has no int8 kernel: replace it in the architecture")
    if allowed is not None:
        extra = sorted(set(model.op_names()) - allowed)
        if extra:
            raise ExportError(f"{where}: unexpected ops {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})")


def dequantize(q: np.ndarray, t: tflite_model.Tensor) -> np.ndarray:
    return (q.astype(np.float64) - float(t.zero_point[0])) * float(t.scale[0])


def _as_float(raw: np.ndarray, t: tflite_model.Tensor) -> np.ndarray:
    """Logits of output tensor `t` as floats: dequantized if int8."""
    return dequantize(raw, t) if t.dtype == "INT8" else np.asarray(raw, np.float64)


def tflite_metrics(buf: bytes, sig: dict, val: np.ndarray, tokens: int, *,
                   parts: dict[str, np.ndarray] | None = None, token_chars: np.ndarray | None = None,
                   per_target: list | None = None) -> dict:
    """CE / perplexity / accuracy (and `parts`, `token_chars` extras, see train.metrics) of a
    float or int8 .tflite on LiteRT over the first `tokens` tokens of the validation stream:
    each non-<pad> target predicted from its document so far (window models: the last K
    tokens; step models with signature `sig`: streamed, states carried). The one int8 figure
    of a project: `tlmc quantize` reports it, `tlmc eval` shows it."""
    model = tflite_model.parse(buf)
    if sig["kind"] == "step":
        out_t = model.tensors[model.outputs[sig["logits_output"]]]
        runner = stream.StepRunner(buf, sig, "litert")
        pieces = stream.step_logits(runner, val, tokens, lambda raw: _as_float(raw, out_t))
    else:
        out_t = model.tensors[model.outputs[0]]
        win = interp.Runner(buf, "litert")
        lm = predict.FloatLM(lambda x, training=False: _as_float(win.batch(x), out_t), "window",
                             int(model.tensors[model.inputs[0]].shape[-1]), int(out_t.shape[-1]), "tflite")
        pieces = predict.stream_logits(lm, val, limit=tokens)
    return metrics_mod.score_stream(pieces, val, parts, token_chars, per_target)


def stage_inputs(cfg: Config, build: Path) -> dict:
    """What the int8 model is made from: the deployed student's run (its stamp's hash) and [quantize]."""
    from ..train.distill import deployed_stage

    train_stamp = read_json(build / deployed_stage(cfg) / "stamp.json")["hash"]
    return {"train": train_stamp, "quantize": cfg["quantize"], "v": 2}


def stage_hash(cfg: Config, build: Path) -> str:
    return hash_json(stage_inputs(cfg, build))


INPUT_LABELS = {"train": "the trained model", "v": "tlmc's quantizer"}
OUTPUTS = ("model.tflite", "model_float.tflite", "golden.npz", "signature.json", "signature_float.json", "report.json")


def status(cfg: Config, build: Path) -> str | None:
    """None when build/quantize holds the int8 model of the deployed student as it is, intact;
    else why not. Damaged when an output is."""
    inputs = stage_inputs(cfg, build)
    return stamp_status(build / "quantize", hash_json(inputs), required=("model.tflite", "report.json"),
                        inputs=inputs, labels=INPUT_LABELS, record=OUTPUTS)


def sample_windows(stream: np.ndarray, positions: np.ndarray, context: int, n: int, seed: int):
    pos = train_mod.eval_positions(positions, n, seed)
    return data_mod.windows(stream, pos, context)


def quantize_weights(weights: dict[str, np.ndarray], model_cfg: dict, calib: np.ndarray,
                     arch_name: str | None = None) -> tuple[bytes, bytes]:
    """(float .tflite, int8 .tflite) for weights of an architecture: also the entry point for
    tests and the runtime's random-model checks."""
    arch = models.get(arch_name or model_cfg["arch"])
    step = arch.step_fn(weights, model_cfg)
    float_buf = convert(step, None)
    int8_buf = convert(step, calib)
    check_int8(tflite_model.parse(int8_buf, "int8 model"), ALLOWED_OPS.get(arch.name), "int8 model")
    return float_buf, int8_buf


def golden_vectors(int8_buf: bytes, inputs: np.ndarray) -> np.ndarray:
    """TFLM's int8 outputs for each input window: the reference the C runtime must equal."""
    run = interp.Runner(int8_buf, "tflm")
    return run.batch(inputs).astype(np.int8)


def run(cfg: Config, build: Path, *, force: bool = False) -> dict[str, Any]:
    """Quantize (or reuse) the trained model; returns the report."""
    from ..train.distill import deployed_stage, run_deployed

    run_deployed(cfg, build)  # the scratch or the distilled student; no work if unchanged
    out = build / "quantize"
    inputs = stage_inputs(cfg, build)
    if not force and status(cfg, build) is None:
        rep = read_json(out / "report.json")
        rep["cached"] = True
        return rep
    t0 = time.monotonic()
    ds = data_mod.prepare(cfg, build)
    q, m, seed = cfg["quantize"], cfg["model"], cfg["train"]["seed"]
    weights = train_mod.load_weights(build, deployed_stage(cfg))
    check_writable(out, 6 * sum(int(w.size) for w in weights.values()) + (1 << 20))  # float + int8 models, goldens
    arch = models.get(m["arch"])
    if arch.kind == "step":
        return _run_step(cfg, build, out, inputs, ds, weights, arch, t0)
    calib, _ = sample_windows(ds.train, ds.train_positions(), ds.context, q["calibration_samples"], seed + 11)
    log(f"quantize: converting to float and int8 .tflite (calibrating on {len(calib):,} windows) ...")
    float_buf, int8_buf = quantize_weights(weights, m, calib)
    model = tflite_model.parse(int8_buf, "int8 model")

    # float vs int8 on the first eval_samples validation tokens, as `tlmc eval` scores them
    n_eval = min(q["eval_samples"], len(ds.val))
    log(f"quantize: scoring float and int8 on {n_eval:,} validation tokens ...")
    f_nll, q_nll = [], []  # per target, for the distribution of int8 - float CE
    f_metrics = tflite_metrics(float_buf, {"kind": "window"}, ds.val, n_eval, per_target=f_nll)
    q_metrics = tflite_metrics(int8_buf, {"kind": "window"}, ds.val, n_eval, per_target=q_nll)
    out_t = model.tensors[model.outputs[0]]
    q_run = interp.Runner(int8_buf)

    # TFLM: refuses or runs; the arena it needs; golden vectors from its reference kernels
    log(f"quantize: TFLM check and {q['golden_vectors']:,} golden vectors ...")
    arena = interp.tflm_arena(int8_buf)
    gx, _ = sample_windows(ds.val, ds.val_positions(), ds.context, q["golden_vectors"], seed + 13)
    gy = golden_vectors(int8_buf, gx)
    lite_vs_tflm = q_run.batch(gx).astype(np.int16) - gy.astype(np.int16)

    params, macs = arch.count(weights, m)
    report = {
        "arch": m["arch"], "params": params, "macs_per_token": macs, "golden_vectors": int(len(gx)),
        **_report_figures(f_metrics, q_metrics, n_eval, "windows"),
        "token_ce_diff": metrics_mod.ce_difference(f_nll, q_nll),
        **_report_model(float_buf, int8_buf, model, out_t, arena, lite_vs_tflm),
        "seconds": round(time.monotonic() - t0, 2),
    }
    _save(out, inputs, float_buf, int8_buf, gx.astype(np.int32), gy, report, {"kind": "window", "context": ds.context})
    return report


def _report_figures(f: dict, q: dict, n_eval: int, how: str) -> dict[str, Any]:
    """The float vs int8 quality keys of report.json (tflite_metrics' figures of each)."""
    return {"float_ce": f["ce"], "int8_ce": q["ce"], "float_ppl": f["ppl"], "int8_ppl": q["ppl"],
            "float_acc": f["acc"], "int8_acc": q["acc"], "ce_increase_pct": 100.0 * (q["ce"] / f["ce"] - 1.0),
            "eval_windows": int(q["n"]), "eval_tokens": int(n_eval), "eval": how}


def _report_model(float_buf: bytes, int8_buf: bytes, model: tflite_model.Model, out_t: tflite_model.Tensor,
                  arena: dict, lite_vs_tflm: np.ndarray) -> dict[str, Any]:
    """The size, TFLM and identity keys of report.json for the int8 `model`."""
    return {
        "tflite_bytes": len(int8_buf), "float_tflite_bytes": len(float_buf),
        "weight_bytes": int(sum(t.data.nbytes for t in model.tensors if t.is_const)),
        "tflm_arena_bytes": arena["total"], "tflm_activation_bytes": arena.get("head", 0), "ops": model.op_names(),
        "litert_vs_tflm_bytes_differing": float((lite_vs_tflm != 0).mean()),
        "litert_vs_tflm_max_lsb": int(np.abs(lite_vs_tflm).max()) if lite_vs_tflm.size else 0,
        "model_hash": sha256_bytes(int8_buf)[:16],
        "output_scale": float(out_t.scale[0]), "output_zero_point": int(out_t.zero_point[0]),
    }


def _save(out: Path, inputs: dict, float_buf: bytes, int8_buf: bytes, gx, gy, report: dict, signature: dict) -> None:
    atomic_write_bytes(out / "model_float.tflite", float_buf)
    atomic_write_bytes(out / "model.tflite", int8_buf)
    atomic_save_npz(out / "golden.npz", inputs=gx, outputs=gy)
    atomic_write_json(out / "signature.json", signature)
    atomic_write_json(out / "report.json", report)
    write_stamp(out, hash_json(inputs), OUTPUTS, inputs)
    report["cached"] = False


def check_output_order(step, float_buf: bytes, sig: dict, states) -> None:
    """The converter orders outputs by the step function's (sorted) dict keys; states of equal
    width cannot be told apart by shape, so compare values on one random input."""
    tf = _tf()
    rng = np.random.default_rng(0)
    inputs = [np.array([[1]], np.int32)] + [rng.normal(0, 0.5, (1, w)).astype(np.float32) for _, w, _ in states]
    want = step(*[tf.constant(x) for x in inputs])
    it = interp.litert(float_buf)
    ins, outs = it.get_input_details(), it.get_output_details()
    it.set_tensor(ins[sig["token_input"]]["index"], inputs[0])
    for i, st in enumerate(sig["states"]):
        it.set_tensor(ins[st["input"]]["index"], inputs[1 + i])
    it.invoke()
    pairs = [("a_logits", sig["logits_output"])] + [(f"s{i:02d}", st["output"]) for i, st in enumerate(sig["states"])]
    for key, pos in pairs:
        got = it.get_tensor(outs[pos]["index"])
        if not np.allclose(got, want[key].numpy(), atol=1e-3, rtol=1e-3):
            raise ExportError(f"step model: output {pos} is not {key}; the converter reordered outputs")


def _doc_starts(stream: np.ndarray) -> np.ndarray:
    return np.flatnonzero(stream == 0)


def _run_step(cfg: Config, build: Path, out: Path, inputs: dict, ds, weights, arch, t0: float) -> dict[str, Any]:
    """Quantize a step model (docs/state.md): calibrate on (token, states) recorded by streaming
    training text through the float model; evaluate float and int8 streaming; TFLM goldens."""
    q, m, seed = cfg["quantize"], cfg["model"], cfg["train"]["seed"]
    vocab = ds.tokenizer.vocab_size
    log(f"quantize: converting the {arch.name} step model to float and int8 .tflite "
        f"(calibrating on {q['calibration_samples']:,} streamed steps) ...")
    step = arch.step_fn(weights, m)
    float_buf = convert(step, None)
    f_model = tflite_model.parse(float_buf, "float model")
    f_sig = stream.signature_for(f_model, arch.states(m), vocab)
    check_output_order(step, float_buf, f_sig, arch.states(m))
    # calibration: real (token, state...) inputs, streamed through the float model
    f_run = stream.StepRunner(float_buf, f_sig, "litert")
    calib = []
    rng = np.random.default_rng(seed + 11)
    starts = _doc_starts(ds.train)
    while len(calib) < q["calibration_samples"]:
        p = int(rng.choice(starts))
        f_run.reset()
        for t in range(p, min(len(ds.train), p + 64)):
            if t > p and ds.train[t] == 0:
                break
            item = [None] * (1 + len(f_sig["states"]))
            item[f_sig["token_input"]] = np.array([[ds.train[t]]], np.int32)
            for st in f_run.states:
                item[st["spec"]["input"]] = st["ring"][0].astype(np.float32)
            calib.append(item)
            f_run.step(int(ds.train[t]))
    int8_buf = convert(step, calib[:q["calibration_samples"]])
    model = tflite_model.parse(int8_buf, "int8 model")
    check_int8(model, ALLOWED_OPS.get(arch.name), "int8 model")
    sig = stream.signature_for(model, arch.states(m), vocab)
    out_t = model.tensors[model.outputs[sig["logits_output"]]]

    n_eval = min(q["eval_samples"], len(ds.val))
    log(f"quantize: scoring float and int8 on {n_eval:,} validation tokens (streaming) ...")
    f_nll, q_nll = [], []  # per target, for the distribution of int8 - float CE
    f_metrics = tflite_metrics(float_buf, f_sig, ds.val, n_eval, per_target=f_nll)
    q_metrics = tflite_metrics(int8_buf, sig, ds.val, n_eval, per_target=q_nll)
    q_run = stream.StepRunner(int8_buf, sig, "litert")

    log("quantize: TFLM check and golden sequences ...")
    arena = interp.tflm_arena(int8_buf)
    # golden sequences: <pad> then real text, TFLM logits after every step
    n_seq = max(4, q["golden_vectors"] // GOLDEN_SEQ_LEN)
    vstarts = _doc_starts(ds.val[:-GOLDEN_SEQ_LEN])
    picks = np.random.default_rng(seed + 13).choice(vstarts, size=n_seq, replace=len(vstarts) < n_seq)
    gx = np.stack([ds.val[p:p + GOLDEN_SEQ_LEN] for p in picks]).astype(np.int32)
    gx[:, 0] = 0
    tflm_run = stream.StepRunner(int8_buf, sig, "tflm")
    gy = np.stack([tflm_run.run(seq) for seq in gx]).astype(np.int8)
    lite = np.stack([q_run.run(seq) for seq in gx]).astype(np.int16)
    lite_vs_tflm = lite - gy.astype(np.int16)

    params, macs = arch.count(weights, m)
    report = {
        "arch": m["arch"], "kind": "step", "params": params, "macs_per_token": macs,
        "golden_vectors": int(gx.size), "golden_sequences": int(len(gx)),
        "state_bytes": int(sum(st[1] * st[2] for st in arch.states(m))),
        "requantized_states": q_run.requantized_states,
        **_report_figures(f_metrics, q_metrics, n_eval, "streaming"),
        "token_ce_diff": metrics_mod.ce_difference(f_nll, q_nll),
        **_report_model(float_buf, int8_buf, model, out_t, arena, lite_vs_tflm),
        "seconds": round(time.monotonic() - t0, 2),
    }
    atomic_write_json(out / "signature_float.json", f_sig)
    _save(out, inputs, float_buf, int8_buf, gx, gy, report, sig)
    return report


def load_int8(build: Path) -> bytes:
    p = build / "quantize" / "model.tflite"
    if not p.is_file():
        raise NotBuilt(f"{p}: no int8 model; run 'tlmc quantize' first")
    return read_bytes(p)
