"""The CLI: help for every command, JSON output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from toolchain.cli import main

from .conftest import write_project

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd):
    r = CliRunner().invoke(main, [cmd, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_help_does_not_import_tensorflow():
    code = ("import sys; from click.testing import CliRunner; from toolchain.cli import main; "
            "[CliRunner().invoke(main, [c, '--help']) for c in main.commands]; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_init_writes_a_config_that_info_reads(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["init", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["-h"])
    r = runner.invoke(main, ["info", "-C", str(tmp_path / "p"), "--json"])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["arch"] == "mlp" and obj["params"] > 100_000 and obj["trained"] is False


def test_init_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    r = runner.invoke(main, ["init", str(tmp_path)])
    assert r.exit_code == 2 and "--force" in r.stderr


def test_init_with_missing_corpus_is_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["init", str(tmp_path / "x"), "--corpus", str(tmp_path / "nope.txt")])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_config_error_is_one_line_exit_2_no_traceback(tmp_path):
    write_project(tmp_path, "[model]\ncontext = 0\n")
    r = CliRunner().invoke(main, ["train", "-C", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "[model] context = 0" in r.stderr


def test_generate_before_quantize_says_what_to_run(tmp_path):
    write_project(tmp_path, "")
    r = CliRunner().invoke(main, ["generate", "-C", str(tmp_path), "--int8"])
    assert r.exit_code == 1 and "tlmc quantize" in r.stderr


@pytest.mark.slow
def test_json_outputs_of_a_built_project(tiny_quantized):
    p, _, _ = tiny_quantized
    runner = CliRunner()
    q = json.loads(runner.invoke(main, ["quantize", "-C", str(p.root), "--json"]).stdout)
    for key in ("float_ce", "int8_ce", "float_acc", "int8_acc", "tflite_bytes", "tflm_arena_bytes", "ops"):
        assert key in q
    t = json.loads(runner.invoke(main, ["train", "-C", str(p.root), "--json"]).stdout)
    assert t["cached"] is True and t["val_ce"] > 0
    g = json.loads(runner.invoke(main, ["generate", "-C", str(p.root), "--json", "--int8", "--prompt", "open the ",
                                        "--tokens", "12"]).stdout)
    assert len(g["ids"]) == 12
    i = json.loads(runner.invoke(main, ["info", "-C", str(p.root), "--json"]).stdout)
    assert i["quantized"] and i["tflm_arena_bytes"] == q["tflm_arena_bytes"]
    r = runner.invoke(main, ["generate", "-C", str(p.root), "--tokens", "-1"])
    assert r.exit_code == 2


def test_doctor_reports_tools_and_what_each_board_needs():
    r = CliRunner().invoke(main, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["tools"]["gcc"]["version"]
    assert {b["board"] for b in obj["boards"]} >= {"host", "mps2-an386", "nano33", "pico"}
    host = next(b for b in obj["boards"] if b["board"] == "host")
    assert host["build"] and host["flash"]


def test_boards_table_lists_every_board_file():
    r = CliRunner().invoke(main, ["boards", "--json"])
    ids = {b["id"] for b in json.loads(r.stdout)["boards"]}
    assert ids == {"host", "mps2-an386", "microbit", "nano33", "pico", "nucleo-f446re"}
    r = CliRunner().invoke(main, ["boards"])
    assert "nano33ble" in r.output


@pytest.mark.slow
def test_chat_completes_prompts_from_the_device(tiny_host):
    import io

    from toolchain.export import generate
    from toolchain.device.chat import chat

    p, _ = tiny_host
    out = io.StringIO()
    assert chat(p.build, "host", None, tokens=40, lines=["turn off the ", "open the "], out=out) == 0
    text = out.getvalue()
    expect = generate.generate(p.build, "turn off the ", 40, int8=True).text
    assert text.startswith("turn off the " + expect.split("\n")[0])
    assert "open the " in text


def test_flash_stop_on_a_board_without_emulator_is_usage_error(tmp_path):
    write_project(tmp_path, "")
    r = CliRunner().invoke(main, ["flash", "-C", str(tmp_path), "--board", "nano33", "--stop"])
    assert r.exit_code == 2 and "--stop is for emulated boards" in r.stderr


def test_test_without_running_emulator_says_to_flash(tmp_path):
    write_project(tmp_path, "")
    r = CliRunner().invoke(main, ["test", "-C", str(tmp_path), "--board", "mps2-an386"])
    assert r.exit_code == 2 and "tlmc flash --board mps2-an386" in r.stderr
