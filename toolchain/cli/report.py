"""`tlmc report`: one HTML page of everything build/ holds; and the line `build` and `test` end with."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from .common import emit_json, handle_errors, json_option, load_project, project_option


def report_line(project_dir: Path | None) -> str:
    where = "" if project_dir in (None, Path(".")) else f" -C {project_dir}"
    return f"report: tlmc report{where}  (build/report.html: training, quantization, memory, speed, device)"


def names_report(fn):
    """Let a command end by naming the report command on stderr (after a normal end, and after
    an exit with status 0 or 1, the verdict of `tlmc test`; not after an error)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except SystemExit as e:
            if e.code in (None, 0, 1):
                click.echo(report_line(kwargs.get("project_dir")), err=True)
            raise
        click.echo(report_line(kwargs.get("project_dir")), err=True)
        return out

    return wrapper


@click.command()
@project_option
@click.option("--open", "open_page", is_flag=True, help="Open the page with the system browser (when there is a display).")
@json_option
@handle_errors
def report(project_dir: Path, open_page: bool, as_json: bool) -> None:
    """Write build/report.html: training curves, float vs int8, parse accuracy, memory by part
    against every board's budget, the arena plan, cost per layer and the device's test results,
    from what is already in build/ (it trains and builds nothing; missing parts name their command)."""
    from ..report import page

    p = load_project(project_dir)
    r = page.build(p.cfg, p.build)
    if as_json:
        emit_json(page.to_json(r))
    else:
        for s in r["sections"]:
            state = "ok" if s["present"] else "missing"
            todo = "; ".join(f"{m['what']}: run '{m['command']}'" for m in s["missing"])
            click.echo(f"{s['title']:13} {state:8} {len(s['plots'])} plot(s){'  ' + todo if todo else ''}")
        click.echo(r["path"])
    if open_page and not page.open_in_browser(r["path"]):
        click.echo(f"no display to open a browser on; open {r['path']} where there is one", err=True)


COMMANDS = (report,)
