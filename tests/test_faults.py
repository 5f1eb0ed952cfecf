"""Every fault a user can cause gets one clear line, and nothing is lost (issue 14).

Host side (top half): OS errors, damaged artifacts, stale builds, the project lock, limits
checked before work, progress and the smaller CLI faults. Device side: below the marker.

Each case asserts the exit code, one `error:` line on stderr (the last one; progress lines
may precede it) with no traceback, and that the files of the earlier build are unchanged
(content hashes of everything under build/, the lock file aside). Most run in-process with
click's CliRunner over a copy of the tiny built project; a few run the real `tlmc` program,
where a traceback would show. Read-only folders and full disks are real mounts (a read-only
bind mount, a small tmpfs; the tests run as root, for whom chmod does not stop a write); where
mounting is not permitted those cases skip and say so. A permission error (EACCES), which
root never meets, is injected at the OS-call boundary (os.replace inside core/fsutil).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.cli.common import handle_errors
from toolchain.core import fsutil, progress
from toolchain.core.errors import Damaged, os_error_message
from toolchain.core.lock import ProjectLock

from .conftest import TINY, write_project

TLMC = [str(Path(sys.executable).with_name("tlmc"))] if Path(sys.executable).with_name("tlmc").is_file() \
    else [sys.executable, "-m", "toolchain.cli"]


# ---------------------------------------------------------------------------------------------
# helpers

def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file under root/build (the lock file aside: each writer notes its pid)."""
    out = {}
    for p in sorted((root / "build").rglob("*")):
        if p.is_file() and p.name != ".lock":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(root: Path | None, *args: str):
    """`tlmc <args> -C root` in-process; stderr apart from stdout."""
    argv = list(args) + (["-C", str(root)] if root is not None else [])
    return CliRunner().invoke(main, argv)


def tlmc(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `tlmc` program in a subprocess (a traceback would show here)."""
    return subprocess.run([*TLMC, *args], cwd=root, capture_output=True, text=True, timeout=timeout)


def one_error(code: int, exit_code: int, stderr: str, *needles: str, exception=None) -> str:
    """The command exited `code` with one error line on stderr, the last, naming `needles`."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert exit_code == code, (exit_code, stderr)
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert "Traceback" not in stderr and "please report" not in stderr, stderr
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def fails(r, code: int, *needles: str) -> str:
    return one_error(code, r.exit_code, r.stderr, *needles, exception=r.exception)


def run_fails(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    return one_error(code, proc.returncode, proc.stderr, *needles)


def flip_byte(path: Path, at: int | None = None) -> None:
    b = bytearray(path.read_bytes())
    i = len(b) // 2 if at is None else at
    b[i] ^= 0x01
    path.write_bytes(bytes(b))


@pytest.fixture
def built(tiny_host, tmp_path) -> Path:
    """A copy of the tiny project, trained, quantized and built for the host."""
    p, _ = tiny_host
    root = tmp_path / "p"
    shutil.copytree(p.root, root, symlinks=True)
    (root / "build" / ".lock").unlink(missing_ok=True)
    return root


def _mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


@pytest.fixture
def read_only(built, tmp_path):
    """The built project seen through a read-only bind mount (skips where mounting is not allowed)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _mount("--bind", str(built), str(ro)):
        pytest.skip("mount --bind is not permitted here: no read-only folder to test with")
    if not _mount("-o", "remount,bind,ro", str(ro)):
        _umount(ro)
        pytest.skip("a read-only remount is not permitted here")
    try:
        yield ro
    finally:
        _umount(ro)


def small_disk(where: Path, size_kb: int) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)):
        pytest.skip("mount -t tmpfs is not permitted here: no full disk to test with")
    return where


# ---------------------------------------------------------------------------------------------
# 1. OS errors: one line naming the path and what to do, exit 1, from every command

def test_read_only_project_refuses_training_before_any_work(read_only):
    before = snapshot(read_only)
    r = cli(read_only, "train", "--force")
    fails(r, 1, "build/train", "read-only", "writable")
    assert "starting TensorFlow" not in r.stderr  # refused before the work, not after it
    assert snapshot(read_only) == before


def test_read_only_project_build_names_the_file_it_could_not_write(read_only):
    before = snapshot(read_only)
    fails(cli(read_only, "build"), 1, "build/host", "read-only")
    assert snapshot(read_only) == before


def test_read_only_project_still_serves_what_is_built(read_only):
    """Commands with nothing to write work on a read-only project (no lock is needed there)."""
    assert cli(read_only, "quantize").exit_code == 0
    assert cli(read_only, "info").exit_code == 0
    r = cli(read_only, "generate", "--int8", "--tokens", "5", "--prompt", "turn")
    assert r.exit_code == 0, r.stderr


def test_read_only_init_is_one_line(read_only):
    fails(cli(None, "init", str(read_only / "newproj")), 1, "newproj", "read-only")


def test_full_disk_during_the_data_stage_is_one_line(tmp_path):
    disk = small_disk(tmp_path / "disk", 64)
    try:
        write_project(disk, TINY)
        r = cli(disk, "info")
        fails(r, 1, "build/data/", "no space left", "free some space")
        assert not list((disk / "build" / "data").glob(".*.tmp"))  # no temp file left behind
    finally:
        _umount(disk)


def test_full_disk_keeps_the_earlier_build(built, tmp_path):
    pages = sum(-(-p.stat().st_size // 4096) + 1 for p in built.rglob("*"))  # tmpfs holds whole pages
    disk = small_disk(tmp_path / "disk", pages * 4 + 160)
    try:
        shutil.copytree(built, disk / "p", dirs_exist_ok=True)
        # leave 32 KB: whatever the project's size, the build's sources and program cannot fit
        (disk / "filler").write_bytes(b"\0" * max(0, shutil.disk_usage(disk).free - (32 << 10)))
        before = snapshot(disk / "p")
        r = cli(disk / "p", "build")
        fails(r, 1, "build/host", "free some space")
        assert snapshot(disk / "p") == before
    finally:
        _umount(disk)


def test_full_disk_is_found_before_training(built, monkeypatch):
    """Too little free space for a training run's outputs: refused before TensorFlow starts."""
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    before = snapshot(built)
    r = cli(built, "train", "--force")
    fails(r, 1, "build/train", "MB free", "free some space")
    assert "starting TensorFlow" not in r.stderr
    assert snapshot(built) == before


def test_permission_denied_names_the_file(built, monkeypatch):
    """EACCES, injected at the OS call (os.replace in core/fsutil), as a user who does not own
    the folder meets it."""
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(src))

    monkeypatch.setattr(fsutil.os, "replace", refuse)
    before = snapshot(built)
    fails(cli(built, "build"), 1, "build/host/", "permission denied")
    monkeypatch.undo()
    assert snapshot(built) == before
    assert not list((built / "build" / "host").glob(".*.tmp"))


def test_an_os_error_no_stage_expected_is_still_one_line():
    @click.command()
    @handle_errors
    def boom() -> None:
        open("/nonexistent-tlmc-dir/x.txt")

    r = CliRunner().invoke(boom, [])
    fails(r, 1, "/nonexistent-tlmc-dir/x.txt", "no such file")


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only"), (errno.ENOSPC, "no space left"),
                                         (errno.EACCES, "permission denied"), (errno.ENOENT, "no such file"),
                                         (errno.EIO, "input/output error")])
