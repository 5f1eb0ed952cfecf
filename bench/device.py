"""Benchmark: the model on the emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0).

    python bench/device.py [--project DIR] [--board mps2-an386] [--json]
    python bench/device.py --models [--m0] [--steps N] [--json]

Default: builds the project's firmware (default: a fresh `tlmc init` project with the built-in
recipe, trained first), starts QEMU, and prints: instructions per token (SysTick ticks x 40
under -icount: exact instruction counts of the emulated core, not a real board's cycles),
instructions per MAC, flash and RAM of the firmware, and the host-to-device round trip per
request (INFO, median of 200) and per LOGITS request through pyserial's socket:// URL; then the
cycle estimates (docs/runtime.md, "Cycle estimates": the core's TRM timings applied by the
project's QEMU plugin to the same firmware, BENCHed again under it): cycles per token and
tokens/s at the clock of the board and of every real board of the same core (each with its own
flash wait states, if its board file gives them).

--models: the kernel sets compared (docs/runtime.md, "Kernel sets"). Four random-weight MLPs
(~30k, ~180k, ~500k parameters, and `word800`: a word model's shape, ~177k parameters of which
141k in its 800-wide output layer; no training: weights do not change instruction counts) are
built for mps2-an386 with `kernels = "reference"` and `"optimized"` and run under the
project's instruction-counting QEMU plugin (bench/qemu_plugin), which counts exactly, per
function, between the firmware's markers around BENCH's steps and PUSH's pushes. Per model
and kernel set: MACs/token, instructions/token (one step + one push), instructions per MAC
(whole token, and the FULLY_CONNECTED kernel alone), flash and RAM of the firmware, the arena,
and the lower bound MACs/2 (SMLAD does two MACs); per model the ratio reference/optimized; the
estimated Cortex-M4 cycles per token and per MAC and the tokens/s they give at the board's clock.
Each BENCH count is checked against the SysTick (x 40) of the same run. --json prints one
object: {model: {kernel set: {macs_per_token, insn_per_token, insn_per_mac, flash_bytes,
ram_bytes, ...}}}. --m0: the same table again on the emulated Cortex-M0 (microbit, cortex-m0plus
code: the portable kernel) for the models that fit its 256 KiB of flash (M0_MODELS), under the
JSON key "microbit" ({"microbit": {model: ...}}).
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
from toolchain.core import project  # noqa: E402
from toolchain.target import qemu  # noqa: E402
from toolchain.export import quantize  # noqa: E402
from toolchain.link.client import Device  # noqa: E402
from toolchain.target import cycles  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", type=Path, default=None, help="a tlmc project folder (default: a new demo project)")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--models", action="store_true",
                    help="compare the kernel sets on four random-weight models (~30k, 180k, 500k parameters, "
                         "and a word model's shape: V = 800)")
    ap.add_argument("--m0", action="store_true",
                    help="--models: also on the emulated Cortex-M0 (microbit), for the models that fit")
    ap.add_argument("--steps", type=int, default=10, help="--models: BENCH steps per measurement")
    ap.add_argument("--keep", type=Path, default=None, help="--models: build into this folder and keep it")
    args = ap.parse_args()
    if args.models:
        return kernel_table(args)

    folder = args.project
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="tlmc-bench-device-"))
        project.init(folder)
    p = project.Project.load(folder)
    rep = quantize.run(p.cfg, p.build)
    b = build.build(p.cfg, p.build, args.board)
    board = build.board_for(p.cfg, args.board)
    with qemu.start(Path(b["firmware"]), board["qemu_machine"], state_dir=p.build / board.id / "qemu-bench") as emu:
        with Device(emu.url, timeout=30) as dev:
            dev.sync()
            bench = dev.bench(20)
            rtt = []
            for _ in range(200):
                t0 = time.perf_counter()
                dev.request("INFO")
                rtt.append(time.perf_counter() - t0)
            window = [0] * p.cfg["model"]["context"]
            lt = []
            for _ in range(50):
                t0 = time.perf_counter()
                dev.logits(window)
                lt.append(time.perf_counter() - t0)
    ns_per_tick = 1e9 / board["clock_hz"]
    insn = int(bench["per_step"]) * ns_per_tick
    out = {"board": board.id, "macs_per_token": rep["macs_per_token"], "ticks_per_token": int(bench["per_step"]),
           "instructions_per_token": round(insn), "instructions_per_mac": round(insn / rep["macs_per_token"], 3),
           "flash_bytes": b["flash_bytes"], "ram_bytes": b["ram_bytes"], "arena_bytes": b["arena_bytes"],
           "rtt_info_ms_median": round(1000 * statistics.median(rtt), 3),
           "rtt_logits_ms_median": round(1000 * statistics.median(lt), 3)}
    out["estimates"] = cycle_estimates(Path(b["firmware"]), board, rep["macs_per_token"])
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"board                {out['board']} (QEMU -icount shift=0: instruction counts, not real-board cycles)")
        print(f"MACs/token           {out['macs_per_token']:,}")
        print(f"instructions/token   {out['instructions_per_token']:,}  ({out['ticks_per_token']:,} SysTick ticks "
              f"x {ns_per_tick:g})")
        print(f"instructions/MAC     {out['instructions_per_mac']}")
        print(f"flash                {out['flash_bytes']:,} B")
        print(f"RAM                  {out['ram_bytes']:,} B (arena {out['arena_bytes']:,} B, stack included)")
        print(f"round trip INFO      {out['rtt_info_ms_median']} ms (median of 200)")
        print(f"round trip LOGITS    {out['rtt_logits_ms_median']} ms (median of 50, one model step included)")
        for bid, est in out["estimates"].items():
            print(f"estimate {bid:13} {cycles.estimate_line(est)}")
    return 0


def cycle_estimates(elf: Path, board, macs: int) -> dict:
    """Board id -> the cycle estimate of `elf` for it: the emulated board itself and every real
    board of its core (one plugin run each, with that board's flash model)."""
    from toolchain.core import boards

    same = [b for _, b in sorted(boards.all_boards().items())
            if b["core"] == board["core"] and b["upload"] not in ("qemu", "none") and b.id != board.id]
    if cycles.timing_core(board) is None:
        return {}
    return {b.id: cycles.bench(elf, b, board, macs) for b in [board, *same]}


# ---------------------------------------------------------------------------------------------
# --models: the kernel sets on four models

# name -> (context K, embed E, hidden, vocab V): Dense layers K*E -> hidden... -> V. word800: a
# word model's vocabulary, where the output layer (176 -> 800) holds most of the MACs.
MODELS = {"30k": (16, 8, [128, 64], 64), "180k": (24, 16, [256, 256], 64), "500k": (32, 32, [384, 256], 96),
          "word800": (8, 16, [176], 800)}
KERNEL_SETS = ("reference", "optimized")
BOARD = "mps2-an386"
M0_BOARD = "microbit"
M0_MODELS = ("30k", "180k", "word800")     # 500k does not fit the microbit's 256 KiB of flash
CORE_NAMES = {BOARD: "Cortex-M4", M0_BOARD: "Cortex-M0 (cortex-m0plus code)"}
FC_FUNCTIONS = ("tlm_fully_connected_s8", "tlm_multiply_by_quantized_multiplier")


def random_model(name: str, seed: int = 0) -> tuple[bytes, int]:
    """A full-int8 .tflite of random weights with the MODELS shape; (bytes, parameters)."""
    import numpy as np

    k, e, hidden, v = MODELS[name]
    rng = np.random.default_rng(seed)
    w = {"embedding": rng.normal(0, 0.5, (v, e)).astype(np.float32)}
    width, params = k * e, v * e
    for i, h in enumerate(hidden):
        w[f"hidden{i}/kernel"] = rng.normal(0, 1 / np.sqrt(width), (width, h)).astype(np.float32)
        w[f"hidden{i}/bias"] = rng.normal(0, 0.1, h).astype(np.float32)
        params += width * h + h
        width = h
    w["logits/kernel"] = rng.normal(0, 1 / np.sqrt(width), (width, v)).astype(np.float32)
    w["logits/bias"] = rng.normal(0, 0.1, v).astype(np.float32)
    params += width * v + v
    cfg = {"arch": "mlp", "context": k, "embed": e, "hidden": hidden}
    calib = rng.integers(0, v, (200, k)).astype(np.int32)
    return quantize.quantize_weights(w, cfg, calib)[1], params


def measure(buf: bytes, kernels: str, out: Path, steps: int, board_id: str = BOARD) -> dict:
    """Build, run under the counting plugin, and measure one model with one kernel set."""
    from toolchain.core import boards
    from toolchain.target import compile as compile_mod
    from toolchain.codegen import emit
    from toolchain.target import icount
    from toolchain.export import plan

    board = boards.resolve(board_id)
    out.mkdir(parents=True, exist_ok=True)
    s = emit.emit_model(buf, None, out, board_id=board.id, kernels=kernels)
    elf = build.firmware_elf(out, board)
    objs = compile_mod.build_objects(out, board["core"])
    so = icount.build_plugin(out.parent)
    counts = out / "counts.txt"
    k = s["context"]
    with qemu.start(Path(elf["elf"]), board["qemu_machine"], state_dir=out / "qemu",
                    extra_args=icount.plugin_args(so, elf["elf"], counts, core=cycles.timing_core(board))) as emu:
        with Device(emu.url, timeout=120) as dev:
            dev.sync()
            ids = [1 + (7 * i) % (s["vocab"] - 1) for i in range(32)]   # any ids: counts do not depend on them
            dev.request("PUSH " + " ".join(map(str, ids)))
            r = dev.bench(steps)
    push, bench = icount.read_intervals(counts)[-2:]
    per_tick = 1e9 / board["clock_hz"]     # instructions per counter tick: 40 on mps2, 62.5 on microbit
    systick = round(int(r["cycles"]) * per_tick)
    if abs(bench.total - systick) > 2 * per_tick:
        raise SystemExit(f"plugin ({bench.total}) and SysTick ({systick}) disagree for {out.name}")
    macs = s["macs_per_token"]
    step = bench.total / steps
    per_push = push.total / len(ids)
    fc = bench.count(*FC_FUNCTIONS, prefix=("fc_",)) / steps
    est = cycles.estimate(round(bench.cycles / steps + push.cycles / len(ids)), 1, board, board, macs)
    return {
        "macs_per_token": macs, "insn_per_token": round(step + per_push), "insn_per_mac": round((step + per_push) / macs, 3),
        "insn_per_step": round(step), "insn_per_push": round(per_push, 1), "systick_insn_per_step": round(systick / steps),
        "fc_insn_per_mac": round(fc / macs, 3), "lower_bound_insn": macs // 2,
        "flash_bytes": elf["flash"], "ram_bytes": elf["ram"], "arena_bytes": s["arena_bytes"],
        "plan_arena_bytes": plan.build(buf).arena_bytes, "runtime_text_bytes": objs["runtime"]["text"],
        "context": k, **est,
    }


def kernel_table(args: argparse.Namespace) -> int:
    from toolchain.core import boards

    work = args.keep or Path(tempfile.mkdtemp(prefix="tlmc-bench-kernels-"))
    tables = {BOARD: list(MODELS), **({M0_BOARD: list(M0_MODELS)} if args.m0 else {})}
    models: dict = {}
    results: dict = {}
    for board_id, names in tables.items():
        result: dict = {}
        for name in names:
            if name not in models:      # converted once, measured on every board
                models[name] = random_model(name)
            buf, params = models[name]
            where = "" if board_id == BOARD else f"-{board_id}"
            row = {kern: measure(buf, kern, work / f"{name}-{kern}{where}", args.steps, board_id)
                   for kern in KERNEL_SETS}
            row["params"] = params
            row["ratio_reference_to_optimized"] = round(row["reference"]["insn_per_token"]
                                                        / row["optimized"]["insn_per_token"], 2)
            result[name] = row
        results[board_id] = result
    if args.json:
        print(json.dumps({**results[BOARD], **({M0_BOARD: results[M0_BOARD]} if args.m0 else {})}, sort_keys=True))
        return 0
    for board_id, result in results.items():
        print_kernel_table(board_id, result, cycles.CORE_NAMES.get(cycles.timing_core(boards.resolve(board_id)), "?"))
    return 0


def print_kernel_table(board_id: str, result: dict, timing: str) -> None:
    print(f"{board_id} (QEMU -icount shift=0): exact instruction counts of the emulated {CORE_NAMES[board_id]}, "
          "not a real board's cycles; per token = one model step (BENCH) + one push (PUSH); est. = the cycle "
          f"estimate ({timing} TRM timings, zero wait states; docs/runtime.md) and its tokens/s at the board's clock")
    head = (f"{'model':7} {'kernels':9} {'params':>8} {'MACs/token':>11} {'insn/token':>11} {'insn/MAC':>8} "
            f"{'FC insn/MAC':>11} {'MACs/2':>8} {'flash B':>9} {'RAM B':>7} {'arena B':>7} {'ratio':>6} "
            f"{'est. cyc/token':>14} {'est. cyc/MAC':>12} {'est. tok/s':>10}")
    print(head)
    for name, row in result.items():
        for kern in KERNEL_SETS:
            m = row[kern]
            ratio = f"{row['ratio_reference_to_optimized']:.2f}x" if kern == "optimized" else ""
            print(f"{name:7} {kern:9} {row['params']:8,} {m['macs_per_token']:11,} {m['insn_per_token']:11,} "
                  f"{m['insn_per_mac']:8.3f} {m['fc_insn_per_mac']:11.3f} {m['lower_bound_insn']:8,} "
                  f"{m['flash_bytes']:9,} {m['ram_bytes']:7,} {m['arena_bytes']:7,} {ratio:>6} "
                  f"{m['estimated_cycles_per_token']:14,} {m['estimated_cycles_per_mac']:12.3f} "
                  f"{m.get('estimated_tokens_per_second', 0):10,.1f}".rstrip())
    opt = [row["optimized"] for row in result.values()]
    texts = ", ".join(f"{n} {r['optimized']['runtime_text_bytes']:,} B" for n, r in result.items())
    print(f"runtime .text (-Os, {CORE_NAMES[board_id].split()[0]} objects, optimized set): {texts}")
    print("arena vs the plan's minimum (the optimized set adds the embedding ring: 4 + 2*K*E persistent bytes): "
          + ", ".join(f"{n} {o['arena_bytes']:,}/{o['plan_arena_bytes']:,} B" for n, o in zip(result, opt)))


if __name__ == "__main__":
    sys.exit(main())
