"""SQLite store for QA: thumbs up/down with the question, the answer and its citations; handoff requests.

One connection per operation keeps the store safe to use from Gradio's worker threads and the API at the
same time; WAL mode lets QA read the file while the app writes to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from assistant.models import Citation

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    view TEXT NOT NULL,
    session_id TEXT,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT,
    operator TEXT,
    language TEXT,
    citations TEXT NOT NULL  -- JSON list of Citation
);
CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    session_id TEXT,
    operator TEXT,
    summary TEXT NOT NULL,
    transcript TEXT NOT NULL  -- JSON list of {question, answer, status}
);
"""


class FeedbackRecord(BaseModel):
    id: int | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    view: Literal["chat", "sidebar", "api"] = "chat"
    session_id: str | None = None
    rating: Literal["up", "down"]
    comment: str | None = None
    question: str
    answer: str
    status: str | None = None
    operator: str | None = None
    language: str | None = None
    citations: list[Citation] = Field(default_factory=list)


class HandoffRecord(BaseModel):
    id: int | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    session_id: str | None = None
    operator: str | None = None
    summary: str
    transcript: list[dict[str, str | None]] = Field(default_factory=list)


class FeedbackStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # commits on success, rolls back on error
                yield db
        finally:
            db.close()

    def add(self, record: FeedbackRecord) -> int:
        row = record.model_dump(exclude={"id"}, mode="json")
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        columns = ", ".join(row)
        with self._connect() as db:
            cursor = db.execute(f"INSERT INTO feedback ({columns}) VALUES ({', '.join('?' * len(row))})",
                                tuple(row.values()))
            return int(cursor.lastrowid or 0)

    def set_comment(self, feedback_id: int, comment: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, feedback_id))
            return cursor.rowcount == 1

    def list(self, limit: int = 100) -> list[FeedbackRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM feedback ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [FeedbackRecord.model_validate({**dict(row), "citations": json.loads(row["citations"])})
                for row in rows]

    def add_handoff(self, record: HandoffRecord) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO handoffs (created_at, session_id, operator, summary, transcript) VALUES (?, ?, ?, ?, ?)",
                (record.created_at, record.session_id, record.operator, record.summary,
                 json.dumps(record.transcript, ensure_ascii=False)),
            )
            return int(cursor.lastrowid or 0)

    def list_handoffs(self, limit: int = 100) -> list[HandoffRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM handoffs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [HandoffRecord.model_validate({**dict(row), "transcript": json.loads(row["transcript"])})
                for row in rows]
