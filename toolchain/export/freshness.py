"""Is the int8 model in build/quantize the one tlm.toml asks for? Commands that use it without
rebuilding it (`tlmc generate`, `tlmc test`, `tlmc info`) ask here first, so an edited
tlm.toml is never silently served by the old model: they name what changed and what to run.
Nothing here trains or converts anything."""

from __future__ import annotations

from pathlib import Path

from ..core.config import Config
from ..core.errors import NotBuilt, Stale
from . import quantize


def status(cfg: Config, build: Path) -> tuple[str, str] | None:
    """None when build/quantize holds the int8 model of tlm.toml as it is now, intact; else
    (stage, why): ("train", "[model] hidden changed ([48] -> [64])"), ("quantize", "not
    built"), ... Damaged when an artifact on the way is."""
    from ..train.distill import deployed_stage, deployed_status

    why = deployed_status(cfg, build)
    if why is not None:
        return deployed_stage(cfg), why
    why = quantize.status(cfg, build)
    if why is not None:
        return "quantize", why
    return None


def require_current(cfg: Config, build: Path, run: str = "tlmc quantize", *, missing_ok: bool = False) -> None:
    """NotBuilt or Stale (exit 1, one line naming the file, what changed and `run`) unless the
    quantized model is current. `missing_ok`: nothing quantized at all is not an error here
    (the caller's own step says what to build)."""
    s = status(cfg, build)
    if s is None:
        return
    stage, why = s
    model = build / "quantize" / "model.tflite"
    if missing_ok and not model.is_file():
        return
    if why == "not built":
        if model.is_file():  # quantized once, but the model it came from is gone
            raise Stale(f"{model} was made from a model that is no longer in build/{stage}; run '{run}' to rebuild it")
        raise NotBuilt(f"{model}: not built; run '{run}' first")
    what = "the trained model" if stage != "quantize" else "it"
    raise Stale(f"{model} is out of date: {why} since {what} was built; run '{run}' to rebuild it")


INFO_KEYS = ("weight_bytes", "tflite_bytes", "ops", "tflm_arena_bytes", "model_hash", "float_ce", "int8_ce")


def info(cfg: Config) -> dict:
    """`tlmc info`: train.info's figures, plus the int8 model's when it is current
    (`quantize_status` says why it is not, when it is not)."""
    from ..core.errors import Damaged
    from ..core.fsutil import read_json
    from ..train.info import info as train_info

    out = train_info(cfg)
    build = cfg.root / "build"
    if not out["trained"]:
        return out
    try:
        why = quantize.status(cfg, build)
    except Damaged as e:
        out["quantize_status"] = str(e)
        return out
    if why is not None:
        if why != "not built":
            out["quantize_status"] = f"out of date: {why}; run 'tlmc quantize'"
        return out
    rep = read_json(build / "quantize" / "report.json", keys=INFO_KEYS)
    out.update(quantized=True, weight_bytes=rep["weight_bytes"], tflite_bytes=rep["tflite_bytes"],
               ops=rep["ops"], tflm_arena_bytes=rep["tflm_arena_bytes"], model_hash=rep["model_hash"],
               float_ce=rep["float_ce"], int8_ce=rep["int8_ce"])
    return out
