"""BM25 over the chunks with French analysis (bm25s + Snowball stemmer)."""

from __future__ import annotations

import bm25s
import numpy as np

from assistant.index.text import analyse
from assistant.models import Chunk


class LexicalIndex:
    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks
        # index the clause heading too: titles carry the words customers use ("Résiliation")
        corpus_tokens = [analyse(f"{' '.join(c.heading_path)} {c.title} {c.text}") for c in chunks]
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in toks] for toks in corpus_tokens]
        self.vocab = vocab
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)

    def search(self, query: str, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """(chunk index, score) best first; `allowed` restricts to some chunk indices (filters)."""
        tokens = [t for t in analyse(query) if t in self.vocab]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        if allowed is not None:
            mask = np.full(len(scores), -np.inf)
            idx = np.fromiter(allowed, dtype=int)
            mask[idx] = scores[idx]
            scores = mask
        top = np.argsort(-scores)[:k]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
