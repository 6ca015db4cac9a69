"""Index: embeddings, Chroma store, BM25, hybrid retriever (Chunk in, Passage out)."""

from typing import Any

from assistant.index.ingest import IngestReport, ensure_index, ingest

__all__ = ["IngestReport", "Retriever", "as_langchain_retriever", "ensure_index", "ingest"]


def __getattr__(name: str) -> Any:
    # the retriever pulls in LangChain's retriever and tracing stack: `assistant ingest` does not pay for it
    if name in ("Retriever", "as_langchain_retriever"):
        from assistant.index import retriever

        return getattr(retriever, name)
    raise AttributeError(f"module 'assistant.index' has no attribute {name!r}")
