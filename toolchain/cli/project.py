"""`tlmc init`, `info`, `boards` and `doctor`: the project, its model at a glance, the boards and tools."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, handle_errors, json_option, load_project, project_option


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--corpus", multiple=True, type=click.Path(dir_okay=False),
              help="UTF-8 text file to train on (repeatable). Default: the built-in voice-command recipe.")
@click.option("--grammar", "grammar_file", default=None,
              help="A grammar file of your own voice commands (docs/grammar.md), copied into FOLDER; or a "
                   "built-in grammar's name.")
@click.option("--force", is_flag=True, help="Overwrite an existing tlm.toml.")
@handle_errors
def init(folder: Path, corpus: tuple[str, ...], grammar_file: str | None, force: bool) -> None:
    """Create a project FOLDER with a commented tlm.toml that works as is."""
    if grammar_file is not None:
        from ..data.commands import init_project as init_grammar_project

        if corpus:
            raise click.UsageError("--grammar and --corpus: a project trains on one of them; pass one")
        path = init_grammar_project(folder, grammar_file, force=force)
    else:
        from ..core.project import init as init_project

        path = init_project(folder, list(corpus) or None, force=force)
    click.echo(f"wrote {path}", err=True)
    click.echo(f"next: cd {folder} && tlmc train", err=True)


@click.command()
@project_option
@json_option
@handle_errors
def info(project_dir: Path, as_json: bool) -> None:
    """Params, MACs/token, weight bytes, ops and TFLM arena of the project's model (the trained
    and int8 figures only while they match tlm.toml; otherwise what changed and what to run)."""
    from ..export.freshness import info as get_info

    p = load_project(project_dir)
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
    elif "train_status" in r:
        rows.append(("trained model", r["train_status"]))
    if r["quantized"]:
        rows += [("int8 weight bytes", f"{r['weight_bytes']:,}"), ("model.tflite", f"{r['tflite_bytes']:,} B"),
                 ("ops", ", ".join(r["ops"])), ("TFLM arena", f"{r['tflm_arena_bytes']:,} B"),
                 ("CE float/int8", f"{r['float_ce']:.4f} / {r['int8_ce']:.4f}"), ("model hash", r["model_hash"])]
    elif "quantize_status" in r:
        rows.append(("int8", r["quantize_status"]))
    elif r["trained"]:
        rows.append(("int8", "not quantized yet: run 'tlmc quantize'"))
    elif "train_status" in r:
        rows.append(("int8", "waits for the trained model: then run 'tlmc quantize'"))
    else:
        rows.append(("int8", "not trained yet: run 'tlmc train', then 'tlmc quantize'"))
    for k, v in rows:
        click.echo(f"{k:18} {v}")


@click.command("boards")
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


@click.command()
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


COMMANDS = (init, info, boards_cmd, doctor)
