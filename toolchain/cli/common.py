"""What every `tlmc` command shares: one-line errors with their exit codes, --json output, the
project and board options, and the per-token cost line that build and test both print."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

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


board_option = click.option("--board", default=None, help="Board id or alias (default: [board] id in tlm.toml).")


def load_project(project_dir: Path):
    from ..core.project import Project

    return Project.load(project_dir)


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
