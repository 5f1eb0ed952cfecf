"""`tlmc report`: the sections, their plots and the page, written to build/report.html.

    r = page.build(cfg, build)        # writes build/report.html; r["sections"]: the JSON form
    page.open_in_browser(r["path"])   # where there is a display

The page is templates/report.html.j2 rendered by one strict jinja2 environment with HTML
autoescaping (utterances and parses are user text); plots are inline SVG, the CSS is in the
page, and it has no script and no link to anything outside it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .. import __version__
from ..core.fsutil import atomic_write_text
from ..core.paths import TEMPLATES
from . import plots, sections

TEMPLATE = "report.html.j2"
REPORT_FILE = "report.html"


def fmt(v) -> str:
    """A figure as the page shows it: thousands separators, 4 decimals for fractions."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:,.4f}" if abs(v) < 1000 else f"{v:,.1f}"
    return str(v)


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             autoescape=True, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    return env


def _plot(s: dict, name: str, title: str, command: str, draw, *args) -> None:
    try:
        svg = draw(*args)
    except ImportError as e:  # matplotlib is a dependency; a broken install still gives a page
        s["notes"].append(f"plot '{title}' not drawn: {e}; pip install matplotlib")
        return
    s["plots"].append({"name": name, "title": title, "command": command, "svg": svg})


def _add_plots(s: dict) -> None:
    s["plots"] = []
    d, first = s["data"], (s["commands"] or [""])[0]
    if s["id"] == "training" and d.get("runs"):
        _plot(s, "training", "loss, learning rate and time against steps (build/<stage>/history.json)",
              " ; ".join(s["commands"]), plots.training, d["runs"])
    elif s["id"] == "quantization" and d.get("token_ce_diff"):
        _plot(s, "ce_difference", "int8 - float CE per validation target (build/quantize/report.json)", first,
              plots.ce_difference, d["token_ce_diff"])
    elif s["id"] == "commands" and d.get("per_intent"):
        _plot(s, "intents", "exact match per intent (build/eval/commands.json)", first, plots.intents, d["per_intent"])
    elif s["id"] == "memory":
        if d.get("per_board"):
            _plot(s, "memory", "flash and RAM by part (build/<board>/build.json)", " ; ".join(s["commands"]),
                  plots.memory, d["per_board"])
        if d.get("budgets"):
            _plot(s, "budgets", "share of each board's budget (boards/*.toml)", " ; ".join(s["commands"]),
                  plots.budgets, d["budgets"])
        if d.get("plan"):
            _plot(s, "arena", f"static arena plan, {d['plan_board']} (build/{d['plan_board']}/plan.json)",
                  f"tlmc emit --board {d['plan_board']}", plots.arena, d["plan"])
    elif s["id"] == "speed" and d.get("layers"):
        _plot(s, "layers", f"cost per layer, {d['layers_board']} (build/{d['layers_board']}/plan.json)",
              f"tlmc build --board {d['layers_board']}", plots.layers, d["layers"])
    elif s["id"] == "device" and d.get("runs"):
        _plot(s, "device", "HIL cases per board (build/<board>/hil.json)", " ; ".join(s["commands"]),
              plots.device, d["runs"])


def collect(cfg, build: Path) -> dict:
    """The report as data: the header and every section with its plots."""
    build = Path(build)
    boards = sections.board_dirs(build)
    rep = sections.load(build / "quantize" / "report.json") or {}
    secs = [sections.training(build), sections.quantization(build, boards), sections.commands(cfg, build, boards),
            sections.memory(build, boards), sections.speed(build, boards),
            sections.device(build, boards, rep.get("model_hash"))]
    for s in secs:
        _add_plots(s)
    return {"project": cfg["project"]["name"], "root": str(Path(cfg.root).resolve()), "model_hash": rep.get("model_hash"),
            "version": __version__, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), "boards": boards,
            "path": str(build / REPORT_FILE), "sections": secs}


def to_json(r: dict) -> dict:
    """The JSON form: the header and per section its figures, tables, plots (names and the
    commands that reproduce them), what is missing and the notes; no SVG, no raw series."""
    out = {k: v for k, v in r.items() if k != "sections"}
    out["sections"] = {s["id"]: {"title": s["title"], "present": s["present"], "missing": s["missing"],
                                 "notes": s["notes"], "figures": s["figures"], "tables": s["tables"],
                                 "commands": s["commands"],
                                 "plots": [{"name": p["name"], "title": p["title"], "command": p["command"]}
                                           for p in s["plots"]]}
                       for s in r["sections"]}
    return out


def build(cfg, build_dir: Path, out: Path | None = None) -> dict:
    """Collect, render and write the page (default build/report.html); returns collect()'s dict."""
    r = collect(cfg, build_dir)
    if out is not None:
        r["path"] = str(out)
    html = _env().get_template(TEMPLATE).render(r=r, fmt=fmt)
    atomic_write_text(r["path"], html)
    return r


def has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(path: Path | str) -> bool:
    """Open the page with the system browser; False when there is no display to show it on."""
    if not has_display():
        return False
    import webbrowser

    return bool(webbrowser.open(Path(path).resolve().as_uri()))
