"""A word-level Markov chain that writes text in the voice of a corpus.

The operator names text files of their own site (`corpus` option); the
chain learns which word follows each pair of words, and writes sentences
that read like that site. The repository ships no corpus: the tests write
their own.

Sentences start where a corpus sentence started and end at a word that
ended one, so the output keeps the corpus's capitals and full stops.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\S+")
_END = (".", "!", "?")
_ORDER = 2


class MarkovChain:
    """Order-2 chain; `sentence(rng)` is deterministic for a seeded rng."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._next: dict[tuple[str, ...], list[str]] = {}
        self._starts: list[tuple[str, ...]] = []
        for text in texts:
            self._learn(_WORD.findall(text))
        if not self._starts:
            raise ValueError("the corpus has no sentence of three words or more")

    def _learn(self, words: Sequence[str]) -> None:
        sentence_start = True
        for index in range(len(words) - _ORDER):
            key = tuple(words[index : index + _ORDER])
            if sentence_start and key[0][:1].isupper():
                self._starts.append(key)
            self._next.setdefault(key, []).append(words[index + _ORDER])
            sentence_start = words[index].endswith(_END)

    def sentence(self, rng: random.Random, limit: int = 40) -> str:
        """One sentence, cut at `limit` words if the corpus never ends it."""
        key = rng.choice(self._starts)
        words = list(key)
        while len(words) < limit and not words[-1].endswith(_END):
            followers = self._next.get(tuple(words[-_ORDER:]))
            if not followers:
                break
            words.append(rng.choice(followers))
        text = " ".join(words)
        return text if text.endswith(_END) else text.rstrip(",;:") + "."
