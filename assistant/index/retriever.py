"""Hybrid retriever: dense (Chroma) + lexical (BM25), fused by weighted reciprocal rank."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.config import Settings, get_settings
from assistant.corpus import Corpus, load_corpus
from assistant.errors import QueryError
from assistant.index.embeddings import get_embeddings
from assistant.index.lexical import LexicalIndex
from assistant.index.store import Store
from assistant.index.text import Glossary
from assistant.models import Chunk, Passage

MAX_QUERY_CHARS = 2000  # longer input is cut: the opening of a message carries the question
# A question about a price ("combien", "how much", "frais"...) is answered by a passage that states an
# amount: such passages get a bonus worth half of a first-rank vote in the fusion.
PRICE_QUESTION = re.compile(r"\b(?:combien|co[uû]te?s?|co[uû]t|prix|tarifs?|frais|factur\w*|how much|cost\w*|"
                            r"price\w*|fees?|charge[sd]?)\b", re.IGNORECASE)
AMOUNT = re.compile(r"\d[\d\s.,]*\s?(?:€|eur\b|euros?\b)", re.IGNORECASE)
AMOUNT_BONUS = 0.5


class Retriever:
    def __init__(self, settings: Settings | None = None, corpus: Corpus | None = None, store: Store | None = None):
        self.settings = settings or get_settings()
        self._corpus = corpus
        self._store = store

    @cached_property
    def corpus(self) -> Corpus:
        return self._corpus or load_corpus(self.settings)

    @cached_property
    def store(self) -> Store:
        return self._store or Store(self.settings)

    @cached_property
    def chunks(self) -> list[Chunk]:
        return self.corpus.chunks

    @cached_property
    def by_id(self) -> dict[str, int]:
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    @cached_property
    def lexical(self) -> LexicalIndex:
        return LexicalIndex(self.chunks)

    @cached_property
    def glossary(self) -> Glossary:
        return Glossary.load(self.settings.knowledge_dir / "glossary.yaml")

    def warm(self) -> Retriever:
        """Load the corpus, BM25, the embedding model and the collection so the first question is fast."""
        _ = self.lexical, self.by_id
        get_embeddings(self.settings).embed_query("préavis de résiliation")
        self.store.active()
        return self

    # ------------------------------------------------------------------ filters
    def _doc_filter(self, operator: str | None, doc_ids: list[str] | None) -> list[str] | None:
        allowed: list[str] | None = None
        if operator:
            name = self.corpus.resolve_operator(operator)
            if name is None:
                known = ", ".join(self.corpus.operators())
                raise QueryError(f"unknown operator {operator!r} (known: {known})")
            allowed = self.corpus.doc_ids_for(name)
        if doc_ids:
            unknown = [d for d in doc_ids if d not in self.corpus.documents]
            if unknown:
                raise QueryError(f"unknown document id {unknown[0]!r}")
            allowed = [d for d in (allowed or doc_ids) if d in doc_ids]
        return allowed

    # ------------------------------------------------------------------ search
    def dense_vector(self, query: str) -> list[float]:
        """The dense search's vector: the question's own (embedded once per turn, kept for its parts), moved
        towards the glossary's French terms for the phrases it contains, so that an English question shares the
        contract's own words ("notice" -> "préavis"). The terms are weighted by their share of the words, as if
        embedded with the question (mean pooling), and embedded on their own: a short text, the same for many
        questions."""
        embeddings = get_embeddings(self.settings)
        vector = np.asarray(embeddings.embed_query(query), dtype=float)
        terms = self.glossary.expand(query)[len(query):].strip()
        if not terms:
            return vector.tolist()
        extra = np.asarray(embeddings.embed_query(terms), dtype=float)
        n_query, n_terms = len(query.split()), len(terms.split())
        return ((n_query * vector / np.linalg.norm(vector) + n_terms * extra / np.linalg.norm(extra))
                / (n_query + n_terms)).tolist()

    def dense(self, query: str, k: int, docs: list[str] | None) -> list[tuple[int, float]]:
        vector = self.dense_vector(query)
        where = {"doc_id": {"$in": docs}} if docs else None
        hits = self.store.query(vector, k, where)
        return [(self.by_id[cid], score) for cid, score in hits if cid in self.by_id]

    def sparse(self, query: str, k: int, docs: list[str] | None) -> list[tuple[int, float]]:
        allowed = {i for i, c in enumerate(self.chunks) if c.doc_id in docs} if docs else None
        return self.lexical.search(self.glossary.expand(query), k, allowed)

    def retrieve(self, query: str, k: int | None = None, operator: str | None = None,
                 doc_ids: list[str] | None = None, mode: str = "hybrid", hints: str = "") -> list[Passage]:
        """Hybrid search. `hints` (the contract's words for what is asked) are matched by the lexical search
        only: the question's own embedding, computed once per turn, serves the dense search."""
        query = (query or "").strip()[:MAX_QUERY_CHARS]
        if not query:
            raise QueryError("empty query: ask a question about a contract, a fee or a termination")
        k = self.settings.retrieval_k if k is None else k
        if k < 1:
            raise QueryError(f"k must be a positive number of passages (got {k})")
        if operator is None and not doc_ids:
            # a question that names exactly one operator is about that operator's terms
            named = self.corpus.mentioned_operators(query)
            operator = named[0] if len(named) == 1 else None
        docs = self._doc_filter(operator, doc_ids)
        n = max(self.settings.candidates_k, k)
        runs: list[tuple[str, float, list[tuple[int, float]]]] = []
        if mode in ("hybrid", "dense"):
            runs.append(("dense", self.settings.dense_weight, self.dense(query, n, docs)))
        if mode in ("hybrid", "lexical"):
            runs.append(("lexical", self.settings.lexical_weight, self.sparse(f"{query} {hints}".strip(), n, docs)))
        fused: dict[int, float] = {}
        found_by: dict[int, list[str]] = {}
        for name, weight, hits in runs:
            for rank, (idx, _score) in enumerate(hits):
                fused[idx] = fused.get(idx, 0.0) + weight / (self.settings.rrf_k + rank + 1)
                found_by.setdefault(idx, []).append(name)
        if PRICE_QUESTION.search(f"{query} {hints}"):
            for idx in fused:
                if AMOUNT.search(self.chunks[idx].text):
                    fused[idx] += AMOUNT_BONUS / (self.settings.rrf_k + 1)
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        return [Passage(chunk=self.chunks[i], score=round(s, 6), rank=r + 1, sources=found_by[i])
                for r, (i, s) in enumerate(best)]


class ClauseRetriever(BaseRetriever):
    """LangChain adapter: Documents whose metadata carry the clause coordinates."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    retriever: Any
    k: int = 5
    operator: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [
            LCDocument(page_content=p.chunk.text, metadata={
                "doc_id": p.chunk.doc_id, "operator": p.chunk.operator, "clause_id": p.chunk.clause_id,
                "part": p.chunk.part, "title": p.chunk.title, "score": p.score, "rank": p.rank})
            for p in self.retriever.retrieve(query, k=self.k, operator=self.operator)
        ]


def as_langchain_retriever(retriever: Retriever, k: int = 5, operator: str | None = None) -> ClauseRetriever:
    return ClauseRetriever(retriever=retriever, k=k, operator=operator)
