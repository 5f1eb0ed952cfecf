"""The `tlmc` command line: thin click commands over library functions.

Nothing heavy is imported at module level, so `tlmc --help` stays fast; TensorFlow loads only
inside the stages that train or convert. Every `TlmcError` becomes one line on stderr with its
exit code (2 for usage and config errors), never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .. import __version__
from ..core.errors import TlmcError


def _fail(e: TlmcError) -> None:
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TlmcError as e:
            _fail(e)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def emit_json(obj: dict) -> None:
    click.echo(json.dumps(obj, sort_keys=True))


def project_option(fn):
    return click.option("-C", "--project", "project_dir", default=".", show_default=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Project folder (holds tlm.toml).")(fn)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def _load(project_dir: Path):
    from ..core.project import Project

    return Project.load(project_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlmc")
def main() -> None:
    """tlmc: train a tiny language model, quantize it to int8 and run it on a microcontroller.

    \b
    Typical flow (in a project folder):
      tlmc init myproj && cd myproj
      tlmc train        # data + training (resumable)
      tlmc quantize     # full-int8 .tflite, float vs int8 report, golden vectors
      tlmc train --teacher; tlmc synth; tlmc distill; tlmc eval   # with a [teacher]
      tlmc generate --prompt "turn off the" --int8
      tlmc info
    """


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--corpus", multiple=True, type=click.Path(dir_okay=False),
              help="UTF-8 text file to train on (repeatable). Default: the built-in voice-command recipe.")
@click.option("--force", is_flag=True, help="Overwrite an existing tlm.toml.")
@handle_errors
def init(folder: Path, corpus: tuple[str, ...], force: bool) -> None:
    """Create a project FOLDER with a commented tlm.toml that works as is."""
    from ..core.project import init as init_project

    path = init_project(folder, list(corpus) or None, force=force)
    click.echo(f"wrote {path}", err=True)
    click.echo(f"next: cd {folder} && tlmc train", err=True)


def _train_summary(metrics: dict, what: str) -> str:
    state = "up to date (cached)" if metrics["cached"] else f"trained in {metrics['train_seconds']} s"
    return (f"{what}: {metrics['arch']}, {metrics['params']:,} params, {state}\n"
            f"val CE {metrics['val_ce']:.4f}  perplexity {metrics['val_ppl']:.3f}  accuracy {metrics['val_acc']:.4f}")


@main.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Retrain from scratch even if nothing changed.")
@click.option("--teacher", "teacher", is_flag=True, help="Train the [teacher] model instead of the student.")
@handle_errors
def train(project_dir: Path, as_json: bool, force: bool, teacher: bool) -> None:
    """Prepare data and train the student from scratch, or with --teacher the float teacher
    (resumes an interrupted run)."""
    p = _load(project_dir)
    if teacher:
        from ..train.teacher import train_teacher

        metrics = train_teacher(p.cfg, p.build, force=force)
    else:
        from ..train.loop import run

        metrics = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(_train_summary(metrics, "teacher" if teacher else "student (scratch)"))


@main.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Retrain the student even if nothing changed.")
@handle_errors
def distill(project_dir: Path, as_json: bool, force: bool) -> None:
    """Train the student on the teacher's soft targets (+ hard labels), with the [train] budget.

    \b
    Trains the teacher first if needed, caches its top-k logits once (build/distill/), mixes in
    synthetic text when [synth] asks for it. The distilled student is what 'tlmc quantize' and
    'tlmc build' then deploy. Loss: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE.
    """
    from ..train.distill import run

    p = _load(project_dir)
    metrics = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(_train_summary(metrics, "student (distilled)"))


@main.command()
@project_option
@json_option
@click.option("--tokens", type=click.IntRange(min=1), default=None,
              help="Synthetic tokens to sample (default: [synth] tokens).")
@click.option("--force", is_flag=True, help="Sample again even if nothing changed.")
@handle_errors
def synth(project_dir: Path, as_json: bool, tokens: int | None, force: bool) -> None:
    """Sample synthetic training text from the teacher: seeded, filtered, deduplicated.

    'tlmc distill' then mixes it into the student's training stream by [synth] ratio.
    """
    from ..train.synth import run

    p = _load(project_dir)
    r = run(p.cfg, p.build, tokens=tokens, force=force)
    if as_json:
        emit_json(r)
    else:
        click.echo(f"{r['documents']:,} documents, {r['tokens']:,} tokens in {p.build / 'synth' / 'synth.txt'}"
                   + ("  [cached]" if r["cached"] else f" ({r['seconds']} s)") + "\n"
                   f"kept {100 * r['kept_share']:.1f}% of {r['sampled']:,} samples; dropped: "
                   + ", ".join(f"{k.replace('_', ' ')} {r[k]:,}" for k in ("duplicate", "format", "unfinished",
                                                                          "too_short", "charset")))


@main.command(name="eval")
@project_option
@json_option
@click.option("--task", type=click.Choice(["commands"]), default=None,
              help="Also score a task: commands = exact-match parse of held-out utterances.")
@click.option("--tokens", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Validation tokens every model is scored on.")
@click.option("--commands", "n_commands", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Held-out utterances per split for --task commands (random ones exclude those seen verbatim "
                   "in training).")
@handle_errors
def eval_cmd(project_dir: Path, as_json: bool, task: str | None, tokens: int, n_commands: int) -> None:
    """Teacher, scratch student, distilled student and int8 student on the same validation data.

    Reads what earlier stages built (models not built yet are listed with the command that
    builds them). --json prints {"entries": {"teacher": {"ce", "ppl", "acc", ...}, ...}}.
    """
    from ..quality.evaluate import run, table

    p = _load(project_dir)
    r = run(p.cfg, p.build, task=task, tokens=tokens, commands=n_commands)
    if as_json:
        out = dict(r["entries"])
        out.update({"missing": r["missing"], "val_tokens": r["val_tokens"], "commands": r["commands"],
                    "gap_closed": r.get("gap_closed"), "tokenizer": r["tokenizer"],
                    "excluded_verbatim": r.get("excluded_verbatim")})
        emit_json(out)
    else:
        click.echo(table(r))


@main.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Redo the conversion even if nothing changed.")
@handle_errors
def quantize(project_dir: Path, as_json: bool, force: bool) -> None:
    """Full-int8 .tflite, float vs int8 report, TFLM check and golden vectors."""
    from ..export.quantize import run

    p = _load(project_dir)
    r = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(r)
        return
    click.echo(f"{'':12}{'float':>10}{'int8':>10}\n"
               f"{'CE (nats)':12}{r['float_ce']:>10.4f}{r['int8_ce']:>10.4f}   ({r['ce_increase_pct']:+.2f}%)\n"
               f"{'perplexity':12}{r['float_ppl']:>10.3f}{r['int8_ppl']:>10.3f}\n"
               f"{'accuracy':12}{r['float_acc']:>10.4f}{r['int8_acc']:>10.4f}\n"
               f"on {r['eval_windows']} validation windows\n"
               f"model.tflite {r['tflite_bytes']:,} B, TFLM arena {r['tflm_arena_bytes']:,} B, "
               f"ops {', '.join(r['ops'])}\n"
               f"{r['golden_vectors']} golden vectors (TFLM reference kernels), model hash {r['model_hash']}"
               + ("  [cached]" if r["cached"] else ""))


@main.command()
@project_option
@json_option
@click.option("--prompt", default="", help="Text the model continues.")
@click.option("--tokens", default=60, show_default=True, type=int, help="How many tokens to generate.")
@click.option("--seed", default=1, show_default=True, type=int, help="PRNG seed (xorshift32).")
@click.option("--temperature", default=0.0, show_default=True, type=float,
              help="0 is greedy; above 0 samples (see docs/sampling.md).")
@click.option("--top-k", default=0, show_default=True, type=int, help="Sample among the k most likely (0: all).")
@click.option("--int8", is_flag=True, help="Run the int8 model in TFLM (what a device computes).")
@handle_errors
def generate(project_dir: Path, as_json: bool, prompt: str, tokens: int, seed: int, temperature: float,
             top_k: int, int8: bool) -> None:
    """Continue a prompt with the trained model."""
    from ..export.generate import generate as gen

    p = _load(project_dir)
    r = gen(p.build, prompt, tokens, seed=seed, temperature=temperature, top_k=top_k, int8=int8)
    if as_json:
        emit_json({"prompt": prompt, "text": r.text, "ids": r.ids, "int8": int8, "seed": seed,
                   "temperature": temperature, "top_k": top_k})
    else:
        click.echo(prompt + r.text)


@main.command()
@project_option
@json_option
@handle_errors
def info(project_dir: Path, as_json: bool) -> None:
    """Params, MACs/token, weight bytes, ops and TFLM arena of the project's model."""
    from ..train.info import info as get_info

    p = _load(project_dir)
    r = get_info(p.cfg)
    if as_json:
        emit_json(r)
        return
    rows = [("project", r["project"]), ("arch", r["arch"]), ("context", r["context"]),
            ("tokenizer", r["tokenizer"] + (", lowercase" if r["lowercase"] else "")),
            ("vocab", r["vocab_size"]), ("params", f"{r['params']:,}"),
            ("MACs/token", f"{r['macs_per_token']:,}")]
    if r["trained"]:
        rows.append(("val CE (float)", f"{r['val_ce']:.4f}"))
    if r["quantized"]:
        rows += [("int8 weight bytes", f"{r['weight_bytes']:,}"), ("model.tflite", f"{r['tflite_bytes']:,} B"),
                 ("ops", ", ".join(r["ops"])), ("TFLM arena", f"{r['tflm_arena_bytes']:,} B"),
                 ("CE float/int8", f"{r['float_ce']:.4f} / {r['int8_ce']:.4f}"), ("model hash", r["model_hash"])]
    else:
        rows.append(("int8", "not quantized yet: run 'tlmc quantize'"))
    for k, v in rows:
        click.echo(f"{k:18} {v}")


