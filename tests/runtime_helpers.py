"""Helpers for the plan/emit/runtime tests: random mlp models, C builds, running `tlm`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.target import compile as compile_mod
from toolchain.codegen import emit
from toolchain.export import quantize
from toolchain.core.paths import FIRMWARE


@dataclass
class RandomModel:
    name: str
    cfg: dict
    vocab: int
    int8: bytes
    float_buf: bytes

    @property
    def context(self) -> int:
        return self.cfg["context"]


def random_weights(rng: np.random.Generator, context: int, embed: int, hidden: list[int], vocab: int,
                   scales: list[float] | None = None) -> dict[str, np.ndarray]:
    """mlp weights; `scales` multiplies each Dense layer's kernel and bias (wide or tiny ranges)."""
    scales = scales or [1.0] * (len(hidden) + 1)
    w = {"embedding": rng.normal(0, rng.uniform(0.1, 2.0), (vocab, embed)).astype(np.float32)}
    width = context * embed
    for i, h in enumerate(hidden):
        w[f"hidden{i}/kernel"] = (rng.normal(0, 1 / np.sqrt(width), (width, h)) * scales[i]).astype(np.float32)
        w[f"hidden{i}/bias"] = (rng.normal(0, 0.3, h) * scales[i]).astype(np.float32)
        width = h
    w["logits/kernel"] = (rng.normal(0, 1 / np.sqrt(width), (width, vocab)) * scales[-1]).astype(np.float32)
    w["logits/bias"] = (rng.normal(0, 0.5, vocab) * scales[-1]).astype(np.float32)
    return w


def make_model(seed: int, context: int, embed: int, hidden: list[int], vocab: int,
               scales: list[float] | None = None, calib: int = 64) -> RandomModel:
    rng = np.random.default_rng(seed)
    cfg = {"arch": "mlp", "context": context, "embed": embed, "hidden": list(hidden)}
    w = random_weights(rng, context, embed, hidden, vocab, scales)
    windows = rng.integers(0, vocab, (calib, context)).astype(np.int32)
    f, q = quantize.quantize_weights(w, cfg, windows)
    name = f"s{seed}-K{context}-E{embed}-H{'x'.join(map(str, hidden))}-V{vocab}"
    return RandomModel(name, cfg, vocab, q, f)


def random_spec(rng: np.random.Generator) -> dict:
    """Random K 1..32, E 1..24, 1-3 odd-width hidden layers, V 3..300, layer scales 1e-3..1e2."""
    n = int(rng.integers(1, 4))
    return {
        "context": int(rng.integers(1, 33)), "embed": int(rng.integers(1, 25)),
        "hidden": [int(rng.integers(0, 80)) * 2 + 1 for _ in range(n)],
        "vocab": int(rng.integers(3, 301)),
        "scales": [float(10 ** rng.uniform(-3, 2)) for _ in range(n + 1)],
    }


def build(m: RandomModel, out_dir: Path, tokenizer=None, golden=None, kernels: str = "optimized") -> Path:
    """Emit and host-compile `m` into out_dir for a kernel set; returns the `tlm` program."""
    emit.emit_model(m.int8, tokenizer, out_dir, golden=golden, kernels=kernels)
    return Path(compile_mod.build_host(out_dir)["binary"])


def c_logits(exe: Path, ids: np.ndarray) -> np.ndarray:
    text = "\n".join(" ".join(str(int(v)) for v in row) for row in ids) + "\n"
    out = subprocess.run([str(exe), "--logits"], input=text, capture_output=True, text=True, check=True).stdout
    return np.array([[int(v) for v in line.split()] for line in out.splitlines()], np.int64).astype(np.int8)


def tflm_logits(buf: bytes, ids: np.ndarray) -> np.ndarray:
    return quantize.golden_vectors(buf, np.asarray(ids, np.int32))


def run(exe: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], input=stdin.encode(), capture_output=True)


# ---------------------------------------------------------------------------------------------
# FULLY_CONNECTED calls with arbitrary constants, for the kernel harnesses (host and emulated)


@dataclass
class FcCase:
    """One tlm_fully_connected_s8 call, constants as TFLM's (TLM_FC_ROWS) semantics."""
    d: int
    c: int
    ioff: int
    woff: int
    ooff: int
    lo: int
    hi: int
    pc: int
    w: np.ndarray            # int [C * D]
    b: np.ndarray | None     # int [C]
    m: np.ndarray            # int [C or 1]
    sh: np.ndarray           # int [C or 1]
    x: np.ndarray            # int [D]


