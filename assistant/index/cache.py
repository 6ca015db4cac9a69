"""Content-addressed embedding cache: a vector is computed once per (model, role, text), then reused by a
rebuild, a fresh data dir or another replica that points at the same cache file.

Key: sha256 of the model id, the role ("passage" for indexed text) and the exact text the model sees. A changed
text, model or role is a different key, so a stale vector is never served; nothing needs invalidating.
Storage: one SQLite file (`embeddings.sqlite3` in `Settings.embedding_cache_path`), float32 vectors,
bounded to `embedding_cache_max_entries` rows (the least recently used go first). The cache is an
optimisation only: a file that is unreadable or corrupt is set aside with a log line and started anew, and a
cache that cannot be written at all (read-only disk) is switched off, so ingest still succeeds.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
FILE_NAME = "embeddings.sqlite3"
_SQL_BATCH = 500  # keys per IN (...) query, well under SQLite's variable limit
_EVICT_TO = 0.9  # when over the bound, drop the least recently used down to this share of it


def cache_key(model_id: str, role: str, text: str) -> bytes:
    return hashlib.sha256(f"{model_id}\x1f{role}\x1f{text}".encode()).digest()


class EmbeddingCache:
    def __init__(self, path: Path, max_entries: int):
        self.path = Path(path)
        self.max_entries = max_entries
        self._conn: sqlite3.Connection | None = None
        self._count: int | None = None
        try:
            self._open()
        except (sqlite3.DatabaseError, OSError) as exc:
            self._recover(exc)

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    # ------------------------------------------------------------------ file handling
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, "
                         "used REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS vectors_used ON vectors(used)")
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {row[0]!r}, expected {SCHEMA_VERSION!r}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _recover(self, exc: BaseException) -> None:
        """Set the unreadable file aside and start an empty cache; switch the cache off if even that fails."""
        self.close()
        log.warning("embedding cache %s is unreadable (%s): starting an empty one", self.path, exc)
        try:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._open()
        except (sqlite3.DatabaseError, OSError) as again:
            log.warning("embedding cache %s switched off: %s", self.path, again)
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
                self._count = None

    # ------------------------------------------------------------------ reads and writes
    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, list[float]]:
        """The cached vectors among `keys` (a miss is simply absent); hits are marked as recently used."""
        wanted = list(dict.fromkeys(keys))
        if self._conn is None or not wanted:
            return {}
        found: dict[bytes, list[float]] = {}
        try:
            for i in range(0, len(wanted), _SQL_BATCH):
                part = wanted[i:i + _SQL_BATCH]
                marks = ",".join("?" * len(part))
                for key, blob in self._conn.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                    vector = np.frombuffer(blob, dtype=np.float32) if blob and len(blob) % 4 == 0 else None
                    if vector is not None and vector.size and np.isfinite(vector).all():
                        found[bytes(key)] = vector.tolist()
            self._touch(list(found))
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return {}
        return found

    def _touch(self, keys: Sequence[bytes]) -> None:
        now = time.time()
        with self._transaction() as conn:
            for i in range(0, len(keys), _SQL_BATCH):
                part = keys[i:i + _SQL_BATCH]
                conn.execute(f"UPDATE vectors SET used = ? WHERE key IN ({','.join('?' * len(part))})", [now, *part])

    def put_many(self, items: dict[bytes, Sequence[float]]) -> None:
        if self._conn is None or not items:
            return
        now = time.time()
        rows = [(key, np.asarray(vector, dtype=np.float32).tobytes(), now) for key, vector in items.items()]
        try:
            with self._transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO vectors (key, vector, used) VALUES (?, ?, ?)", rows)
            self._evict(len(rows))
        except sqlite3.OperationalError as exc:  # locked for too long, disk full, read-only: skip this write
            log.warning("embedding cache %s not written: %s", self.path, exc)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)

    def _evict(self, added: int) -> None:
        assert self._conn is not None
        # counted once, then kept up to date (a replaced row counts as an addition: recounted when over)
        self._count = self._size() if self._count is None else self._count + added
        if self._count <= self.max_entries:
            return
        self._count = self._size()
        if self._count <= self.max_entries:
            return
        drop = self._count - int(self.max_entries * _EVICT_TO)
        with self._transaction() as conn:
            conn.execute("DELETE FROM vectors WHERE key IN (SELECT key FROM vectors ORDER BY used LIMIT ?)", (drop,))
        self._count -= drop
        log.info("embedding cache %s: %d least recently used vectors dropped", self.path, drop)

    def _size(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        try:
            return self._size()
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return 0

    def _transaction(self) -> _Transaction:
        assert self._conn is not None
        return _Transaction(self._conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class CachedEmbeddings(Embeddings):
    """Wraps an embedder: `embed_documents` looks every text up in the cache first and embeds only the misses
    (each distinct text once), storing them at once, so an interrupted ingest keeps what it computed.
    Queries are not cached (a question is rarely asked twice word for word, and it is embedded in ms)."""

    role = "passage"

    def __init__(self, inner: Embeddings, cache: EmbeddingCache, model_id: str):
        self.inner = inner
        self.cache = cache
        self.model_id = model_id
        self.hits = 0  # texts whose vector came from the cache
        self.misses = 0  # texts the model embedded

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [cache_key(self.model_id, self.role, t) for t in texts]
        found = self.cache.get_many(keys)
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        self.hits += len(texts) - sum(1 for k in keys if k in missing)
        if missing:
            vectors = self.inner.embed_documents(list(missing.values()))
            computed = dict(zip(missing, vectors, strict=True))
            self.cache.put_many(computed)
            found.update(computed)
            self.misses += len(missing)
        return [list(found[k]) for k in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def model_cache_id(embedder: Embeddings) -> str | None:
    """The id that names an embedder's vectors in the cache (`cache_id`: model and weights version), or
    None for an embedder that declares none: its vectors are then never cached."""
    value = getattr(embedder, "cache_id", None)
    return str(value) if value else None


def open_cache(path: Path, max_entries: int) -> EmbeddingCache | None:
    """The cache file in directory `path`, or None when caching is off (`max_entries` 0) or impossible."""
    if max_entries <= 0:
        return None
    cache = EmbeddingCache(path / FILE_NAME, max_entries)
    return cache if cache.enabled else None