def test_os_error_messages_name_the_path_and_what_to_do(code, words):
    msg = os_error_message(OSError(code, os.strerror(code), "/p/build/x"))
    assert msg.startswith("/p/build/x: ") and words in msg.lower() and "\n" not in msg


def test_generated_files_get_the_usual_mode_and_respect_the_umask(built, tmp_path):
    for p in [*(built / "build" / "quantize").iterdir(), *(built / "build" / "train").iterdir(),
              built / "build" / "host" / "model_data.c"]:
        if p.is_file() and p.name != ".lock":
            assert p.stat().st_mode & 0o777 == 0o644, p
    old = os.umask(0o077)
    fsutil._umask_cache.clear()
    try:
        fsutil.atomic_write_text(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
        fsutil._umask_cache.clear()


# ---------------------------------------------------------------------------------------------
# 2. Artifacts verify themselves: the damaged file and the command that rebuilds it

def test_junk_weights_are_named_by_quantize_force(built):
    (built / "build" / "train" / "weights.npz").write_bytes(b"junk")
    before = snapshot(built)
    fails(cli(built, "quantize", "--force"), 1, "build/train/weights.npz is damaged", "'tlmc train --force'")
    assert snapshot(built) == before


def test_junk_weights_through_the_real_program_show_no_traceback(built):
    (built / "build" / "train" / "weights.npz").write_bytes(b"PK\x03\x04 not a zip")
    before = snapshot(built)
    run_fails(tlmc(built, "quantize", "--force"), 1, "weights.npz is damaged", "tlmc train --force")
    assert snapshot(built) == before


def test_weights_of_the_wrong_shape_are_named(built):
    """An old stamp without content hashes: the shape check still finds a weights file that lacks
    the arrays every model has."""
    import numpy as np

    train = built / "build" / "train"
    np.savez(train / "weights.npz", something=np.zeros(3))
    stamp = json.loads((train / "stamp.json").read_text())
    stamp.pop("files")
    (train / "stamp.json").write_text(json.dumps(stamp))
    fails(cli(built, "quantize", "--force"), 1, "weights.npz is damaged", "lacks the array 'embedding'",
          "tlmc train --force")


def test_empty_quantize_stamp_is_named_by_build(built):
    (built / "build" / "quantize" / "stamp.json").write_text("")
    before = snapshot(built)
    fails(cli(built, "build", "--board", "host"), 1, "build/quantize/stamp.json is damaged (empty)",
          "'tlmc quantize --force'")
    assert snapshot(built) == before


def test_junk_streams_make_the_data_stage_run_again(built):
    streams = built / "build" / "data" / "streams.npz"
    good = streams.read_bytes()
    streams.write_bytes(b"\x00" * 100)
    r = cli(built, "train")
    assert r.exit_code == 0, r.stderr
    assert "streams.npz is damaged" in r.stderr and "preparing again" in r.stderr
    assert "up to date (cached)" in r.stdout  # the same data again: the model is still current
    import numpy as np

    was, now = np.load(io.BytesIO(good)), fsutil.load_npz(streams)
    assert all(np.array_equal(was[k], now[k]) for k in ("train", "val"))


def test_empty_data_stamp_makes_the_data_stage_run_again(built):
    (built / "build" / "data" / "stamp.json").write_text("")
    r = cli(built, "train")
    assert r.exit_code == 0 and "stamp.json is damaged" in r.stderr and "(cached)" in r.stdout, r.stderr


def test_junk_metrics_are_named(built):
    (built / "build" / "train" / "metrics.json").write_text("{not json")
    before = snapshot(built)
    fails(cli(built, "train"), 1, "build/train/metrics.json is damaged", "'tlmc train --force'")
    assert snapshot(built) == before


def test_report_holding_a_list_is_named(built):
    (built / "build" / "quantize" / "report.json").write_text("[]")
    before = snapshot(built)
    fails(cli(built, "build"), 1, "build/quantize/report.json is damaged", "'tlmc quantize --force'")
    assert snapshot(built) == before


def test_a_json_file_of_the_wrong_type_or_without_its_keys_is_damaged(tmp_path):
    q = tmp_path / "build" / "quantize"
    q.mkdir(parents=True)
    (q / "report.json").write_text("[]")
    with pytest.raises(Damaged, match=r"holds list, not dict\); run 'tlmc quantize --force'"):
        fsutil.read_json(q / "report.json")
    (q / "report.json").write_text('{"tflite_bytes": 1}')
    with pytest.raises(Damaged, match="lacks 'model_hash'"):
        fsutil.read_json(q / "report.json")
    (q / "report.json").write_text('{"model_hash": "x"}')
    with pytest.raises(Damaged, match="lacks 'ops'"):
        fsutil.read_json(q / "report.json", keys=("ops",))


def test_flipped_model_byte_is_not_served_as_cached(built):
    flip_byte(built / "build" / "quantize" / "model.tflite")
    before = snapshot(built)
    r = cli(built, "quantize")
    fails(r, 1, "build/quantize/model.tflite is damaged", "differs", "'tlmc quantize --force'")
    assert "[cached]" not in r.stdout
    assert snapshot(built) == before


def test_flipped_model_byte_is_named_by_build_not_blamed_on_the_runtime(built):
    flip_byte(built / "build" / "quantize" / "model.tflite")
    before = snapshot(built)
    run_fails(tlmc(built, "build"), 1, "model.tflite is damaged", "tlmc quantize --force")
    assert snapshot(built) == before


def test_flipped_model_byte_stops_the_host_test_before_it_runs(built):
    flip_byte(built / "build" / "quantize" / "model.tflite")
    r = cli(built, "test", "--board", "host")
    fails(r, 1, "model.tflite is damaged")
    assert "passed" not in r.stdout


def test_flipped_model_byte_stops_generation(built):
    flip_byte(built / "build" / "quantize" / "model.tflite")
    fails(cli(built, "generate", "--int8"), 1, "model.tflite is damaged")


def test_damaged_host_program_is_named_before_it_runs(built):
    flip_byte(built / "build" / "host" / "tlm", 4096)
    before = snapshot(built)
    r = cli(built, "test", "--board", "host")
    fails(r, 1, "build/host/tlm is damaged", "'tlmc build --board host'")
    assert snapshot(built) == before


def test_damaged_tokenizer_is_named(built):
    (built / "build" / "data" / "tokenizer.json").write_text('{"truncated": ')
    fails(cli(built, "generate", "--int8"), 1, "tokenizer.json is damaged", "tlmc train")


def test_truncated_golden_vectors_are_named(built):
    golden = built / "build" / "quantize" / "golden.npz"
    golden.write_bytes(golden.read_bytes()[:200])
    fails(cli(built, "emit"), 1, "golden.npz is damaged", "tlmc quantize --force")


def test_damaged_checkpoint_is_started_over_not_a_traceback(built):
    train = built / "build" / "train"
    stamp = json.loads((train / "stamp.json").read_text())
    (train / "checkpoint.json").write_text(json.dumps({"hash": stamp["hash"], "step": 5, "n_weights": 6}))
    (train / "checkpoint.npz").write_bytes(b"junk")
    r = cli(built, "train")
    assert r.exit_code == 0 and "checkpoint is damaged" in r.stderr and "starting over" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# 3. A stale build is named

def _edit(root: Path, old: str, new: str) -> None:
    cfg = root / "tlm.toml"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))


