"""Grammar files: your own voice commands as data (docs/grammar.md is the reference).

A grammar is a YAML file of slot types (value lists with their phrases, and the built-in
integer, percent, duration and time kinds) and intents (a canonical output such as
``water.start {zone} {minutes?}`` and the expressions that say it). `load` validates it, every
error one line ``<file>:<line>: <problem>; <fix>``; the `Grammar` it returns writes seeded
``<utterance> => <command>`` lines, parses commands back and picks the compositional hold-out.

The package reads in the order a file is used: `yamlsrc` (YAML nodes with lines), `expr`
(expressions), `saying` and `slots` (slot types and how values are said), `output` (commands),
`model` (the `Grammar`), `generate` (lines, counts, hold-out), `load` (every check).
"""

from __future__ import annotations

from pathlib import Path

from ...core.config import BUILTIN_GRAMMARS
from ...core.errors import UsageError
from .generate import Example, Meaning
from .load import load
from .model import Expression, Grammar, Intent, Options
from .output import OutputSlot
from .slots import KINDS, SlotType

ENGINE_VERSION = 2
"""Bumped when the same grammar and seed would give other lines (data stage caches key on it)."""


def builtin_names() -> list[str]:
    """The grammars shipped with tlmc (toolchain/data/grammars/*.yaml), sorted."""
    return sorted(p.stem for p in BUILTIN_GRAMMARS.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    path = BUILTIN_GRAMMARS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(builtin_names()) or "none"
        raise UsageError(f"no built-in grammar '{name}' (known: {known}); pass a grammar file ending in .yaml")
    return path


def builtin(name: str) -> Grammar:
    """A grammar shipped with tlmc, e.g. ``builtin("smarthome")``."""
    return load(builtin_path(name), label=f"{name}.yaml (built in)")


def resolve(spec: str | Path) -> Path:
    """A grammar file as the command line names it: a path, or a built-in name."""
    path = Path(spec)
    if not path.exists() and path.suffix == "" and path.name == str(spec) and path.name in builtin_names():
        return builtin_path(path.name)
    return path


def check_file(spec: str | Path) -> dict:
    """`tlmc grammar check`: validate a grammar file; its name, file and `Grammar.stats`."""
    path = resolve(spec)
    g = load(path, label=str(spec))
    s = g.stats()
    warnings = list(g.warnings) + [f"utterance {c} means two commands" for c in s.pop("conflicts")]
    return {"grammar": g.name, "file": str(path), **s, "warnings": warnings}


def sample_file(spec: str | Path, n: int = 20, seed: int = 1) -> dict:
    """`tlmc grammar sample`: the first `n` lines the grammar generates for `seed`."""
    if n < 0:
        raise UsageError(f"-n {n}: must be 0 or more")
    path = resolve(spec)
    g = load(path, label=str(spec))
    return {"grammar": g.name, "file": str(path), "seed": seed, "lines": g.sample(n, seed)}


__all__ = ["ENGINE_VERSION", "Example", "Expression", "Grammar", "Intent", "KINDS", "Meaning", "Options",
           "OutputSlot", "SlotType", "builtin", "builtin_names", "builtin_path", "check_file", "load", "resolve",
           "sample_file"]
