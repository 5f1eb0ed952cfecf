"""Numbers in words, the way people say them (0-999, no hyphens)."""

from __future__ import annotations

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words_below_100(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    tens, units = divmod(n, 10)
    return _TENS[tens] if units == 0 else f"{_TENS[tens]} {_UNITS[units]}"


def number_word_forms(n: int) -> tuple[str, ...]:
    """All the ways the generator may say the integer `n` (0-999) in words.

    The first form is the standard one (`number_to_words`); e.g. 180 -> ("one hundred and
    eighty", "one hundred eighty", "a hundred and eighty", "one eighty").
    """
    if not 0 <= n < 1000:
        raise ValueError(f"number_word_forms: {n} is outside 0-999")
    if n < 100:
        return (_words_below_100(n),)
    hundreds, rest = divmod(n, 100)
    head = f"{_UNITS[hundreds]} hundred"
    if rest == 0:
        return (head, "a hundred") if hundreds == 1 else (head,)
    tail = _words_below_100(rest)
    forms = [f"{head} and {tail}", f"{head} {tail}"]
    if hundreds == 1:
        forms.append(f"a hundred and {tail}")
    forms.append(f"{_UNITS[hundreds]} {tail}" if rest >= 10 else f"{_UNITS[hundreds]} oh {tail}")
    return tuple(forms)


def number_to_words(n: int) -> str:
    """Standard English words for 0 <= n < 1000, e.g. 21 -> "twenty one" (no hyphens)."""
    return number_word_forms(n)[0]
