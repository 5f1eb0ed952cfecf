"""A full-int8 .tflite -> its Plan: whole-model checks, the signature (window or step model),
each tensor's lifetime, one step per op (prepare.py), the states and the arena (memory.py).

State feedback (docs/state.md): a state output whose quantization differs from its input's is
rescaled with QuantizeMultiplier(scale_out / scale_in) and the double-rounding MBQM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import tflite_model
from ...core.errors import ExportError, TlmcError, UsageError
from ...core.fsutil import sha256_bytes
from .fixedpoint import quantize_multiplier
from .memory import place
from .ops import Buffer, Plan, Requantize, State, Step, numel
from .prepare import SUPPORTED_OPS, prepare_op

MAX_DELAY = 1 << 16


# ---------------------------------------------------------------------------------------------
# Checks: one line naming the tensor/op and what to do

def _check_int8_model(m: tflite_model.Model, where: str) -> None:
    used = {i for op in m.ops for i in op.inputs + op.outputs if i >= 0} | set(m.inputs) | set(m.outputs)
    floats = [m.tensors[i] for i in sorted(used) if m.tensors[i].dtype in ("FLOAT32", "FLOAT16", "FLOAT64")]
    if not floats:
        return
    act = [t for t in floats if not t.is_const]
    int8_consts = any(t.is_const and t.dtype == "INT8" for t in m.tensors)
    t = (act or floats)[0]
    user = next((o for o in m.ops if t.index in o.outputs + o.inputs), None)
    around = f" at op {user.name} (#{user.index})" if user else ""
    kind = "a hybrid model (int8 weights, float activations)" if act and int8_consts else "a float model"
    raise ExportError(f"{where}: {kind}: tensor {t.name!r} is {t.dtype}{around}; tlmc compiles full-int8 "
                      "models only: run 'tlmc quantize' (full int8 with representative data)")


def _check_ops(m: tflite_model.Model, where: str) -> None:
    for op in m.ops:
        if op.name not in SUPPORTED_OPS:
            out = m.tensors[op.outputs[0]].name if op.outputs else "?"
            raise ExportError(f"{where}: op {op.name} (#{op.index}, output {out!r}) is not in the tlmc runtime "
                              f"(it runs {', '.join(SUPPORTED_OPS)}); change the architecture or add a kernel "
                              "(docs/runtime.md, 'Adding an op')")


# ---------------------------------------------------------------------------------------------
# Building the plan

def load(path: Path | str) -> tflite_model.Model:
    return parse(tflite_model.read_bytes(path), str(path))


def parse(buf: bytes, where: str = "model") -> tflite_model.Model:
    """tflite_model.parse, with any failure inside the flatbuffer reader turned into one line."""
    try:
        m = tflite_model.parse(buf, where)
    except TlmcError:
        raise
    except Exception as e:  # a corrupted flatbuffer can fail anywhere in the generated reader
        raise UsageError(f"{where}: corrupted TFLite flatbuffer ({type(e).__name__}); re-export it") from None
    n = len(m.tensors)
    for op in m.ops:
        for i in op.inputs + op.outputs:
            if not -1 <= i < n:
                raise UsageError(f"{where}: corrupted TFLite flatbuffer (op #{op.index} names tensor {i} of {n}); re-export it")
    for i in m.inputs + m.outputs:
        if not 0 <= i < n:
            raise UsageError(f"{where}: corrupted TFLite flatbuffer (graph input/output {i} of {n}); re-export it")
    for t in m.tensors:
        if any(d < 0 for d in t.shape):
            raise UsageError(f"{where}: tensor {t.name!r} has a dynamic shape {list(t.shape)}; export with fixed shapes")
    return m


def build(model: tflite_model.Model | bytes, where: str = "model", model_hash: str | None = None,
          signature: dict | None = None) -> Plan:
    """The plan for a parsed model (or .tflite bytes). ExportError/UsageError, one line, if the
    runtime cannot run it exactly. `signature`: the model's signature.json (docs/state.md);
    None or {"kind": "window"} for a window model."""
    if isinstance(model, (bytes, bytearray)):
        model_hash = model_hash or sha256_bytes(bytes(model))[:16]
        model = parse(bytes(model), where)
    m = model
    _check_int8_model(m, where)
    _check_ops(m, where)
    token_pos, logits_pos, state_specs = _signature(m, signature, where)
    tin, tout = m.tensors[m.inputs[token_pos]], m.tensors[m.outputs[logits_pos]]
    if tin.dtype != "INT32" or len(tin.shape) != 2 or tin.shape[0] != 1 or tin.shape[1] < 1:
        raise ExportError(f"{where}: input {tin.name!r} is {tin.dtype} {list(tin.shape)}; the runtime expects "
                          "int32 token ids [1, K]")
    if state_specs and tuple(tin.shape) != (1, 1):
        raise ExportError(f"{where}: token input {tin.name!r} is {list(tin.shape)}; a step model reads one token "
                          "[1, 1] (docs/state.md)")
    if tout.dtype != "INT8" or len(tout.shape) != 2 or tout.shape[0] != 1 or tout.shape[1] < 1:
        raise ExportError(f"{where}: output {tout.name!r} is {tout.dtype} {list(tout.shape)}; the runtime expects "
                          "int8 logits [1, V] (set inference_output_type to int8)")
    if len(tout.scale) == 0:
        raise ExportError(f"{where}: output {tout.name!r} has no quantization parameters; re-export it")

    buffers = _lifetimes(m)
    steps: list[Step] = []
    counts: dict[str, int] = {}
    for op in m.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
        steps.append(prepare_op(m, op, buffers, where))
    states = [_state(m, spec, buffers, where) for spec in state_specs]
    control = _state_blocks(states, len(m.ops), buffers)
    arena, persistent = place(list(buffers.values()))
    return Plan(steps=steps, buffers=buffers, arena_bytes=arena, persistent_bytes=persistent,
                input=buffers[m.inputs[token_pos]], output=buffers[m.outputs[logits_pos]],
                output_scale=float(tout.scale[0]), output_zero_point=int(tout.zero_point[0]),
                model_hash=model_hash or "unknown", description=m.description, op_counts=counts,
                states=states, control=control)


def op_step(model: tflite_model.Model | bytes, index: int = 0, where: str = "model") -> Step:
    """The Step (kernel and constants) of one op of any int8 model, outside a whole plan (no
    arena offsets): the kernel tests run single-op models through it."""
    m = parse(bytes(model), where) if isinstance(model, (bytes, bytearray)) else model
    _check_ops(m, where)
    return prepare_op(m, m.ops[index], _lifetimes(m), where)


def _signature(m: tflite_model.Model, sig: dict | None, where: str) -> tuple[int, int, list[dict]]:
    """(token input position, logits output position, state specs) from signature.json."""
    fix = "re-run 'tlmc quantize' (it writes quantize/signature.json, docs/state.md)"
    kind = (sig or {}).get("kind", "window")
    if kind == "window":
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise ExportError(f"{where}: {len(m.inputs)} inputs and {len(m.outputs)} outputs but no step-model "
                              f"signature; the runtime runs a window model (one input: token ids, one output: "
                              f"logits) or a step model described by signature.json; {fix}")
        return 0, 0, []
    if kind != "step":
        raise ExportError(f"{where}: signature kind {kind!r} is neither 'window' nor 'step'; {fix}")
    try:
        tok, logits = int(sig["token_input"]), int(sig["logits_output"])
        specs = [{"name": str(st.get("name", f"s{i}")), "input": int(st["input"]), "output": int(st["output"]),
                  "delay": int(st.get("delay", 1))} for i, st in enumerate(sig["states"])]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ExportError(f"{where}: step signature is malformed ({type(e).__name__}: {e}); {fix}") from None
    ins = [tok] + [st["input"] for st in specs]
    outs = [logits] + [st["output"] for st in specs]
    if sorted(ins) != list(range(len(m.inputs))):
        raise ExportError(f"{where}: step signature names inputs {ins} but the model has {len(m.inputs)}: each "
                          f"input must be the token or one state; {fix}")
    if sorted(outs) != list(range(len(m.outputs))):
        raise ExportError(f"{where}: step signature names outputs {outs} but the model has {len(m.outputs)}: each "
                          f"output must be the logits or one state; {fix}")
    if not specs:
        raise ExportError(f"{where}: step signature without states; export a window model instead")
    for st in specs:
        if not 1 <= st["delay"] <= MAX_DELAY:
            raise ExportError(f"{where}: state {st['name']!r} has delay {st['delay']} (1..{MAX_DELAY}); {fix}")
    return tok, logits, specs


def _state(m: tflite_model.Model, spec: dict, buffers: dict[int, Buffer], where: str) -> State:
    ti, to = m.tensors[m.inputs[spec["input"]]], m.tensors[m.outputs[spec["output"]]]
    name = spec["name"]
    for t, what in ((ti, "input"), (to, "output")):
        if t.dtype != "INT8" or len(t.shape) != 2 or t.shape[0] != 1 or len(t.scale) == 0:
            raise ExportError(f"{where}: state {name!r} {what} {t.name!r} is {t.dtype} {list(t.shape)}; states are "
                              "quantized int8 [1, n] (docs/state.md)")
    if ti.shape != to.shape:
        raise ExportError(f"{where}: state {name!r} is {list(ti.shape)} in but {list(to.shape)} out; they must match")
    b_in, b_out = buffers[m.inputs[spec["input"]]], buffers[m.outputs[spec["output"]]]
    if buffers[b_out.root].persistent:
        raise ExportError(f"{where}: state {name!r} output {to.name!r} is a model input passed through; "
                          "compute the state in the model or drop it")
    s_in, zp_in = float(ti.scale[0]), int(ti.zero_point[0])
    s_out, zp_out = float(to.scale[0]), int(to.zero_point[0])
    requant = None
    if s_in != s_out or zp_in != zp_out:
        mult, shift = quantize_multiplier(s_out / s_in)
        requant = Requantize(input_offset=-zp_out, output_offset=zp_in, multiplier=mult, shift=shift)
    return State(name=name, input=b_in, output=b_out, delay=spec["delay"], zero=zp_in, requantize=requant)


def _state_blocks(states: list[State], n_ops: int, buffers: dict[int, Buffer]) -> Buffer | None:
    """Persistent arena blocks beside the state inputs: each ring (delay - 1 entries) and the
    control words (pending flag + one ring head per state). Keys < 0: they are no tensors."""
    if not states:
        return None
    control = Buffer(-1, "<control: pending, ring heads>", "UINT32", (1 + len(states),), 4 * (1 + len(states)),
                     first=-1, last=n_ops)
    buffers[-1] = control
    for i, s in enumerate(states):
        if s.delay > 1:
            s.ring = Buffer(-2 - i, f"<ring of state {s.name}>", "INT8", (s.delay - 1, s.size), (s.delay - 1) * s.size,
                            first=-1, last=n_ops)
            buffers[s.ring.tensor] = s.ring
    return control


def _lifetimes(m: tflite_model.Model) -> dict[int, Buffer]:
    """A Buffer for every non-constant tensor: written by op `first`, last read by op `last`."""
    end = len(m.ops)
    bufs: dict[int, Buffer] = {}

    def buf(i: int) -> Buffer:
        if i not in bufs:
            t = m.tensors[i]
            size = numel(t.shape) * np.dtype(tflite_model._NP_TYPES.get(t.dtype, np.uint8)).itemsize
            bufs[i] = Buffer(i, t.name, t.dtype, tuple(t.shape), int(size), first=end, last=-1)
        return bufs[i]

    for i in m.inputs:
        b = buf(i)
        b.first, b.last = -1, end  # the window: persists across steps
    for op in m.ops:
        for i in op.outputs:
            if i >= 0 and not m.tensors[i].is_const:
                b = buf(i)
                b.first = min(b.first, op.index)
                b.last = max(b.last, op.index)
        for i in op.inputs:
            if i >= 0 and not m.tensors[i].is_const:
                b = buf(i)
                b.last = max(b.last, op.index)
    for i in m.outputs:
        buf(i).last = end
    for b in bufs.values():  # a tensor read before anything writes it: treat as persistent state
        b.first = min(b.first, b.last)
    return bufs
