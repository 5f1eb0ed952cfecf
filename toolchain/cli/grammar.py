"""`tlmc grammar check` and `tlmc grammar sample`: a grammar file of your own commands,
validated and counted, and the lines it generates (docs/grammar.md)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, handle_errors, json_option


@click.group("grammar")
def grammar_group() -> None:
    """Check a grammar file of voice commands and sample its lines (docs/grammar.md).

    FILE is a .yaml grammar, or the name of a built-in grammar (e.g. smarthome).
    """


@grammar_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@handle_errors
def check(file: Path, as_json: bool) -> None:
    """Validate FILE: errors name the line; prints counts of intents, slot types, expressions
    and distinct utterances."""
    from ..data.grammar import check_file

    r = check_file(file)
    if as_json:
        emit_json(r)
        return
    how = "exact" if r["distinct_exact"] else "expansions, an upper bound" + (", capped" if r["capped"] else "")
    click.echo(f"{file}: grammar '{r['grammar']}' is valid")
    for label, value in (("intents", f"{r['intents']:,}"), ("slot types", f"{r['slot_types']:,}"),
                         ("expressions", f"{r['expressions']:,}"),
                         ("distinct utterances", f"{r['distinct_utterances']:,} ({how})")):
        click.echo(f"{label:20} {value}")
    for w in r["warnings"]:
        click.echo(f"warning: {w}", err=True)


@grammar_group.command("sample")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(0, 1_000_000),
              help="How many lines.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0, 2**31 - 1), help="Generator seed.")
@json_option
@handle_errors
def sample(file: Path, count: int, seed: int, as_json: bool) -> None:
    """Print the first N '<utterance> => <command>' lines FILE generates for SEED."""
    from ..data.grammar import sample_file

    r = sample_file(file, count, seed)
    if as_json:
        emit_json(r)
        return
    for line in r["lines"]:
        click.echo(line)


COMMANDS = (grammar_group,)
