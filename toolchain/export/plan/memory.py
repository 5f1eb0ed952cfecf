"""Static memory: every non-constant tensor gets an offset in one arena, chosen by liveness,
so the device allocates nothing at run time; and the embedding ring of window models."""

from __future__ import annotations

from dataclasses import fields

from .ops import Buffer, EmbeddingRing, FullyConnected, Gather, Operand, Plan, Reshape

ALIGN = 4  # every arena tensor starts on a 4-byte boundary (int32 ids, word loads)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def place(buffers: list[Buffer]) -> tuple[int, int]:
    """Give every buffer an offset; returns (arena bytes, persistent bytes).

    Persistent buffers (the model input: the window of ids) come first and are never reused.
    Alias groups (RESHAPE chains) are one block living from the first write to the last read
    of any member. The rest are placed greedily, each at the lowest offset whose bytes no
    live-at-the-same-time block uses; three orders are tried (largest first, longest-lived
    first, first-written first) and the smallest arena wins."""
    groups: dict[int, list[Buffer]] = {}
    for b in buffers:
        groups.setdefault(b.root, []).append(b)
    blocks = []  # (size, first, last, root)
    for root, members in groups.items():
        blocks.append((max(x.size for x in members), min(x.first for x in members),
                       max(x.last for x in members), root))
    offset = 0
    fixed: dict[int, int] = {}
    for size, first, _last, root in sorted(blocks, key=lambda k: (k[3] < 0, abs(k[3]))):
        if first < 0:  # model inputs first (the window at 0), then state control words and rings
            fixed[root] = offset
            offset += _align(size)
    persistent = offset
    rest = [k for k in blocks if k[3] not in fixed]
    orders = [lambda k: (-k[0], k[1], k[3]), lambda k: (-(k[2] - k[1]), -k[0], k[3]), lambda k: (k[1], -k[0], k[3])]
    best: tuple[int, dict[int, int]] | None = None
    for order in orders:
        placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
        where: dict[int, int] = {}
        for size, first, last, root in sorted(rest, key=order):
            live = sorted((o, s) for o, s, f, la in placed if f <= last and first <= la)
            at = persistent
            for o, s in live:
                if at + size <= o:
                    break
                at = max(at, _align(o + s))
            where[root] = at
            placed.append((at, size, first, last))
        top = max([persistent] + [o + s for o, s, _f, _l in placed])
        if best is None or top < best[0]:
            best = (top, where)
    assert best is not None
    fixed.update(best[1])
    for root, members in groups.items():
        for b in members:
            b.offset = fixed[root]
    return _align(best[0]), persistent


# ---------------------------------------------------------------------------------------------
# The embedding ring (window models): copy one embedding row per token, not K per step

def _reads(step) -> list[Buffer]:
    """The arena buffers a step reads (its `out` excluded)."""
    found = []
    for f in fields(step):
        v = getattr(step, f.name)
        if f.name != "out" and isinstance(v, Buffer):
            found.append(v)
        elif isinstance(v, Operand) and v.buffer is not None:
            found.append(v.buffer)
    return found


def use_embedding_ring(p: Plan) -> bool:
    """Replace the window's GATHER by an embedding ring where that is exact: a window model
    whose K ids feed one GATHER and whose gathered rows (through RESHAPEs) are read only by
    FULLY_CONNECTED steps, never the output. Then the GATHER emits no code, its output leaves
    the activation area and the ring (4 + 2*K*E bytes) joins the persistent part: more arena,
    K - 1 fewer row copies per token. Re-places the arena; True if the plan changed."""
    if p.kind != "window" or p.ring is not None:
        return False
    gathers = [s for s in p.steps if isinstance(s, Gather) and s.ids.root == p.input.root]
    if len(gathers) != 1 or gathers[0].n_ids != p.context:
        return False
    g = gathers[0]
    rows = g.out.root
    if rows == p.output.root:
        return False
    readers = []
    for s in p.steps:
        if s is g or isinstance(s, Reshape):
            continue
        if any(b.root == rows for b in _reads(s)):
            if not isinstance(s, FullyConnected) or s.input.root != rows:
                return False
            readers.append(s.op)
    if not readers:
        return False
    size = 4 + 2 * p.context * g.row_len
    ring = Buffer(-1000, "<embedding ring: head, 2K rows>", "UINT8", (size,), size, first=-1, last=len(p.steps))
    for key in [k for k, b in p.buffers.items() if b.root == rows]:
        del p.buffers[key]
    p.buffers[ring.tensor] = ring
    p.arena_bytes, p.persistent_bytes = place(list(p.buffers.values()))
    p.ring = EmbeddingRing(gather=g, buffer=ring, readers=readers)
    return True
