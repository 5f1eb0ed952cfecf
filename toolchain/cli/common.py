"""What every `tlmc` command shares: one-line errors with their exit codes, --json output, the
project and board options, and the per-token cost line that build and test both print."""

from __future__ import annotations

import errno
import functools
import json
import sys
from pathlib import Path

import click

from ..core.errors import TlmcError, os_error_message

_held_locks: list = []  # project locks taken by the running command (load_project(lock=True))


def _fail(e: TlmcError) -> None:
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


def handle_errors(fn):
    """The one place every command passes through: a TlmcError is its one line and exit code;
    an OSError that no stage turned into one (a read-only folder, a full disk, a missing or
    forbidden file) is one line naming the path and what to do, exit 1; Ctrl-C exits 130. The
    project lock, if the command took it, is released however the command ends."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TlmcError as e:
            _fail(e)
        except OSError as e:
            if e.errno == errno.EPIPE and _stdout_closed():
                raise  # `tlmc ... | head`: click ends quietly, as any command line tool does
            click.echo(f"error: {os_error_message(e)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        finally:
            while _held_locks:
                _held_locks.pop().release()

    return wrapper


def _stdout_closed() -> bool:
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def emit_json(obj: dict) -> None:
    click.echo(json.dumps(obj, sort_keys=True))


def project_option(fn):
    return click.option("-C", "--project", "project_dir", default=".", show_default=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Project folder (holds tlm.toml).")(fn)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def _board_id(ctx, param, value):
    if value is not None and not value.strip():
        raise click.BadParameter("is empty; give a board id ('tlmc boards' lists them) or leave --board out")
    return value


def board_choice(help: str):
    """A --board option (a board id or alias; checked not empty) with its own help text."""
    return click.option("--board", default=None, callback=_board_id, help=help)


board_option = board_choice("Board id or alias (default: [board] id in tlm.toml).")


def load_project(project_dir: Path, *, lock: bool = False):
    """The project of `project_dir`; `lock`: the command writes its build/, so take the project
    lock first (core/lock.py: a second writer refuses with this one's pid)."""
    from ..core.project import Project

    p = Project.load(project_dir)
    if lock:
        from ..core.lock import ProjectLock

        ctx = click.get_current_context(silent=True)
        name = f"tlmc {ctx.info_name}" if ctx is not None and ctx.info_name else "tlmc"
        _held_locks.append(ProjectLock(p.build, name).acquire())
    return p


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
