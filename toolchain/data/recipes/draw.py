"""Seeded random choices for the recipes.

The corpus generator draws only ``Random.random()``, whose sequence Python guarantees across
versions and platforms, so a seed gives the same corpus everywhere. The draws come in a fixed
order: changing that order (or the order of a tuple drawn from) changes the corpus.
"""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """One element of `seq`, uniformly, with a single ``rng.random()`` draw."""
    return seq[int(rng.random() * len(seq))]
