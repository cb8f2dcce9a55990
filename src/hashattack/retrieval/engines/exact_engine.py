"""hashattack's own exact ranking as an engine ("exact"): packed XOR + popcount, ties in database order."""

from __future__ import annotations

from hashattack.retrieval.engines.base import Engine
from hashattack.retrieval.popcount import bytes_to_words, rank_words


class Exact(Engine):
    KIND, DISTRIBUTION, EXACT = "exact", "hashattack", True
    ABOUT = "hashattack's packed popcount ranking (the reference)"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        self._words = bytes_to_words(packed)

    def search(self, packed_queries, r):
        return rank_words(bytes_to_words(packed_queries), self._words, self.n_bits, r, 1024)


ENGINES = (Exact,)
