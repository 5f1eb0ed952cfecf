"""One tflite op -> its plan step: the checks the runtime needs and the integer constants,
computed as TFLM's Prepare functions compute them (restated in docs/runtime.md).

- FULLY_CONNECTED: per-channel when the weights carry more than one scale (effective scale
  in_scale * w_scale[c] / out_scale in double); per-tensor otherwise (the product
  in_scale * w_scale rounded to float32 first, then divided in double), as
  CalculateOpDataFullyConnected does.
- ADD / SUB / MUL (int8): CalculateOpDataAdd / CalculateOpDataSub / CalculateOpDataMul. ADD
  rescales both inputs to twice the larger input scale in double; SUB computes the same
  ratios in float32 (TFLM's sub_common.cc declares them float); MUL one multiplier in double.
- LOGISTIC / TANH: a 256-entry table per op (activations.py).
- GATHER and RESHAPE need no constants: a row copy, and an alias of the same bytes.
Every failure is one line naming the op and what to do.
"""

from __future__ import annotations

import math

import numpy as np

from .. import tflite_model
from ...core.errors import ExportError
from .activations import activation_table
from .fixedpoint import ACTIVATION_BOUNDS, INT32_MAX, activation_range, quantize_multiplier
from .ops import Add, Buffer, FullyConnected, Gather, Lookup, Mul, Operand, Reshape, Step, numel

def _fail(where: str, op: tflite_model.Op, what: str, fix: str = "re-export the model with 'tlmc quantize'") -> ExportError:
    return ExportError(f"{where}: op {op.name} (#{op.index}): {what}; {fix}")


def _quant(t: tflite_model.Tensor, where: str, op: tflite_model.Op) -> tuple[float, int]:
    if len(t.scale) == 0 or len(t.zero_point) == 0:
        raise _fail(where, op, f"tensor {t.name!r} has no quantization parameters")
    s = float(t.scale[0])
    if not (math.isfinite(s) and s > 0):
        raise _fail(where, op, f"tensor {t.name!r} has scale {s}")
    return s, int(t.zero_point[0])


def _fused_activation(op: tflite_model.Op, where: str) -> str:
    act = op.options.get("fusedActivationFunction", "NONE")
    if act not in ACTIVATION_BOUNDS:
        raise _fail(where, op, f"fused activation {act}", "use NONE, RELU, RELU6 or RELU_N1_TO_1")
    return act


def _gather(m, op, buffers, where) -> Gather:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 2 and 1)")
    table, ids, out = m.tensors[op.inputs[0]], m.tensors[op.inputs[1]], m.tensors[op.outputs[0]]
    if op.options.get("axis", 0) != 0 or op.options.get("batchDims", 0) != 0:
        raise _fail(where, op, f"axis {op.options.get('axis')} / batch_dims {op.options.get('batchDims')}",
                    "the runtime gathers rows (axis 0, batch_dims 0) only")
    if not table.is_const or table.dtype != "INT8" or len(table.shape) < 1:
        raise _fail(where, op, f"table {table.name!r} is a {'constant' if table.is_const else 'computed'} "
                    f"{table.dtype} tensor", "the runtime gathers from constant int8 tables only")
    if ids.dtype != "INT32" or ids.is_const:
        raise _fail(where, op, f"indices {ids.name!r} are {'constant ' if ids.is_const else ''}{ids.dtype}",
                    "feed int32 token ids")
    if out.dtype != "INT8":
        raise _fail(where, op, f"output {out.name!r} is {out.dtype}")
    rows = int(table.shape[0])
    row_len = numel(table.shape[1:])
    if numel(out.shape) != numel(ids.shape) * row_len:
        raise _fail(where, op, f"output {out.name!r} {list(out.shape)} does not hold {list(ids.shape)} rows of {row_len}")
    # TFLM's GATHER copies bytes: the output must share the table's quantization
    if len(out.scale) and len(table.scale) and (out.scale[0] != table.scale[0] or out.zero_point[0] != table.zero_point[0]):
        raise _fail(where, op, f"output {out.name!r} is quantized unlike table {table.name!r}")
    return Gather(op.index, out.name, table.data.reshape(rows, row_len).astype(np.int8), table.name,
                  buffers[op.inputs[1]], buffers[op.outputs[0]])


