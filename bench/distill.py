"""Benchmark: does distillation pay? Teacher, scratch student, distilled student, int8 student.

    python bench/distill.py --recipe commands [--json]
    python bench/distill.py --corpus ../shared/data/tinyshakespeare.txt [--json]
    options: --student ARCH --student-hidden 64,64 --student-steps N --teacher ARCH
             --teacher-steps N --alpha A --temperature T --synth-tokens N --synth-ratio R
             --keep DIR (keep the projects) --eval-tokens N --commands N (see --help)

Builds one project per run in a temporary folder: the teacher (`[teacher]`, trained once), the
scratch student (`tlmc train`) and the distilled student (`tlmc distill`, same [train] budget,
seed and data; with --synth-tokens, teacher-sampled text mixed in by --synth-ratio), quantizes
the distilled student and prints `tlmc eval`'s table (with --task commands for the recipe)
plus the wall time of every stage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain import distill, evaluate, project, quantize, synth, train  # noqa: E402

RECIPE = {
    "data": {"recipe": "commands", "recipe_lines": 20000},
    "model": {"arch": "mlp", "context": 24, "embed": 16, "hidden": [96]},
    "train": {"steps": 1500, "batch": 128, "lr": 0.003},
    "teacher": {"arch": "gru", "embed": 48, "hidden": [384], "steps": 2500, "batch": 64, "seq_len": 128, "lr": 0.003},
}
CORPUS = {
    "model": {"arch": "mlp", "context": 24, "embed": 16, "hidden": [96]},
    "train": {"steps": 1500, "batch": 128, "lr": 0.003},
    "teacher": {"arch": "gru", "embed": 48, "hidden": [384], "steps": 2500, "batch": 64, "seq_len": 128, "lr": 0.003},
}

WIDTHS = str  # comma-separated layer widths
OPTIONS = [  # flag, type, tlm.toml section, field
    ("--student", str, "model", "arch"), ("--student-embed", int, "model", "embed"),
    ("--student-hidden", WIDTHS, "model", "hidden"), ("--student-steps", int, "train", "steps"),
    ("--student-batch", int, "train", "batch"), ("--seq-len", int, "train", "seq_len"),
    ("--teacher", str, "teacher", "arch"), ("--teacher-embed", int, "teacher", "embed"),
    ("--teacher-hidden", WIDTHS, "teacher", "hidden"), ("--teacher-steps", int, "teacher", "steps"),
    ("--teacher-batch", int, "teacher", "batch"), ("--recipe-lines", int, "data", "recipe_lines"),
    ("--alpha", float, "distill", "alpha"), ("--temperature", float, "distill", "temperature"),
    ("--top-k", int, "distill", "top_k"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--recipe", choices=["commands"])
    src.add_argument("--corpus")
    for flag, kind, _, _ in OPTIONS:
        ap.add_argument(flag, type=kind)
    ap.add_argument("--synth-tokens", type=int, default=0)
    ap.add_argument("--synth-ratio", type=float, default=0.5)
    ap.add_argument("--eval-tokens", type=int, default=20000)
    ap.add_argument("--commands", type=int, default=300)
    ap.add_argument("--keep", type=Path, help="build the projects here and keep them")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    over = json.loads(json.dumps(RECIPE if a.recipe else CORPUS))
    over.setdefault("distill", {})
    over.setdefault("quantize", {})["eval_samples"] = 3000
    for flag, _, section, key in OPTIONS:
        val = getattr(a, flag[2:].replace("-", "_"))
        if val is not None:
            over.setdefault(section, {})[key] = [int(x) for x in val.split(",")] if key == "hidden" else val
    if a.synth_tokens:
        over["synth"] = {"tokens": a.synth_tokens, "ratio": a.synth_ratio}

    root = a.keep or Path(tempfile.mkdtemp(prefix="tlmc-distill-"))
    folder = root / ("commands" if a.recipe else "corpus")
    project.init(folder, [a.corpus] if a.corpus else None, force=True, overrides=over)
    p = project.Project.load(folder)
    times = {}

    def timed(name, fn):
        t0 = time.monotonic()
        out = fn()
        times[name] = round(time.monotonic() - t0, 1)
        return out

    timed("scratch", lambda: train.run(p.cfg, p.build, progress=False))
    if p.cfg.has_teacher():
        timed("teacher", lambda: distill.train_teacher(p.cfg, p.build, progress=False))
        if a.synth_tokens:
            timed("synth", lambda: synth.run(p.cfg, p.build, progress=False))
        timed("distill", lambda: distill.run(p.cfg, p.build, progress=False))
    timed("quantize", lambda: quantize.run(p.cfg, p.build))
    r = timed("eval", lambda: evaluate.run(p.cfg, p.build, task="commands" if a.recipe else None,
                                           tokens=a.eval_tokens, commands=a.commands))
    r["times"] = times
    r["config"] = over
    if a.synth_tokens:
        r["synth"] = json.loads((p.build / "synth" / "report.json").read_text())
    if a.json:
        print(json.dumps(r, sort_keys=True))
        return
    print(evaluate.table(r))
    print("wall seconds: " + ", ".join(f"{k} {v}" for k, v in times.items()))
    print(f"config: {json.dumps(over, sort_keys=True)}")


if __name__ == "__main__":
    main()
