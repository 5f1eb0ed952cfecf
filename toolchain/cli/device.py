"""`tlmc test` and `chat`: a running device, over serial."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import board_option, emit_json, handle_errors, json_option, load_project, per_token_line, project_option
from .report import names_report


@click.command("test")
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
@names_report
def test_cmd(project_dir: Path, board: str | None, ports: tuple[str, ...], junit: Path | None, tokens: int,
             as_json: bool) -> None:
    """Hardware-in-the-loop suite over serial: handshake, golden vectors bit-exact, generation
    equal to the host's, latency, bad input, 200 back-to-back requests. Exit 0 only if all pass."""
    from ..device.hil import run
    from ..target.build import require_built
    from ..target.cycles import estimate_line

    p = load_project(project_dir)
    require_built(p.cfg, p.build, board, program=not ports)  # a stale or damaged build is named, not run
    r = run(p.cfg, p.build, board, list(ports) or None, junit, gen_tokens=tokens)
    if as_json:
        emit_json(r)
    else:
        for d in r["devices"]:
            if d.get("error") and d["tests"] - d["failures"] == 0 and d["tests"] <= 1:
                continue    # never reached the device: its error line below says all
            click.echo(f"{d['port']} ({d['board']}): {d['tests'] - d['failures']}/{d['tests']} passed")
            for c in d["cases"]:
                mark = "ok  " if c["passed"] else "FAIL"
                extra = ", ".join(f"{k}={v}" for k, v in c["properties"].items()
                                  if not k.startswith(("device_", "estimate")))   # estimates: a line of their own
                click.echo(f"  {mark} {c['name']:16} {c['seconds']:7.3f} s  {extra}")
                if not c["passed"]:
                    click.echo(f"       {c['message'].splitlines()[0] if c['message'] else ''}")
            latency = next((c["properties"] for c in d["cases"] if c["name"] == "latency"), None)
            if latency:
                click.echo(f"  per token: {per_token_line(latency)}")
                if estimate_line(latency):
                    click.echo(f"  estimate: {estimate_line(latency)}")
        if junit:
            click.echo(f"JUnit report: {junit}", err=True)
    faults = [d["error"] for d in r["devices"] if d.get("error")]
    if faults:  # a link fault is an error, not a verdict: one line on stderr each, exit 1
        from ..link.client import DeviceError

        for fault in faults[:-1]:
            click.echo(f"error: {fault}", err=True)
        raise DeviceError(faults[-1])
    sys.exit(0 if r["passed"] else 1)


@click.command()
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

    p = load_project(project_dir)
    sys.exit(run_chat(p.build, board or p.cfg["board"]["id"], port, tokens=tokens, seed=seed,
                      temp_milli=int(round(temperature * 1000)), top_k=top_k, stop_at_newline=not full))


COMMANDS = (test_cmd, chat)
