"""Stage `plan`: a full-int8 .tflite -> what the C runtime executes, decided entirely in Python.

The plan holds, per op, the kernel to call and every integer constant it needs (the fixed-point
multipliers and shifts, zero-point offsets, activation clamps), computed exactly as TFLM's
Prepare functions compute them; and one static memory plan: every non-constant tensor gets an
offset in a single arena, chosen by liveness, so the device allocates nothing at run time.

Modules, each using only those above it (the TFLM semantics each restates are in its docstring
and in docs/runtime.md):
- fixedpoint:  QuantizeMultiplier, the double-rounding MBQM, fused activation clamps
- activations: LOGISTIC / TANH as 256-entry tables of gemmlowp's fixed-point results
- packing:     FULLY_CONNECTED weights and constants in the optimized kernels' layout
- ops:         the records: Buffer, one dataclass per kernel step, State, Plan
- prepare:     one tflite op -> its step (checks and constants, as TFLM's Prepare)
- memory:      arena placement by liveness; the embedding ring of window models
- summary:     the plan as plain data (steps, costs, arena buffers) for plan.json and reports
- builder:     a whole model -> its Plan (signature, lifetimes, states)
- reference:   the plan run in Python with the runtime's integer steps
"""

from .fixedpoint import (INT32_MAX, INT32_MIN, activation_range, multiply_by_quantized_multiplier,
                         quantize_multiplier, round_half_away, rounding_divide_by_pot,
                         saturating_rounding_doubling_high_mul)
from .activations import activation_table, fixed_logistic, fixed_tanh
from .packing import fold_fc_bias, pack_fc_rows, pack_fc_weights
from .ops import (Add, Buffer, Elementwise, EmbeddingRing, FullyConnected, Gather, Lookup, Mul, Operand, Plan,
                  Requantize, Reshape, State, Step)
from .prepare import SUPPORTED_OPS
from .memory import ALIGN, place, use_embedding_ring
from .builder import MAX_DELAY, build, load, op_step, parse
from .reference import reference_forward, reference_sequence, requantize

__all__ = [
    "INT32_MAX", "INT32_MIN", "activation_range", "multiply_by_quantized_multiplier", "quantize_multiplier",
    "round_half_away", "rounding_divide_by_pot", "saturating_rounding_doubling_high_mul",
    "activation_table", "fixed_logistic", "fixed_tanh",
    "fold_fc_bias", "pack_fc_rows", "pack_fc_weights",
    "Add", "Buffer", "Elementwise", "EmbeddingRing", "FullyConnected", "Gather", "Lookup", "Mul", "Operand", "Plan",
    "Requantize", "Reshape", "State", "Step",
    "SUPPORTED_OPS",
    "ALIGN", "place", "use_embedding_ring",
    "MAX_DELAY", "build", "load", "op_step", "parse",
    "reference_forward", "reference_sequence", "requantize",
]
