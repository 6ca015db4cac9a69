"""Index: embeddings, Chroma store, BM25, hybrid retriever (Chunk in, Passage out)."""

from assistant.index.ingest import IngestReport, ensure_index, ingest
from assistant.index.retriever import Retriever, as_langchain_retriever

__all__ = ["IngestReport", "Retriever", "as_langchain_retriever", "ensure_index", "ingest"]