def test_info_does_not_mix_a_new_config_with_the_old_model(built):
    old = json.loads(cli(built, "info", "--json").stdout)
    _edit(built, "hidden = [48]", "hidden = [64]")
    r = cli(built, "info", "--json")
    assert r.exit_code == 0, r.stderr
    now = json.loads(r.stdout)
    assert now["trained"] is False and now["quantized"] is False and "model_hash" not in now
    assert now["params"] > old["params"]  # the new config's estimate, not the old model's count
    assert "[model] hidden changed ([48] -> [64])" in now["train_status"] and "tlmc train" in now["train_status"]
    text = cli(built, "info").stdout
    assert "out of date" in text and old["model_hash"] not in text


def test_generate_refuses_the_old_model_after_an_edit(built):
    _edit(built, "hidden = [48]", "hidden = [64]")
    before = snapshot(built)
    fails(cli(built, "generate", "--int8"), 1, "model.tflite is out of date", "[model] hidden changed",
          "'tlmc quantize'")
    assert snapshot(built) == before


def test_host_test_refuses_the_old_firmware_after_an_edit(built):
    _edit(built, "steps = 240", "steps = 250")
    fails(cli(built, "test", "--board", "host"), 1, "out of date", "[train] steps changed (240 -> 250)",
          "'tlmc build --board host'")


def test_host_test_refuses_a_program_built_with_other_kernels(built):
    _edit(built, "[quantize]", '[board]\nkernels = "reference"\n[quantize]')
    fails(cli(built, "test", "--board", "host"), 1, "build/host/tlm is out of date",
          "[board] kernels changed (optimized -> reference)", "'tlmc build --board host'")


def test_a_quantize_setting_edit_names_the_quantize_stage(built):
    _edit(built, "golden_vectors = 60", "golden_vectors = 70")
    fails(cli(built, "generate"), 1, "out of date", "[quantize] golden_vectors changed (60 -> 70)")


def test_train_says_which_input_changed(built, capsys):
    from toolchain.core import project
    from toolchain.train import loop as train
    from toolchain.train.loop import Interrupted

    _edit(built, "lr = 0.01", "lr = 0.02")
    p = project.Project.load(built)
    with pytest.raises(Interrupted):
        train.run(p.cfg, p.build, stop_after_steps=0, progress=False)
    assert "train: retraining: [train] lr changed (0.01 -> 0.02)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# 4. An interrupted `train --force` resumes

def test_interrupted_forced_retrain_resumes_instead_of_answering_cached(built):
    from toolchain.core import project
    from toolchain.train import loop as train
    from toolchain.train.loop import Interrupted

    p = project.Project.load(built)
    with pytest.raises(Interrupted, match="run 'tlmc train' again to resume"):
        train.run(p.cfg, p.build, force=True, stop_after_steps=5, progress=False)
    r = cli(built, "train")
    assert r.exit_code == 0, r.stderr
    assert "resuming at step 5/240" in r.stderr and "(cached)" not in r.stdout
    # every phase longer than a moment says so on stderr, also when it is not a terminal
    assert "starting TensorFlow" in r.stderr and "final validation" in r.stderr
    assert "(all " in r.stdout and "validation targets)" in r.stdout
    assert not (built / "build" / "train" / "checkpoint.npz").exists()
    assert cli(built, "train").stdout.count("(cached)") == 1


# ---------------------------------------------------------------------------------------------
# 5. The project lock

HOLD = ("import sys, time; from toolchain.core.lock import ProjectLock; "
        "l = ProjectLock(sys.argv[1], 'tlmc train').acquire(); print('held', flush=True); time.sleep(60)")


