"""A plan as plain data: its steps with their cost and its arena placement, what the emitter
saves as `build/<board>/plan.json` for `tlmc report` (the layer table, the arena timeline)."""

from __future__ import annotations

from .ops import Elementwise, FullyConnected, Gather, Lookup, Plan, Reshape


def step_record(s) -> dict:
    """One step: op index, kind, name, MACs and the constant bytes it brings to flash."""
    rec = {"op": s.op, "kind": type(s).__name__, "name": s.name, "macs": 0, "weight_bytes": 0, "const_bytes": 0}
    if isinstance(s, FullyConnected):
        rec.update(kind="FULLY_CONNECTED", in_features=s.in_features, out_features=s.out_features,
                   macs=s.in_features * s.out_features, weight_bytes=int(s.weights.nbytes),
                   const_bytes=int(s.bias.nbytes if s.bias is not None else 0) + 8 * len(s.multiplier),
                   activation=s.activation, per_channel=bool(s.per_channel))
    elif isinstance(s, Gather):
        rec.update(kind="GATHER", weight_bytes=int(s.table.nbytes), rows=int(s.table.shape[0]), row_len=s.row_len)
    elif isinstance(s, Lookup):
        rec.update(kind=s.function, const_bytes=int(s.table.nbytes), n=s.n)
    elif isinstance(s, Elementwise):
        rec.update(kind=type(s).__name__.upper(), n=s.n,
                   const_bytes=sum(int(o.const.nbytes) for o in (s.a, s.b) if o.const is not None))
    elif isinstance(s, Reshape):
        rec.update(kind="RESHAPE")
    return rec


def buffer_record(b, n_steps: int) -> dict:
    """One arena buffer: where it sits and from which step to which it lives (-1: before the
    first step, persistent; n_steps: past the last)."""
    return {"tensor": b.tensor, "name": b.name, "dtype": b.dtype, "shape": [int(d) for d in b.shape],
            "size": int(b.size), "offset": int(b.offset), "first": int(b.first), "last": min(int(b.last), n_steps),
            "persistent": bool(b.persistent), "alias_of": b.alias_of}


def plan_summary(p: Plan) -> dict:
    n = len(p.steps)
    return {"model_hash": p.model_hash, "kind": p.kind, "context": p.context, "vocab": p.vocab,
            "arena_bytes": int(p.arena_bytes), "persistent_bytes": int(p.persistent_bytes),
            "state_bytes": int(p.state_bytes), "weight_bytes": int(p.weight_bytes()),
            "macs_per_token": sum(r["macs"] for r in (step_record(s) for s in p.steps)),
            "embedding_ring": p.ring is not None, "steps": [step_record(s) for s in p.steps],
            "buffers": [buffer_record(b, n) for b in sorted(p.buffers.values(), key=lambda b: (b.offset, b.tensor))]}