def _reshape(m, op, buffers, where) -> Reshape:
    if len(op.inputs) < 1 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs")
    src, out = m.tensors[op.inputs[0]], m.tensors[op.outputs[0]]
    if src.is_const:
        raise _fail(where, op, f"reshapes the constant {src.name!r}", "fold it in the exporter")
    if src.dtype != out.dtype or numel(src.shape) != numel(out.shape):
        raise _fail(where, op, f"{src.dtype} {list(src.shape)} -> {out.dtype} {list(out.shape)} changes the data")
    if op.outputs[0] in m.inputs:
        raise _fail(where, op, "writes a model input")
    b_in, b_out = buffers[op.inputs[0]], buffers[op.outputs[0]]
    b_out.alias_of = b_in.root
    return Reshape(op.index, out.name, b_in, b_out)


def _fully_connected(m, op, buffers, where) -> FullyConnected:
    if len(op.inputs) < 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs")
    x, w, out = m.tensors[op.inputs[0]], m.tensors[op.inputs[1]], m.tensors[op.outputs[0]]
    b = m.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    act = _fused_activation(op, where)
    if op.options.get("weightsFormat", 0) != 0:
        raise _fail(where, op, "shuffled weights format", "convert with the default weights format")
    if op.options.get("asymmetricQuantizeInputs", False):
        raise _fail(where, op, "hybrid (asymmetric_quantize_inputs)", "quantize to full int8")
    if x.dtype != "INT8" or out.dtype != "INT8":
        raise _fail(where, op, f"input {x.name!r} is {x.dtype}, output {out.name!r} is {out.dtype}",
                    "the runtime's FULLY_CONNECTED is int8 in, int8 out")
    if not w.is_const or w.dtype != "INT8" or len(w.shape) != 2:
        raise _fail(where, op, f"weights {w.name!r} are {'' if w.is_const else 'non-constant '}{w.dtype} {list(w.shape)}",
                    "the runtime needs constant int8 [out, in] weights")
    n_out, n_in = int(w.shape[0]), int(w.shape[1])
    if numel(x.shape) != n_in or numel(out.shape) != n_out:
        raise _fail(where, op, f"input {list(x.shape)} x weights {list(w.shape)} -> output {list(out.shape)}",
                    "the runtime runs one batch row per step")
    if b is not None:
        if not b.is_const or b.dtype != "INT32" or numel(b.shape) != n_out:
            raise _fail(where, op, f"bias {b.name!r} is {b.dtype} {list(b.shape)}", "the runtime needs int32 bias [out]")
    in_scale, in_zp = _quant(x, where, op)
    out_scale, out_zp = _quant(out, where, op)
    w_scales = np.asarray(w.scale, np.float32)
    if len(w_scales) == 0:
        raise _fail(where, op, f"weights {w.name!r} have no quantization parameters")
    # int32 accumulation must be exact: |sum| <= in * 127 * 255 + |bias|
    bias_max = int(np.abs(b.data.astype(np.int64)).max()) if b is not None and n_out else 0
    if n_in * 127 * 255 + bias_max > INT32_MAX:
        raise _fail(where, op, f"{n_in} inputs can overflow the int32 accumulator", "make the layer narrower")
    mults, shifts = [], []
    if len(w_scales) > 1:  # per channel (TFLM: more than one scale)
        if len(w_scales) != n_out or w.quantized_dim != 0:
            raise _fail(where, op, f"weights {w.name!r} have {len(w_scales)} scales on axis {w.quantized_dim}",
                        "per-channel weights need one scale per output row")
        if np.any(np.asarray(w.zero_point) != 0):
            raise _fail(where, op, f"weights {w.name!r} have nonzero zero points", "use symmetric weights")
        for s in w_scales:
            mq, sh = quantize_multiplier(float(in_scale) * float(s) / float(out_scale))
            mults.append(mq)
            shifts.append(sh)
        w_offset = 0
    else:  # per tensor: the scale product in float32 first, as GetQuantizedConvolutionMultipler
        prod = float(np.float32(in_scale) * w_scales[0])
        mq, sh = quantize_multiplier(prod / float(out_scale))
        mults, shifts = [mq], [sh]
        w_offset = -int(w.zero_point[0]) if len(w.zero_point) else 0
    if any(mq < 0 for mq in mults):
        raise _fail(where, op, "a negative scale")
    lo, hi = activation_range(act, out_scale, out_zp)
    return FullyConnected(
        op=op.index, name=out.name, weights=w.data.astype(np.int8), weights_name=w.name,
        bias=None if b is None else b.data.reshape(-1).astype(np.int32), bias_name="" if b is None else b.name,
        multiplier=np.asarray(mults, np.int32), shift=np.asarray(shifts, np.int32),
        input_offset=-in_zp, weights_offset=w_offset, output_offset=out_zp, act_min=lo, act_max=hi,
        activation=act, input=buffers[op.inputs[0]], out=buffers[op.outputs[0]])


