"""Benchmark: where does distillation pay? Teacher, scratch and distilled students, int8.

    python bench/distill.py --recipe commands [--json]
    python bench/distill.py --corpus ../shared/data/tinyshakespeare.txt [--json]
    options: --student ARCH --student-hidden 64,64 --student-steps 1000,4000 --teacher ARCH
             --teacher-steps N --teacher-recipe-lines N --alpha A --temperature T
             --synth-tokens N --synth-ratio R --recipe-lines N
             --keep DIR (keep the projects) --eval-tokens N --commands N (see --help)

Builds one project in a temporary folder. The teacher (`[teacher]`) is trained once; then for
every student step budget the scratch student (`tlmc train`) and the distilled student (`tlmc
distill`: same budget, seed, batch order and data; with --synth-tokens, teacher-sampled text
mixed in by --synth-ratio) are trained and scored (`tlmc eval`), giving the share of the
scratch-to-teacher CE gap distillation closes at each budget. The last budget's distilled
student is quantized and gets the full eval table (with --task commands for the recipe).
Wall time of every stage is printed. Defaults: an mlp teacher and an mlp student (on the
recipe a GRU-256 teacher reached val CE 0.387 against the 813k mlp's 0.417, but took 527 s of
training against 98 s on this 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.train import distill  # noqa: E402
from toolchain.train import teacher as teacher_mod  # noqa: E402
from toolchain.quality import evaluate  # noqa: E402
from toolchain.core import project  # noqa: E402
from toolchain.export import quantize  # noqa: E402
from toolchain.train import synth  # noqa: E402
from toolchain.train import loop as train  # noqa: E402

STUDENT = {"arch": "mlp", "context": 24, "embed": 16, "hidden": [128]}
TEACHER = {"arch": "mlp", "context": 32, "embed": 32, "hidden": [512, 512], "steps": 4000, "batch": 128, "lr": 0.002}
# The recipe default is the situation distillation is for: the student has 2,000 lines of its
# own, the teacher was trained on 40,000 and writes synthetic lines for the student.
# Same data for both: --recipe-lines 20000 --teacher-recipe-lines 0 --synth-tokens 0.
RECIPE = {"data": {"recipe": "commands", "recipe_lines": 2000}, "model": STUDENT,
          "train": {"batch": 128, "lr": 0.003}, "teacher": dict(TEACHER, recipe_lines=40000),
          "synth": {"tokens": 400000, "ratio": 0.6}}
CORPUS = {"model": STUDENT, "train": {"batch": 128, "lr": 0.003}, "teacher": TEACHER}
BUDGETS = {"recipe": "1000,4000,8000", "corpus": "250,1000,4000"}

WIDTHS = str  # comma-separated layer widths
OPTIONS = [  # flag, type, tlm.toml section, field
    ("--student", str, "model", "arch"), ("--student-embed", int, "model", "embed"),
    ("--student-hidden", WIDTHS, "model", "hidden"),
    ("--student-batch", int, "train", "batch"), ("--seq-len", int, "train", "seq_len"),
    ("--teacher", str, "teacher", "arch"), ("--teacher-embed", int, "teacher", "embed"),
    ("--teacher-hidden", WIDTHS, "teacher", "hidden"), ("--teacher-steps", int, "teacher", "steps"),
    ("--teacher-batch", int, "teacher", "batch"), ("--recipe-lines", int, "data", "recipe_lines"),
    ("--alpha", float, "distill", "alpha"), ("--temperature", float, "distill", "temperature"),
    ("--top-k", int, "distill", "top_k"), ("--teacher-recipe-lines", int, "teacher", "recipe_lines"),
    ("--synth-tokens", int, "synth", "tokens"), ("--synth-ratio", float, "synth", "ratio"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--recipe", choices=["commands"])
    src.add_argument("--corpus")
    for flag, kind, _, _ in OPTIONS:
        ap.add_argument(flag, type=kind)
    ap.add_argument("--student-steps", help=f"comma-separated step budgets (default {BUDGETS})")

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

    root = a.keep or Path(tempfile.mkdtemp(prefix="tlmc-distill-"))
    folder = root / ("commands" if a.recipe else "corpus")
    corpus = [str(Path(a.corpus).resolve())] if a.corpus else None
    times: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.monotonic()
        out = fn()
        times[name] = round(times.get(name, 0.0) + time.monotonic() - t0, 1)
        return out

    budgets = [int(x) for x in (a.student_steps or BUDGETS["recipe" if a.recipe else "corpus"]).split(",")]
    sampling = over.get("synth", {}).get("tokens", 0) > 0
    rows = []
    for steps in budgets:
        over["train"]["steps"] = steps
        project.init(folder, corpus, force=True, overrides=over)  # build/ is kept: the teacher is reused
        p = project.Project.load(folder)
        timed(f"scratch {steps}", lambda: train.run(p.cfg, p.build, progress=False))
        timed("teacher", lambda: teacher_mod.train_teacher(p.cfg, p.build, progress=False))
        if sampling:
            timed("synth", lambda: synth.run(p.cfg, p.build, progress=False))
        timed(f"distill {steps}", lambda: distill.run(p.cfg, p.build, progress=False))
        r = evaluate.run(p.cfg, p.build, tokens=a.eval_tokens)
        e = r["entries"]
        rows.append({"steps": steps, "scratch": e["scratch"]["ce"], "distilled": e["distilled"]["ce"],
                     "teacher": e["teacher"]["ce"], "gap_closed": r.get("gap_closed")})
    timed("quantize", lambda: quantize.run(p.cfg, p.build))
    r = timed("eval", lambda: evaluate.run(p.cfg, p.build, task="commands" if a.recipe else None,
                                           tokens=a.eval_tokens, commands=a.commands))
    r.update(times=times, config=over, budgets=rows)
    if sampling:
        r["synth"] = json.loads((p.build / "synth" / "report.json").read_text())
    if a.json:
        print(json.dumps(r, sort_keys=True))
        return
    print(f"{'student steps':>14}{'scratch CE':>12}{'distilled CE':>14}{'teacher CE':>12}{'gap closed':>12}")
    for row in rows:
        gap = "-" if row["gap_closed"] is None else f"{100 * row['gap_closed']:.1f}%"
        print(f"{row['steps']:>14}{row['scratch']:>12.4f}{row['distilled']:>14.4f}{row['teacher']:>12.4f}{gap:>12}")
    print(f"\nat {budgets[-1]} steps:")
    print(evaluate.table(r))
    print("wall seconds: " + ", ".join(f"{k} {v}" for k, v in times.items()))
    print(f"config: {json.dumps(over, sort_keys=True)}")


if __name__ == "__main__":
    main()
