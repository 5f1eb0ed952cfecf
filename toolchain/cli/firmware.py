"""`tlmc emit`, `build`, `flash` and `export`: C sources, a program that fits the board, the board
flashed, and the model as an Arduino library or PlatformIO project for your own sketch."""

from __future__ import annotations

from pathlib import Path

import click

from .common import (board_choice, board_option, emit_json, handle_errors, json_option, load_project, per_token_line,
                     project_option)
from .report import names_report


@click.command()
@project_option
@board_option
@json_option
@handle_errors
def emit(project_dir: Path, board: str | None, as_json: bool) -> None:
    """Generate the C sources for a board into build/<board>/ (quantizes first if needed)."""
    from ..target.build import emit as do_emit

    p = load_project(project_dir, lock=True)
    r = do_emit(p.cfg, p.build, board)
    if as_json:
        emit_json(r)
        return
    click.echo(f"{r['out_dir']}: {', '.join(r['files'])}\n"
               f"arena {r['arena_bytes']:,} B (TFLM needs {r['tflm_arena_bytes']:,} B), "
               f"weights {r['weight_bytes']:,} B, ops {', '.join(r['ops'])}, {r['kernels']} kernels")


@click.command()
@project_option
@board_option
@click.option("--estimate/--no-estimate", default=True, show_default=True,
              help="Estimate cycles per token and tokens/s at the board's clock: the firmware's instructions on "
                   "an emulated core of the board's architecture, timed by the core's manual (QEMU; about a "
                   "second on emulated boards, a few on others: a second link). An estimate, not a measurement.")
@json_option
@handle_errors
@names_report
def build(project_dir: Path, board: str | None, estimate: bool, as_json: bool) -> None:
    """Every stage up to a compiled program for the board, with sizes (host: plus its selftest)."""
    from ..target.build import build as do_build
    from ..target.cycles import estimate_line

    p = load_project(project_dir, lock=True)
    r = do_build(p.cfg, p.build, board, estimate=estimate)
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
    parts = " and ".join(r.get("budget_estimates") or (["flash", "RAM"] if r["budget_is_estimate"] else []))
    est = f" (budget estimates the core's share of {parts.replace('ram', 'RAM')})" if parts else ""
    click.echo(f"flash {r['flash_bytes']:,} / {r['flash_budget_bytes']:,} B, "
               f"RAM {r['ram_bytes']:,} / {r['ram_budget_bytes']:,} B: fits{est}")
    click.echo(f"per token: {per_token_line(r)}")
    if estimate_line(r):
        click.echo(f"estimate: {estimate_line(r)}")
    if "sketch" in r:
        click.echo(f"Arduino sketch: {r['sketch']} (arduino-cli {r['arduino_cli']})")


@click.command()
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

    p = load_project(project_dir, lock=not stop)
    r = do_flash(p.cfg, p.build, board, port, stop=stop, drive=drive, method=method)
    if as_json:
        emit_json(r)
    elif r.get("method") == "qemu" and "url" in r:
        click.echo(f"{r['board']}: QEMU pid {r['pid']} running {r['elf']}\nserial: {r['url']}")
    elif "stopped" in r:
        click.echo(f"{r['board']}: emulator {'stopped' if r['stopped'] else 'was not running'}")
    else:
        click.echo(f"{r.get('board', '')}: flashed with {r.get('method')} in {r.get('seconds', 0)} s")


@click.command("export")
@project_option
@click.option("--arduino", is_flag=True,
              help="An Arduino library zip, build/tlm_<project>.zip (Sketch > Include Library > Add .ZIP Library).")
@click.option("--platformio", is_flag=True,
              help="A PlatformIO project, build/platformio/tlm_<project>/: an env per board, the library in lib/.")
@board_choice("Only this board (default: every board with an Arduino core: one library serves them all).")
@click.option("--author", default="tlmc", show_default=True, help="The library's author and maintainer.")
@click.option("--url", default=None, help="The library's web page (default: a placeholder).")
@json_option
@handle_errors
def export(project_dir: Path, arduino: bool, platformio: bool, board: str | None, author: str, url: str | None,
           as_json: bool) -> None:
    """The quantized model as a library your own sketch calls (docs/arduino.md): the runtime, a C
    API (tlm_api.h), the model, one header, and the examples SerialProtocol, VoiceCommands and
    Generate. Needs 'tlmc quantize' first."""
    from ..target.library import export as do_export

    p = load_project(project_dir, lock=True)
    r = do_export(p.cfg, p.build, arduino=arduino, platformio=platformio, board=board, author=author, url=url)
    if as_json:
        emit_json(r)
        return
    click.echo(f"library {r['library']} {r['version']}: #include <{r['header']}>; model {r['model_hash']}, "
               f"arena {r['arena_bytes']:,} B, weights {r['weight_bytes']:,} B, {r['kernels']} kernels")
    for b in r["boards"]:
        click.echo(f"  {b['id']:15} {', '.join(b['architectures']):18} {b['kernel']}")
    if "arduino" in r:
        z = r["arduino"]
        click.echo(f"Arduino: {z['zip']} ({len(z['files'])} files, {z['bytes']:,} B; {z['uncompressed_bytes']:,} B "
                   "unzipped): Sketch > Include Library > Add .ZIP Library")
    if "platformio" in r:
        t = r["platformio"]
        click.echo(f"PlatformIO: {t['folder']} ({len(t['files'])} files): pio run -d {t['folder']}")


COMMANDS = (emit, build, flash, export)