board_option = click.option("--board", default=None, help="Board id or alias (default: [board] id in tlm.toml).")


@main.command()
@project_option
@board_option
@json_option
@handle_errors
def emit(project_dir: Path, board: str | None, as_json: bool) -> None:
    """Generate the C sources for a board into build/<board>/ (quantizes first if needed)."""
    from ..target.build import emit as do_emit

    p = _load(project_dir)
    r = do_emit(p.cfg, p.build, board)
    if as_json:
        emit_json(r)
        return
    click.echo(f"{r['out_dir']}: {', '.join(r['files'])}\n"
               f"arena {r['arena_bytes']:,} B (TFLM needs {r['tflm_arena_bytes']:,} B), "
               f"weights {r['weight_bytes']:,} B, ops {', '.join(r['ops'])}, {r['kernels']} kernels")


def per_token_line(r: dict) -> str:
    """'N MACs, M instructions (emulator: ...), X/MAC, kernels K' from a build or latency result."""
    parts = [f"{r['macs_per_token']:,} MACs"] if r.get("macs_per_token") else []
    if "instructions_per_token" in r:
        parts.append(f"{r['instructions_per_token']:,} instructions ({r['instructions_per_mac']}/MAC; "
                     "exact emulator counts, not a real board's cycles)")
    elif "cycles_per_token" in r:
        parts.append(f"{r['cycles_per_token']:,} cycles ({r['cycles_per_mac']}/MAC)")
    elif r.get("per_token_note"):
        parts.append(r["per_token_note"])
    if r.get("kernels"):
        parts.append(f"{r['kernels']} kernels")
    return ", ".join(parts) or "-"


