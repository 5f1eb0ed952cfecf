"""Host-side generation: float (LiteRT) or int8 (TFLM, the same arithmetic a device runs).

int8 generation follows docs/sampling.md exactly, so a device generates the same text for the
same prompt, seed, temperature and top-k.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import interp
from . import sampling
from . import tflite_model
from ..core.errors import NotBuilt
from ..core.fsutil import read_bytes
from ..data.tokenizer import PAD, Tokenizer


@dataclass
class GenResult:
    text: str
    ids: list[int]
    prompt_ids: list[int]


def generate_ids(step, context: int, prompt_ids: list[int], n_tokens: int, pick, stop=None) -> list[int]:
    """The token loop: window of the last `context` ids (starts all <pad>), push the prompt, then
    `n_tokens` times: logits = step(window); id = pick(logits); push id. Ends early after an id
    for which `stop(id)` is true (that id included)."""
    window = [PAD] * context
    for t in prompt_ids:
        window = window[1:] + [int(t)]
    out = []
    for _ in range(n_tokens):
        nxt = pick(step(np.asarray(window, np.int32)))
        out.append(nxt)
        if stop is not None and stop(nxt):
            break
        window = window[1:] + [nxt]
    return out


def generate_steps(runner, prompt_ids: list[int], n_tokens: int, pick, stop=None) -> list[int]:
    """The step-model loop (docs/state.md): reset, step <pad>, step each prompt token, then
    n_tokens times: pick from the last logits and step the picked token. `stop` as in
    generate_ids."""
    runner.reset()
    logits = runner.step(PAD)
    for t in prompt_ids:
        logits = runner.step(int(t))
    out = []
    for i in range(n_tokens):
        nxt = pick(logits)
        out.append(nxt)
        if stop is not None and stop(nxt):
            break
        if i + 1 < n_tokens:
            logits = runner.step(nxt)
    return out


def _picker(int8: bool, rng, temperature: float, top_k: int, logits_t):
    if int8:
        k_const = sampling.logit_k(float(logits_t.scale[0]))
        temp_milli = int(round(temperature * 1000))
        return lambda logits: sampling.sample(logits, rng, temp_milli, top_k, k_const)
    return lambda logits: sampling.sample_float(logits, rng, temperature, top_k)


def generate(build: Path, prompt: str, n_tokens: int, *, seed: int = 1, temperature: float = 0.0,
             top_k: int = 0, int8: bool = False) -> GenResult:
    sampling.check_generation(n_tokens, seed, temperature, top_k, min_tokens=0)
    name = "model.tflite" if int8 else "model_float.tflite"
    path = build / "quantize" / name
    if not path.is_file():
        raise NotBuilt(f"{path}: not built; run 'tlmc quantize' first")
    tok = Tokenizer.load(build / "data" / "tokenizer.json")
    buf = read_bytes(path)
    model = tflite_model.parse(buf, str(path))
    prompt_ids = tok.encode(prompt).tolist()
    rng = sampling.XorShift32(seed)
    from . import stream

    sig = stream.read_signature(build)
    if sig["kind"] == "step":
        sig_f = sig if int8 else stream.read_signature(build, "signature_float.json")
        runner = stream.StepRunner(buf, sig_f, "tflm" if int8 else "litert")
        logits_t = model.tensors[model.outputs[sig_f["logits_output"]]]
        pick = _picker(int8, rng, temperature, top_k, logits_t)
        ids = generate_steps(runner, prompt_ids, n_tokens, pick)
        return GenResult(text=tok.decode(ids), ids=ids, prompt_ids=prompt_ids)
    context = model.tensors[model.inputs[0]].shape[-1]
    if int8:
        run = interp.Runner(buf, "tflm")
        out_t = model.tensors[model.outputs[0]]
        k_const = sampling.logit_k(float(out_t.scale[0]))
        temp_milli = int(round(temperature * 1000))

        def pick(logits):
            return sampling.sample(logits, rng, temp_milli, top_k, k_const)
    else:
        run = interp.Runner(buf, "litert")

        def pick(logits):
            return sampling.sample_float(logits, rng, temperature, top_k)
    ids = generate_ids(run, context, prompt_ids, n_tokens, pick)
    return GenResult(text=tok.decode(ids), ids=ids, prompt_ids=prompt_ids)
