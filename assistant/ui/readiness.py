"""What `/healthz` says about the index a replica serves, so a rolling re-ingest can be watched replica by replica.

Two things can differ between replicas during a roll-out: the clauses a process loaded at start-up (its corpus,
BM25 index and chunk table, in memory) and the Chroma collection it queries (named in the index's state record,
looked up again every few seconds, so every replica moves to a new collection soon after `assistant ingest`
switches it). `chunks` is a digest of the chunk ids the process loaded; it equals the collection's own digest
when both come from the same build. A replica whose `chunks` and `collection_chunks` differ serves a mix
(dense hits on chunks it does not know are dropped) and should be restarted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import yaml

from assistant.config import Settings

log = logging.getLogger(__name__)

REFRESH_S = 5.0  # the collection in use is looked up at most this often (a load balancer polls every few seconds)


def digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


class IndexStatus:
    """Readiness facts of the index: document versions (manifest), the chunks loaded, the collection in use."""

    def __init__(self, settings: Settings, retriever: Any = None):
        self._retriever = retriever
        manifest = yaml.safe_load(settings.manifest_path.read_text(encoding="utf-8")) or {}
        self.documents = {e["doc_id"]: e.get("version") for e in manifest.get("documents", []) if "doc_id" in e}
        chunks = getattr(retriever, "chunks", None) or []
        self.loaded = digest([c.chunk_id for c in chunks]) if chunks else None
        self._lock = threading.Lock()
        self._seen: tuple[float, dict[str, Any]] | None = None

    def collection(self) -> dict[str, Any]:
        """The collection this replica queries now and a digest of its ids (cached for REFRESH_S)."""
        with self._lock:
            if self._seen and time.monotonic() - self._seen[0] < REFRESH_S:
                return self._seen[1]
            found: dict[str, Any] = {"collection": None, "collection_chunks": None}
            try:
                col = self._retriever.store.active(max_age_s=REFRESH_S) if self._retriever is not None else None
                if col is not None:
                    found = {"collection": col.name, "collection_chunks": digest(col.get(include=[])["ids"])}
            except Exception as exc:  # the Chroma server is unreachable: readiness says so, it does not fail
                log.warning("index status unavailable: %s", exc)
                found = {"collection": None, "collection_chunks": None, "error": exc.__class__.__name__}
            self._seen = (time.monotonic(), found)
            return found

    def report(self) -> dict[str, Any]:
        found = self.collection()
        ready = found["collection"] is not None and found["collection_chunks"] == self.loaded
        return {"documents": self.documents, "chunks": self.loaded, **found, "current": ready}
