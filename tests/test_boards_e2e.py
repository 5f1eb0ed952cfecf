"""The whole device path on the emulated boards, and size-checked builds for the real ones.

Build the tiny project's firmware, flash it (QEMU, detached, as `tlmc flash` does), run the
HIL suite over pyserial's socket:// URL, check the JUnit file, stop QEMU, and make sure no
QEMU process is left behind.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from toolchain.target import build
from toolchain.target import deploy
from toolchain.device import hil
from toolchain.core import project
from toolchain.target import qemu
from toolchain.train import loop as train
from toolchain.cli import main
from toolchain.core.errors import UsageError

from .conftest import TINY, write_project

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("board", ["mps2-an386", "microbit"])
def test_build_flash_and_hil_suite_on_the_emulated_board(tiny_quantized, tmp_path, board):
    p, _, _ = tiny_quantized
    r = build.build(p.cfg, p.build, board)
    assert r["flash_bytes"] <= r["flash_budget_bytes"] and r["ram_bytes"] <= r["ram_budget_bytes"]
    sd = deploy.state_dir(p.build, build.board_for(p.cfg, board))
    try:
        f = deploy.flash(p.cfg, p.build, board)
        assert f["url"].startswith("socket://127.0.0.1:") and f["model_hash"] == r["model_hash"]
        junit = tmp_path / "hil.xml"
        res = CliRunner().invoke(main, ["test", "-C", str(p.root), "--board", board, "--junit", str(junit),
                                        "--json", "--tokens", "120"])
        summary = json.loads(res.stdout)
        assert res.exit_code == 0, json.dumps(summary, indent=1)[:3000]
        cases = {c["name"]: c for c in summary["devices"][0]["cases"]}
        lat = cases["latency"]["properties"]
        assert lat["ticks_per_step"] > 0 and lat["instructions_per_token"] > lat["macs_per_token"]
        suite = ET.parse(junit).getroot().find("testsuite")
        assert suite.get("failures") == "0" and suite.get("tests") == "9"
        cmd = cases["commands"]["properties"]
        assert cmd["count"] == 100 and "skipped" not in cmd
    finally:
        emu = qemu.find_running(sd)
        pid = emu.pid if emu else None
        deploy.flash(p.cfg, p.build, board, stop=True)
    assert qemu.find_running(sd) is None
    if pid is not None:
        assert not _alive(pid)


def test_emulator_latency_repeats_to_one_tick(tiny_quantized):
    """Under -icount the instruction count is fixed; the reading is quantized to one SysTick
    tick (40 instructions on mps2) with a start phase the edge-wait loop narrows but cannot
    remove, so two runs agree to one tick."""
    p, _, _ = tiny_quantized
    build.build(p.cfg, p.build, "mps2-an386")
    b = build.board_for(p.cfg, "mps2-an386")
    elf = p.build / "mps2-an386" / "firmware.elf"
    counts = []
    for _ in range(2):
        with qemu.start(elf, b["qemu_machine"], state_dir=p.build / "mps2-an386" / "qemu-rep") as emu:
            from toolchain.link.client import Device

            with Device(emu.url) as dev:
                dev.sync()
                dev.request("RESET")
                counts.append(int(dev.bench(5)["cycles"]))
    assert abs(counts[0] - counts[1]) <= 1 and counts[0] > 1000


@pytest.mark.parametrize("board", ["nano33", "pico", "nucleo-f446re"])
def test_real_board_builds_check_size_and_write_a_sketch(tiny_quantized, board):
    p, _, _ = tiny_quantized
    r = build.build(p.cfg, p.build, board)
    assert 0 < r["flash_bytes"] <= r["flash_budget_bytes"]
    assert 0 < r["ram_bytes"] <= r["ram_budget_bytes"]
    assert r["runtime_text_bytes"] < 6144
    sketch = r["sketch"]
    assert os.path.isfile(os.path.join(sketch, os.path.basename(sketch) + ".ino"))


def test_model_too_big_for_the_board_fails_with_numbers(tmp_path):
    big = TINY.replace("hidden = [48]", "hidden = [512, 512]").replace("steps = 240", "steps = 3")
    p = project.Project.load(write_project(tmp_path / "big", big))
    train.run(p.cfg, p.build, progress=False)
    with pytest.raises(UsageError) as e:
        build.build(p.cfg, p.build, "microbit")
    msg = str(e.value)
    assert "does not fit" in msg and "flash" in msg.lower() and "[model] hidden" in msg and "\n" not in msg
    r = CliRunner().invoke(main, ["build", "-C", str(p.root), "--board", "microbit"])
    assert r.exit_code == 2 and "does not fit" in r.stderr


def test_step_models_pass_the_hil_suite_on_the_emulated_m4(step_quantized, tmp_path):
    """gru and conv on the emulated Cortex-M4: golden sequences bit-exact, 500-token greedy
    and seeded generation equal to `tlmc generate --int8`, robustness, back-to-back."""
    arch, p, _, _ = step_quantized
    r = build.build(p.cfg, p.build, "mps2-an386")
    try:
        deploy.flash(p.cfg, p.build, "mps2-an386")
        res = hil.run(p.cfg, p.build, "mps2-an386", junit=tmp_path / "hil.xml", gen_tokens=500)
        failed = [(c["name"], c["message"][:200]) for c in res["devices"][0]["cases"] if not c["passed"]]
        assert res["passed"], failed
        assert r["arena_bytes"] < r["tflm_arena_bytes"]
    finally:
        deploy.flash(p.cfg, p.build, "mps2-an386", stop=True)
