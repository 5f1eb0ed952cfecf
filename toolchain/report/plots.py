"""The report's figures: matplotlib on the Agg backend, each returned as an inline <svg>.

Text stays text in the SVG (svg.fonttype none: small, searchable, the browser's font), and no
date goes into the file. Every function takes the plain data sections.py collected.
"""

from __future__ import annotations

import io

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf", "#393b79", "#637939")
KIB = 1024.0


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def to_svg(fig, name: str) -> str:
    """The figure as an <svg> element (no XML prolog), then closed."""
    plt = _plt()
    plt.rcParams["svg.hashsalt"] = name  # ids stable from run to run
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def training(runs: list[dict]) -> str:
    """Loss (training mean per point, validation CE at its points), learning rate and time
    against steps, one colour per run (scratch, teacher, distilled)."""
    plt = _plt()
    fig, (ax_loss, ax_lr, ax_t) = plt.subplots(1, 3, figsize=(11, 3.2), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    for i, r in enumerate(runs):
        h, c = r["history"], COLORS[i % len(COLORS)]
        tr, va = h["train"], h["val"]
        ax_loss.plot(tr["step"], tr["loss"], color=c, lw=1.2, label=f"{r['label']}: train loss")
        if va["step"]:
            ax_loss.plot(va["step"], va["ce"], "o--", color=c, ms=4, lw=0.8, label=f"{r['label']}: val CE")
        ax_lr.plot(tr["step"], tr["lr"], color=c, label=r["label"])
        ax_t.plot(tr["step"], tr["seconds"], color=c, label=r["label"])
    ax_loss.set(xlabel="step", ylabel="nats per token", title="loss")
    ax_loss.legend(fontsize=7)
    ax_lr.set(xlabel="step", title="learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax_t.set(xlabel="step", ylabel="s", title="training time")
    fig.tight_layout()
    return to_svg(fig, "training")


def ce_difference(diff: dict) -> str:
    """Histogram of int8 CE - float CE per validation target (quantize/report.json)."""
    plt = _plt()
    edges, counts = diff["hist"]["edges"], diff["hist"]["counts"]
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    widths = [b - a for a, b in zip(edges, edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=COLORS[0], edgecolor="white", lw=0.3)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(diff["mean"], color=COLORS[1], lw=1, ls="--", label=f"mean {diff['mean']:+.4f}")
    ax.set_yscale("log")
    ax.set(xlabel="int8 CE - float CE of one target (nats; outer bins hold the tails)", ylabel="targets",
           title=f"per-token CE difference over {diff['n']:,} targets")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return to_svg(fig, "ce_difference")


INTENTS_SHOWN = 24


def intents(per_intent: dict) -> str:
    """Exact match per intent (the command's first word), one bar per split: the intents with
    the lowest exact match, worst first (the title says how many more are not shown)."""
    plt = _plt()
    splits = list(per_intent["splits"])

    def pct(sp, n):
        row = per_intent["splits"][sp].get(n)
        return 100 * row[1] / row[0] if row and row[0] else None

    names = sorted({k for sp in splits for k in per_intent["splits"][sp]})
    worst = min if names else None
    names.sort(key=lambda n: (worst(v for sp in splits if (v := pct(sp, n)) is not None), n))
    shown = names[:INTENTS_SHOWN]
    fig, ax = plt.subplots(figsize=(11, 3.2))
    w = 0.8 / max(1, len(splits))
    low = 100.0
    for j, sp in enumerate(splits):
        vals = [pct(sp, n) for n in shown]
        xs = [i + j * w for i, v in enumerate(vals) if v is not None]
        ys = [v for v in vals if v is not None]
        low = min([low] + ys)
        ax.bar(xs, ys, width=w, color=COLORS[j % len(COLORS)], label=sp)
    ax.set_xticks([i + w * (len(splits) - 1) / 2 for i in range(len(shown))], shown, rotation=45, ha="right",
                  fontsize=7)
    ax.set(ylim=(max(0.0, low - 5), 100.5), ylabel="exact match %",
           title=f"per intent ({per_intent['model']}): the {len(shown)} lowest of {len(names)} intents")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return to_svg(fig, "intents")


PART_ORDER = ("weights", "biases and multipliers", "tokenizer tables", "other model data", "model data",
              "runtime and kernels", "plan (generated calls)", "tokenizer code", "protocol", "port and start-up",
              "C library", "program text", "initialized data", "zeroed data", "arena", "stack", "protocol state",
              "model state", "other")


def _part_color(name: str) -> str:
    i = PART_ORDER.index(name) if name in PART_ORDER else len(PART_ORDER) + sum(map(ord, name))
    return COLORS[i % len(COLORS)] if name != "other" else "#cccccc"


def memory(per_board: list[dict]) -> str:
    """Flash and RAM of each built board by part, with the board's budget (dashed) when the
    bar would not be lost next to it."""
    plt = _plt()
    fig, axes = plt.subplots(len(per_board), 2, figsize=(11, 2.3 * len(per_board)), squeeze=False)
    for row, b in zip(axes, per_board):
        for ax, kind in zip(row, ("flash", "ram")):
            parts, budget = b[f"{kind}_parts"], b[f"{kind}_budget"]
            used = sum(parts.values())
            left = 0.0
            for name, size in parts.items():
                ax.barh(0, size / KIB, left=left, height=0.6, color=_part_color(name), edgecolor="white", lw=0.4,
                        label=f"{name} {size:,} B")
                left += size / KIB
            top = used / KIB * 1.15
            if budget:
                if budget <= 3 * used:
                    ax.axvline(budget / KIB, color="black", ls="--", lw=1)
                    top = max(top, budget / KIB * 1.05)
                title = f"{b['board']} {kind}: {used:,} B of {budget:,} B ({100 * used / budget:.1f}%)"
            else:
                title = f"{b['board']} {kind}: {used:,} B (no budget)"
            ax.set(xlim=(0, max(top, 1e-3)), yticks=[], title=title + ", axis in KiB")
            ax.legend(fontsize=6.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.42), frameon=False)
    fig.tight_layout()
    return to_svg(fig, "memory")


def budgets(rows: list[list]) -> str:
    """Share of every board's flash and RAM budget the model takes (the budget table's rows)."""
    plt = _plt()
    rows = [r for r in rows if isinstance(r[2], int) or isinstance(r[4], int)]
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.42 * max(1, len(rows))))
    for i, r in enumerate(rows):
        for j, (used, budget, c) in enumerate(((r[1], r[2], COLORS[0]), (r[3], r[4], COLORS[2]))):
            if isinstance(budget, int) and budget:
                pct = 100 * used / budget
                ax.barh(i + 0.38 * j, min(pct, 150), height=0.36, color=c if pct <= 100 else COLORS[1])
                ax.text(min(pct, 150) + 1, i + 0.38 * j, f"{pct:.1f}%" + ("" if pct <= 100 else " over"),
                        va="center", fontsize=7)
    for name, c in (("flash", COLORS[0]), ("RAM", COLORS[2]), ("over budget", COLORS[1])):
        ax.barh(0, 0, color=c, label=name)
    ax.axvline(100, color="black", ls="--", lw=1)
    ax.set_yticks([i + 0.19 for i in range(len(rows))], [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set(xlabel="% of the board's budget", title="against every board's budget", xlim=(0, 160))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return to_svg(fig, "budgets")


def arena(plan: dict) -> str:
    """The static arena plan: each buffer a box from the step that writes it to the last that
    reads it (x) at its offset and size (y); persistent buffers span every step."""
    plt = _plt()
    n = max(1, len(plan["steps"]))
    groups: dict[int, list[dict]] = {}
    for b in plan["buffers"]:
        groups.setdefault(b["alias_of"] if b["alias_of"] is not None else b["tensor"], []).append(b)
    fig, ax = plt.subplots(figsize=(11, 3.4))
    for i, (root, members) in enumerate(sorted(groups.items())):
        first = min(m["first"] for m in members)
        last = max(m["last"] for m in members)
        size, offset = max(m["size"] for m in members), members[0]["offset"]
        x0, x1 = (-0.5, n - 0.5) if first < 0 else (first - 0.4, min(last, n - 1) + 0.4)
        c = "#bbbbbb" if first < 0 else COLORS[i % len(COLORS)]
        ax.add_patch(plt.Rectangle((x0, offset), x1 - x0, size, facecolor=c, edgecolor="black", lw=0.5, alpha=0.8))
        name = min(members, key=lambda m: len(m["name"]))["name"]
        ax.text((x0 + x1) / 2, offset + size / 2, f"{name[-28:]} ({size:,} B)", ha="center", va="center", fontsize=6)
    ax.set(xlim=(-0.7, n - 0.3), ylim=(0, plan["arena_bytes"] * 1.02), xlabel="step (op index)",
           ylabel="arena offset (bytes)",
           title=f"arena plan: {plan['arena_bytes']:,} B ({plan['persistent_bytes']:,} B persistent, grey)")
    ax.set_xticks(range(n), [f"{s['op']} {s['kind'][:8]}" for s in plan["steps"]], fontsize=7)
    fig.tight_layout()
    return to_svg(fig, "arena")


def layers(rows: list[dict]) -> str:
    """MACs per layer, with the estimated instructions when a board measured them."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.35 * max(1, len(rows))))
    labels = [f"op {r['op']} {r['kind']}" for r in rows]
    ax.barh(range(len(rows)), [r["macs"] for r in rows], color=COLORS[0], height=0.6, label="MACs")
    for i, r in enumerate(rows):
        if r["est_insn"]:
            ax.text(r["macs"], i, f"  ~{r['est_insn']:,} insn", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set(xlabel="multiply-accumulates per token", title="cost per layer")
    fig.tight_layout()
    return to_svg(fig, "layers")


def device(runs: list[dict]) -> str:
    """Seconds per HIL case on each board; red: failed."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 0.9 + 0.3 * max(len(r["cases"]) for r in runs)),
                             squeeze=False)
    for ax, r in zip(axes[0], runs):
        names = [c[0] for c in r["cases"]]
        ax.barh(range(len(names)), [c[2] for c in r["cases"]], color=[COLORS[2] if c[1] else COLORS[1]
                                                                        for c in r["cases"]])
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="seconds", title=f"{r['board']}: HIL cases (green passed)")
    fig.tight_layout()
    return to_svg(fig, "device")