@main.command()
@project_option
@board_option
@json_option
@handle_errors
def build(project_dir: Path, board: str | None, as_json: bool) -> None:
    """Every stage up to a compiled program for the board, with sizes (host: plus its selftest)."""
    from ..target.build import build as do_build

    p = _load(project_dir)
    r = do_build(p.cfg, p.build, board)
    if as_json:
        emit_json(r)
        return
    click.echo(f"board {r['board']}: model {r['model_hash']}, arena {r['arena_bytes']:,} B "
               f"(TFLM {r['tflm_arena_bytes']:,} B), weights {r['weight_bytes']:,} B")
    if "tokenizer" in r:
        click.echo(f"tokenizer: {r['tokenizer']}, {r['tokenizer_vocab']:,} ids, {r['tokenizer_bytes']:,} B of tables")
    if "binary" in r:
        click.echo(f"{r['binary']}: text {r['text_bytes']:,} B, data {r['data_bytes']:,} B, bss {r['bss_bytes']:,} B\n"
                   f"{r['selftest']}\nper token: {per_token_line(r)}")
        return
    if "firmware" in r:
        click.echo(f"{r['firmware']}: text {r['text_bytes']:,} B, data {r['data_bytes']:,} B, "
                   f"bss {r['bss_bytes']:,} B (stack {r['stack_bytes']:,} B)")
    else:
        click.echo(f"runtime .text {r['runtime_text_bytes']:,} B, protocol {r['protocol_text_bytes']:,} B, "
                   f"plan {r['plan_text_bytes']:,} B, model data {r['model_data_bytes']:,} B")
    est = " (budget estimates the core's share)" if r["budget_is_estimate"] else ""
    click.echo(f"flash {r['flash_bytes']:,} / {r['flash_budget_bytes']:,} B, "
               f"RAM {r['ram_bytes']:,} / {r['ram_budget_bytes']:,} B: fits{est}")
    click.echo(f"per token: {per_token_line(r)}")
    if "sketch" in r:
        click.echo(f"Arduino sketch: {r['sketch']} (arduino-cli {r['arduino_cli']})")


