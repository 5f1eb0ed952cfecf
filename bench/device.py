"""Benchmark: the model on the emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0).

    python bench/device.py [--project DIR] [--board mps2-an386] [--json]

Builds the project's firmware (default: a fresh `tlmc init` project with the built-in
recipe, trained first), starts QEMU, and prints: instructions per token (SysTick ticks x 40
under -icount: exact instruction counts of the emulated core, not a real board's cycles),
instructions per MAC, flash and RAM of the firmware, and the host-to-device round trip per
request (INFO, median of 200) and per LOGITS request through pyserial's socket:// URL.
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

from toolchain import build, project, qemu, quantize  # noqa: E402
from toolchain.device import Device  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", type=Path, default=None, help="a tlmc project folder (default: a new demo project)")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
