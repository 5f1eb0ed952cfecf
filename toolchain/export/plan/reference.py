"""A Python run of a plan with the same integer steps as firmware/tlm_kernels.c: a readable
specification, and a second opinion when a C result differs from TFLM."""

from __future__ import annotations

import numpy as np

from .fixedpoint import multiply_by_quantized_multiplier, rescale_int8
from .ops import Add, FullyConnected, Gather, Lookup, Mul, Operand, Plan, Requantize


def requantize(q: np.ndarray, r: Requantize) -> np.ndarray:
    """A state output in its state input's quantization (docs/state.md)."""
    return rescale_int8(np.asarray(q).reshape(-1), r.input_offset, r.output_offset, r.multiplier, r.shift)


def reference_sequence(plan: Plan, ids) -> np.ndarray:
    """A step model run over a token sequence from the zero state (docs/state.md, "A
    sequence"): int8 logits after every token [T, V], states carried through rings as the C
    runtime carries them."""
    history = [[np.full(s.size, s.zero, np.int64)] * s.delay for s in plan.states]  # oldest first
    rows = []
    for token in ids:
        logits, outs = reference_forward(plan, [token], [h[0] for h in history], return_states=True)
        for s, h, v in zip(plan.states, history, outs):
            h.append(requantize(v, s.requantize) if s.requantize is not None else v)
            del h[0]
        rows.append(logits)
    return np.stack(rows) if rows else np.zeros((0, plan.vocab), np.int8)


def reference_forward(plan: Plan, ids: np.ndarray, states: list[np.ndarray] | None = None,
                      return_states: bool = False):
    """int8 logits [V] for one window of K ids (a step model: one id, and the value of each
    state input, zero state by default), computed from the plan alone. With return_states,
    (logits, [state outputs])."""
    vals = {plan.input.root: np.asarray(ids, np.int64).reshape(-1)}
    for i, st in enumerate(plan.states):
        v = np.full(st.size, st.zero, np.int64) if states is None else np.asarray(states[i], np.int64).reshape(-1)
        vals[st.input.root] = v

    def operand(o: Operand, n: int) -> np.ndarray:
        v = o.const.astype(np.int64) if o.const is not None else vals[o.buffer.root]
        return np.broadcast_to(v, (n,)) if o.size == 1 else v

    for s in plan.steps:
        if isinstance(s, Add):
            a, b = operand(s.a, s.n) + s.a_offset, operand(s.b, s.n) + s.b_offset
            out = np.empty(s.n, np.int64)
            for i in range(s.n):
                x = multiply_by_quantized_multiplier(int(a[i]) << s.left_shift, s.a_multiplier, s.a_shift)
                y = multiply_by_quantized_multiplier(int(b[i]) << s.left_shift, s.b_multiplier, s.b_shift)
                v = multiply_by_quantized_multiplier(x - y if s.subtract else x + y, s.output_multiplier,
                                                     s.output_shift)
                out[i] = min(max(v + s.output_offset, s.act_min), s.act_max)
            vals[s.out.root] = out
        elif isinstance(s, Mul):
            a, b = operand(s.a, s.n) + s.a_offset, operand(s.b, s.n) + s.b_offset
            out = np.array([multiply_by_quantized_multiplier(int(x) * int(y), s.output_multiplier, s.output_shift)
                            for x, y in zip(a, b)], np.int64)
            vals[s.out.root] = np.clip(out + s.output_offset, s.act_min, s.act_max)
        elif isinstance(s, Lookup):
            vals[s.out.root] = s.table[vals[s.input.root] + 128].astype(np.int64)
        elif isinstance(s, Gather):
            idx = vals[s.ids.root]
            if np.any((idx < 0) | (idx >= s.rows)):
                raise ValueError("id out of range")
            vals[s.out.root] = s.table[idx].reshape(-1).astype(np.int64)
        elif isinstance(s, FullyConnected):
            x = vals[s.input.root]
            acc = (s.weights.astype(np.int64) + s.weights_offset) @ (x + s.input_offset)
            if s.bias is not None:
                acc = acc + s.bias
            out = np.empty(s.out_features, np.int64)
            for c in range(s.out_features):
                k = c if s.per_channel else 0
                v = multiply_by_quantized_multiplier(int(acc[c]), int(s.multiplier[k]), int(s.shift[k]))
                out[c] = min(max(v + s.output_offset, s.act_min), s.act_max)
            vals[s.out.root] = out
    logits = vals[plan.output.root].astype(np.int8)
    if return_states:
        return logits, [vals[st.output.root].astype(np.int8) for st in plan.states]
    return logits
