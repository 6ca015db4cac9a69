"""Chroma vector store: embedded PersistentClient by default, HttpClient when a server is configured.

Embeddings are always computed by us and passed in; no collection is ever created or opened with
Chroma's default embedding function (it would download a model).

Safe ingest: the collection that serves queries is named in a small state record. Any change is
written to a brand-new collection (unchanged chunks copy their stored vectors, only new chunks are
embedded) and the record is switched only once that collection is complete, so an interrupted ingest
leaves the previous index serving.
"""

from __future__ import annotations

import json
import time
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.index.state import collection_key

STATE_COLLECTION = "assistant_index_state"
QUERY_CACHE_S = 5.0


def make_client(settings: Settings) -> ClientAPI:
    chroma_settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        except Exception as exc:  # connection refused, wrong port...: name it, no traceback
            raise AssistantError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port}: {exc}"
            ) from exc
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class Store:
    def __init__(self, settings: Settings, client: ClientAPI | None = None):
        self.settings = settings
        self.client = client or make_client(settings)
        self.key = collection_key(settings)

    # ------------------------------------------------------------------ state record
    def _state(self) -> Collection:
        return self.client.get_or_create_collection(STATE_COLLECTION, embedding_function=None)

    def active_name(self) -> str | None:
        got = self._state().get(ids=[self.key], include=["metadatas"])
        metas = got.get("metadatas") or []
        return str(metas[0]["collection"]) if metas and metas[0] else None

    def _set_active(self, name: str) -> None:
        # the state collection stores no vectors of meaning: a 1-d placeholder keeps Chroma happy
        self._state().upsert(ids=[self.key], embeddings=[[0.0]], metadatas=[{"collection": name}],
                             documents=[json.dumps({"switched_at": time.time()})])

    def active(self, max_age_s: float = 0.0) -> Collection | None:
        """The serving collection. With `max_age_s`, a handle looked up less than that long ago is reused:
        queries skip two lookups, and a rebuild by another process is still seen within seconds."""
        cached = getattr(self, "_cached", None)
        if max_age_s and cached and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        col = self._lookup_active()
        self._cached = (time.monotonic(), col)
        return col

    def _count(self, col: Collection) -> int:
        """The serving collection's size, asked once per collection: a collection never changes once it serves
        (a change is a new collection), and with a Chroma server each count is an HTTP round trip per query."""
        counted = getattr(self, "_counted", None)
        if counted is None or counted[0] != col.name:
            counted = self._counted = (col.name, col.count())
        return counted[1]

    def _lookup_active(self) -> Collection | None:
        name = self.active_name()
        if not name:
            return None
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception:
            return None

    def new_collection(self) -> Collection:
        name = f"{self.key}-{time.strftime('%Y%m%d%H%M%S')}-{int(time.time() * 1000) % 1000:03d}"
        return self.client.create_collection(name, embedding_function=None, metadata={"hnsw:space": "cosine"})

    def switch_to(self, collection: Collection) -> None:
        previous = self.active_name()
        self._set_active(collection.name)
        self.cleanup(keep={collection.name})
        if previous and previous != collection.name:
            pass  # deleted by cleanup above

    def cleanup(self, keep: set[str]) -> None:
        """Drop this key's collections that are not serving: leftovers of an interrupted build."""
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(f"{self.key}-") and name not in keep:
                self.client.delete_collection(name)

    def stored_ids(self) -> set[str]:
        col = self.active()
        return set(col.get(include=[])["ids"]) if col else set()

    def vectors(self, ids: list[str]) -> dict[str, list[float]]:
        col = self.active()
        if not col or not ids:
            return {}
        got = col.get(ids=ids, include=["embeddings"])
        return {i: list(map(float, e)) for i, e in zip(got["ids"], got["embeddings"], strict=True)}

    def query(self, vector: list[float], k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        for attempt in range(2):
            col = self.active(max_age_s=QUERY_CACHE_S if attempt == 0 else 0.0)
            if col is None:
                raise AssistantError("the index is not built yet: run `assistant ingest`")
            try:
                n = min(k, self._count(col))
                if n == 0:
                    return []
                res = col.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"])
                break
            except Exception:
                # a rebuild in another process switched and dropped this collection: look it up again
                if attempt:
                    raise
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0], strict=True)]