def random_fc_cases(rng: np.random.Generator, n: int, d_max: int = 60, c_max: int = 20,
                    extremes: bool = False) -> list[FcCase]:
    """Random widths, offsets, per-tensor weight zero points, biases that wrap int32, shifts
    -31..3, multipliers 0 or in [2^30, 2^31); `extremes`: also all -128 weights and inputs
    (the largest sums a chunk of the DSP kernel can see)."""
    cases = []
    for i in range(n):
        d, c = int(rng.integers(1, d_max + 1)), int(rng.integers(1, c_max + 1))
        pc = int(rng.integers(0, 2))
        ioff, ooff = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        woff = 0 if pc else int(rng.choice([0, int(rng.integers(-127, 128))]))
        lo = int(rng.integers(-128, 0))
        hi = int(rng.integers(lo, 128))
        w = rng.integers(-128, 128, c * d)
        x = rng.integers(-128, 128, d)
        if extremes and i % 4 == 0:
            w[:], x[:] = -128, -128
        b = rng.integers(-(1 << 31), 1 << 31, c) if rng.random() < 0.3 else rng.integers(-50000, 50000, c)
        n_m = c if pc else 1
        m = np.where(rng.random(n_m) < 0.05, 0, rng.integers(1 << 30, 1 << 31, n_m))
        sh = np.where(rng.random(n_m) < 0.2, rng.integers(-31, 4, n_m), rng.integers(-20, 4, n_m))
        cases.append(FcCase(d, c, ioff, woff, ooff, lo, hi, pc, w, b if rng.integers(0, 2) else None, m, sh, x))
    return cases


def fc_reference(k: FcCase) -> list[int]:
    """TFLM's reference loop, literally (the int32 accumulator wrapping like the hardware)."""
    from toolchain.export import plan

    w = np.asarray(k.w, np.int64).reshape(k.c, k.d)
    acc = (w + k.woff) @ (np.asarray(k.x, np.int64) + k.ioff)
    out = []
    for ch in range(k.c):
        a = int(acc[ch]) + (int(k.b[ch]) if k.b is not None else 0)
        a = ((a + (1 << 31)) % (1 << 32)) - (1 << 31)
        j = ch if k.pc else 0
        v = plan.multiply_by_quantized_multiplier(a, int(k.m[j]), int(k.sh[j])) + k.ooff
        out.append(min(max(v, k.lo), k.hi))
    return out


def fc_layout_data(k: FcCase, kernels: str) -> tuple[int, list[np.ndarray]]:
    """(layout, arrays) as the generator lays them out for a kernel set: TLM_FC_ROWS
    [w, b, m, sh] or TLM_FC_PACKED4 [packed w, rows]."""
    from toolchain.export import plan

    if kernels == "reference":
        b = k.b if k.b is not None else np.zeros(k.c, np.int64)
        return 0, [k.w, b, k.m, k.sh]
    w = np.asarray(k.w, np.int64).reshape(k.c, k.d).astype(np.int8)
    rows = plan.pack_fc_rows(plan.fold_fc_bias(w, k.b, k.ioff, k.woff), k.m, k.sh)
    return 1, [plan.pack_fc_weights(w), rows.reshape(-1)]


def fc_harness_line(k: FcCase, kernels: str) -> str:
    layout, arrays = fc_layout_data(k, kernels)
    head = [k.d, k.c, k.ioff, k.woff, k.ooff, k.lo, k.hi, k.pc, int(k.b is not None), layout]
    return "f " + " ".join(str(int(v)) for v in [*head, *np.concatenate(arrays), *k.x])


# ---------------------------------------------------------------------------------------------
# A harness over the kernels alone: no model, just the functions (they take no model knowledge)

HARNESS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tlm_kernels.h"
#include "tlm_sample.h"

/* stdin lines:
 *   m X M S                      -> tlm_multiply_by_quantized_multiplier(X, M, S)
 *   s TEMP TOPK LOGITK SEED N q0 .. qN-1  -> sampled id and the PRNG state after it
 *   f D C IOFF WOFF OOFF MIN MAX PC HASBIAS LAYOUT ...  -> C outputs (tlm_fully_connected_s8)
 *       LAYOUT 0 (TLM_FC_ROWS):    w(C*D) b(C) m(C or 1) s(C or 1) x(D)
 *       LAYOUT 1 (TLM_FC_PACKED4): w(4*ceil(C/4)*D) rows(5*C) x(D) */
