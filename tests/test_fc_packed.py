"""The TLM_FC_PACKED4 layout and the `optimized` FULLY_CONNECTED kernels at their edges.

The packed stream is not the weights as they are (plan.pack_fc_weights flips the sign bit of
every other byte so that kernels/tlm_fc_dsp.c can multiply its 16-bit halves as they stand),
and the folded bias cancels what that adds to the sum (plan.fold_fc_bias). Here:

- the algebra in numpy: the DSP kernel's lane arithmetic over the packed bytes, plus the folded
  bias and the kernel's own input term, is TFLM's int32 accumulator, for any weights and inputs;
- the kernels on widths at every boundary of their loops (D % 4 tails, the 0..7 groups before the
  8x unrolled loop, C % 4 padded blocks, an 800-wide output layer), extreme and alternating
  corner values, per-tensor weight zero points, rescales with shifts >= 0 among shifts < 0, and
  (on the devices) inputs at every alignment: on the host, the emulated M4 (tlm_fc_dsp.c) and the
  emulated M0 (tlm_fc_portable.c's ARMv6-M assembly), each equal to TFLM's loop;
- a word-vocabulary model (V = 800) on both emulated cores, equal to tflite_micro;
- the instruction counts the kernels were written for, as a guard (QEMU plugin, exact).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolchain.codegen import emit
from toolchain.core import boards
from toolchain.core.paths import FIRMWARE
from toolchain.export import plan
from toolchain.target import build
from toolchain.target import compile as compile_mod
from toolchain.target import cross, icount

from .emulated_helpers import assert_logits_on_emulator, fc_cases_c, run_until_end
from .runtime_helpers import (FcCase, build_harness, fc_harness_line, fc_reference, make_model,
                              run_harness, tflm_logits)

HERE = Path(__file__).resolve().parent
MACHINES = {"mps2-an386": ("mps2", "cortex-m4f"), "microbit": ("microbit", "cortex-m0plus")}

# every boundary of the kernels' loops: D % 4 tails, D / 4 % 8 groups before the unrolled loop, one
# or more turns of it; C % 4 = 1..3 padded last blocks
EDGE_D = [1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 35, 36, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 259, 300]
EDGE_C = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
KINDS = ("random", "min", "max", "alternating", "alternating2")


def _s16(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + (1 << 15)) % (1 << 16)) - (1 << 15)


def _s8(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + (1 << 7)) % (1 << 8)) - (1 << 7)


def edge_case(rng: np.random.Generator, d: int, c: int, kind: str = "random", shifts_up: bool = False) -> FcCase:
    """One call of D inputs and C outputs with random constants; `kind` sets the weights and
    inputs: random, all -128, all 127, or alternating -128/127 (both phases: the corners of the
    DSP kernel's input lane q = -256 x1 + x0 - 128); `shifts_up`: per-channel rescales with some
    shifts >= 0 among the usual < 0 ones (the general rescale inside a fast block)."""
    pc = 1 if shifts_up else int(rng.integers(0, 2))
    ioff, ooff = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    woff = 0 if pc else int(rng.integers(-127, 128))
    lo = int(rng.choice([-128, int(rng.integers(-128, 0))]))
    hi = int(rng.choice([127, int(rng.integers(lo, 128))]))
    w, x = rng.integers(-128, 128, c * d), rng.integers(-128, 128, d)
    if kind == "min":
        w[:], x[:] = -128, -128
    elif kind == "max":
        w[:], x[:] = 127, 127
    elif kind in ("alternating", "alternating2"):
        first, second = (-128, 127) if kind == "alternating" else (127, -128)
        x[0::2], x[1::2] = first, second
        w[0::2], w[1::2] = second, first
    b = rng.integers(-(1 << 31), 1 << 31, c) if rng.random() < 0.3 else rng.integers(-50000, 50000, c)
    n_m = c if pc else 1
    m = np.where(rng.random(n_m) < 0.05, 0, rng.integers(1 << 30, 1 << 31, n_m))
    sh = rng.integers(-31, -1, n_m) if not shifts_up else np.where(rng.random(n_m) < 0.3, rng.integers(0, 4, n_m),
                                                                  rng.integers(-20, -1, n_m))
    return FcCase(d, c, ioff, woff, ooff, lo, hi, pc, w, b if rng.integers(0, 2) else None, m, sh, x)


def edge_cases(rng: np.random.Generator, wide: bool = True) -> list[FcCase]:
    cases = []
    for i, d in enumerate(EDGE_D):
        cases.append(edge_case(rng, d, int(rng.choice(EDGE_C))))
        cases.append(edge_case(rng, d, int(rng.choice(EDGE_C)), KINDS[1 + i % 4]))
        cases.append(edge_case(rng, d, int(rng.choice(EDGE_C[3:])), shifts_up=True))
    # a word model's output layer: 800 and 801 wide (C % 4 = 1), D with rest groups and a tail
    cases.append(edge_case(rng, 37, 801))
    cases.append(edge_case(rng, 36, 800, "alternating"))
    if wide:
        cases.append(edge_case(rng, 256, 800))
    return cases


# ---------------------------------------------------------------------------------------------
# The algebra, in numpy


def _dsp_sum(packed: np.ndarray, d: int, c: int, x: np.ndarray) -> np.ndarray:
    """kernels/tlm_fc_dsp.c's sums over the groups, lane by lane: int64 [C]."""
    g = d // 4
    blocks = -(-c // 4)
    stream = np.asarray(packed, np.int64).reshape(blocks, -1)[:, :16 * g].reshape(blocks, g, 4, 4)
    u = stream & 0xFF                                    # the bytes of each row's word
    xv = np.asarray(x, np.int64)[:4 * g].reshape(g, 4) & 0xFF
    total = np.zeros((blocks, 4), np.int64)
    for half in (0, 1):
        lo, hi = u[..., 2 * half], u[..., 2 * half + 1]
        r = _s16(lo + 256 * hi)                          # the half as it stands
        v = _s8(hi)                                      # SXTB16 of bytes 1, 3
        p = _s8(xv[:, 2 * half + 1])                     # x1
        q = _s16((xv[:, 2 * half] ^ 0x80) + 256 * (xv[:, 2 * half + 1] ^ 0xFF))   # word ^ 0xFF80FF80
        total += (r * p[None, :, None] + v * q[None, :, None]).sum(axis=1)
    return total.reshape(-1)[:c]


def test_input_lane_q_spans_exactly_one_int16_lane():
    x0, x1 = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    q = _s16(((x0 & 0xFF) ^ 0x80) + 256 * ((x1 & 0xFF) ^ 0xFF))
    assert np.array_equal(q, -256 * x1 + x0 - 128)
    assert q.min() == -32768 and q.max() == 32767


def test_packed_halves_are_the_weight_pair_as_one_lane():
    w = np.random.default_rng(0).integers(-128, 128, (4, 16)).astype(np.int8)
    packed = np.asarray(plan.pack_fc_weights(w), np.int64).reshape(4, 4, 4)    # group, row, byte
    halves = _s16((packed[..., 0::2] & 0xFF) + 256 * (packed[..., 1::2] & 0xFF))
    pairs = w.astype(np.int64).reshape(4, 4, 2, 2)                                  # row, group, half, byte
    want = 256 * pairs[..., 0] + pairs[..., 1] + 128
    assert np.array_equal(halves, want.transpose(1, 0, 2))


def test_packed_sum_with_folded_bias_is_tflms_accumulator():
    rng = np.random.default_rng(11)
    for i in range(300):
        k = edge_case(rng, int(rng.integers(1, 400)), int(rng.integers(1, 14)), KINDS[i % len(KINDS)])
        w = np.asarray(k.w, np.int64).reshape(k.c, k.d)
        x = np.asarray(k.x, np.int64)
        bias = plan.fold_fc_bias(w.astype(np.int8), k.b, k.ioff, k.woff).astype(np.int64)
        g = k.d // 4
        x_term = k.woff * x.sum() - 128 * x[:4 * g].reshape(g, 4)[:, 1::2].sum()
        tail = (w[:, 4 * g:] * x[4 * g:]).sum(axis=1)
        got = _dsp_sum(plan.pack_fc_weights(w.astype(np.int8)), k.d, k.c, x) + tail + x_term + bias
        acc = (w + k.woff) @ (x + k.ioff) + (np.asarray(k.b, np.int64) if k.b is not None else 0)
        assert np.array_equal(got % (1 << 32), acc % (1 << 32)), (k.d, k.c)


# ---------------------------------------------------------------------------------------------
# The kernels: host


@pytest.mark.parametrize("kernels", ["optimized", "reference"])
def test_fully_connected_at_loop_edges_on_the_host_equals_tflms_loop(kernels, tmp_path):
    exe = build_harness(tmp_path, kernels)
    cases = edge_cases(np.random.default_rng(23))
    got = run_harness(exe, [fc_harness_line(k, kernels) for k in cases])
    assert len(got) == len(cases)
    for k, line in zip(cases, got):
        assert line == " ".join(map(str, fc_reference(k))), f"D={k.d} C={k.c}"


# ---------------------------------------------------------------------------------------------
# The kernels: emulated cores


def _build(main: str, cases: list[FcCase], machine: str, out: Path, misalign: bool = False) -> Path:
    port, core = MACHINES[machine]
    out.mkdir(parents=True, exist_ok=True)
    (out / "fc_cases.c").write_text(fc_cases_c(cases, "optimized", misalign))
    sources = [HERE / main, out / "fc_cases.c", FIRMWARE / "tlm_kernels.c",
               *compile_mod.kernel_sources("optimized", core)]
    return Path(cross.build_elf(port, sources, [out], out / "fc.elf", cross.CORE_FLAGS[core], {})["elf"])


@pytest.mark.parametrize("machine", ["mps2-an386", "microbit"])
def test_fully_connected_at_loop_edges_on_the_emulated_cores_equals_tflms_loop(machine, tmp_path):
    cases = edge_cases(np.random.default_rng(29), wide=machine == "mps2-an386")   # microbit: 256 KB flash
    elf = _build("fc_harness_main.c", cases, machine, tmp_path, misalign=True)
    got = run_until_end(elf, machine, tmp_path / "qemu")
    assert len(got) == len(cases)
    for i, (line, k) in enumerate(zip(got, cases)):
        want = f"{i} 0 " + " ".join(map(str, fc_reference(k)))
        assert line.rstrip() == want, f"case {i} (D={k.d}, C={k.c}, input at +{i % 4})"


# ---------------------------------------------------------------------------------------------
# A word-vocabulary model


@pytest.fixture(scope="module")
def word_model():
    """V = 800 logits (a word model's output layer, C % 4 = 0) after a hidden layer of 37 (D of the
    output layer with a rest group and a tail), and TFLM's logits for 12 windows."""
    m = make_model(800, 3, 12, [37], 800)
    ids = np.random.default_rng(8).integers(0, 800, (12, 3))
    return m, ids, tflm_logits(m.int8, ids)


@pytest.mark.parametrize("board_id", ["mps2-an386", "microbit"])
def test_word_vocabulary_model_on_the_emulated_cores_equals_tflm(board_id, word_model, tmp_path):
    board = boards.resolve(board_id)
    m, ids, want = word_model
    out = tmp_path / "fw"
    out.mkdir()
    emit.emit_model(m.int8, None, out, board_id=board.id, kernels="optimized")
    elf = Path(build.firmware_elf(out, board)["elf"])
    assert_logits_on_emulator(elf, board["qemu_machine"], tmp_path / "qemu", ids, want)


# ---------------------------------------------------------------------------------------------
# Instruction counts


def _counts(machine: str, shapes: list[tuple[int, int]], out: Path) -> list[float]:
    """Instructions per MAC of one call per (D, C), exact (the plugin, between the markers)."""
    rng = np.random.default_rng(1)
    cases = [edge_case(rng, d, c) for d, c in shapes]
    for k in cases:     # per-channel, every shift < 0: the usual layer
        k.pc, k.woff, k.m, k.sh = 1, 0, rng.integers(1 << 30, 1 << 31, k.c), rng.integers(-12, -5, k.c)
    elf = _build("fc_count_main.c", cases, machine, out)
    so = icount.build_plugin(out)
    counts = out / "counts.txt"
    run_until_end(elf, machine, out / "qemu", icount.plugin_args(so, elf, counts))
    runs = icount.read_intervals(counts)
    assert len(runs) == len(cases)
    return [r.count("tlm_fully_connected_s8", prefix=("fc_",)) / (d * c) for r, (d, c) in zip(runs, shapes)]


def test_dsp_kernel_instructions_per_mac(tmp_path):
    """The targets of kernels/tlm_fc_dsp.c (issue 17): <= 1.25 instructions per MAC on layers 256 and
    more wide, <= 1.5 on 64-128 wide ones, the 800-wide output layer no slower per MAC than a
    hidden layer of the same D."""
    shapes = [(384, 256), (256, 256), (256, 64), (128, 64), (64, 128), (64, 64), (256, 800)]
    per_mac = dict(zip(shapes, _counts("mps2-an386", shapes, tmp_path)))
    assert max(per_mac[s] for s in shapes[:3]) <= 1.25, per_mac
    assert max(per_mac[s] for s in shapes[3:6]) <= 1.5, per_mac
    assert per_mac[(256, 800)] <= per_mac[(256, 256)], per_mac


def test_portable_kernel_on_the_m0_instructions_per_mac(tmp_path):
    """The target of kernels/tlm_fc_portable.c on Cortex-M0 (issue 17): <= 6 instructions per MAC."""
    shapes = [(256, 64), (128, 64), (64, 128), (64, 64)]
    per_mac = _counts("microbit", shapes, tmp_path)
    assert max(per_mac) <= 6.0, dict(zip(shapes, per_mac))


# ---------------------------------------------------------------------------------------------
# python -m tests.test_fc_packed: the per-layer table of docs/runtime.md ("Kernel sets")

LAYERS = [(384, 256), (256, 256), (256, 64), (128, 64), (64, 128), (1024, 256), (176, 800), (256, 800)]


def layer_table(work: Path) -> list[str]:
    """Instructions per MAC of one FULLY_CONNECTED call per layer shape: the DSP kernel on the
    emulated M4, the portable one on the emulated M0 (one firmware per shape there: 256 KiB of
    flash), exact (the QEMU plugin, kernel functions only, -Os)."""
    m4 = _counts("mps2-an386", LAYERS, work / "m4")
    m0 = [_counts("microbit", [s], work / f"m0-{s[0]}x{s[1]}")[0] if s[0] * s[1] <= 160_000 else None
          for s in LAYERS]
    lines = [f"{'layer D->C':>12} {'M4 dsp':>7} {'M0 portable':>11}"]
    for (d, c), a, b in zip(LAYERS, m4, m0):
        lines.append(f"{f'{d}->{c}':>12} {a:7.3f} {f'{b:.3f}' if b is not None else '-':>11}")
    return lines


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tlmc-fc-layers-") as tmp:
        print("\n".join(layer_table(Path(tmp))))
