"""The plan's records: arena buffers, one dataclass per kernel step, states and the Plan itself.

Each step holds the kernel it calls and every integer constant that kernel needs, already
computed (prepare.py); the C runtime and reference.py only apply them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .packing import fold_fc_bias, pack_fc_rows, pack_fc_weights


def numel(shape: tuple[int, ...]) -> int:
    """Elements of a tensor shape; a scalar (shape ()) holds one."""
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


class _Dim:
    """A read-only int attribute: dimension `axis` of the step's array field `array`
    (Gather.rows = _Dim("table", 0) reads table.shape[0])."""

    def __init__(self, array: str, axis: int):
        self.array, self.axis = array, axis

    def __get__(self, step, owner=None) -> int:
        if step is None:  # looked up on the class
            return self  # type: ignore[return-value]
        return int(getattr(step, self.array).shape[self.axis])


@dataclass
class Buffer:
    """One non-constant tensor's place in the arena. Alias groups (RESHAPE) share an offset."""

    tensor: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    size: int  # bytes
    first: int  # index of the op that writes it (-1: a persistent model input)
    last: int  # index of the last op that reads it (len(ops): lives past the step)
    offset: int = -1
    alias_of: int | None = None  # tensor index whose bytes these are (RESHAPE)

    @property
    def persistent(self) -> bool:
        return self.first < 0

    @property
    def root(self) -> int:
        """The tensor whose bytes these are: alias_of for a RESHAPE output, else its own."""
        return self.alias_of if self.alias_of is not None else self.tensor


@dataclass
class Gather:
    """out[i, :] = table[ids[i], :] (int8 rows, int32 ids); an id out of range is an error."""

    op: int
    name: str
    table: np.ndarray  # int8 [rows, row_len]
    table_name: str
    ids: Buffer
    out: Buffer

    kernel = "gather"
    rows = _Dim("table", 0)
    row_len = _Dim("table", 1)

    @property
    def n_ids(self) -> int:
        return numel(self.ids.shape)


@dataclass
class Reshape:
    """Same bytes, new shape: the output aliases the input; no code."""

    op: int
    name: str
    input: Buffer
    out: Buffer

    kernel = "alias"


@dataclass
class FullyConnected:
    """out[c] = clamp(out_zp + MBQM(bias[c] + sum_d w[c, d] * (x[d] + input_offset), m[c], s[c]))."""

    op: int
    name: str
    weights: np.ndarray  # int8 [out_features, in_features]
    weights_name: str
    bias: np.ndarray | None  # int32 [out_features]
    bias_name: str
    multiplier: np.ndarray  # int32 [out_features] per channel, or [1] per tensor
    shift: np.ndarray  # int32, same length
    input_offset: int  # -input zero point
    weights_offset: int  # -weights zero point (per-tensor only; 0 per channel, as TFLM)
    output_offset: int  # output zero point
    act_min: int
    act_max: int
    activation: str
    input: Buffer
    out: Buffer

    kernel = "fully_connected"

    @property
    def per_channel(self) -> bool:
        return len(self.multiplier) > 1

    out_features = _Dim("weights", 0)
    in_features = _Dim("weights", 1)

    # What the `optimized` kernel set reads (layout TLM_FC_PACKED4, firmware/tlm_kernels.h)

    def folded_bias(self) -> np.ndarray:
        """int32 [C]: every term of TFLM's sum that does not depend on the input (fold_fc_bias)."""
        return fold_fc_bias(self.weights, self.bias, self.input_offset, self.weights_offset)

    def packed_weights(self) -> np.ndarray:
        """The weights as the TLM_FC_PACKED4 byte stream, int8 [4 * ceil(C / 4) * D]."""
        return pack_fc_weights(self.weights)

    def packed_rows(self) -> np.ndarray:
        """int32 [C, 5]: TLM_FC_PACKED4's TlmFcRow per output row (pack_fc_rows)."""
        return pack_fc_rows(self.folded_bias(), self.multiplier, self.shift)


@dataclass
class Operand:
    """An input of an elementwise op: an arena tensor, or constant data in flash."""

    buffer: Buffer | None  # the arena tensor, or None for a constant
    const: np.ndarray | None  # int8 constant data (flattened), or None
    const_name: str
    size: int  # elements: n, or 1 (broadcast to every element)


@dataclass
class Elementwise:
    """What ADD, SUB and MUL share: two int8 operands of n elements (or one, broadcast), their
    offsets, and the output rescale, zero point and clamp."""

    op: int
    name: str
    a: Operand
    b: Operand
    n: int
    a_offset: int
    b_offset: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int
    activation: str
    out: Buffer


