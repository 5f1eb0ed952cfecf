"""Run a step model (docs/state.md) token by token on the host, states carried as the device
carries them: the reference for streaming evaluation, generation and golden vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from . import interp
from . import tflite_model
from ..core.errors import TlmcError
from ..core.fsutil import read_json
from ..data.tokenizer import PAD


def read_signature(build: Path, name: str = "signature.json") -> dict:
    p = Path(build) / "quantize" / name
    if not p.is_file():
        return {"kind": "window"}
    return read_json(p)


def requantize(q: np.ndarray, scale_out: float, zp_out: int, scale_in: float, zp_in: int) -> np.ndarray:
    """int8 -> int8 in another quantization, with the runtime's rescale arithmetic."""
    from .plan.fixedpoint import quantize_multiplier, rescale_int8

    mult, shift = quantize_multiplier(float(scale_out) / float(scale_in))
    return rescale_int8(q, -int(zp_out), int(zp_in), mult, shift).astype(np.int8)


class StepRunner:
    """A step model on LiteRT (float or int8) or TFLM (int8, the device's arithmetic)."""

    def __init__(self, buf: bytes, signature: dict, engine: str = "litert"):
        self.model = tflite_model.parse(buf)
        self.sig = signature
        self.engine = engine
        if engine == "litert":
            self.it = interp.litert(buf)
            self._in = [d["index"] for d in self.it.get_input_details()]
            self._out = [d["index"] for d in self.it.get_output_details()]
        else:
            self.it = interp.tflm(buf)
        m = self.model
        self.states = []
        for s in signature["states"]:
            t_in, t_out = m.tensors[m.inputs[s["input"]]], m.tensors[m.outputs[s["output"]]]
            dtype = np.int8 if t_in.dtype == "INT8" else np.float32
            zero = np.full(t_in.shape, int(t_in.zero_point[0]) if dtype == np.int8 else 0, dtype)
            requant = None
            if dtype == np.int8 and (float(t_in.scale[0]) != float(t_out.scale[0])
                                     or int(t_in.zero_point[0]) != int(t_out.zero_point[0])):
                requant = (float(t_out.scale[0]), int(t_out.zero_point[0]), float(t_in.scale[0]), int(t_in.zero_point[0]))
            self.states.append({"spec": s, "zero": zero, "requant": requant, "ring": []})
        self.reset()

    @property
    def requantized_states(self) -> int:
        return sum(1 for s in self.states if s["requant"] is not None)

    def reset(self) -> None:
        for s in self.states:
            s["ring"] = [s["zero"].copy() for _ in range(s["spec"]["delay"])]

    def _set(self, pos: int, value: np.ndarray) -> None:
        if self.engine == "litert":
            self.it.set_tensor(self._in[pos], value)
        else:
            self.it.set_input(value, pos)

    def _get(self, pos: int) -> np.ndarray:
        if self.engine == "litert":
            return self.it.get_tensor(self._out[pos]).copy()
        return np.asarray(self.it.get_output(pos)).copy()

    def step(self, token: int) -> np.ndarray:
        """Run one token; returns the raw logits row (int8 or float32)."""
        self._set(self.sig["token_input"], np.array([[token]], np.int32))
        for s in self.states:
            self._set(s["spec"]["input"], s["ring"][0])
        self.it.invoke()
        for s in self.states:
            new = self._get(s["spec"]["output"])
            if s["requant"] is not None:
                new = requantize(new, *s["requant"])
            s["ring"] = s["ring"][1:] + [new]
        return self._get(self.sig["logits_output"])[0]

    def run(self, tokens) -> np.ndarray:
        """Logits after every token of a sequence, from a reset: [T, V]."""
        self.reset()
        return np.stack([self.step(int(t)) for t in tokens])


def signature_for(model: tflite_model.Model, arch_states: list[tuple[str, int, int]], vocab: int) -> dict:
    """Pair the converted model's inputs and outputs per docs/state.md; checks shapes."""
    tok = [i for i, t in enumerate(model.inputs) if model.tensors[t].dtype == "INT32"]
    if len(tok) != 1:
        raise TlmcError(f"step model: expected one int32 token input, found {len(tok)}")
    in_pos = [i for i in range(len(model.inputs)) if i != tok[0]]
    logits = [i for i, t in enumerate(model.outputs) if tuple(model.tensors[t].shape) == (1, vocab)]
    if not logits:
        raise TlmcError("step model: no [1, vocab] logits output")
    out_pos = [i for i in range(len(model.outputs)) if i != logits[0]]
    if len(in_pos) != len(arch_states) or len(out_pos) != len(arch_states):
        raise TlmcError(f"step model: {len(in_pos)} state inputs and {len(out_pos)} state outputs, "
                        f"the architecture has {len(arch_states)} states")
    states = []
    for (name, width, delay), i, o in zip(arch_states, in_pos, out_pos):
        si, so = model.tensors[model.inputs[i]], model.tensors[model.outputs[o]]
        if tuple(si.shape) != (1, width) or tuple(so.shape) != (1, width):
            raise TlmcError(f"step model: state {name}: shapes {si.shape} in, {so.shape} out, expected (1, {width})")
        states.append({"name": name, "input": i, "output": o, "delay": delay})
    return {"kind": "step", "token_input": tok[0], "logits_output": logits[0], "states": states}


def step_logits(runner: StepRunner, stream: np.ndarray, limit: int, dequant=None,
                block: int = 256) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (target positions, logits [n, V] float64) for every position 1 <= t < limit of
    `stream` whose token is not <pad>, streamed as a device streams: a <pad> starts a document
    (reset, then step it), each later token is stepped on the state so far. `dequant` turns a
    raw int8 logits row into floats. The same positions as `train.predict.stream_logits`."""
    n = min(int(limit), len(stream))
    runner.reset()
    pos: list[int] = []
    rows: list[np.ndarray] = []
    for t in range(n - 1):
        tok = int(stream[t])
        if tok == PAD:
            runner.reset()
        raw = runner.step(tok)
        if int(stream[t + 1]) == PAD:
            continue
        pos.append(t + 1)
        rows.append(dequant(raw) if dequant is not None else np.asarray(raw, np.float64))
        if len(pos) == block:
            yield np.array(pos, np.int64), np.stack(rows)
            pos, rows = [], []
    if pos:
        yield np.array(pos, np.int64), np.stack(rows)
