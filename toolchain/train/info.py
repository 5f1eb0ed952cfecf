"""`tlmc info`: what the project's model costs (from the trained and quantized artifacts)."""

from __future__ import annotations

from pathlib import Path

from . import models
from ..core.config import Config
from ..core.fsutil import read_json


def info(cfg: Config) -> dict:
    build = cfg.root / "build"
    m = cfg["model"]
    out: dict = {"project": cfg["project"]["name"], "arch": m["arch"], "context": m["context"],
                 "board": cfg["board"]["id"], "trained": False, "quantized": False}
    from ..data import dataset as data_mod

    ds = data_mod.prepare(cfg, build)
    params, macs = models.get(m["arch"]).estimate(m, ds.tokenizer.vocab_size)
    out.update(tokenizer=ds.tokenizer.kind, lowercase=ds.tokenizer.lowercase,
               vocab_size=ds.tokenizer.vocab_size, params=params, macs_per_token=macs,
               int8_weight_bytes_estimate=params)
    from .distill import deployed_stage

    stage = deployed_stage(cfg)
    out["student"] = "distilled" if stage == "distill" else "scratch"
    w_path = build / stage / "weights.npz"
    if w_path.is_file():
        import numpy as np

        z = np.load(w_path)
        weights = {k: z[k] for k in z.files}
        params, macs = models.get(m["arch"]).count(weights, m)
        metrics = read_json(build / stage / "metrics.json")
        out.update(trained=True, params=params, macs_per_token=macs, vocab_size=metrics["vocab_size"],
                   val_ce=metrics["val_ce"], val_ppl=metrics["val_ppl"], val_acc=metrics["val_acc"],
                   float_weight_bytes=4 * params)
    rep_path = build / "quantize" / "report.json"
    if rep_path.is_file():
        rep = read_json(rep_path)
        out.update(quantized=True, weight_bytes=rep["weight_bytes"], tflite_bytes=rep["tflite_bytes"],
                   ops=rep["ops"], tflm_arena_bytes=rep["tflm_arena_bytes"], model_hash=rep["model_hash"],
                   float_ce=rep["float_ce"], int8_ce=rep["int8_ce"])
    return out