@dataclass
class Add(Elementwise):
    """ADD / SUB (TFLM reference_integer_ops::AddFunc, reference_ops::SubElementwise):
    a' = MBQM((a + a_offset) << left_shift, a_m, a_s), b' likewise,
    out = clamp(out_offset + MBQM(a' +- b', out_m, out_s), act_min, act_max)."""

    subtract: bool
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int

    kernel = "add"


@dataclass
class Mul(Elementwise):
    """MUL (TFLM reference_integer_ops::MulElementwise):
    out = clamp(out_offset + MBQM((a + a_offset) * (b + b_offset), m, s), act_min, act_max)."""

    kernel = "mul"


@dataclass
class Lookup:
    """LOGISTIC / TANH as out[i] = table[in[i] + 128]: the table holds TFLM's fixed-point
    result for each of the 256 int8 inputs (activations.activation_table)."""

    op: int
    name: str
    function: str  # "LOGISTIC" or "TANH"
    table: np.ndarray  # int8 [256]
    n: int
    input: Buffer
    out: Buffer

    kernel = "lookup"


Step = Gather | Reshape | FullyConnected | Add | Mul | Lookup


@dataclass
class Requantize:
    """int8 in one quantization -> int8 in another (docs/state.md):
    out = clamp(output_offset + MBQM(in + input_offset, multiplier, shift), -128, 127)."""

    input_offset: int  # -(zero point of the values coming in: the state output's)
    output_offset: int  # zero point of the values going out: the state input's
    multiplier: int
    shift: int


@dataclass
class State:
    """A state carried between steps (docs/state.md): the model reads `input` (the value
    `output` had `delay` steps ago); the runtime keeps the delay - 1 newer values in a ring."""

    name: str
    input: Buffer  # int8 [1, n] state input: persistent, read by the step
    output: Buffer  # int8 [1, n] state output: written by the step
    delay: int
    zero: int  # the state input's zero point: the int8 of real 0.0, what a reset fills in
    requantize: Requantize | None  # None when output and input are quantized alike (copy)
    ring: Buffer | None = None  # (delay - 1) * n bytes, persistent; None when delay == 1

    @property
    def size(self) -> int:
        return self.input.size


@dataclass
class EmbeddingRing:
    """The window's embedding rows kept in the arena from step to step (docs/runtime.md): the
    runtime's tlm_push copies the new id's row (twice: the ring is mirrored so the K rows are
    always contiguous) and the plan's FULLY_CONNECTED steps read them in place."""

    gather: Gather  # the GATHER the ring replaces (its table, row length)
    buffer: Buffer  # persistent: uint32 head + (2K, E) int8 rows
    readers: list[int]  # ops (FULLY_CONNECTED) that read the window's rows from the ring


@dataclass
class Plan:
    """What the C runtime executes: the steps in order, every arena buffer placed, the model's
    input and output, and for a step model its states."""

    steps: list[Step]
    buffers: dict[int, Buffer]  # tensor index -> place
    arena_bytes: int  # the whole arena: persistent part + activations
    persistent_bytes: int  # the window of ids, the states, their rings and the control words
    input: Buffer  # int32 [1, K] token ids: the context window (a step model: [1, 1])
    output: Buffer  # int8 [1, V] logits
    output_scale: float
    output_zero_point: int
    model_hash: str
    description: str = ""
    op_counts: dict[str, int] = field(default_factory=dict)
    states: list[State] = field(default_factory=list)  # step models (docs/state.md); [] for a window
    control: Buffer | None = None  # step models: uint32 words [pending, head of each state]
    ring: EmbeddingRing | None = None  # window models with use_embedding_ring(): the GATHER's ring

    @property
    def kind(self) -> str:
        return "step" if self.states else "window"

    @property
    def state_bytes(self) -> int:
        """Persistent bytes of the states: their inputs, rings and the control words."""
        n = sum(s.input.size + (s.ring.size if s.ring is not None else 0) for s in self.states)
        return n + (self.control.size if self.control is not None else 0)

    @property
    def context(self) -> int:
        return int(self.input.shape[-1])

    @property
    def vocab(self) -> int:
        return int(self.output.shape[-1])

    def ops(self) -> list[str]:
        return sorted(self.op_counts)

    def weight_bytes(self) -> int:
        n = 0
        for s in self.steps:
            if isinstance(s, (Gather, Lookup)):
                n += s.table.nbytes
            elif isinstance(s, FullyConnected):
                n += s.weights.nbytes + (s.bias.nbytes if s.bias is not None else 0) + 8 * len(s.multiplier)
            elif isinstance(s, Elementwise):
                n += sum(o.const.nbytes for o in (s.a, s.b) if o.const is not None)
        return n
