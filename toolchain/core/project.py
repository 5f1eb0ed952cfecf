"""A tlmc project: a folder with tlm.toml, its build/ folder, and `tlmc init`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from .errors import UsageError
from .fsutil import atomic_write_bytes, atomic_write_text


@dataclass
class Project:
    cfg: config_mod.Config

    @property
    def root(self) -> Path:
        return self.cfg.root

    @property
    def build(self) -> Path:
        return self.root / "build"

    @classmethod
    def load(cls, folder: Path | str = ".") -> "Project":
        return cls(config_mod.load(Path(folder)))


def init(folder: Path | str, corpus: list[str] | None = None, force: bool = False,
         overrides: dict | None = None, grammar: Path | str | None = None) -> Path:
    """Create `folder` with a commented tlm.toml that works as is. Corpus paths inside the new
    project are written relative to it, others as absolute paths. `grammar`: a grammar
    file, copied into the folder under its own name, or a built-in grammar's name (a str
    without a suffix); the tlm.toml then uses it (check the grammar first: data.commands
    .init_project does)."""
    folder = Path(folder)
    target = folder / config_mod.CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it or choose another folder")
    if grammar is not None and corpus:
        raise UsageError("--grammar and --corpus: a project trains on one of them; pass one")
    rel = None
    if corpus:
        rel = []
        for c in corpus:
            p = Path(c).resolve()
            if not p.is_file():
                raise UsageError(f"--corpus {c}: no such file; pass an existing UTF-8 text file")
            try:  # inside the project: relative to it; elsewhere: absolute, never "../../.."
                rel.append(str(Path(p).relative_to(folder.resolve())))
            except ValueError:
                rel.append(str(p))
    folder.mkdir(parents=True, exist_ok=True)
    name = _copy_grammar(folder, grammar, force) if grammar is not None else None
    text = config_mod.render_default(folder.resolve().name, rel, overrides, grammar=name)
    atomic_write_text(target, text)
    config_mod.load(target)  # what init writes must load
    return target


def _copy_grammar(folder: Path, grammar: Path | str, force: bool) -> str:
    """Copy a grammar file into `folder`; returns what tlm.toml's `[data] grammar` says."""
    if isinstance(grammar, str) and not Path(grammar).suffix:
        return grammar  # a built-in grammar's name
    src = Path(grammar)
    if not src.is_file():
        raise UsageError(f"--grammar {grammar}: no such file; pass a grammar file (.yaml)")
    name = src.name if src.suffix in (".yaml", ".yml") else "grammar.yaml"
    dest = folder / name
    data = src.read_bytes()
    if dest.exists() and dest.resolve() != src.resolve():
        if dest.read_bytes() != data and not force:
            raise UsageError(f"{dest} already exists and differs from {src}; pass --force to overwrite it")
    if not dest.exists() or dest.resolve() != src.resolve():
        atomic_write_bytes(dest, data)
    return name
