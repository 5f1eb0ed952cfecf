"""Reading a grammar file: YAML nodes that keep their line numbers, and one-line errors.

PyYAML's ``yaml.compose`` gives the node tree before any value is converted, so every value
keeps its line and its text exactly as written (``on``, ``no`` and ``0730`` stay strings; the
loader decides what a value means), and a mapping's keys can be checked for duplicates, which
``yaml.safe_load`` silently drops.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import NoReturn

import yaml

from ...core.errors import UsageError

NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


class Source:
    """A grammar file being read: its label in errors (the path as given) and `fail`."""

    def __init__(self, label: str):
        self.label = label

    def fail(self, at: "yaml.Node | int", problem: str, fix: str) -> NoReturn:
        """Raise the one-line error ``<file>:<line>: <problem>; <fix>`` (`at`: a node or a line)."""
        raise UsageError(f"{self.label}:{at if isinstance(at, int) else line(at)}: {problem}; {fix}")


def line(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_mark.line + 1


def suggest(word: str, options: list[str], *, known: bool = True) -> str:
    """' (did you mean 'x'?)' for a close option, else ' (known: a, b)' (or '' when not
    `known`: the fix lists the options already)."""
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known: {', '.join(options)})" if options and known else ""


def compose(path: Path, label: str) -> tuple[Source, yaml.Node | None]:
    """Read and compose `path`; raise a one-line UsageError for unreadable or malformed YAML
    and for duplicate keys. Returns the root node (None for an empty file)."""
    src = Source(label)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{label}: no such grammar file; check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{label}: is a folder, not a grammar file; pass a .yaml file") from None
    except OSError as e:
        raise UsageError(f"{label}: cannot read it ({e.strerror}); check the path and permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        src.fail(raw[:e.start].count(b"\n") + 1, f"not UTF-8 (byte 0x{raw[e.start]:02x})",
                 "save the file as UTF-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(e.problem or e.context or "malformed YAML").split())
        hint = ""
        bad = text.splitlines()[at - 1] if 0 < at <= len(text.splitlines()) else ""
        if "[" in bad:
            hint = " (an expression that starts with '[' must be in quotes)"
        src.fail(at, f"YAML syntax error: {problem}{hint}", "fix the YAML syntax")
    except yaml.YAMLError as e:
        src.fail(1, f"YAML error: {' '.join(str(e).split())}", "fix the YAML syntax")
    if root is not None:
        _check_duplicates(src, root)
    return src, root


def _check_duplicates(src: Source, node: yaml.Node, seen_ids: set | None = None) -> None:
    seen_ids = set() if seen_ids is None else seen_ids
    if id(node) in seen_ids:  # an alias: checked where it was defined
        return
    seen_ids.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in first:
                    src.fail(key, f"duplicate key '{key.value}' (first at line {first[key.value]})",
                             "keep one of them or rename it")
                first[key.value] = line(key)
            _check_duplicates(src, value, seen_ids)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(src, item, seen_ids)


# --------------------------------------------------------------------------------------------
# Typed reads: each names what it expected and how to write it
# --------------------------------------------------------------------------------------------


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def mapping(src: Source, node: yaml.Node, what: str, example: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """The (key, key node, value node) entries of a mapping, in file order."""
    if not isinstance(node, yaml.MappingNode):
        src.fail(node, f"{what} must be a mapping, not {_kind(node)}", f"write it as {example}")
    out = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or is_null(key):
            src.fail(key, f"a key in {what} must be a plain word", f"write it as {example}")
        out.append((key.value, key, value))
    return out


def sequence(src: Source, node: yaml.Node, what: str, example: str) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        src.fail(node, f"{what} must be a list, not {_kind(node)}", f"write it as {example}")
    return list(node.value)


def string(src: Source, node: yaml.Node, what: str, example: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or is_null(node):
        src.fail(node, f"{what} must be a text, not {_kind(node)}", f"write it as {example}")
    return node.value


def number(src: Source, node: yaml.Node, what: str, lo: float, hi: float) -> float:
    text = string(src, node, what, f"a number from {lo:g} to {hi:g}")
    try:
        v = float(text)
    except ValueError:
        src.fail(node, f"{what} = {text!r} is not a number", f"write a number from {lo:g} to {hi:g}")
    if not lo <= v <= hi:
        src.fail(node, f"{what} = {text} is out of range", f"write a number from {lo:g} to {hi:g}")
    return v


def integer(src: Source, node: yaml.Node, what: str) -> int:
    text = string(src, node, what, "a whole number such as 10")
    if not re.fullmatch(r"[+-]?[0-9]+", text.replace("_", "")):
        src.fail(node, f"{what} = {text!r} is not a whole number", "write digits such as 10")
    return int(text.replace("_", ""))


def boolean(src: Source, node: yaml.Node, what: str) -> bool:
    text = string(src, node, what, "true or false").lower()
    if text not in ("true", "false"):
        src.fail(node, f"{what} = {text!r} is not true or false", "write true or false")
    return text == "true"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if is_null(node):
        return "empty"
    return f"the text {node.value!r}"