@main.command()
@project_option
@board_option
@click.option("--port", default=None, help="Serial port of the board (default: found by its USB ids).")
@click.option("--drive", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="UF2 boards: the mounted bootloader drive (default: found by INFO_UF2.TXT).")
@click.option("--method", default=None, help="Override the board's upload method (e.g. bossac).")
@click.option("--stop", is_flag=True, help="Emulated boards: stop the running emulator.")
@json_option
@handle_errors
def flash(project_dir: Path, board: str | None, port: str | None, drive: Path | None, method: str | None,
          stop: bool, as_json: bool) -> None:
    """Flash the built firmware (emulated boards: start QEMU and print its serial URL)."""
    from ..target.deploy import flash as do_flash

    p = _load(project_dir)
    r = do_flash(p.cfg, p.build, board, port, stop=stop, drive=drive, method=method)
    if as_json:
        emit_json(r)
    elif r.get("method") == "qemu" and "url" in r:
        click.echo(f"{r['board']}: QEMU pid {r['pid']} running {r['elf']}\nserial: {r['url']}")
    elif "stopped" in r:
        click.echo(f"{r['board']}: emulator {'stopped' if r['stopped'] else 'was not running'}")
    else:
        click.echo(f"{r.get('board', '')}: flashed with {r.get('method')} in {r.get('seconds', 0)} s")


@main.command("test")
@project_option
@board_option
@click.option("--port", "ports", multiple=True,
              help="Serial port or pyserial URL (repeatable: boards are tested in parallel). "
                   "Default: the emulator started by 'tlmc flash', the host build, or the one attached board.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write a JUnit XML report here.")
@click.option("--tokens", default=500, show_default=True, type=click.IntRange(1, 4096),
              help="Tokens per generation check.")
