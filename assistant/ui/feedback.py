"""SQLite store for QA: thumbs up/down with the question, the answer and its citations; handoff requests.

One connection per operation keeps the store safe to use from Gradio's worker threads and the API at the
same time; WAL mode lets QA read the file while the app writes to it.

Privacy: every text the customer or the assistant wrote (question, answer, comment, summary, transcript)
goes through `assistant.privacy.redact` before it is written, so e-mail addresses, IBANs, card numbers and
phone numbers never reach the file from them; the only contact details kept are those the customer typed in
the hand-off form with its consent box ticked (columns of `handoffs`, purged with the row), and they are
encrypted (Fernet) with a key kept apart from the database (`ASSISTANT_HANDOFF_KEY`, else an owner-only
`handoff.key` beside it), so the file never holds them in clear; citations are verbatim document quotes and
are kept as they are. The
database and its WAL/SHM files are created owner-only (0600), deleted rows are overwritten
(`secure_delete`), and `purge_older_than(days)` (run at start-up with ASSISTANT_RETENTION_DAYS) removes
old rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, Field, model_validator

from assistant.models import Citation
from assistant.privacy import redact, redact_obj

FILE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")

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
    transcript TEXT NOT NULL,  -- JSON list of {question, answer, status}
    customer_name TEXT,
    contact TEXT,
    contact_channel TEXT,
    consent INTEGER NOT NULL DEFAULT 0
);
"""
# Columns added after the first release: an older database gets them at start-up.
HANDOFF_CONTACT_COLUMNS = {"customer_name": "TEXT", "contact": "TEXT", "contact_channel": "TEXT",
                           "consent": "INTEGER NOT NULL DEFAULT 0"}


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
    """A case passed to a human. The contact fields are the ones the customer typed in the hand-off form
    with the consent box ticked: they are stored as given (an agent must be able to call back), unlike the
    free texts (summary, transcript), from which personal data is redacted."""

    id: int | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    session_id: str | None = None
    operator: str | None = None
    summary: str
    transcript: list[dict[str, str | None]] = Field(default_factory=list)
    customer_name: str | None = None
    contact: str | None = None
    contact_channel: Literal["email", "phone"] | None = None
    consent: bool = False

    @model_validator(mode="after")
    def _contact_needs_consent(self) -> HandoffRecord:
        if (self.customer_name or self.contact) and not self.consent:
            raise ValueError("contact details are stored only with the customer's consent")
        return self


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class ContactCipher:
    """Encryption at rest of the contact details a customer gave for a call-back: an agent reads them back
    through the store; the database file alone reveals nothing."""

    PREFIX = "enc1:"

    def __init__(self, key: str | bytes | None = None, key_path: Path | None = None):
        if key is None and key_path is not None:
            if not key_path.exists():
                fd = os.open(key_path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, FILE_MODE)
                with os.fdopen(fd, "wb") as out:
                    out.write(Fernet.generate_key())
            key = key_path.read_bytes().strip()
        self._fernet = Fernet(key if key is not None else Fernet.generate_key())

    def seal(self, text: str | None) -> str | None:
        return None if text is None else self.PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, stored: str | None) -> str | None:
        if stored is None or not stored.startswith(self.PREFIX):
            return stored  # a row written before encryption
        try:
            return self._fernet.decrypt(stored[len(self.PREFIX):].encode("ascii")).decode("utf-8")
        except InvalidToken:
            return None  # another key: unreadable, never shown garbled


class FeedbackStore:
    def __init__(self, path: Path, key: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cipher = ContactCipher(key or os.environ.get("ASSISTANT_HANDOFF_KEY") or None,
                                     self.path.with_name("handoff.key"))
        self._restrict_files()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(handoffs)")}
            for column, kind in HANDOFF_CONTACT_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE handoffs ADD COLUMN {column} {kind}")
        self._restrict_files()

    def _restrict_files(self) -> None:
        """Create the database file owner-only (SQLite gives its WAL/SHM files the same mode) and tighten
        files an older version left readable by others."""
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        for candidate in (self.path, *(self.path.with_name(self.path.name + side) for side in _SIDE_FILES)):
            if candidate.exists() and candidate.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(candidate, FILE_MODE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA secure_delete=ON")  # purged rows are overwritten, not left in free pages
        try:
            with db:  # commits on success, rolls back on error
                yield db
        finally:
            db.close()

    def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete feedback and hand-off rows created more than `days` days ago; 0 keeps everything.
        Returns how many rows went."""
        if days <= 0:
            return 0
        cutoff = _iso((now or datetime.now(UTC)) - timedelta(days=days))
        with self._connect() as db:
            removed = sum(db.execute(f"DELETE FROM {table} WHERE created_at < ?", (cutoff,)).rowcount
                          for table in ("feedback", "handoffs"))
        if removed:
            with self._connect() as db:  # move the overwritten pages out of the WAL into the file
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def add(self, record: FeedbackRecord) -> int:
        row = record.model_dump(exclude={"id"}, mode="json")
        for key in ("question", "answer", "comment"):
            row[key] = redact(row[key])
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        columns = ", ".join(row)
        with self._connect() as db:
            cursor = db.execute(f"INSERT INTO feedback ({columns}) VALUES ({', '.join('?' * len(row))})",
                                tuple(row.values()))
            return int(cursor.lastrowid or 0)

    def set_comment(self, feedback_id: int, comment: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (redact(comment), feedback_id))
            return cursor.rowcount == 1

    def list(self, limit: int = 100) -> list[FeedbackRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM feedback ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [FeedbackRecord.model_validate({**dict(row), "citations": json.loads(row["citations"])})
                for row in rows]

    def add_handoff(self, record: HandoffRecord) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO handoffs (created_at, session_id, operator, summary, transcript, customer_name, contact,"
                " contact_channel, consent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.created_at, record.session_id, record.operator, redact(record.summary),
                 json.dumps(redact_obj(record.transcript), ensure_ascii=False), self._cipher.seal(record.customer_name),
                 self._cipher.seal(record.contact), record.contact_channel, int(record.consent)),
            )
            return int(cursor.lastrowid or 0)

    def list_handoffs(self, limit: int = 100) -> list[HandoffRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM handoffs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [HandoffRecord.model_validate({**dict(row), "transcript": json.loads(row["transcript"]),
                                              "customer_name": self._cipher.open(row["customer_name"]),
                                              "contact": self._cipher.open(row["contact"]),
                                              "consent": bool(row["consent"])}) for row in rows]
