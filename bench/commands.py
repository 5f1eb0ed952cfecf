"""Benchmark: the voice-command model by tokenizer and architecture, and every grammar, on the
host and the device.

    python bench/commands.py [--configs default,char,bpe,...] [--seeds 3] [--work DIR] [--json]
    python bench/commands.py --grammar smarthome,examples/grammars/greenhouse.yaml [--grammar ...]

For each configuration (the defaults `tlmc init` writes, with the overrides below) a fresh
project is trained, quantized and scored with `tlmc eval --task commands` (1,000 random held-out
utterances never seen verbatim in training + 1,000 of held-out (command, target) pairs, float
and int8), then built for the emulated Cortex-M4 (mps2-an386) and asked `CMD` for 100 random
held-out utterances over the serial socket: instructions per parse are SysTick ticks x 40 under
QEMU -icount shift=0 (exact instruction counts of the emulated core, not a real board's
cycles), and every device parse must equal the host's. The default configuration runs with
`--seeds` seeds and its row shows the mean and the spread (min..max) of the exact matches.
`--recipe-seed N` (default 1) draws other lines and so holds out other (intent, value) pairs.

`--grammar FILE` (repeatable or comma-separated; a built-in grammar's name such as `smarthome`
works too) benchmarks grammars instead (add `--configs` to run both): for each, a fresh project
as `tlmc init --grammar FILE` makes it, at the grammar's default size (`GRAMMAR_SIZES`: a grammar
file carries no model size, so a small grammar's smaller default is kept here and in
examples/grammars/README.md), over `--seeds` seeds, then the same scoring and device test.
One table on stdout (--json: one object); progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.target import build  # noqa: E402
from toolchain.quality import cmdparse  # noqa: E402
from toolchain.quality import evaluate  # noqa: E402
from toolchain.core import project  # noqa: E402
from toolchain.data import grammar as grammar_mod  # noqa: E402
from toolchain.target import qemu  # noqa: E402
from toolchain.export import quantize  # noqa: E402
from toolchain.train import loop as train  # noqa: E402
from toolchain.link.client import Device  # noqa: E402

# name -> tlm.toml overrides on top of `tlmc init`'s defaults
CONFIGS: dict[str, dict] = {
    "default": {},  # BPE 1024
    "char": {"tokenizer": {"kind": "char"}, "model": {"context": 64}},
    "bpe-512": {"tokenizer": {"kind": "bpe", "vocab_size": 512}, "model": {"context": 40}},
    "word": {"tokenizer": {"kind": "word"}},
    # a GRU step is ~20x slower to train on this CPU than an mlp step: a shorter budget
    "word-gru": {"tokenizer": {"kind": "word"}, "model": {"arch": "gru", "embed": 64, "hidden": [256]},
                 "train": {"batch": 64, "seq_len": 64, "steps": 2000}},
}
DEVICE_PARSES = 100

# grammar name -> tlm.toml overrides on top of `tlmc init --grammar`'s defaults: a smaller
# model for a grammar that reaches >= 98% int8 exact match (random and compositional) with it.
# Every shipped grammar reaches it at the default size (examples/grammars/README.md); no smaller
# size has been measured for one yet, so none has an entry.
GRAMMAR_SIZES: dict[str, dict] = {}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def grammar_rows(specs: list[str]) -> list[tuple[str, Path, str | Path]]:
    """(name, file, what `project.init(grammar=)` takes) of each grammar named on the command
    line, validated first: a built-in name stays a name, a file is copied into the project."""
    out = []
    for spec in specs:
        path = grammar_mod.resolve(spec)
        g = grammar_mod.load(path, label=spec)
        builtin = path.parent == grammar_mod.BUILTIN_GRAMMARS and path.stem == spec
        out.append((g.name, path, spec if builtin else path))
    return out


def run_one(name: str, overrides: dict, seed: int, work: Path, board_id: str,
            grammar: str | Path | None = None, recipe_seed: int = 1) -> dict:
    folder = work / (f"{name}-s{seed}" + (f"-r{recipe_seed}" if recipe_seed != 1 else ""))
    ov = {k: dict(v) for k, v in overrides.items()}
    ov.setdefault("train", {})["seed"] = seed
    ov.setdefault("data", {})["recipe_seed"] = recipe_seed
    if not (folder / "tlm.toml").is_file():
        project.init(folder, overrides=ov, grammar=grammar)
    p = project.Project.load(folder)
    t0 = time.monotonic()
    metrics = train.run(p.cfg, p.build, progress=False)
    train_s = metrics.get("train_seconds", time.monotonic() - t0)
    rep = quantize.run(p.cfg, p.build)
    ev = evaluate.run(p.cfg, p.build, task="commands", commands=1000)
    fl, i8 = ev["entries"]["scratch"], ev["entries"]["scratch_int8"]
    b = build.build(p.cfg, p.build, board_id)
    board = build.board_for(p.cfg, board_id)
    pairs = cmdparse.heldout_commands(p.build, "random", DEVICE_PARSES)
    host = cmdparse.decode_int8_parses(p.build, [u for u, _ in pairs])
    ticks, equal = [], 0
    with qemu.start(Path(b["firmware"]), board["qemu_machine"], state_dir=p.build / board.id / "qemu-bench") as emu:
        with Device(emu.url, timeout=60) as dev:
            dev.sync()
            for (u, _), h in zip(pairs, host):
                text, fields = dev.command(u)
                ticks.append(int(fields.get("cycles", 0)))
                equal += text == h.text
    insn = statistics.mean(ticks) * 1e9 / board["clock_hz"]
    m = p.cfg["model"]
    return {"config": name, "seed": seed, "tokenizer": ev["tokenizer"], "arch": m["arch"],
            "grammar": p.cfg["data"].get("grammar") or None,
            "size": f"K{m['context']} E{m['embed']} {list(m['hidden'])}, {p.cfg['train']['steps']} steps",
            "vocab": rep.get("vocab_size") or metrics.get("vocab_size"), "params": metrics["params"],
            "flash_bytes": b["flash_bytes"], "tokenizer_bytes": b.get("tokenizer_bytes"), "train_seconds": round(train_s, 1),
            "float_random": fl["exact_match_random"], "float_comp": fl["exact_match_compositional"],
            "int8_random": i8["exact_match_random"], "int8_comp": i8["exact_match_compositional"],
            "ce_utterance": fl.get("ce_utterance"), "ce_command": fl.get("ce_command"),
            "instructions_per_parse": round(insn), "device_equal": f"{equal}/{len(pairs)}",
            "excluded_verbatim": ev.get("excluded_verbatim")}


def pct(v: list[float]) -> str:
    if len(v) == 1:
        return f"{100 * v[0]:.1f}"
    return f"{100 * statistics.mean(v):.1f} ({100 * min(v):.1f}..{100 * max(v):.1f})"


def table(rows: dict[str, list[dict]]) -> list[str]:
    """The benchmark's table: one line per configuration or grammar, its seeds pooled (mean,
    min..max of each exact match; device parses equal to the host's summed over the seeds)."""
    out = [(f"{'config':10}{'tokens':>7}{'arch':>5}{'vocab':>6}{'params':>9}{'flash B':>9}{'train s':>8}"
            f"{'float rand':>20}{'float comp':>20}{'int8 rand':>20}{'int8 comp':>20}{'CE utt':>8}{'insn/parse':>11}"
            f"{'dev=host':>9}")]
    for name, rs in rows.items():
        r0 = rs[0]
        equal = [tuple(map(int, r["device_equal"].split("/"))) for r in rs]
        out.append(f"{name:10}{r0['tokenizer']:>7}{r0['arch']:>5}{r0['vocab']:>6}{r0['params']:>9,}{r0['flash_bytes']:>9,}"
                   f"{statistics.mean(r['train_seconds'] for r in rs):>8.0f}"
                   + "".join(f"{pct([r[k] for r in rs]):>20}" for k in ("float_random", "float_comp", "int8_random", "int8_comp"))
                   + f"{statistics.mean(r['ce_utterance'] for r in rs):>8.3f}"
                   + f"{round(statistics.mean(r['instructions_per_parse'] for r in rs)):>11,}"
                   + f"{sum(e for e, _ in equal)}/{sum(n for _, n in equal)}".rjust(9))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=None,
                    help=f"comma-separated, of: {', '.join(CONFIGS)} (default: all of them, none with --grammar)")
    ap.add_argument("--grammar", action="append", default=[],
                    help="a grammar file or built-in name to benchmark (repeatable or comma-separated)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the default configuration and of each grammar")
    ap.add_argument("--recipe-seed", type=int, default=1,
                    help="[data] recipe_seed of every project: which lines, and which pairs the compositional split holds out")
    ap.add_argument("--work", type=Path, default=None, help="project folders here (kept; reruns reuse them)")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tlmc-bench-commands-"))
    specs = [s for arg in args.grammar for s in arg.split(",") if s]
    configs = args.configs.split(",") if args.configs else ([] if specs else list(CONFIGS))
    for name in configs:
        if name not in CONFIGS:
            ap.error(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    grammars = grammar_rows(specs)
    rows: dict[str, list[dict]] = {}
    runs = [(name, CONFIGS[name], args.seeds if name == "default" else 1, None) for name in configs]
    runs += [(name, GRAMMAR_SIZES.get(name, {}), args.seeds, init_as) for name, _, init_as in grammars]
    for name, overrides, seeds, init_as in runs:
        for seed in range(1, seeds + 1):
            say(f"{name} seed {seed} ...")
            r = run_one(name, overrides, seed, work, args.board, grammar=init_as, recipe_seed=args.recipe_seed)
            say(json.dumps(r))
            rows.setdefault(name, []).append(r)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("\n".join(table(rows)))
    print(f"exact match in %, mean (min..max) over {args.seeds} seeds for the default and each grammar; 1,000 + "
          f"1,000 held-out utterances per model; instructions per parse on {args.board} (QEMU -icount, "
          f"{DEVICE_PARSES} parses)")
    for name, path, _ in grammars:
        print(f"{name}: {path}, {rows[name][0]['size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
