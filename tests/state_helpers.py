"""Helpers for the step-model tests (docs/state.md): toolchain.train.models' GRU and dilated-conv
step functions over random weights, their full-int8 conversion with calibration data streamed
through the float step, single-op flatbuffers with chosen quantization, and the reference loop
that runs a step model in TFLM with its states carried.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.export import interp
from toolchain.export import plan
from toolchain.export import quantize
from toolchain.export import stream
from toolchain.export import tflite_model
from toolchain.train import models
from toolchain.core.tfenv import tf as _tf


# ---------------------------------------------------------------------------------------------
# Random step models

@dataclass
class StepModel:
    name: str
    int8: bytes
    signature: dict
    vocab: int
    states: list[tuple[str, int, int]]  # (name, width, delay)

    @property
    def plan(self) -> plan.Plan:
        return plan.build(self.int8, self.name, signature=self.signature)


def _random_weights(rng: np.random.Generator, shapes: dict, logits_gain: float) -> dict[str, np.ndarray]:
    """Normal weights of the given shapes: embedding std 1, biases 0.3 (logits 0.5), kernels
    1/sqrt(fan in), times 1.2 for recurrent ones and `logits_gain` for the logits."""
    def std(name: str, shape) -> float:
        if name == "embedding":
            return 1.0
        if name.endswith("/bias"):
            return 0.5 if name.startswith("logits") else 0.3
        gain = logits_gain if name.startswith("logits") else 1.2 if name.endswith("/recurrent") else 1.0
        return gain / np.sqrt(shape[0])

    return {k: rng.normal(0, std(k, s), s).astype(np.float32) for k, s in shapes.items()}


def arch_step(rng: np.random.Generator, arch: str, vocab: int, embed: int, hidden: list[int], logits_gain: float):
    """toolchain.train.models' step function of `arch` over random weights, and its states."""
    a = models.get(arch)
    m = {"arch": arch, "context": 1, "embed": embed, "hidden": list(hidden)}
    return a.step_fn(_random_weights(rng, a.shapes(m, vocab), logits_gain), m), a.states(m)


def gru_step(rng: np.random.Generator, vocab: int, embed: int, hidden: list[int]):
    """A GRU step (Keras reset_after form, one FULLY_CONNECTED per gate and input; models.py's
    gru). States: each layer's h, delay 1."""
    return arch_step(rng, "gru", vocab, embed, hidden, 2.0)


def conv_step(rng: np.random.Generator, vocab: int, embed: int, widths: list[int]):
    """A dilated causal conv step (models.py's conv): layer l reads its input now and 2**l steps
    ago (a state), y = relu(W0 tap + W1 x + b), residual when the width stays. States: each
    layer's input, with that layer's delay."""
    return arch_step(rng, "conv", vocab, embed, widths, 0.5)


def step_signature(model: tflite_model.Model, states, vocab: int) -> dict:
    """docs/state.md's signature for a converted step function (toolchain.export.stream pairs them)."""
    return stream.signature_for(model, list(states), vocab)


def convert_step(name: str, step, states, vocab: int, rng: np.random.Generator, *, n_seq: int = 12,
                 seq_len: int = 24, gains: dict[int, float] | None = None) -> StepModel:
    """Full-int8 conversion calibrated on (token, states) tuples recorded by streaming random
    tokens through the float step (each state read back `delay` steps later). `gains` scales
    the recorded values of some states (by index) before calibration, so those state inputs
    get a wider range than their outputs: the runtime must requantize them."""
    tf = _tf()
    float_buf = quantize.convert(step, None)
    f_sig = step_signature(tflite_model.parse(float_buf), states, vocab)
    quantize.check_output_order(step, float_buf, f_sig, states)
    calib = []
    for _ in range(n_seq):
        hist = [[np.zeros((1, w), np.float32)] * d for _, w, d in states]
        for t in [0] + list(rng.integers(0, vocab, seq_len - 1)):
            ins = [np.array([[t]], np.int32)] + [h[0] * (gains or {}).get(i, 1.0) for i, h in enumerate(hist)]
            calib.append(ins)
            out = step(*[tf.constant(x) for x in [np.array([[t]], np.int32)] + [h[0] for h in hist]])
            for i, h in enumerate(hist):
                h.append(out[f"s{i:02d}"].numpy())
                del h[0]
    int8 = quantize.convert(step, calib)
    sig = step_signature(tflite_model.parse(int8), states, vocab)
    return StepModel(name, int8, sig, vocab, list(states))