@pytest.fixture
def holder(built):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(built / "build")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_refuses_with_the_other_pid(built, holder):
    before = snapshot(built)
    msg = fails(cli(built, "quantize"), 1, "in use by 'tlmc train'", f"pid {holder.pid}", f"kill {holder.pid}")
    assert snapshot(built) == before
    fails(cli(built, "build"), 1, f"pid {holder.pid}")
    assert msg.count("\n") == 0


def test_readers_do_not_wait_for_the_lock(built, holder):
    assert cli(built, "info").exit_code == 0
    assert cli(built, "generate", "--int8", "--tokens", "4").exit_code == 0


def test_the_lock_of_a_dead_process_is_taken_over(built):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (built / "build" / ".lock").write_text(json.dumps({"pid": dead.pid, "command": "tlmc train"}))
    r = cli(built, "quantize")
    assert r.exit_code == 0, r.stderr
    assert json.loads((built / "build" / ".lock").read_text())["pid"] == os.getpid()


def test_the_lock_is_released_when_a_command_fails(built):
    (built / "build" / "train" / "metrics.json").write_text("")
    assert cli(built, "train").exit_code == 1
    with ProjectLock(built / "build"):  # free again
        pass


# ---------------------------------------------------------------------------------------------
# 6. Limits checked before work

BIG = """
[model]
context = 512
embed = 1024
hidden = [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096]
"""


@pytest.mark.parametrize("command", ["info", "train"])
def test_a_model_of_billions_of_params_is_refused_before_tensorflow_starts(tmp_path, command):
    root = write_project(tmp_path / "big", BIG)
    code = ("import sys; from click.testing import CliRunner; from toolchain.cli import main; "
            f"r = CliRunner().invoke(main, ['{command}', '-C', sys.argv[1]]); "
            "sys.stderr.write(r.stderr); print('tensorflow' in sys.modules); sys.exit(r.exit_code)")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=120)
    run_fails(proc, 2, "[model] is too big", "2,26", "parameters", "hidden (8 x 4096)", "embed (1024)",
              "context (512)")
    assert proc.stdout.strip() == "False" and time.monotonic() - t0 < 30
    assert not (root / "build" / "data").exists()  # refused before the data stage too


def test_training_memory_beyond_the_machine_is_refused(built, monkeypatch):
    from toolchain.train import limits

    monkeypatch.setattr(limits, "available_bytes", lambda: 1_000_000)
    before = snapshot(built)
    r = cli(built, "train", "--force")
    fails(r, 2, "takes about", "this machine has", "[train] batch (64)", "[model] hidden")
    assert "starting TensorFlow" not in r.stderr
    assert snapshot(built) == before


def test_a_model_too_big_for_the_boards_flash_is_refused_before_training(tmp_path):
    root = write_project(tmp_path / "p", TINY.replace("hidden = [48]", "hidden = [512, 512]")
                         + '[board]\nid = "microbit"\n')
    r = cli(root, "train")
    fails(r, 2, "does not fit board microbit", "B of flash", "[model] hidden")
    assert not (root / "build" / "train").exists()


@pytest.mark.parametrize("args, words", [
    (["--tokens", "10000000"], "--tokens 10000000: must be from 0 to 4096"),
    (["--temperature", "nan"], "--temperature nan"),
    (["--temperature", "-0.5"], "--temperature -0.5"),
    (["--temperature", "inf"], "--temperature inf"),
    (["--top-k", "-1"], "--top-k -1"),
    (["--top-k", "70000"], "--top-k 70000"),
    (["--int8", "--seed", "3000000000"], "--seed 3000000000: must be from 0 to 2147483647"),
    (["--int8", "--seed", "-1"], "--seed -1"),
    (["--int8", "--seed", str(2**40)], f"--seed {2**40}"),
])
def test_generation_settings_outside_the_devices_range_are_one_line(built, args, words):
    before = snapshot(built)
    fails(cli(built, "generate", *args), 2, words)
    assert snapshot(built) == before


def test_the_devices_seed_range_is_the_firmwares():
    from toolchain.core.paths import FIRMWARE
    from toolchain.export import sampling

    src = (FIRMWARE / "tlm_protocol.c").read_text()
    assert f'"seed", {sampling.GEN_SEED[0]}, {sampling.GEN_SEED[1]}' in src
    assert f'"top_k", {sampling.GEN_TOP_K[0]}, {sampling.GEN_TOP_K[1]}' in src
    assert f'"temp_milli", 0, {int(sampling.GEN_TEMPERATURE[1] * 1000)}' in src


# ---------------------------------------------------------------------------------------------
# 7. Progress on stderr, also when it is not a terminal

def test_progress_prints_plain_lines_when_not_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    out = io.StringIO()
    bar = progress.Progress(10, "train epoch 1/1", stream=out)
    for i in range(1, 11):
        bar.update(i, "loss 1.0")
    bar.close("done")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert "train epoch 1/1: 5/10" in text and text.endswith("train epoch 1/1: done\n")


def test_quantize_says_what_it_is_doing(built):
    r = cli(built, "quantize", "--force")
    assert r.exit_code == 0, r.stderr
    for phase in ("converting to float and int8", "scoring float and int8", "TFLM check"):
        assert f"quantize: {phase}" in r.stderr


# ---------------------------------------------------------------------------------------------
# 8. Smaller faults

@pytest.mark.parametrize("args", [["generate", "--int8"], ["flash", "--board", "mps2-an386"],
                                  ["test", "--board", "host"]])
def test_not_built_exits_1_everywhere(tmp_path, args):
    root = write_project(tmp_path / "p", TINY)
    fails(cli(root, *args), 1, "not built", "first")


def test_flash_stop_with_nothing_running_says_so(tmp_path):
    root = write_project(tmp_path / "p", TINY)
    r = cli(root, "flash", "--board", "mps2-an386", "--stop")
    assert r.exit_code == 0 and "was not running" in r.stdout


@pytest.mark.parametrize("command", ["build", "test", "flash", "emit"])
def test_an_empty_board_is_an_error_not_the_default(built, command):
    before = snapshot(built)
    fails(cli(built, command, "--board", ""), 2, "--board", "is empty")
    assert snapshot(built) == before