int main(void) {
    static uint32_t pow2[256];
    char kind[4];
    int i;
    for (i = 0; i < 256; i++) {
        if (scanf("%u", &pow2[i]) != 1) return 2;
    }
    while (scanf("%3s", kind) == 1) {
        if (strcmp(kind, "f") == 0) {
            static int8_t w[400000] TLM_ALIGNED4, x[4000], out[4000];
            static int32_t b[4000], m[4000], sh[4000], rows[5 * 4000];
            long v[10], t;
            long n_m, n_w;
            TlmFullyConnected fc;
            TlmStatus st;
            for (i = 0; i < 10; i++) {
                if (scanf("%ld", &v[i]) != 1) return 2;
            }
            n_m = v[7] ? v[1] : 1;
            n_w = v[9] ? (v[1] + 3) / 4 * 4 * v[0] : v[0] * v[1];
            for (i = 0; i < n_w; i++) { if (scanf("%ld", &t) != 1) return 2; w[i] = (int8_t)t; }
            if (v[9]) {
                for (i = 0; i < 5 * v[1]; i++) { if (scanf("%ld", &t) != 1) return 2; rows[i] = (int32_t)t; }
            } else {
                for (i = 0; i < v[1]; i++) { if (scanf("%ld", &t) != 1) return 2; b[i] = (int32_t)t; }
                for (i = 0; i < n_m; i++) { if (scanf("%ld", &t) != 1) return 2; m[i] = (int32_t)t; }
                for (i = 0; i < n_m; i++) { if (scanf("%ld", &t) != 1) return 2; sh[i] = (int32_t)t; }
            }
            for (i = 0; i < v[0]; i++) { if (scanf("%ld", &t) != 1) return 2; x[i] = (int8_t)t; }
            fc.in_features = (int32_t)v[0];
            fc.out_features = (int32_t)v[1];
            fc.input_offset = (int32_t)v[2];
            fc.weights_offset = (int32_t)v[3];
            fc.output_offset = (int32_t)v[4];
            fc.act_min = (int32_t)v[5];
            fc.act_max = (int32_t)v[6];
            fc.per_channel = (int32_t)v[7];
            fc.layout = (int32_t)v[9];
            fc.weights = w;
            fc.bias = v[8] && !v[9] ? b : NULL;
            fc.multiplier = v[9] ? NULL : m;
            fc.shift = v[9] ? NULL : sh;
            fc.rows = v[9] ? (const TlmFcRow *)(const void *)rows : NULL;
            st = tlm_fully_connected_s8(&fc, x, out);
            if (st != TLM_OK) return 3;
            for (i = 0; i < v[1]; i++) printf(i + 1 < v[1] ? "%d " : "%d\n", (int)out[i]);
        } else if (strcmp(kind, "m") == 0) {
            long x, m, s;
            if (scanf("%ld %ld %ld", &x, &m, &s) != 3) return 2;
            printf("%ld\n", (long)tlm_multiply_by_quantized_multiplier((int32_t)x, (int32_t)m, (int32_t)s));
        } else {
            static int8_t q[70000];
            long temp, topk, lk, n, v;
            unsigned long seed;
            TlmSampler smp;
            TlmRng rng;
            int32_t id;
            if (scanf("%ld %ld %ld %lu %ld", &temp, &topk, &lk, &seed, &n) != 5) return 2;
            for (i = 0; i < n; i++) {
                if (scanf("%ld", &v) != 1) return 2;
                q[i] = (int8_t)v;
            }
            smp.temp_milli = (int32_t)temp;
            smp.top_k = (int32_t)topk;
            smp.logit_k = (int64_t)lk;
            smp.pow2_frac_q16 = pow2;
            tlm_rng_seed(&rng, (uint32_t)seed);
            id = tlm_sample_s8(&smp, q, (int32_t)n, &rng);
            printf("%ld %lu\n", (long)id, (unsigned long)rng.state);
        }
    }
    return 0;
}
"""


def build_harness(out_dir: Path, kernels: str = "reference") -> Path:
    """The kernel harness on the host, with the FULLY_CONNECTED of a kernel set."""
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "harness.c"
    src.write_text(HARNESS_C)
    exe = out_dir / "harness"
    subprocess.run([shutil.which("gcc") or "gcc", *compile_mod.HOST_FLAGS, f"-I{FIRMWARE}", str(src),
                    str(FIRMWARE / "tlm_kernels.c"), str(FIRMWARE / "tlm_sample.c"),
                    *map(str, compile_mod.kernel_sources(kernels, "host")), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


def run_harness(exe: Path, lines: list[str]) -> list[str]:
    from toolchain.export import sampling

    head = " ".join(map(str, sampling.POW2_FRAC_Q16))
    proc = subprocess.run([str(exe)], input=head + "\n" + "\n".join(lines) + "\n", capture_output=True,
                          text=True, check=True)
    return proc.stdout.splitlines()


__all__ = ["RandomModel", "make_model", "random_spec", "build", "c_logits", "tflm_logits", "run",
           "build_harness", "run_harness", "FcCase", "random_fc_cases", "fc_reference", "fc_layout_data",
           "fc_harness_line"]