# ---------------------------------------------------------------------------------------------
# The reference: TFLM, states carried per docs/state.md

requantize = stream.requantize  # the reference arithmetic lives in toolchain/export/stream.py


class TflmStepper(stream.StepRunner):
    """A step model in TFLM's interpreter with its states carried as docs/state.md says."""

    def __init__(self, buf: bytes, sig: dict):
        super().__init__(buf, sig, "tflm")
        self.requantized = self.requantized_states



def c_sequences(exe: Path, seqs) -> list[np.ndarray]:
    """`tlm --logits` on a step model: one sequence per line, logits after every id."""
    text = "".join(" ".join(str(int(v)) for v in s) + "\n" for s in seqs)
    out = subprocess.run([str(exe), "--logits"], input=text, capture_output=True, text=True, check=True).stdout
    rows = np.array([[int(v) for v in line.split()] for line in out.splitlines()], np.int64).astype(np.int8)
    res, at = [], 0
    for s in seqs:
        res.append(rows[at:at + len(s)])
        at += len(s)
    assert at == len(rows)
    return res


# ---------------------------------------------------------------------------------------------
# Single-op flatbuffers with chosen quantization (kernel tests against the wheel)

def single_op_model(op: str, inputs: list[dict], output: dict, options: dict | None = None) -> bytes:
    """A one-op .tflite. inputs/output: {"shape", "scale", "zero_point", "const": array or
    None}; options: builtin option fields (e.g. {"fusedActivationFunction": 1})."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name, spec, buffer):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), list(spec["shape"]), s.TensorType.INT8, buffer
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(spec["scale"])], [int(spec["zero_point"])]
        t.quantization = q
        return t

    buffers = [s.BufferT()]
    tensors, graph_inputs = [], []
    for i, spec in enumerate(inputs):
        buffer = 0
        if spec.get("const") is not None:
            b = s.BufferT()
            b.data = list(np.asarray(spec["const"], np.int8).tobytes())
            buffer = len(buffers)
            buffers.append(b)
        else:
            graph_inputs.append(i)
        tensors.append(tensor(f"in{i}", spec, buffer))
    tensors.append(tensor("out", output, 0))
    code = getattr(s.BuiltinOperator, op)
    oc = s.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, list(range(len(inputs))), [len(inputs)]
    if op in ("ADD", "SUB", "MUL"):
        opt = {"ADD": s.AddOptionsT, "SUB": s.SubOptionsT, "MUL": s.MulOptionsT}[op]()
        for k, v in (options or {}).items():
            setattr(opt, k, v)
        o.builtinOptionsType = getattr(s.BuiltinOptions, op[0] + op[1:].lower() + "Options")
        o.builtinOptions = opt
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = tensors, graph_inputs, [len(inputs)], [o]
    m = s.ModelT()
    m.version, m.description, m.operatorCodes, m.subgraphs, m.buffers = 3, b"single op", [oc], [sg], buffers
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflm_single_op(buf: bytes, arrays: list[np.ndarray]) -> np.ndarray:
    it = interp.tflm(buf)
    for i, a in enumerate(arrays):
        it.set_input(np.asarray(a, np.int8), i)
    it.invoke()
    return np.asarray(it.get_output(0)).reshape(-1).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# A harness over the elementwise kernels alone

HARNESS_C = r"""
#include <stdio.h>
#include "tlm_kernels.h"

/* stdin lines, each answered with one line of n outputs:
 *   a N ASTEP BSTEP SUB AOFF BOFF LSHIFT AM AS BM BS OM OS OOFF MIN MAX a(.) b(.)   ADD / SUB
 *   m N ASTEP BSTEP AOFF BOFF OM OS OOFF MIN MAX a(.) b(.)                           MUL
 *   l N table(256) x(N)                                                             lookup
 *   r N IOFF OOFF M S x(N)                                                          requantize
 * a(.) holds N values if ASTEP is 1, else one. */
static int read_i8(int8_t *dst, long n) {
    long i, v;
    for (i = 0; i < n; i++) {
        if (scanf("%ld", &v) != 1) return 0;
        dst[i] = (int8_t)v;
    }
    return 1;
}

static int read_i32(long *dst, int n) {
    int i;
    for (i = 0; i < n; i++) {
        if (scanf("%ld", &dst[i]) != 1) return 0;
    }
    return 1;
}