def test_click_usage_errors_are_one_line():
    fails(CliRunner().invoke(main, ["generate", "--tokens", "many"], prog_name="tlmc"), 2,
          "'many' is not a valid integer", "see 'tlmc generate --help'")
    fails(CliRunner().invoke(main, ["trian"]), 2, "No such command 'trian'")


def test_init_stores_an_absolute_corpus_path_outside_the_project(tmp_path):
    corpus = tmp_path / "texts" / "a.txt"
    corpus.parent.mkdir()
    corpus.write_text("some text to train on\n" * 20)
    r = cli(None, "init", str(tmp_path / "deep" / "er" / "proj"), "--corpus", str(corpus))
    assert r.exit_code == 0, r.stderr
    text = (tmp_path / "deep" / "er" / "proj" / "tlm.toml").read_text()
    assert f'corpus = ["{corpus}"]' in text and "../" not in text
    inside = tmp_path / "proj2" / "data" / "b.txt"
    inside.parent.mkdir(parents=True)
    inside.write_text("more text\n" * 20)
    assert cli(None, "init", str(tmp_path / "proj2"), "--corpus", str(inside)).exit_code == 0
    assert 'corpus = ["data/b.txt"]' in (tmp_path / "proj2" / "tlm.toml").read_text()


def test_eval_help_promises_the_keys_its_json_has(built):
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert '"entries"' not in help_text and '"missing"' in help_text
    r = cli(built, "eval", "--json", "--tokens", "200")
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    for key in ("scratch", "missing", "val_tokens", "commands", "tokenizer"):
        assert key in obj


def test_a_short_run_is_not_called_an_epoch():
    from toolchain.train.loop import span_label

    assert span_label("train", 0, 1421, 300) == "train (300 steps, 0.21 of an epoch)"
    assert span_label("train", 1, 1000, 2000) == "train epoch 2/2"
    assert span_label("train", 1, 1000, 1500) == "train epoch 2/2 (500 of 1,000 steps)"


# ---- device side ----

# Device side: `tlm --serve`, child processes, serial faults, chat, Ctrl-C during `tlmc test`,
# the protocol fuzz. Every test that runs tlmc checks the exit code, the one `error:` line on
# stderr (no traceback) and that no `tlm --serve`, gcc or QEMU process is left
# (tests/proc_helpers.py). Rule-by-rule protocol conformance: tests/test_protocol_conformance.py.

import hashlib as _dev_hashlib  # noqa: E402
import importlib.util as _dev_importlib_util  # noqa: E402
import json as _dev_json  # noqa: E402
import os as _dev_os  # noqa: E402
import signal as _dev_signal  # noqa: E402
import subprocess as _dev_subprocess  # noqa: E402
import sys as _dev_sys  # noqa: E402
import time as _dev_time  # noqa: E402
import xml.etree.ElementTree as _dev_ET  # noqa: E402
from pathlib import Path as _DevPath  # noqa: E402

import pytest as _dev_pytest  # noqa: E402

from toolchain.core import children as _dev_children  # noqa: E402
from toolchain.core.errors import UsageError as _DevUsageError  # noqa: E402
from toolchain.link import client as _dev_client  # noqa: E402
from toolchain.link.hostlink import HostLink as _DevHostLink  # noqa: E402

from . import proc_helpers as _dph  # noqa: E402

_DEV_REPO = _DevPath(__file__).resolve().parent.parent


def _dev_sha(path) -> str:
    return _dev_hashlib.sha256(_DevPath(path).read_bytes()).hexdigest()


@_dev_pytest.fixture
def dev_project(tiny_host, tmp_path):
    """A copy of the tiny project built for the host (the session's own stays untouched)."""
    p, _ = tiny_host
    return _dph.copy_project(p.root, tmp_path / "proj")


@_dev_pytest.fixture
def dev_emulated(tiny_quantized, tmp_path):
    """A copy of the tiny project built for mps2-an386; its emulator is stopped afterwards."""
    from toolchain.target import build

    p, _, _ = tiny_quantized
    build.build(p.cfg, p.build, "mps2-an386")
    root = _dph.copy_project(p.root, tmp_path / "proj")
    yield root
    _dph.run_tlmc(["flash", "--board", "mps2-an386", "--stop"], root)
    _dph.assert_nothing_left(root)


def _dev_qemu_pid(root) -> int:
    return int(_dev_json.loads((root / "build" / "mps2-an386" / "qemu" / "qemu.json").read_text())["pid"])


# -- 1. `tlm --serve` ends with its link ------------------------------------------------------
def test_serve_exits_at_once_when_its_pty_closes(tiny_host):
    p, _ = tiny_host
    link = _DevHostLink(p.build / "host" / "tlm")
    with _dev_client.Device(link.port, timeout=5) as d:
        d.sync()
    _dev_os.close(link._slave)  # the last copy of the slave side: the program's reads get EIO
    link._slave = None
    t0 = _dev_time.monotonic()
    assert link.proc.wait(timeout=2) == 0
    assert _dev_time.monotonic() - t0 < 1.0
    link.stop()


def test_serve_exits_at_the_end_of_piped_input(tiny_host):
    p, _ = tiny_host
    proc = _dev_subprocess.Popen([str(p.build / "host" / "tlm"), "--serve"], stdin=_dev_subprocess.PIPE,
                                 stdout=_dev_subprocess.PIPE)
    out, _ = proc.communicate(b"INFO\n", timeout=5)
    assert proc.returncode == 0 and out.startswith(b"OK proto=1 ")


def test_serve_ends_on_a_hangup(tiny_host):
    p, _ = tiny_host
    link = _DevHostLink(p.build / "host" / "tlm")
    try:
        link.proc.send_signal(_dev_signal.SIGHUP)
        assert link.proc.wait(timeout=2) != 0
    finally:
        link.stop()


