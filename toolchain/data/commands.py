"""What writes a commands project's lines: a grammar file, the user's or the shipped
smart-home one (`[data] recipe = "commands"`).

`source(cfg)` answers `Config.commands_source()` with a generator; the data stage, the teacher
and synth ask it for lines, the compositional hold-out and whether a command is well formed.
Lines are ``<utterance> => <command>``; a hold-out is a set of (intent, list value) pairs that
no training line binds.
"""

from __future__ import annotations

from pathlib import Path

from ..core import project as project_mod
from ..core.config import CommandsSource, Config
from ..core.errors import UsageError
from ..core.fsutil import sha256_file
from . import grammar as grammar_mod


class GrammarLines:
    """A grammar file (`[data] grammar`)."""

    def __init__(self, g: grammar_mod.Grammar, path: Path):
        self.grammar, self.path = g, path
        self.name = f"grammar:{g.name}"

    def lines(self, n: int, seed: int, *, held: frozenset = frozenset(), only_held: bool = False,
              with_value: bool = False, typo_rate: float | None = None) -> list[str]:
        g = self.grammar
        if only_held:
            keep = lambda m: bool(m.pairs & held)  # noqa: E731
        elif with_value:
            if not any(g.slot_types[t].kind != "list" for i in g.intents for t in i.slot_names.values()):
                return []  # a grammar without numbers has no value lines
            keep = lambda m: m.numeric and not (m.pairs & held)  # noqa: E731
        else:
            keep = (lambda m: not (m.pairs & held)) if held else None
        try:
            return g.generate(n, seed, keep=keep, typo_rate=typo_rate)
        except ValueError as e:
            raise UsageError(f"{g.label}: {e}; lower [data] compositional in tlm.toml") from None

    def holdout(self, fraction: float, seed: int) -> frozenset:
        return self.grammar.compositional_holdout(fraction, seed)

    def is_command(self, text: str) -> bool:
        return self.grammar.parse_command(text) is not None

    def fingerprint(self) -> dict:
        return {"grammar": sha256_file(self.path), "grammar_engine": grammar_mod.ENGINE_VERSION}


Lines = GrammarLines

_LOADED: dict[tuple, GrammarLines] = {}


def source(cfg: Config) -> Lines | None:
    """The line generator of a commands project, None for a corpus project. A grammar is
    loaded (and validated) once per file version."""
    src = cfg.commands_source()
    if src is None:
        return None
    return load_grammar(src, cfg.root)


def load_grammar(src: CommandsSource, root: Path) -> GrammarLines:
    path = src.path
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        builtin = path.parent == grammar_mod.BUILTIN_GRAMMARS and src.name == path.stem
        label = f"{src.name}.yaml (built in)" if builtin else str(root / src.name)
        _LOADED[key] = GrammarLines(grammar_mod.load(path, label=label), path)
    return _LOADED[key]


def init_project(folder: Path | str, grammar_file: str, *, force: bool = False) -> Path:
    """`tlmc init DIR --grammar FILE`: check the grammar (a file, or a built-in name), then
    make the project: FILE copied into DIR and a tlm.toml that uses it, with the recipe's
    defaults. A broken grammar is reported (file and line) and nothing is written."""
    path = grammar_mod.resolve(grammar_file)
    grammar_mod.load(path, label=str(grammar_file))
    builtin = path.parent == grammar_mod.BUILTIN_GRAMMARS and path.stem == str(grammar_file)
    return project_mod.init(folder, grammar=path.stem if builtin else path, force=force)
