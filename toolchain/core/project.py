"""A tlmc project: a folder with tlm.toml, its build/ folder, and `tlmc init`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from .errors import UsageError
from .fsutil import atomic_write_text


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
         overrides: dict | None = None) -> Path:
    """Create `folder` with a commented tlm.toml that works as is. Corpus paths are written
    relative to the new project (absolute if that is not possible)."""
    folder = Path(folder)
    target = folder / config_mod.CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it or choose another folder")
    rel = None
    if corpus:
        rel = []
        for c in corpus:
            p = Path(c).resolve()
            if not p.is_file():
                raise UsageError(f"--corpus {c}: no such file; pass an existing UTF-8 text file")
            try:
                rel.append(str(Path(p).relative_to(folder.resolve())))
            except ValueError:
                import os

                rel.append(os.path.relpath(p, folder.resolve()))
    folder.mkdir(parents=True, exist_ok=True)
    text = config_mod.render_default(folder.resolve().name, rel, overrides)
    atomic_write_text(target, text)
    config_mod.load(target)  # what init writes must load
    return target
