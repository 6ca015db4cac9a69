"""Conversations kept by the turn graph's LangGraph checkpointer, so they outlive a process and can be shared.

- `sqlite` (default): LangGraph's SQLite saver in `<data dir>/conversations.sqlite`; a restart, or a second app
  process on the same machine, continues every conversation.
- PostgreSQL when `ASSISTANT_DATABASE_URL` is a `postgresql://` URL: LangGraph's Postgres saver, shared by any
  number of app processes or replicas.
- `memory`: LangGraph's in-memory saver, in the process only; the least recently used of `max_sessions`
  conversations are forgotten so a long-running process cannot grow without limit.

A conversation is a graph thread (`thread_id` = session id); its `session` channel is the SessionState the
next turn starts from. What the customer typed reaches the graph already redacted (assistant/privacy.py), so
no phone number, IBAN or e-mail is written to the store. Conversations idle for `conversation_days` are deleted
when the store opens.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import ValidationError

from assistant.agent.session import SessionState
from assistant.config import Settings
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

# The types the turn state carries between steps (checkpointed at the end of a turn): allowed explicitly, so
# a checkpoint can never instantiate anything else.
_STATE_TYPES = [
    ("assistant.agent.session", "SessionState"), ("assistant.agent.session", "PendingQuestion"),
    ("assistant.agent.understanding", "Understanding"), ("assistant.agent.understanding", "Slots"),
    ("assistant.agent.router", "Need"), ("assistant.agent.router", "Bilingual"),
    ("assistant.models", "Reply"), ("assistant.models", "ReplyStatus"), ("assistant.models", "Citation"),
    ("assistant.models", "ToolTrace"), ("assistant.models", "PassageOut"),
]


def _serde() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=_STATE_TYPES)


def checkpointer_for(settings: Settings) -> BaseCheckpointSaver | None:
    """The conversation store the settings ask for (None: conversations live in the caller's memory)."""
    if settings.database_url:
        return _postgres(settings.database_url)
    if settings.conversation_store == "sqlite":
        path = settings.data_dir / "conversations.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        from langgraph.checkpoint.sqlite import SqliteSaver

        if not path.exists():  # owner-only from the start: SQLite gives its WAL and SHM files the same mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # two processes on one file: readers never block the writer
        saver = SqliteSaver(conn, serde=_serde())
        saver.setup()
        path.chmod(0o600)  # conversations are the customer's: owner-only
        return saver
    return None


def _postgres(url: str) -> BaseCheckpointSaver:
    if not url.startswith(("postgresql://", "postgres://")):
        raise AssistantError(f"ASSISTANT_DATABASE_URL must be a postgresql:// URL (got {url.split(':')[0]}://...)")
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    try:
        pool = ConnectionPool(url, min_size=1, max_size=8, open=True, timeout=10,
                              kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
        saver = PostgresSaver(pool, serde=_serde())  # type: ignore[arg-type]
        # replicas starting together would run the saver's migrations at once and deadlock: one at a time
        with pool.connection() as lock:
            lock.execute("SELECT pg_advisory_lock(7216)")
            try:
                saver.setup()
            finally:
                lock.execute("SELECT pg_advisory_unlock(7216)")
    except Exception as exc:  # an unreachable database is a configuration problem, said in one line
        raise AssistantError(f"cannot open the conversation database: {exc.__class__.__name__}: {exc}") from exc
    return saver


class DurableSessions:
    """The SessionStore of a graph compiled with a checkpointer: a session is read from its thread's last
    checkpoint, which the graph writes when a turn ends."""


    def __init__(self, checkpointer: BaseCheckpointSaver, idle_days: int = 0):
        self.checkpointer = checkpointer
        self._lock = threading.Lock()
        if idle_days:
            self.purge_idle(idle_days)

    @staticmethod
    def config(session_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": session_id}}

    def get(self, session_id: str | None) -> SessionState:
        sid = session_id or uuid.uuid4().hex
        saved = self.checkpointer.get_tuple(self.config(sid)) if session_id else None
        state = saved.checkpoint["channel_values"].get("session") if saved else None
        if state is None:
            return SessionState(session_id=sid)
        try:  # re-validated: a checkpoint written by another version must not come back half-typed
            dumped = state.model_dump() if isinstance(state, SessionState) else state
            return SessionState.model_validate(dumped)
        except (ValidationError, TypeError, AttributeError) as exc:
            log.warning("conversation %s could not be restored (%s); it starts afresh", sid[:8], exc.__class__.__name__)
            return SessionState(session_id=sid)

    def forget(self, session_id: str) -> None:
        self.checkpointer.delete_thread(session_id)

    def purge_idle(self, days: int) -> int:
        """Delete the conversations whose last turn is older than `days` days; how many were deleted."""
        cutoff = datetime.now(UTC) - timedelta(days=days)
        last: dict[str, datetime] = {}
        with self._lock:
            for item in self.checkpointer.list(None):
                thread = item.config["configurable"]["thread_id"]
                ts = datetime.fromisoformat(item.checkpoint["ts"])
                if thread not in last or ts > last[thread]:
                    last[thread] = ts
            idle = [t for t, ts in last.items() if ts < cutoff]
            for thread in idle:
                self.checkpointer.delete_thread(thread)
        if idle:
            log.info("deleted %d conversations idle for more than %d days", len(idle), days)
        return len(idle)

    def __len__(self) -> int:
        return len({item.config["configurable"]["thread_id"] for item in self.checkpointer.list(None)})


class MemorySessions(DurableSessions):
    """Conversations in this process only (LangGraph's in-memory saver); the least recently used are forgotten."""

    def __init__(self, max_sessions: int = 2000):
        super().__init__(InMemorySaver(serde=_serde()))
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._max = max_sessions

    def get(self, session_id: str | None) -> SessionState:
        state = super().get(session_id)
        with self._lock:
            self._recent[state.session_id] = None
            self._recent.move_to_end(state.session_id)
            while len(self._recent) > self._max:
                oldest, _ = self._recent.popitem(last=False)
                self.checkpointer.delete_thread(oldest)
        return state
