"""The kernel sets on the emulated Cortex-M cores, against TFLM.

- mps2-an386 (Cortex-M4F): the `optimized` set is kernels/tlm_fc_dsp.c (SMLAD), the one
  FULLY_CONNECTED the host tests cannot run; `reference` is TFLM's loop.
- microbit (Cortex-M0, running cortex-m0plus code): the `optimized` set is the portable C file.

Each runs the FULLY_CONNECTED harness (tests/fc_harness_main.c: arbitrary offsets, odd widths,
chunk boundaries, the extreme sums) and whole random models' golden vectors through the serial
protocol, and the instruction counts of the project's QEMU plugin agree with the SysTick.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolchain.core import boards
from toolchain.target import build
from toolchain.target import compile as compile_mod
from toolchain.target import cross
from toolchain.codegen import emit
from toolchain.target import icount
from toolchain.target import qemu
from toolchain.link.client import Device
from toolchain.core.paths import FIRMWARE

from .emulated_helpers import assert_logits_on_emulator, fc_cases_c, run_until_end
from .runtime_helpers import fc_reference, make_model, random_fc_cases, tflm_logits

HERE = Path(__file__).resolve().parent
MACHINES = {"mps2-an386": ("mps2", "cortex-m4f"), "microbit": ("microbit", "cortex-m0plus")}


# ---------------------------------------------------------------------------------------------
# The FULLY_CONNECTED kernel alone


@pytest.mark.parametrize("machine, kernels", [("mps2-an386", "optimized"), ("mps2-an386", "reference"),
                                              ("microbit", "optimized")])
def test_fully_connected_on_the_emulated_core_equals_tflms_loop(machine, kernels, tmp_path):
    port, core = MACHINES[machine]
    rng = np.random.default_rng(17)
    cases = random_fc_cases(rng, 120) + random_fc_cases(rng, 8, d_max=600, c_max=7, extremes=True)
    (tmp_path / "fc_cases.c").write_text(fc_cases_c(cases, kernels))
    sources = [HERE / "fc_harness_main.c", tmp_path / "fc_cases.c", FIRMWARE / "tlm_kernels.c",
               *compile_mod.kernel_sources(kernels, core)]
    elf = cross.build_elf(port, sources, [tmp_path], tmp_path / "fc.elf", cross.CORE_FLAGS[core], {})
    got = run_until_end(Path(elf["elf"]), machine, tmp_path / "qemu")
    assert len(got) == len(cases)
    for i, (line, k) in enumerate(zip(got, cases)):
        want = f"{i} 0 " + " ".join(map(str, fc_reference(k)))
        assert line.rstrip() == want, f"case {i} (D={k.d}, C={k.c}): device {line[:80]!r}, TFLM {want[:80]!r}"


# ---------------------------------------------------------------------------------------------
# Whole models through the serial protocol

# odd widths everywhere: D % 4 tails, D % 32 rest groups, C % 4 padded rows, D > 256 (chunks)
MODELS = [(7, 5, [37, 13], 29), (19, 15, [129, 66], 67), (1, 1, [1, 7], 3), (24, 16, [256, 256], 64)]


def _firmware(m, board: boards.Board, kernels: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    emit.emit_model(m.int8, None, out, board_id=board.id, kernels=kernels)
    return Path(build.firmware_elf(out, board)["elf"])


@pytest.mark.parametrize("kernels", ["optimized", "reference"])
def test_random_models_on_the_emulated_m4_equal_tflm(kernels, tmp_path):
    board = boards.resolve("mps2-an386")
    for i, (k, e, hidden, v) in enumerate(MODELS):
        m = make_model(300 + i, k, e, hidden, v, [1.0, 30.0, 0.05][:len(hidden)] + [1.0])
        ids = np.random.default_rng(i).integers(0, v, (40, k))
        ids[0] = 0
        want = tflm_logits(m.int8, ids)
        elf = _firmware(m, board, kernels, tmp_path / f"m{i}")
        assert_logits_on_emulator(elf, board["qemu_machine"], tmp_path / "qemu", ids, want, f"{m.name} ({kernels}) ")


def test_small_model_on_the_emulated_m0_equals_tflm(tmp_path):
    board = boards.resolve("microbit")
    m = make_model(77, 6, 5, [33, 18], 23)
    ids = np.random.default_rng(3).integers(0, 23, (30, 6))
    want = tflm_logits(m.int8, ids)
    elf = _firmware(m, board, "optimized", tmp_path / "m0")
    assert_logits_on_emulator(elf, board["qemu_machine"], tmp_path / "qemu", ids, want, "m0 ")


def test_m0_objects_compile_for_both_kernel_sets(tmp_path):
    m = make_model(5, 4, 3, [9], 11)
    for kernels in ("optimized", "reference"):
        out = tmp_path / kernels
        emit.emit_model(m.int8, None, out, kernels=kernels)
        r = compile_mod.build_objects(out, "cortex-m0plus")
        fc = "tlm_fc_portable.o" if kernels == "optimized" else "tlm_fc_reference.o"
        assert fc in r["objects"] and "tlm_fc_dsp.o" not in r["objects"]


# ---------------------------------------------------------------------------------------------
# Instruction counts


def test_plugin_counts_agree_with_systick_and_the_dsp_kernel_is_4x_fewer(tmp_path):
    """The plugin's count of BENCH's steps equals the SysTick's (x 40 instructions per tick on
    mps2 under -icount shift=0) to within one tick per reading, on both kernel sets; and the
    optimized set runs the same model in at least 4x fewer instructions."""
    board = boards.resolve("mps2-an386")
    m = make_model(1, 24, 16, [256, 256], 64)
    so = icount.build_plugin(tmp_path)
    per_token = {}
    for kernels in ("reference", "optimized"):
        elf = _firmware(m, board, kernels, tmp_path / kernels)
        counts = tmp_path / f"{kernels}.txt"
        with qemu.start(elf, board["qemu_machine"], state_dir=tmp_path / "qemu",
                        extra_args=icount.plugin_args(so, elf, counts)) as emu:
            with Device(emu.url, timeout=60) as dev:
                dev.sync()
                bench = dev.bench(5)
        runs = icount.read_intervals(counts)
        assert runs, "the plugin closed no interval: markers missing?"
        systick = int(bench["cycles"]) * 40
        assert abs(runs[-1].total - systick) <= 2 * 40, (kernels, runs[-1].total, systick)
        assert runs[-1].functions.get("tlm_fully_connected_s8", 0) > 0.8 * runs[-1].total
        per_token[kernels] = runs[-1].total / 5
    assert per_token["reference"] >= 4 * per_token["optimized"], per_token


def test_token_cost_is_instructions_on_the_emulator_and_cycles_on_silicon():
    from toolchain.cli import per_token_line
    from toolchain.target.build import token_cost

    mps2, nano = boards.resolve("mps2-an386"), boards.resolve("nano33")
    emu = token_cost(mps2, "systick", 1000, 10, 2000)   # 100 ticks a step, 40 instructions a tick
    assert emu == {"macs_per_token": 2000, "instructions_per_token": 4000, "instructions_per_mac": 2.0}
    real = token_cost(nano, "dwt", 64000, 10, 3200)
    assert real == {"macs_per_token": 3200, "cycles_per_token": 6400, "cycles_per_mac": 2.0}
    assert token_cost(nano, "none", 0, 10, 5) == {"macs_per_token": 5}
    line = per_token_line({**emu, "kernels": "optimized"})
    assert "4,000 instructions" in line and "not a real board's cycles" in line and "optimized" in line