int main(void) {
    static int8_t a[4096], b[4096], out[4096], table[256];
    char kind[4];
    while (scanf("%3s", kind) == 1) {
        long v[16];
        long i, n;
        TlmStatus st;
        if (scanf("%ld", &n) != 1 || n < 1 || n > 4096) return 2;
        if (kind[0] == 'a') {
            TlmAdd p;
            if (!read_i32(v, 15)) return 2;
            p.n = (int32_t)n; p.a_step = (int32_t)v[0]; p.b_step = (int32_t)v[1]; p.subtract = (int32_t)v[2];
            p.a_offset = (int32_t)v[3]; p.b_offset = (int32_t)v[4]; p.left_shift = (int32_t)v[5];
            p.a_multiplier = (int32_t)v[6]; p.a_shift = (int32_t)v[7]; p.b_multiplier = (int32_t)v[8];
            p.b_shift = (int32_t)v[9]; p.output_multiplier = (int32_t)v[10]; p.output_shift = (int32_t)v[11];
            p.output_offset = (int32_t)v[12]; p.act_min = (int32_t)v[13]; p.act_max = (int32_t)v[14];
            if (!read_i8(a, v[0] ? n : 1) || !read_i8(b, v[1] ? n : 1)) return 2;
            st = tlm_add_s8(&p, a, b, out);
        } else if (kind[0] == 'm') {
            TlmMul p;
            if (!read_i32(v, 10)) return 2;
            p.n = (int32_t)n; p.a_step = (int32_t)v[0]; p.b_step = (int32_t)v[1]; p.a_offset = (int32_t)v[2];
            p.b_offset = (int32_t)v[3]; p.output_multiplier = (int32_t)v[4]; p.output_shift = (int32_t)v[5];
            p.output_offset = (int32_t)v[6]; p.act_min = (int32_t)v[7]; p.act_max = (int32_t)v[8];
            (void)v[9];
            if (!read_i8(a, v[0] ? n : 1) || !read_i8(b, v[1] ? n : 1)) return 2;
            st = tlm_mul_s8(&p, a, b, out);
        } else if (kind[0] == 'l') {
            TlmLookup p;
            if (!read_i8(table, 256) || !read_i8(a, n)) return 2;
            p.n = (int32_t)n; p.table = table;
            st = tlm_lookup_s8(&p, a, out);
        } else {
            TlmRequantize p;
            if (!read_i32(v, 4) || !read_i8(a, n)) return 2;
            p.n = (int32_t)n; p.input_offset = (int32_t)v[0]; p.output_offset = (int32_t)v[1];
            p.multiplier = (int32_t)v[2]; p.shift = (int32_t)v[3];
            st = tlm_requantize_s8(&p, a, out);
        }
        if (st != TLM_OK) return 3;
        for (i = 0; i < n; i++) printf(i + 1 < n ? "%d " : "%d\n", (int)out[i]);
    }
    return 0;
}
"""


def build_harness(out_dir: Path) -> Path:
    import shutil

    from toolchain.target import compile as compile_mod
    from toolchain.core.paths import FIRMWARE

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "harness.c").write_text(HARNESS_C)
    exe = out_dir / "harness"
    subprocess.run([shutil.which("gcc") or "gcc", *compile_mod.HOST_FLAGS, f"-I{FIRMWARE}", str(out_dir / "harness.c"),
                    str(FIRMWARE / "tlm_elementwise.c"), str(FIRMWARE / "tlm_kernels.c"), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


def harness_line(step, a: np.ndarray, b: np.ndarray | None = None) -> str:
    """The harness request running a plan Step (Add, Mul, Lookup) on operand values."""
    def vals(x):
        return " ".join(str(int(v)) for v in np.asarray(x).reshape(-1))

    if isinstance(step, plan.Lookup):
        return f"l {step.n} {vals(step.table)} {vals(a)}"
    sa, sb = int(step.a.size > 1), int(step.b.size > 1)
    tail = f"{step.output_multiplier} {step.output_shift} {step.output_offset} {step.act_min} {step.act_max}"
    if isinstance(step, plan.Add):
        head = (f"a {step.n} {sa} {sb} {int(step.subtract)} {step.a_offset} {step.b_offset} {step.left_shift} "
                f"{step.a_multiplier} {step.a_shift} {step.b_multiplier} {step.b_shift} {tail}")
    else:
        head = f"m {step.n} {sa} {sb} {step.a_offset} {step.b_offset} {tail} 0"
    return f"{head} {vals(a)} {vals(b)}"


def run_harness(exe: Path, lines: list[str]) -> list[np.ndarray]:
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    return [np.array([int(v) for v in line.split()], np.int64).astype(np.int8) for line in out.splitlines()]