def _operand(m, op, k: int, n: int, buffers, where) -> tuple[Operand, float, int]:
    """Input k of an elementwise op: an arena tensor or an int8 constant of n elements or one
    (broadcast); with its scale and zero point."""
    t = m.tensors[op.inputs[k]]
    if t.dtype != "INT8":
        raise _fail(where, op, f"input {t.name!r} is {t.dtype}", "the runtime's elementwise ops are int8")
    scale, zp = _quant(t, where, op)
    size = numel(t.shape)
    if size not in (n, 1):
        raise _fail(where, op, f"input {t.name!r} {list(t.shape)} broadcasts to {n} elements",
                    "the runtime broadcasts only equal sizes or a single element")
    if t.is_const:
        return Operand(None, t.data.reshape(-1).astype(np.int8), t.name, size), scale, zp
    return Operand(buffers[op.inputs[k]], None, "", size), scale, zp


def _binary(m, op, buffers, where) -> tuple[dict, tuple[float, float, float]]:
    """What ADD, SUB and MUL check and share: the Elementwise fields but the output rescale,
    and the scales of (input 1, input 2, output) that rescale comes from."""
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 2 and 1)")
    out = m.tensors[op.outputs[0]]
    if out.dtype != "INT8":
        raise _fail(where, op, f"output {out.name!r} is {out.dtype}", "the runtime's elementwise ops are int8")
    act = _fused_activation(op, where)
    n = numel(out.shape)
    if max(numel(m.tensors[i].shape) for i in op.inputs) != n:
        raise _fail(where, op, f"output {out.name!r} {list(out.shape)} is not the size of its inputs")
    out_scale, out_zp = _quant(out, where, op)
    lo, hi = activation_range(act, out_scale, out_zp)
    a, s1, z1 = _operand(m, op, 0, n, buffers, where)
    b, s2, z2 = _operand(m, op, 1, n, buffers, where)
    shared = dict(op=op.index, name=out.name, a=a, b=b, n=n, a_offset=-z1, b_offset=-z2, output_offset=out_zp,
                  act_min=lo, act_max=hi, activation=act, out=buffers[op.outputs[0]])
    return shared, (s1, s2, out_scale)


