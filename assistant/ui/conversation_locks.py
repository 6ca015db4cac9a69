"""One turn at a time per conversation, in this process and across the processes that share its store.

Answers run concurrently: what a turn reads and writes of a conversation lives in the conversation store (the
LangGraph checkpointer), everything else a turn touches is either read-only after start-up or thread-safe
(see docs/deploy.md, "Concurrency"). What must not interleave is two turns of the same conversation: both
would start from the same checkpoint and the later write would drop the other turn. Customers send one message
at a time, but a double click, a retried request or a load balancer sending two requests of one conversation
to two replicas can overlap, so each turn holds its conversation's lock:

- in the process, one of `STRIPES` threading locks chosen by a hash of the conversation id (a bounded table:
  two conversations rarely share a stripe, and when they do they only take turns);
- across processes, the same stripe as a byte-range lock on `<data dir>/conversations.lock` for the SQLite
  store (processes of one machine), or a PostgreSQL advisory lock keyed by the conversation id when the store
  is PostgreSQL (replicas anywhere). Byte-range locks belong to the process, which is why the thread lock of
  the stripe is taken first.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.config import Settings

log = logging.getLogger(__name__)

STRIPES = 4096
LOCK_WAIT_S = 30  # a turn takes well under a second; a wait this long means a stuck peer, not a queue


def _stripe(conversation: str) -> int:
    return int.from_bytes(hashlib.blake2b(conversation.encode("utf-8"), digest_size=4).digest(), "big") % STRIPES


def _advisory_key(conversation: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, stable across processes (Python's hash() is salted)."""
    return int.from_bytes(hashlib.blake2b(conversation.encode("utf-8"), digest_size=8).digest(), "big",
                          signed=True)


class ConversationLocks:
    def __init__(self, lock_file: Path | None = None, database_url: str | None = None):
        self._local = [threading.Lock() for _ in range(STRIPES)]
        self._fd: int | None = None
        self._pool: Any = None
        if database_url:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(database_url, min_size=1, max_size=8, open=True, timeout=LOCK_WAIT_S,
                                        kwargs={"autocommit": True,
                                                "options": f"-c lock_timeout={LOCK_WAIT_S * 1000}"})
        elif lock_file is not None:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationLocks:
        if settings.database_url:
            return cls(database_url=settings.database_url)
        if settings.conversation_store == "sqlite":
            return cls(lock_file=settings.data_dir / "conversations.lock")
        return cls()  # conversations in this process only

    @contextmanager
    def hold(self, conversation: str | None) -> Iterator[None]:
        """Hold `conversation`'s lock for the block; a new conversation (None) has nothing to wait for."""
        if conversation is None:
            yield
            return
        stripe = _stripe(conversation)
        with self._local[stripe]:
            if self._pool is not None:
                with self._pool.connection() as db:
                    key = _advisory_key(conversation)
                    db.execute("SELECT pg_advisory_lock(%s)", (key,))
                    try:
                        yield
                    finally:
                        db.execute("SELECT pg_advisory_unlock(%s)", (key,))
            elif self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, stripe)
                try:
                    yield
                finally:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, stripe)
            else:
                yield

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