@json_option
@handle_errors
def test_cmd(project_dir: Path, board: str | None, ports: tuple[str, ...], junit: Path | None, tokens: int,
             as_json: bool) -> None:
    """Hardware-in-the-loop suite over serial: handshake, golden vectors bit-exact, generation
    equal to the host's, latency, bad input, 200 back-to-back requests. Exit 0 only if all pass."""
    from ..device.hil import run

    p = _load(project_dir)
    r = run(p.cfg, p.build, board, list(ports) or None, junit, gen_tokens=tokens)
    if as_json:
        emit_json(r)
    else:
        for d in r["devices"]:
            click.echo(f"{d['port']} ({d['board']}): {d['tests'] - d['failures']}/{d['tests']} passed")
            for c in d["cases"]:
                mark = "ok  " if c["passed"] else "FAIL"
                extra = ", ".join(f"{k}={v}" for k, v in c["properties"].items() if not k.startswith("device_"))
                click.echo(f"  {mark} {c['name']:16} {c['seconds']:7.3f} s  {extra}")
                if not c["passed"]:
                    click.echo(f"       {c['message'].splitlines()[0] if c['message'] else ''}")
            latency = next((c["properties"] for c in d["cases"] if c["name"] == "latency"), None)
            if latency:
                click.echo(f"  per token: {per_token_line(latency)}")
        if junit:
            click.echo(f"JUnit report: {junit}", err=True)
    sys.exit(0 if r["passed"] else 1)


@main.command("boards")
@json_option
@handle_errors
def boards_cmd(as_json: bool) -> None:
    """The boards tlmc knows (boards/*.toml): id, MCU, core, flash/RAM budget, upload, serial."""
    from ..core.boards import table

    rows = table()
    if as_json:
        emit_json({"boards": rows})
        return

    def kb(n):
        return "-" if not n else f"{n / 1024:,.0f} KiB"

    click.echo(f"{'id':15} {'mcu':18} {'core':14} {'flash':>10} {'ram':>9}  {'upload':12} {'serial':8} aliases")
    for r in rows:
        click.echo(f"{r['id']:15} {r['mcu']:18} {r['core']:14} {kb(r['app_flash_bytes']):>10} {kb(r['app_ram_bytes']):>9}  "
                   f"{r['upload']:12} {r['serial']:8} {', '.join(r['aliases'])}")


@main.command()
@project_option
@board_option
@click.option("--port", default=None, help="Serial port or pyserial URL (default: the board's own link).")
@click.option("--tokens", default=120, show_default=True, type=click.IntRange(1, 4096), help="Tokens per reply.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(0, 100))
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(0, 65535))
@click.option("--full", is_flag=True, help="Print every token, not just up to the first newline.")
@handle_errors
def chat(project_dir: Path, board: str | None, port: str | None, tokens: int, seed: int, temperature: float,
         top_k: int, full: bool) -> None:
    """Type a prompt; the device completes it (streamed). Ctrl-C stops a completion, Ctrl-D quits."""
    from ..device.chat import chat as run_chat

    p = _load(project_dir)
    sys.exit(run_chat(p.build, board or p.cfg["board"]["id"], port, tokens=tokens, seed=seed,
                      temp_milli=int(round(temperature * 1000)), top_k=top_k, stop_at_newline=not full))


@main.command()
@json_option
@handle_errors
def doctor(as_json: bool) -> None:
    """Which toolchains and tools are present, and what each board needs."""
    from ..target.doctor import doctor as run_doctor

    r = run_doctor()
    if as_json:
        emit_json(r)
        return
    for name, t in r["tools"].items():
        click.echo(f"{'ok ' if t['version'] else '-- '} {name:20} {t['version'] or 'missing: ' + t['install']}")
    for name, t in r["packages"].items():
        click.echo(f"{'ok ' if t['present'] else '-- '} {name:20} {'present' if t['present'] else 'missing: ' + t['install']}")
    click.echo("")
    for b in r["boards"]:
        state = "ready" if b["build"] and b["flash"] else "needs " + ", ".join(b["missing"])
        click.echo(f"{b['board']:15} build {'yes' if b['build'] else 'no ':3}  flash {'yes' if b['flash'] else 'no ':3}  "
                   f"{state}{'  (' + b['note'] + ')' if b['note'] else ''}")

