"""Stage `quantize`: the trained float weights -> a full-int8 .tflite, checked and measured.

1. Export the architecture's single-step graph (a tf.function over constant weights, fixed
   [1, K] int32 input) to a float .tflite and a full-int8 .tflite (int32 token ids in, int8
   logits out, per-channel weights), calibrated on real training windows.
2. Check the int8 flatbuffer: any float tensor left (the converter silently leaves float
   islands around ops without int8 kernels) is an export error naming the op.
3. Report float vs int8 cross-entropy, perplexity and accuracy on validation windows (LiteRT).
4. Load the int8 model in TFLM: a refused op fails here; record the arena TFLM needs.
5. Save golden vectors: inputs and TFLM's int8 outputs, the ground truth for the C runtime.

Outputs in build/quantize/: model.tflite, model_float.tflite, golden.npz, report.json, stamp.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import data as data_mod
from . import interp, models, tflite_model
from . import train as train_mod
from .config import Config
from .errors import ExportError
from .fsutil import (atomic_save_npz, atomic_write_bytes, atomic_write_json, captured_fds, hash_json,
                     read_json, sha256_bytes)
from .progress import log
from .tfenv import tf as _tf

# Ops each architecture's int8 export may contain; anything else is an export error.
ALLOWED_OPS = {"mlp": {"GATHER", "RESHAPE", "FULLY_CONNECTED"}}


def convert(step_fn, representative: Iterable[np.ndarray] | None) -> bytes:
    """Convert a step tf.function to .tflite: float if `representative` is None, else full int8."""
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([step_fn.get_concrete_function()], step_fn)
    if representative is not None:
        samples = [np.asarray(x, np.int32).reshape(1, -1) for x in representative]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s] for s in samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
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


def stage_hash(cfg: Config, build: Path) -> str:
    train_stamp = read_json(build / "train" / "stamp.json")["hash"]
    return hash_json({"train": train_stamp, "quantize": cfg["quantize"], "v": 1})


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
    train_mod.run(cfg, build)  # no work if trained and unchanged
    out = build / "quantize"
    h = stage_hash(cfg, build)
    stamp = out / "stamp.json"
    if not force and stamp.is_file() and read_json(stamp).get("hash") == h and (out / "model.tflite").is_file():
        rep = read_json(out / "report.json")
        rep["cached"] = True
        return rep
    t0 = time.monotonic()
    ds = data_mod.prepare(cfg, build)
    q, m, seed = cfg["quantize"], cfg["model"], cfg["train"]["seed"]
    weights = train_mod.load_weights(build)
    calib, _ = sample_windows(ds.train, ds.train_positions(), ds.context, q["calibration_samples"], seed + 11)
    float_buf, int8_buf = quantize_weights(weights, m, calib)
    model = tflite_model.parse(int8_buf, "int8 model")

    # float vs int8 on the same validation windows (LiteRT, one window at a time)
    xv, yv = sample_windows(ds.val, ds.val_positions(), ds.context, q["eval_samples"], seed + 12)
    out_t = model.tensors[model.outputs[0]]
    f_run, q_run = interp.Runner(float_buf), interp.Runner(int8_buf)
    f_metrics = _metrics(f_run.batch(xv).astype(np.float64), yv)
    q_logits = q_run.batch(xv)
    q_metrics = _metrics(dequantize(q_logits, out_t), yv)

    # TFLM: refuses or runs; the arena it needs; golden vectors from its reference kernels
    arena = interp.tflm_arena(int8_buf)
    gx, _ = sample_windows(ds.val, ds.val_positions(), ds.context, q["golden_vectors"], seed + 13)
    gy = golden_vectors(int8_buf, gx)
    lite_vs_tflm = q_run.batch(gx).astype(np.int16) - gy.astype(np.int16)

    arch = models.get(m["arch"])
    params, macs = arch.count(weights, m)
    report = {
        "arch": m["arch"], "params": params, "macs_per_token": macs,
        "float_ce": f_metrics["ce"], "int8_ce": q_metrics["ce"],
        "float_ppl": f_metrics["ppl"], "int8_ppl": q_metrics["ppl"],
        "float_acc": f_metrics["acc"], "int8_acc": q_metrics["acc"],
        "ce_increase_pct": 100.0 * (q_metrics["ce"] / f_metrics["ce"] - 1.0),
        "eval_windows": int(len(yv)),
        "tflite_bytes": len(int8_buf), "float_tflite_bytes": len(float_buf),
        "weight_bytes": int(sum(t.data.nbytes for t in model.tensors if t.is_const)),
        "tflm_arena_bytes": arena["total"], "tflm_activation_bytes": arena.get("head", 0), "ops": model.op_names(),
        "golden_vectors": int(len(gx)),
        "litert_vs_tflm_bytes_differing": float((lite_vs_tflm != 0).mean()),
        "litert_vs_tflm_max_lsb": int(np.abs(lite_vs_tflm).max()) if lite_vs_tflm.size else 0,
        "model_hash": sha256_bytes(int8_buf)[:16],
        "output_scale": float(out_t.scale[0]), "output_zero_point": int(out_t.zero_point[0]),
        "seconds": round(time.monotonic() - t0, 2),
    }
    atomic_write_bytes(out / "model_float.tflite", float_buf)
    atomic_write_bytes(out / "model.tflite", int8_buf)
    atomic_save_npz(out / "golden.npz", inputs=gx.astype(np.int32), outputs=gy)
    atomic_write_json(out / "report.json", report)
    atomic_write_json(stamp, {"hash": h})
    report["cached"] = False
    return report


def _metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = float(-logp[np.arange(len(y)), y].mean())
    return {"ce": ce, "ppl": float(np.exp(ce)), "acc": float((logits.argmax(axis=1) == y).mean())}


def load_int8(build: Path) -> bytes:
    p = build / "quantize" / "model.tflite"
    if not p.is_file():
        from .errors import TlmcError

        raise TlmcError(f"{p}: no int8 model; run 'tlmc quantize' first")
    return p.read_bytes()