@_dev_pytest.mark.parametrize("sig", [_dev_signal.SIGTERM, _dev_signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_serve_is_left_when_tlmc_test_is_killed(dev_project, sig):
    proc = _dph.start_tlmc(["test", "--board", "host", "--tokens", "4096"], dev_project)
    seen = _dph.wait_for_tool(proc, ("tlm",))
    _dev_time.sleep(0.3)
    seen.update(_dph.tools_below(proc.pid))
    proc.send_signal(sig)
    proc.communicate(timeout=10)
    assert proc.returncode == -sig
    _dph.assert_nothing_left(dev_project, seen)


# -- 2. gcc and QEMU end with the command that started them -------------------------------------
@_dev_pytest.mark.parametrize("sig", [_dev_signal.SIGKILL, _dev_signal.SIGTERM, _dev_signal.SIGINT],
                              ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_killing_a_host_build_leaves_no_gcc_and_the_old_binary(dev_project, sig):
    exe = dev_project / "build" / "host" / "tlm"
    before = _dev_sha(exe)
    proc = _dph.start_tlmc(["build", "--board", "host"], dev_project)
    seen = _dph.wait_for_tool(proc, ("cc1", "collect2", "ld"))
    seen.update(_dph.tools_below(proc.pid))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    if sig == _dev_signal.SIGINT:   # Ctrl-C: the one line of an interrupt, exit 130
        assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]
    else:
        assert proc.returncode == -sig
    _dph.assert_nothing_left(dev_project, seen)
    assert _dev_sha(exe) == before     # gcc links to .tlm.tmp; only a finished link is renamed


def test_kill_9_during_a_cross_build_leaves_no_arm_gcc_and_the_old_elf(dev_emulated):
    elf = dev_emulated / "build" / "mps2-an386" / "firmware.elf"
    before = _dev_sha(elf)
    proc = _dph.start_tlmc(["build", "--board", "mps2-an386"], dev_emulated)
    seen = _dph.wait_for_tool(proc, ("cc1", "collect2", "ld", "as"))
    seen.update(_dph.tools_below(proc.pid))
    proc.kill()
    proc.communicate(timeout=10)
    _dph.assert_nothing_left(dev_emulated, seen)
    assert _dev_sha(elf) == before


def test_kill_9_while_a_build_measures_on_qemu_leaves_no_qemu(dev_emulated):
    proc = _dph.start_tlmc(["build", "--board", "mps2-an386"], dev_emulated)
    seen = _dph.wait_for_tool(proc, ("qemu-system-arm",))
    proc.kill()
    proc.communicate(timeout=10)
    _dph.assert_nothing_left(dev_emulated, seen)


def test_flash_detaches_the_emulator_and_flash_stop_ends_it(dev_emulated):
    r = _dph.run_tlmc(["flash", "--board", "mps2-an386"], dev_emulated)
    assert r.returncode == 0, r.stderr
    pid = _dev_qemu_pid(dev_emulated)
    assert _dph.name_of(pid) == "qemu-system-arm"     # outlives `tlmc flash`, as flashing a board does
    r = _dph.run_tlmc(["flash", "--board", "mps2-an386", "--stop"], dev_emulated)
    assert r.returncode == 0, r.stderr
    assert not _dev_children.wait_gone([pid], 3)


def test_children_run_stops_the_whole_group_on_a_timeout(tmp_path):
    marker = str(tmp_path / "grandchild")
    with _dev_pytest.raises(_dev_subprocess.TimeoutExpired):
        _dev_children.run(["sh", "-c", f"sleep 30 {marker} & sleep 30; wait", marker], timeout=0.3,
                          cwd=tmp_path)
    assert not _dev_children.descendants()
    _dph.assert_nothing_left(tmp_path, timeout=1)


def test_a_child_and_its_children_die_with_a_killed_caller(tmp_path):
    """The watcher: PR_SET_PDEATHSIG reaches the child, the watcher its whole group."""
    code = ("import sys, time; from toolchain.core import children; "
            "c = children.spawn(['sh', '-c', 'sleep 30 & sleep 30; wait']); print(c.pid, flush=True); time.sleep(60)")
    caller = _dev_subprocess.Popen([_dev_sys.executable, "-c", code], cwd=tmp_path, stdout=_dev_subprocess.PIPE,
                                   text=True)
    child = int(caller.stdout.readline())
    _dev_time.sleep(0.2)
    seen = _dev_children.descendants(caller.pid)
    assert child in seen and len(seen) >= 4     # sh, its two sleeps, the watcher
    caller.kill()
    caller.wait()
    assert not _dev_children.wait_gone(seen, 2), [_dph.name_of(q) for q in seen]


# -- 3. serial faults: one line naming the port, in bounded time, exit 1 --------------------------
_DEV_PORT_FAULTS = {
    "garbage-url": (["test", "--port", "garbage://x"], "garbage://x: cannot open: pyserial knows no garbage://"),
    "garbage-url-json": (["test", "--json", "--port", "garbage://x"], "garbage://x: cannot open"),
    "garbage-url-chat": (["chat", "--port", "garbage://x"], "garbage://x: cannot open"),
    "socket-without-port": (["test", "--port", "socket://127.0.0.1"], "a socket URL needs a host and a port"),
    "nothing-listens": (["test", "--port", "socket://127.0.0.1:{closed}"], "connection refused"),
    "peer-closes-at-once": (["test", "--port", "{closer}"], "the device closed the connection"),
    "peer-closes-chat": (["chat", "--port", "{closer}"], "the device closed the connection"),
}


@_dev_pytest.mark.parametrize("fault", sorted(_DEV_PORT_FAULTS))
def test_a_port_fault_is_one_line_naming_the_port(dev_project, fault):
    args, says = _DEV_PORT_FAULTS[fault]
    with _dph.FakeDevice("close") as closer:
        args = [a.format(closed=_dph.free_port(), closer=closer.url) for a in args]
        t0 = _dev_time.monotonic()
        r = _dph.run_tlmc(args, dev_project, timeout=30, input="turn off the\n")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert _dev_time.monotonic() - t0 < 8
    line = _dph.one_error_line(r.stderr)
    port = args[args.index("--port") + 1]
    assert line.startswith(f"error: {port}: ") and says in line, line
    assert "not supported" not in line and "Broken pipe" not in line and "Errno" not in line
    if "--json" in args:
        summary = _dev_json.loads(r.stdout)
        assert summary["passed"] is False and summary["devices"][0]["error"] == line[len("error: "):]
    else:
        assert "FAIL" not in r.stdout    # no device was reached: no report table, the line says all
    _dph.assert_nothing_left(dev_project)


def test_a_silent_listener_fails_within_the_handshake_bound_and_says_what_it_waits_for(dev_project):
    with _dph.FakeDevice("silent") as silent:
        t0 = _dev_time.monotonic()
        r = _dph.run_tlmc(["test", "--port", silent.url], dev_project, timeout=60)
        took = _dev_time.monotonic() - t0
    assert r.returncode == 1
    assert took < _dev_client.HANDSHAKE_S + 4
    line = _dph.one_error_line(r.stderr, allow_before=(f"{silent.url}: waiting up to",))
    assert r.stderr.startswith(f"{silent.url}: waiting up to {_dev_client.HANDSHAKE_S:g} s for the device to "
                               "answer INFO")
    assert f"{silent.url}: no answer to INFO within" in line and "it sent nothing" in line
    assert silent.requests.count("INFO") >= 2      # it kept asking


def test_a_device_talking_something_else_is_named_with_what_it_sent():
    with _dph.FakeDevice("garbage") as other, _dev_client.Device(other.url, timeout=2) as d:
        with _dev_pytest.raises(_dev_client.DeviceError) as e:
            d.sync(within=1.0, say=lambda _msg: None)
    assert "no answer to INFO within 1 s" in str(e.value) and "hello from another program" in str(e.value)


def test_a_missing_serial_device_is_named_after_a_short_wait():
    t0 = _dev_time.monotonic()
    with _dev_pytest.raises(_dev_client.DeviceLost) as e:
        _dev_client.Device("/dev/ttyACM-tlmc-none", open_wait=0.5)
    assert _dev_time.monotonic() - t0 < 2
    assert str(e.value).startswith("/dev/ttyACM-tlmc-none: cannot open: no such port")


def test_the_host_program_dying_during_tlmc_test_is_one_line(dev_project):
    proc = _dph.start_tlmc(["test", "--board", "host", "--tokens", "4096"], dev_project)
    seen = _dph.wait_for_tool(proc, ("tlm",))
    _dph.wait_replied(next(pid for pid, name in seen.items() if name == "tlm"))
    _dev_time.sleep(0.3)
    for pid, name in seen.items():
        if name == "tlm":
            _dev_os.kill(pid, _dev_signal.SIGKILL)
    t0 = _dev_time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and _dev_time.monotonic() - t0 < 5
    line = _dph.one_error_line(err, allow_before=("report:", "JUnit report:"))
    assert line.startswith("error: /dev/pts/") and "the device disconnected" in line, line
    assert "FAIL" in out and "SerialException" not in out + err
    _dph.assert_nothing_left(dev_project, seen)


def test_qemu_killed_during_tlmc_test_is_one_line_and_the_junit_keeps_what_ran(dev_emulated, tmp_path):
    assert _dph.run_tlmc(["flash", "--board", "mps2-an386"], dev_emulated).returncode == 0
    junit = tmp_path / "hil.xml"
    proc = _dph.start_tlmc(["test", "--board", "mps2-an386", "--junit", str(junit), "--tokens", "4096"],
                         dev_emulated)
    _dph.wait_connected(proc)
    _dev_time.sleep(1.5)    # the handshake, golden vectors; generation of 4096 tokens runs
    _dev_os.kill(_dev_qemu_pid(dev_emulated), _dev_signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    line = _dph.one_error_line(err, allow_before=("report:", "JUnit report:"))
    assert line.startswith("error: socket://127.0.0.1:") and "closed the connection" in line
    assert "is the emulator still running" in line and "SerialException" not in out + err
    cases = _dev_ET.parse(junit).getroot().find("testsuite").findall("testcase")
    assert cases[0].get("name") == "handshake" and cases[-1].find("failure") is not None
    assert f"{len(cases) - 1}/{len(cases)} passed" in out.splitlines()[0]
    _dph.assert_nothing_left(dev_emulated)


def test_qemu_killed_during_chat_is_one_line(dev_emulated):
    assert _dph.run_tlmc(["flash", "--board", "mps2-an386"], dev_emulated).returncode == 0
    proc = _dph.start_tlmc(["chat", "--board", "mps2-an386", "--tokens", "4096"], dev_emulated,
                         stdin=_dev_subprocess.PIPE)
    proc.stdin.write("turn off the\n")
    proc.stdin.flush()
    _dph.wait_connected(proc)
    _dev_time.sleep(0.5)
    _dev_os.kill(_dev_qemu_pid(dev_emulated), _dev_signal.SIGKILL)
    try:
        proc.stdin.write("could you\n")    # if the first completion had ended: the next one meets the fault
        proc.stdin.flush()
    except BrokenPipeError:                 # it has ended already, on the first
        pass
    assert proc.wait(timeout=30) == 1
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 1
    line = _dph.one_error_line(err, allow_before=("connected to",))
    assert line.startswith("error: socket://127.0.0.1:") and "closed the connection" in line
    _dph.assert_nothing_left(dev_emulated)


# -- 4. chat: the session outlives a bad prompt and a device error --------------------------------
def test_chat_refuses_a_prompt_over_line_max_and_goes_on(dev_project):
    r = _dph.run_tlmc(["chat", "--board", "host", "--tokens", "8"], dev_project,
                    input="turn off the\n" + "x" * 300 + "\ncould you\n")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    refused = [ln for ln in r.stderr.splitlines() if ln.startswith("prompt not sent")]
    assert len(refused) == 1 and "the device takes 256 (INFO line_max)" in refused[0]
    assert r.stdout.startswith("turn off the") and "\ncould you" in r.stdout and "xxxx" not in r.stdout
    _dph.assert_nothing_left(dev_project)


def test_chat_refuses_a_seed_above_the_device_range_before_anything_starts(dev_project):
    r = _dph.run_tlmc(["chat", "--board", "host", "--seed", "3000000000"], dev_project, input="turn off\n")
    assert r.returncode == 2
    assert _dph.one_error_line(r.stderr) == "error: seed 3000000000: the device takes 0 to 2147483647 " \
                                          "(docs/protocol.md, GEN)"
    _dph.assert_nothing_left(dev_project)


def _dev_scripted(line: str) -> list[str]:
    """A device that refuses a GEN of 5 tokens and completes every other with one TOK."""
    if line == "INFO":
        return ["OK proto=1 model=0 board=host vocab=4 context=1 kind=window line_max=256"]
    if line.startswith("GEN 5 "):
        return ["ERR range max tokens must be 1..4"]
    if line.startswith("GEN "):
        return ["TOK 1 \\sok", "OK n=1 cycles=0"]
    return ["ERR unknown-command"]


def test_chat_keeps_the_session_after_an_err_reply(dev_project):
    from toolchain.device.chat import chat

    with _dph.FakeDevice(_dev_scripted) as fake:
        import io

        out = io.StringIO()
        assert chat(dev_project / "build", "host", fake.url, tokens=5, lines=["first", "second"], out=out) == 0
        assert [r for r in fake.requests if r.startswith("GEN")] == ["GEN 5 1 0 0 first", "GEN 5 1 0 0 second"]
    with _dph.FakeDevice(lambda ln: ["ERR range no"] if "first" in ln else _dev_scripted(ln.replace("GEN 5", "GEN 1"))) \
            as fake:
        r = _dph.run_tlmc(["chat", "--board", "host", "--port", fake.url, "--tokens", "5"], dev_project,
                        input="first\nsecond\n")
    assert r.returncode == 0, r.stderr
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1 and "ERR range no" in errs[0] and errs[0].endswith("the session goes on")
    assert r.stdout == "first\nsecond ok\n"


@_dev_pytest.mark.parametrize("kw", [dict(seed=2**31), dict(seed=-1), dict(seed=2**40), dict(max_tokens=0),
                                     dict(max_tokens=4097), dict(top_k=65536), dict(temp_milli=100_001)],
                              ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_generate_refuses_a_value_the_device_would_before_sending(kw):
    with _dph.FakeDevice(_dev_scripted) as fake, _dev_client.Device(fake.url, timeout=2) as d:
        args = dict(prompt="hi", max_tokens=3, seed=1, temp_milli=0, top_k=0) | kw
        with _dev_pytest.raises(_DevUsageError) as e:
            d.generate(**args)
        _dev_time.sleep(0.1)
        assert not fake.requests
    assert "the device takes" in str(e.value)


# -- 5. Ctrl-C during `tlmc test` ------------------------------------------------------------------
def test_ctrl_c_during_tlmc_test_writes_the_partial_junit_within_a_second(dev_project, tmp_path):
    junit = tmp_path / "hil.xml"
    proc = _dph.start_tlmc(["test", "--board", "host", "--junit", str(junit), "--tokens", "4096"], dev_project)
    seen = _dph.wait_for_tool(proc, ("tlm",))
    _dph.wait_replied(next(pid for pid, name in seen.items() if name == "tlm"))
    _dev_time.sleep(1.0)    # the handshake and golden vectors are done; 4096-token generations run
    t0 = _dev_time.monotonic()
    proc.send_signal(_dev_signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = _dev_time.monotonic() - t0
    assert proc.returncode == 130 and took < 1.8, (took, err)
    line = _dph.one_error_line(err)
    assert line.startswith("error: interrupted after ") and line.endswith(f"the partial JUnit report is in {junit}")
    suite = _dev_ET.parse(junit).getroot().find("testsuite")
    names = [tc.get("name") for tc in suite.findall("testcase")]
    assert names[:2] == ["handshake", "golden_vectors"] and 2 <= len(names) < 9
    last = suite.findall("testcase")[-1].find("failure")
    assert last is not None and "interrupted" in last.get("message")
    _dph.assert_nothing_left(dev_project, seen)


# -- 7. the protocol fuzz ----------------------------------------------------------------------------
def _dev_fuzz_module():
    spec = _dev_importlib_util.spec_from_file_location("tlmc_bench_fuzz", _DEV_REPO / "bench" / "fuzz.py")
    mod = _dev_importlib_util.module_from_spec(spec)
    _dev_sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_fuzz_of_10000_lines_into_the_host_build_finds_no_violation(tiny_host):
    p, _ = tiny_host
    fuzz = _dev_fuzz_module()
    t0 = _dev_time.monotonic()
    r = fuzz.fuzz_host(p.build / "host" / "tlm", 10_000, seed=14)
    assert _dev_time.monotonic() - t0 < 30
    assert r.lines == 10_000 and not r.violations, r.text()
    s = r.summary()
    assert s["replies"]["OK"] > 500 and s["replies"]["ERR line-too-long"] > 500 and s["p99_ms"] > 0
    assert {"ERR unknown-command", "ERR bad-number", "ERR bad-args", "ERR range"} <= set(s["replies"])


def test_the_fuzz_checker_flags_replies_that_break_the_rules():
    fuzz = _dev_fuzz_module()
    info = {"vocab": "4", "context": "2", "kind": "window"}
    cmds = set(fuzz.ALLOWED)
    bad = [(b"INFO extra", "OK proto=1"), (b"RESET", "OK 1"), (b"PUSH 1 2", "OK 1"), (b"LOGITS 1 2", "OK 1 2 3"),
           (b"LOGITS 1 2", "OK 1 2 3 300"), (b"GEN 2 1 0 0", "OK n=1 cycles=0"), (b"FROBNICATE", "OK"),
           (b"INFO", "ERR frobbed x"), (b"INFO", "ERR range x"), (b"x" * 300, "ERR unknown-command x"),
           (b"BENCH 1", "maybe")]
    for line, final in bad:
        stream = ["TOK 1 a"] if line.startswith(b"GEN") else []
        assert fuzz.check_reply(line, fuzz.expectation(line, 256, cmds), final, stream, info), (line, final)
    good = [(b"RESET", "OK"), (b"PUSH 1 2", "OK 2"), (b"LOGITS 1\t2", "OK 1 -2 3 4"), (b"info", "ERR bad-args x"),
            (b"X" * 257, "ERR line-too-long x"), (b"\x00INFO", "ERR unknown-command x")]
    for line, final in good:
        assert fuzz.check_reply(line, fuzz.expectation(line, 256, cmds), final, [], info) is None, (line, final)
    assert fuzz.expectation(b" \t ", 256, cmds) == "blank"
