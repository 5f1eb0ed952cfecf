"""What the tests that run C on the emulated cores share: the FULLY_CONNECTED cases as a C
file laid out as the generator lays them out, and reading a harness's output until END."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolchain.codegen.emit import c_array
from toolchain.link.client import Device
from toolchain.target import qemu

from .runtime_helpers import FcCase, fc_layout_data


def fc_cases_c(cases: list[FcCase], kernels: str, misalign: bool = False) -> str:
    """fc_cases.c: the constants as the generator lays them out for `kernels`; with `misalign`
    case i's input starts i % 4 bytes into a word (the embedding ring's rows do)."""
    lines = ['#include <stddef.h>', '#include "tlm_kernels.h"', ""]
    params, inputs = [], []

    def array(ctype: str, name: str, values) -> None:
        lines.append(f"static const {ctype} {name}[] TLM_ALIGNED4 = {{\n{c_array(np.asarray(values))}\n}};")

    for i, k in enumerate(cases):
        layout, arrays = fc_layout_data(k, kernels)
        off = i % 4 if misalign else 0
        array("int8_t", f"w{i}", arrays[0])
        array("int8_t", f"x{i}", np.concatenate([np.zeros(off, np.int64), k.x]))
        inputs.append(f"x{i} + {off}")
        if layout == 0:
            if k.b is not None:
                array("int32_t", f"b{i}", arrays[1])
            array("int32_t", f"m{i}", arrays[2])
            array("int32_t", f"s{i}", arrays[3])
            tables = (f"b{i}" if k.b is not None else "NULL", f"m{i}", f"s{i}", "NULL")
        else:
            array("int32_t", f"r{i}", arrays[1])
            tables = ("NULL", "NULL", "NULL", f"(const TlmFcRow *)(const void *)r{i}")
        params.append(f"    {{{k.d}, {k.c}, {k.ioff}, {k.woff}, {k.ooff}, {k.lo}, {k.hi}, {k.pc}, {layout}, "
                      f"w{i}, {', '.join(tables)}}}")
    lines.append(f"const int32_t fc_case_count = {len(cases)};")
    lines.append("const TlmFullyConnected fc_cases[] = {\n" + ",\n".join(params) + "\n};")
    lines.append("const int8_t *const fc_inputs[] = {" + ", ".join(inputs) + "};")
    return "\n".join(lines) + "\n"


def run_until_end(elf: Path, machine: str, state: Path, extra_args: tuple[str, ...] = ()) -> list[str]:
    with qemu.start(elf, machine, state_dir=state, extra_args=extra_args) as emu:
        with Device(emu.url, timeout=60) as dev:
            dev.send_raw(b"\n")
            lines = []
            while True:
                line = dev.readline()
                if line == "END":
                    return lines
                lines.append(line)


def assert_logits_on_emulator(elf: Path, machine: str, state: Path, ids, want, label: str = "") -> None:
    """Run `elf` in QEMU and ask LOGITS for each window of `ids`: every reply equals `want`'s row
    (the TFLM reference's logits) byte for byte."""
    with qemu.start(elf, machine, state_dir=state) as emu:
        with Device(emu.url, timeout=60) as dev:
            dev.sync()
            for j, (x, y) in enumerate(zip(ids, want)):
                got = dev.logits(x)
                assert np.array_equal(got, y), f"{label}vector {j}: {np.sum(got != y)} of {len(y)} logits differ"