def _add(m, op, buffers, where) -> Add:
    """ADD / SUB: CalculateOpDataAdd (ratios in double) / CalculateOpDataSub (ratios in float32).
    Both inputs are rescaled to twice the larger input scale with 20 bits of headroom."""
    shared, (s1, s2, out_scale) = _binary(m, op, buffers, where)
    left_shift = 20  # int8; TFLM uses 15 for int16
    f1, f2 = np.float32(s1), np.float32(s2)
    if op.name == "ADD":
        twice_max = 2.0 * float(max(f1, f2))
        reals = (float(f1) / twice_max, float(f2) / twice_max, twice_max / ((1 << left_shift) * out_scale))
    else:  # sub_common.cc declares twice_max_input_scale a float and divides in float
        twice = np.float32(2.0) * max(f1, f2)
        reals = (float(np.float32(f1 / twice)), float(np.float32(f2 / twice)),
                 float(np.float32(twice / (np.float32(1 << left_shift) * np.float32(out_scale)))))
    quantized = []
    for what, real in zip(("input 1", "input 2", "output"), reals):
        mult, shift = quantize_multiplier(real)
        if not 0.0 < real < 1.0 or shift > 0:  # QuantizeMultiplierSmallerThanOneExp's checks (TFLM aborts)
            raise _fail(where, op, f"{what} rescale {real:.6g} is not below 1 (output scale {out_scale:.6g} is "
                        f"too small for input scales {s1:.6g}, {s2:.6g})", "TFLM refuses it too; re-export the model")
        quantized.append((mult, shift))
    (m1, sh1), (m2, sh2), (mo, sho) = quantized
    return Add(**shared, subtract=op.name == "SUB", left_shift=left_shift, a_multiplier=m1, a_shift=sh1,
               b_multiplier=m2, b_shift=sh2, output_multiplier=mo, output_shift=sho)


def _mul(m, op, buffers, where) -> Mul:
    """MUL: CalculateOpDataMul, real multiplier in1_scale * in2_scale / out_scale in double."""
    shared, (s1, s2, out_scale) = _binary(m, op, buffers, where)
    mult, shift = quantize_multiplier(float(s1) * float(s2) / float(out_scale))
    return Mul(**shared, output_multiplier=mult, output_shift=shift)


# the output quantization TFLM's int8 kernels assume (LOGISTIC checks the zero point only,
# TANH nothing; the converter always writes these)
_LOOKUP_OUTPUT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


def _lookup(m, op, buffers, where) -> Lookup:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise _fail(where, op, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs (expected 1 and 1)")
    x, out = m.tensors[op.inputs[0]], m.tensors[op.outputs[0]]
    if x.dtype != "INT8" or out.dtype != "INT8" or x.is_const:
        raise _fail(where, op, f"{x.dtype} {'constant ' if x.is_const else ''}-> {out.dtype}",
                    "the runtime's LOGISTIC and TANH are int8 in, int8 out")
    if numel(x.shape) != numel(out.shape):
        raise _fail(where, op, f"input {list(x.shape)} and output {list(out.shape)} differ in size")
    in_scale, in_zp = _quant(x, where, op)
    out_scale, out_zp = _quant(out, where, op)
    want_scale, want_zp = _LOOKUP_OUTPUT[op.name]
    if out_zp != want_zp or not math.isclose(out_scale, want_scale, rel_tol=1e-6):
        raise _fail(where, op, f"output {out.name!r} has scale {out_scale:.6g} and zero point {out_zp}; TFLM's int8 "
                    f"{op.name} produces scale {want_scale:.6g} and zero point {want_zp} whatever the tensor says")
    try:
        table = activation_table(op.name, in_scale, in_zp)
    except ValueError as e:
        raise _fail(where, op, str(e)) from None
    return Lookup(op=op.index, name=out.name, function=op.name, table=table, n=numel(x.shape),
                  input=buffers[op.inputs[0]], out=buffers[op.outputs[0]])


_PREPARE = {"FULLY_CONNECTED": _fully_connected, "GATHER": _gather, "RESHAPE": _reshape, "ADD": _add, "SUB": _add,
            "MUL": _mul, "LOGISTIC": _lookup, "TANH": _lookup}
SUPPORTED_OPS = tuple(_PREPARE)  # what the runtime has kernels for, in the order error messages list them


def prepare_op(m: tflite_model.Model, op: tflite_model.Op, buffers: dict[int, Buffer], where: str) -> Step:
    """The step for one op of a supported kind (SUPPORTED_OPS), its arena tensors in `buffers`."""
    return _PREPARE[op.name](m, op, buffers, where)
