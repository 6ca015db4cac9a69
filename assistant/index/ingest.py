"""Build or refresh the vector index from the corpus (incremental, content-addressed, crash-safe).

Broken knowledge is refused before the store is opened (`assistant.corpus.validate.check_knowledge`): a
document without clauses, a rules file that does not validate, a quote that is not in its document or a
clause id that does not resolve ends the ingest with one line naming the file, and the serving collection
stays as it was.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel

from assistant.config import Settings
from assistant.index import state
from assistant.index.state import embeddings_name
from assistant.models import Chunk

if TYPE_CHECKING:  # the model, Chroma and the corpus checks are imported only when there is work to do
    from langchain_core.embeddings import Embeddings

    from assistant.index.cache import EmbeddingCache

BATCH = 32


class IngestReport(BaseModel):
    collection: str
    embedding: str
    chunks: int
    embedded: int  # chunks whose vector the model computed in this run
    cached: int = 0  # chunks whose vector came from the embedding cache
    reused: int  # chunks copied from the serving collection
    removed: int
    unchanged: bool
    seconds: float
    rules_checked: list[str] = []  # rules files whose quotes and clause ids were verified against the corpus
    skipped_rules: list[str] = []  # rules files of operators without documents here (not checked, not served)


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    # Chroma metadata values cannot be None
    return {"doc_id": chunk.doc_id, "operator": chunk.operator, "clause_id": chunk.clause_id,
            "part": chunk.part or "", "title": chunk.title[:200], "start": chunk.start, "end": chunk.end}


WORD = re.compile(r"\S+")


def embed_input(chunk: Chunk, words: int) -> str:
    """What the embedding model sees: the chunk's context lines (document, heading path, clause) and the
    opening `words` words of its text, cut after a word as printed (0 = the whole chunk). BM25 indexes every
    word of the chunk, so a long clause is still found by the words of its tail."""
    if not words or not chunk.embed_text.endswith(chunk.text):
        return chunk.embed_text
    context = chunk.embed_text[: len(chunk.embed_text) - len(chunk.text)]
    ends = [m.end() for m in WORD.finditer(chunk.text)]
    return context + (chunk.text[: ends[words - 1]] if len(ends) > words else chunk.text)


def get_embeddings(settings: Settings) -> Embeddings:
    from assistant.index.embeddings import get_embeddings as shared_model

    return shared_model(settings)


def ingest(settings: Settings, rebuild: bool = False, progress: bool = True) -> IngestReport:
    """Chunk ids are content hashes, so an unchanged chunk keeps its id and its stored vector: only
    new or changed chunks are embedded, and a removed document's chunks simply are not copied.
    When the knowledge, the indexing code and the settings are exactly those of the last complete ingest
    (`assistant.index.state`), nothing else is read."""
    t0 = time.perf_counter()
    if not rebuild and (last := state.unchanged_report(settings)) is not None:
        return IngestReport(**{**last, "seconds": time.perf_counter() - t0})
    from tqdm import tqdm

    from assistant.corpus.validate import check_knowledge
    from assistant.index.cache import CachedEmbeddings
    from assistant.index.store import Store

    built_from = state.fingerprint(settings)
    checked = check_knowledge(settings.knowledge_dir)  # raises before the store is touched
    corpus = checked.corpus
    rules = {"rules_checked": checked.rules_files, "skipped_rules": checked.skipped_rules}
    chunks = {c.chunk_id: c for c in corpus.chunks}
    store = Store(settings)
    current = set() if rebuild else store.stored_ids()
    if not rebuild and current == set(chunks) and store.active() is not None:
        store.cleanup(keep={store.active_name() or ""})
        report = IngestReport(collection=store.active_name() or "", embedding=embeddings_name(settings),
                              chunks=len(chunks), embedded=0, reused=len(chunks), removed=0, unchanged=True,
                              seconds=time.perf_counter() - t0, **rules)
        state.remember(settings, report.model_dump(), built_from)
        return report

    reuse = sorted(set(chunks) & current)
    fresh = [cid for cid in chunks if cid not in current]
    removed = len(current - set(chunks))
    target = store.new_collection()
    embedder, cache = None, None
    try:
        for i in range(0, len(reuse), 256):
            ids = reuse[i:i + 256]
            vectors = store.vectors(ids)
            target.add(ids=ids, embeddings=[vectors[c] for c in ids], metadatas=[_metadata(chunks[c]) for c in ids],
                       documents=[chunks[c].text for c in ids])
        if fresh:
            embedder, cache = _embedder(settings)
        bar = tqdm(total=len(fresh), desc="embedding chunks", unit="chunk", disable=not progress or not fresh)
        for i in range(0, len(fresh), BATCH):
            ids = fresh[i:i + BATCH]
            assert embedder is not None
            vectors = embedder.embed_documents([embed_input(chunks[c], settings.embed_words) for c in ids])
            target.add(ids=ids, embeddings=vectors, metadatas=[_metadata(chunks[c]) for c in ids],
                       documents=[chunks[c].text for c in ids])
            bar.update(len(ids))
        bar.close()
    except BaseException:
        # leave the serving collection untouched; drop the half-written one
        store.client.delete_collection(target.name)
        raise
    finally:
        if cache is not None:
            cache.close()
    store.switch_to(target)
    hits = embedder.hits if isinstance(embedder, CachedEmbeddings) else 0
    report = IngestReport(collection=target.name, embedding=embeddings_name(settings), chunks=len(chunks),
                          embedded=len(fresh) - hits, cached=hits, reused=len(reuse), removed=removed,
                          unchanged=False, seconds=time.perf_counter() - t0, **rules)
    # what the next ingest of the same corpus will say without reading it
    state.remember(settings, {**report.model_dump(), "embedded": 0, "cached": 0, "reused": len(chunks),
                              "removed": 0, "unchanged": True}, built_from)
    return report


def _embedder(settings: Settings) -> tuple[Embeddings, EmbeddingCache | None]:
    """The model, behind the embedding cache when the model names its vectors and the cache is on."""
    from assistant.index.cache import CachedEmbeddings, model_cache_id, open_cache

    model = get_embeddings(settings)
    model_id = model_cache_id(model)
    cache = open_cache(settings.embedding_cache_path, settings.embedding_cache_max_entries) if model_id else None
    if cache is None or model_id is None:
        return model, None
    return CachedEmbeddings(model, cache, model_id), cache


def ensure_index(settings: Settings, progress: bool = True) -> IngestReport:
    """Build the index if it is missing or stale (cheap no-op when it is current)."""
    return ingest(settings, rebuild=False, progress=progress)
