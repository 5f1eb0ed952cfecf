"""Boards as data: one TOML file per board in `boards/`, validated on load. Code never names a board."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import UsageError
from .paths import BOARDS

REQUIRED = {"id": str, "name": str, "mcu": str, "core": str, "flash_bytes": int, "ram_bytes": int,
            "app_flash_bytes": int, "app_ram_bytes": int, "port": str, "upload": str}


@dataclass(frozen=True)
class Board:
    id: str
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _load_file(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}; fix the board file") from None
    for key, kind in REQUIRED.items():
        if key not in data:
            raise UsageError(f"{path}: missing required field '{key}'; add it to the board file")
        if not isinstance(data[key], kind):
            raise UsageError(f"{path}: field '{key}' = {data[key]!r} must be {kind.__name__}")
    if data["id"] != path.stem:
        raise UsageError(f"{path}: id = {data['id']!r} must equal the file name {path.stem!r}")
    return Board(id=data["id"], data=data)


@lru_cache(maxsize=None)
def all_boards(folder: Path = BOARDS) -> dict[str, Board]:
    """Every board in `folder`, by id."""
    return {p.stem: _load_file(p) for p in sorted(folder.glob("*.toml"))}


def resolve(name: str, where: str = "--board") -> Board:
    """A board by id or alias; a UsageError naming the choices otherwise."""
    boards = all_boards()
    if name in boards:
        return boards[name]
    for b in boards.values():
        if name in b.get("aliases", []):
            return b
    names = sorted(boards) + sorted(a for b in boards.values() for a in b.get("aliases", []))
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(f"{where}: unknown board {name!r}; {hint}known boards: {', '.join(sorted(boards))}")
