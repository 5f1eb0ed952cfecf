"""Benchmark: quality of the default model, float vs int8, on a corpus.

    python bench/quality.py --corpus ../shared/data/tinyshakespeare.txt [--epochs 2] [--json]

Trains the default configuration (`tlmc init` defaults) on the corpus in a temporary project,
quantizes it and prints params, training time, float and int8 validation CE / perplexity /
accuracy, .tflite bytes and the TFLM arena. Target: int8 CE within 1% of float.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.core import project  # noqa: E402
from toolchain.export import quantize  # noqa: E402
from toolchain.train import loop as train  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", help="UTF-8 text file (repeatable); default: the commands recipe")
    ap.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    ap.add_argument("--keep", type=Path, default=None, help="project folder to keep (default: a temp dir)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="tlmc-bench-"))
    overrides = {"train": {"epochs": args.epochs}} if args.epochs else None
    project.init(folder, args.corpus, force=True, overrides=overrides)
    p = project.Project.load(folder)
    m = train.run(p.cfg, p.build, force=True)
    r = quantize.run(p.cfg, p.build, force=True)
    out = {"corpus": args.corpus or ["recipe:commands"], "params": m["params"], "train_seconds": m["train_seconds"],
           "steps": m["steps"], "float_ce": r["float_ce"], "int8_ce": r["int8_ce"], "float_ppl": r["float_ppl"],
           "int8_ppl": r["int8_ppl"], "float_acc": r["float_acc"], "int8_acc": r["int8_acc"],
           "ce_increase_pct": r["ce_increase_pct"], "eval_windows": r["eval_windows"],
           "full_val_ce_float_keras": m["val_ce"], "tflite_bytes": r["tflite_bytes"],
           "tflm_arena_bytes": r["tflm_arena_bytes"], "int8_within_1pct": abs(r["ce_increase_pct"]) <= 1.0}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"corpus            {', '.join(out['corpus'])}")
        print(f"params            {out['params']:,}")
        print(f"train             {out['train_seconds']} s, {out['steps']} steps")
        print(f"{'':18}{'float':>10}{'int8':>10}")
        print(f"{'val CE (nats)':18}{out['float_ce']:>10.4f}{out['int8_ce']:>10.4f}  ({out['ce_increase_pct']:+.2f}%)")
        print(f"{'perplexity':18}{out['float_ppl']:>10.3f}{out['int8_ppl']:>10.3f}")
        print(f"{'accuracy':18}{out['float_acc']:>10.4f}{out['int8_acc']:>10.4f}")
        print(f"on {out['eval_windows']} validation targets; full-val float CE (Keras) {out['full_val_ce_float_keras']:.4f}")
        print(f"model.tflite      {out['tflite_bytes']:,} B; TFLM arena {out['tflm_arena_bytes']:,} B")
        print(f"target int8 CE within 1% of float: {'met' if out['int8_within_1pct'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
