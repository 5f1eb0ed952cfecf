"""The line format of a commands project: what the data stage, eval and synth read.

A line is ``<utterance> => <command>``: what someone says, then the command a grammar
(toolchain/data/grammar) writes for it. Utterances are 8 to 80 characters of lowercase letters,
digits, space and ``' . , ?``; commands are words of lowercase letters, digits, ``.`` and
``_``. No newline inside a line.
"""

from __future__ import annotations

SEPARATOR = " => "
"""Separates the utterance from its command on every line."""

PROMPT_END = SEPARATOR.rstrip(" ")
"""What a parse prompt ends with (" =>"): a word or BPE tokenizer makes the separator's last
space part of the command's first token, so the command starts with that space."""

MIN_UTTERANCE_LEN = 8
MAX_UTTERANCE_LEN = 80


def parse_line(line: str) -> tuple[str, str]:
    """Split a line into ``(utterance, command)``.

    Raises ValueError if the line does not contain `SEPARATOR` exactly once.
    """
    count = line.count(SEPARATOR)
    if count != 1:
        what = "is missing" if count == 0 else f"occurs {count} times"
        raise ValueError(
            f"a commands line must be '<utterance>{SEPARATOR}<command>' but the separator "
            f"{SEPARATOR.strip()!r} {what}: {line[:80]!r}"
        )
    utterance, command = line.split(SEPARATOR)
    return utterance, command
