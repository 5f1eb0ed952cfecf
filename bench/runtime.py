"""Benchmark: the C runtime's size, memory and speed against TFLM and LiteRT.

    python bench/runtime.py [--build DIR] [--steps N] [--json]

For a project's build folder (`--build build`, after `tlmc quantize`) or, by default, a random
model of the default size (K=24, E=16, hidden [256, 256], V=64), prints:
- Cortex-M4 code size (arm-none-eabi-gcc -Os, objects, arm-none-eabi-size): the runtime alone,
  the generated plan, the model data;
- our arena against TFLM's (RecordingMicroAllocator total);
- host tokens/s of the C runtime (`tlm --bench`, steps with greedy feedback; gcc -O2 as
  `tlmc build` compiles it, and -O3, which lets gcc vectorize the FC loop), of
  tflite_micro and of LiteRT (Python interpreters, one invoke per token); best of --repeat runs.
Targets: runtime code < 6 KB on Cortex-M4; arena <= TFLM's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.target import compile as compile_mod  # noqa: E402
from toolchain.codegen import emit  # noqa: E402
from toolchain.export import interp  # noqa: E402
from toolchain.export import quantize  # noqa: E402

DEFAULT = {"arch": "mlp", "context": 24, "embed": 16, "hidden": [256, 256]}
DEFAULT_VOCAB = 64


def random_default_model(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    k, e, hidden, v = DEFAULT["context"], DEFAULT["embed"], DEFAULT["hidden"], DEFAULT_VOCAB
    w = {"embedding": rng.normal(0, 0.5, (v, e)).astype(np.float32)}
    width = k * e
    for i, h in enumerate(hidden):
        w[f"hidden{i}/kernel"] = rng.normal(0, 1 / np.sqrt(width), (width, h)).astype(np.float32)
        w[f"hidden{i}/bias"] = rng.normal(0, 0.1, h).astype(np.float32)
        width = h
    w["logits/kernel"] = rng.normal(0, 1 / np.sqrt(width), (width, v)).astype(np.float32)
    w["logits/bias"] = rng.normal(0, 0.1, v).astype(np.float32)
    calib = rng.integers(0, v, (200, k)).astype(np.int32)
    return quantize.quantize_weights(w, DEFAULT, calib)[1]


def python_tokens_per_s(buf: bytes, engine: str, context: int, vocab: int, steps: int) -> float:
    run = interp.Runner(buf, engine)
    window = np.zeros(context, np.int32)
    run(window)  # warm up
    t0 = time.perf_counter()
    for _ in range(steps):
        nxt = int(np.argmax(run(window)))
        window = np.roll(window, -1)
        window[-1] = nxt % vocab
    return steps / (time.perf_counter() - t0)


def c_tokens_per_s(exe: str, steps: int) -> float:
    said = subprocess.run([exe, "--bench", str(steps)], capture_output=True, text=True, check=True).stdout
    return float(said.split(":")[-1].split()[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=None, help="a project's build folder (after 'tlmc quantize')")
    ap.add_argument("--steps", type=int, default=2000, help="steps per speed measurement")
    ap.add_argument("--repeat", type=int, default=3, help="speed runs per engine; the best counts")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, default=None, help="emit and build into this folder and keep it")
    args = ap.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="tlmc-bench-runtime-") as tmp:
        return run(args, Path(tmp))


def run(args: argparse.Namespace, out_dir: Path) -> int:
    if args.build is not None:
        summary = emit.emit(args.build, out_dir, "host")
        buf = (args.build / "quantize" / "model.tflite").read_bytes()
        source = str(args.build)
    else:
        buf = random_default_model()
        summary = emit.emit_model(buf, None, out_dir)
        source = "random K=24 E=16 hidden=[256,256] V=64"
    tflm_arena = interp.tflm_arena(buf)["total"]
    arm = compile_mod.build_objects(out_dir, "cortex-m4f")
    host = compile_mod.build_host(out_dir)
    o3_dir = out_dir / "o3"
    o3_dir.mkdir(exist_ok=True)
    for f in out_dir.glob("*.[ch]"):
        (o3_dir / f.name).write_bytes(f.read_bytes())
    host_o3 = compile_mod.build_host(o3_dir, extra_flags=("-O3",))
    k, v = summary["context"], summary["vocab"]
    c_tps = max(c_tokens_per_s(host["binary"], args.steps) for _ in range(args.repeat))
    c_o3_tps = max(c_tokens_per_s(host_o3["binary"], args.steps) for _ in range(args.repeat))
    tflm_tps = max(python_tokens_per_s(buf, "tflm", k, v, max(200, args.steps // 4)) for _ in range(args.repeat))
    lite_tps = max(python_tokens_per_s(buf, "litert", k, v, args.steps) for _ in range(args.repeat))

    result = {
        "model": source, "model_hash": summary["model_hash"], "ops": summary["ops"],
        "weight_bytes": summary["weight_bytes"],
        "m4_runtime": arm["runtime"], "m4_plan": arm["plan"], "m4_model_data": arm["model_data"],
        "arena_bytes": summary["arena_bytes"], "tflm_arena_bytes": tflm_arena,
        "c_tokens_per_s": round(c_tps, 1), "c_o3_tokens_per_s": round(c_o3_tps, 1), "tflm_tokens_per_s": round(tflm_tps, 1),
        "litert_tokens_per_s": round(lite_tps, 1),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    r, p, d = arm["runtime"], arm["plan"], arm["model_data"]
    print(f"model: {source} (hash {summary['model_hash']}, ops {', '.join(summary['ops'])}, "
          f"{summary['weight_bytes']} weight bytes)")
    print("Cortex-M4 (arm-none-eabi-gcc -Os, objects)        text    data     bss")
    print(f"  runtime (tlm_*.c + the optimized FC for M4)    {r['text']:7d} {r['data']:7d} {r['bss']:7d}"
          f"   target < 6144 text: {'ok' if r['text'] < 6144 else 'OVER'}")
    print(f"  plan (model_plan.c)                            {p['text']:7d} {p['data']:7d} {p['bss']:7d}")
    print(f"  model data (model_data.c)                      {d['text']:7d} {d['data']:7d} {d['bss']:7d}")
    print(f"arena: {summary['arena_bytes']} B (persistent {summary['persistent_bytes']} B: window, embedding ring; "
          "+ activations); "
          f"TFLM: {tflm_arena} B: {'ok' if summary['arena_bytes'] <= tflm_arena else 'OVER'}")
    print(f"host tokens/s: C runtime {c_tps:,.0f} (gcc -O2), {c_o3_tps:,.0f} (-O3); tflite_micro {tflm_tps:,.0f}; "
          f"LiteRT {lite_tps:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
