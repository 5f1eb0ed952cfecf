"""The line format every commands project reads (toolchain/data/lines.py) and the number words
the grammar engine says numbers with (toolchain/data/grammar/numbers.py)."""

from __future__ import annotations

import time

import pytest

from toolchain.data import grammar
from toolchain.data.grammar.numbers import number_to_words, number_word_forms
from toolchain.data.lines import SEPARATOR, parse_line


def test_parse_line_splits_utterance_and_command():
    assert SEPARATOR == " => "
    assert parse_line("turn the kitchen lights off please => light.off kitchen") == (
        "turn the kitchen lights off please", "light.off kitchen")


@pytest.mark.parametrize("line", ["turn the kitchen lights off", "a => b => c", "x=>y", ""])
def test_parse_line_rejects_line_without_exactly_one_separator(line):
    with pytest.raises(ValueError, match="separator"):
        parse_line(line)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"),
    (45, "forty five"), (99, "ninety nine"), (100, "one hundred"),
    (180, "one hundred and eighty"), (205, "two hundred and five"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_word_forms_include_colloquial_variants():
    assert set(number_word_forms(180)) == {
        "one hundred and eighty", "one hundred eighty", "a hundred and eighty", "one eighty"}
    assert "two oh five" in number_word_forms(205)
    with pytest.raises(ValueError):
        number_word_forms(1000)


def test_the_builtin_grammar_generates_fast_and_every_line_parses():
    g = grammar.builtin("smarthome")
    start = time.perf_counter()
    lines = g.generate(20_000, 1)
    elapsed = time.perf_counter() - start
    assert len(lines) == 20_000
    assert elapsed < 6.0, f"20k lines took {elapsed:.2f}s (the default 100,000-line project waits 5x that)"
    for ln in lines[:2000]:
        utterance, command = parse_line(ln)
        assert 8 <= len(utterance) <= 80 and g.parse_command(command) is not None, ln
