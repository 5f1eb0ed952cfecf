"""`tlmc info`: what the project's model costs, from tlm.toml and the trained artifacts.

The figures of a trained model are shown only when that model is the one tlm.toml asks for
now; after an edit, the estimate of the new config is shown with what changed and what to
run, never the old model's numbers beside the new config. A model too big to train is
refused here as in `tlmc train` (train.limits), before any work.
"""

from __future__ import annotations

from ..core.config import Config
from ..core.errors import Damaged
from ..core.fsutil import load_npz, read_json
from . import loop, models


def info(cfg: Config) -> dict:
    build = cfg.root / "build"
    m = cfg["model"]
    out: dict = {"project": cfg["project"]["name"], "arch": m["arch"], "context": m["context"],
                 "board": cfg["board"]["id"], "trained": False, "quantized": False}
    loop.check_limits(cfg)  # too big whatever the vocabulary: before the data stage
    from ..data import dataset as data_mod
    from .distill import deployed_stage, deployed_status

    stage = deployed_stage(cfg)
    command = "tlmc distill" if stage == "distill" else "tlmc train"
    try:  # before the data stage runs: its stamp still says what changed in the data
        train_why = deployed_status(cfg, build)
        status = f"out of date: {train_why}; run '{command}'"
    except Damaged as e:
        train_why, status = "damaged", str(e)
    ds = data_mod.prepare(cfg, build)
    est = loop.check_limits(cfg, ds.tokenizer.vocab_size)
    out.update(tokenizer=ds.tokenizer.kind, lowercase=ds.tokenizer.lowercase,
               vocab_size=ds.tokenizer.vocab_size, params=est["params"], macs_per_token=est["macs_per_token"],
               int8_weight_bytes_estimate=est["params"], training_bytes_estimate=est["training_bytes"])
    out["student"] = "distilled" if stage == "distill" else "scratch"
    if train_why is None:
        weights = load_npz(build / stage / "weights.npz")
        params, macs = models.get(m["arch"]).count(weights, m)
        metrics = read_json(build / stage / "metrics.json")
        out.update(trained=True, params=params, macs_per_token=macs, vocab_size=metrics["vocab_size"],
                   val_ce=metrics["val_ce"], val_ppl=metrics["val_ppl"], val_acc=metrics["val_acc"],
                   float_weight_bytes=4 * params)
    elif train_why != "not built":
        out["train_status"] = status
    return out
