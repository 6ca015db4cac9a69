"""Store for QA: thumbs up/down with the question, the answer and its citations; handoff requests.

One database URL for the whole product: with `ASSISTANT_DATABASE_URL` (PostgreSQL) feedback and hand-offs go to
the database that holds the conversations, shared by every replica; without it, to the SQLite file
`<data dir>/feedback.sqlite3` (WAL mode, so QA reads it while the app writes). SQLAlchemy Core speaks both and
keeps a connection pool per process, safe from Gradio's worker threads and the API at the same time.

Privacy: every text the customer or the assistant wrote (question, answer, comment, summary, transcript)
goes through `assistant.privacy.redact` before it is written, so e-mail addresses, IBANs, card numbers and
phone numbers never reach the database from them; the only contact details kept are those the customer typed in
the hand-off form with its consent box ticked (columns of `handoffs`, purged with the row), and they are
encrypted (Fernet) with a key kept apart from the database (`ASSISTANT_HANDOFF_KEY`, else an owner-only
`handoff.key` beside the SQLite file; a shared database needs the one key every replica is given), so the
database never holds them in clear; citations are verbatim document quotes and are kept as they are. The SQLite
file and its WAL/SHM files are created owner-only (0600) and deleted rows are overwritten (`secure_delete`);
`purge_older_than(days)` (run at start-up with ASSISTANT_RETENTION_DAYS) removes old rows (VACUUM on
PostgreSQL, so the space of purged rows is reclaimed rather than left for reuse).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, Field, model_validator

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.models import Citation
from assistant.privacy import redact, redact_obj

log = logging.getLogger(__name__)

FILE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")
SQLITE_NAME = "feedback.sqlite3"

METADATA = sa.MetaData()
FEEDBACK = sa.Table(
    "feedback", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("view", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text),
    sa.Column("rating", sa.Text, sa.CheckConstraint("rating IN ('up', 'down')"), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("status", sa.Text),
    sa.Column("operator", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("citations", sa.Text, nullable=False),  # JSON list of Citation
    sqlite_autoincrement=True,
)
HANDOFFS = sa.Table(
    "handoffs", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text),
    sa.Column("operator", sa.Text),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("transcript", sa.Text, nullable=False),  # JSON list of {question, answer, status}
    sa.Column("customer_name", sa.Text),
    sa.Column("contact", sa.Text),
    sa.Column("contact_channel", sa.Text),
    sa.Column("consent", sa.Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)
# Columns added after the first release: an older database gets them at start-up.
HANDOFF_CONTACT_COLUMNS = {"customer_name": "TEXT", "contact": "TEXT", "contact_channel": "TEXT",
                           "consent": "INTEGER NOT NULL DEFAULT 0"}


def sqlalchemy_url(url: str) -> str:
    """The product's `postgresql://` URL (the one the conversation store takes) with SQLAlchemy's driver name."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    raise AssistantError(f"ASSISTANT_DATABASE_URL must be a postgresql:// URL (got {url.split(':')[0]}://...)")


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
    """Feedback and hand-offs in one database: a SQLite file (a path) or PostgreSQL (a `postgresql://` URL)."""

    def __init__(self, target: Path | str, key: str | None = None, key_path: Path | None = None):
        remote = isinstance(target, str) and "://" in target
        self.path: Path | None = None if remote else Path(target)
        key = key or os.environ.get("ASSISTANT_HANDOFF_KEY") or None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            key_path = key_path or self.path.with_name("handoff.key")
            self._restrict_files()
            self.engine = sa.create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 10})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        elif key is None and key_path is None:
            raise AssistantError(
                "ASSISTANT_HANDOFF_KEY must be set when ASSISTANT_DATABASE_URL is: every replica writing hand-offs "
                "to the shared database needs the same contact key (make one with `python -c \"from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`)")
        else:
            self.engine = sa.create_engine(sqlalchemy_url(str(target)), pool_size=4, max_overflow=4,
                                           pool_pre_ping=True)
        try:
            self._cipher = ContactCipher(key, key_path)
        except ValueError as exc:  # a malformed ASSISTANT_HANDOFF_KEY: said in one line
            raise AssistantError(f"ASSISTANT_HANDOFF_KEY is not a valid Fernet key: {exc}") from exc
        self._create_schema()
        if self.path is not None:
            self._restrict_files()

    @classmethod
    def for_settings(cls, settings: Settings) -> FeedbackStore:
        """The store of this installation: the conversations' PostgreSQL database when one is configured,
        else `<data dir>/feedback.sqlite3`. Replicas sharing a database must share the contact key too."""
        if not settings.database_url:
            return cls(settings.data_dir / SQLITE_NAME)
        try:
            return cls(settings.database_url)
        except sa.exc.SQLAlchemyError as exc:
            raise AssistantError(f"cannot open the feedback database: {exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0]}") from exc

    def _create_schema(self) -> None:
        with self.engine.begin() as db:
            if self.path is not None:
                db.exec_driver_sql("PRAGMA journal_mode=WAL")
            else:  # replicas starting together: one creates or upgrades the tables, the others wait
                db.exec_driver_sql("SELECT pg_advisory_xact_lock(7215)")
            METADATA.create_all(db, checkfirst=True)
            present = {column["name"] for column in sa.inspect(db).get_columns("handoffs")}
            for column, kind in HANDOFF_CONTACT_COLUMNS.items():
                if column not in present:
                    db.exec_driver_sql(f"ALTER TABLE handoffs ADD COLUMN {column} {kind}")

    def _restrict_files(self) -> None:
        """Create the database file owner-only (SQLite gives its WAL/SHM files the same mode) and tighten
        files an older version left readable by others."""
        assert self.path is not None
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        for candidate in (self.path, *(self.path.with_name(self.path.name + side) for side in _SIDE_FILES)):
            if candidate.exists() and candidate.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(candidate, FILE_MODE)

    def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete feedback and hand-off rows created more than `days` days ago; 0 keeps everything.
        Returns how many rows went."""
        if days <= 0:
            return 0
        cutoff = _iso((now or datetime.now(UTC)) - timedelta(days=days))
        with self.engine.begin() as db:
            removed = sum(db.execute(sa.delete(table).where(table.c.created_at < cutoff)).rowcount
                          for table in (FEEDBACK, HANDOFFS))
        if removed:
            self._reclaim()
        return removed

    def _reclaim(self) -> None:
        """After a purge: SQLite moves the overwritten pages out of the WAL into the file; PostgreSQL vacuums
        the two tables (VACUUM runs outside a transaction)."""
        with self.engine.connect() as db:
            if self.path is not None:
                db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                db.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM feedback, handoffs")

    def add(self, record: FeedbackRecord) -> int:
        row = record.model_dump(exclude={"id"}, mode="json")
        for key in ("question", "answer", "comment"):
            row[key] = redact(row[key])
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        return self._insert(FEEDBACK, row)

    def _insert(self, table: sa.Table, row: dict[str, Any]) -> int:
        with self.engine.begin() as db:
            return int(db.execute(sa.insert(table).values(**row).returning(table.c.id)).scalar_one())

    def set_comment(self, feedback_id: int, comment: str) -> bool:
        with self.engine.begin() as db:
            result = db.execute(sa.update(FEEDBACK).where(FEEDBACK.c.id == feedback_id)
                                .values(comment=redact(comment)))
            return result.rowcount == 1

    def list(self, limit: int = 100) -> list[FeedbackRecord]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(FEEDBACK).order_by(FEEDBACK.c.id.desc()).limit(limit)).mappings().all()
        return [FeedbackRecord.model_validate({**row, "citations": json.loads(row["citations"])}) for row in rows]

    def add_handoff(self, record: HandoffRecord) -> int:
        return self._insert(HANDOFFS, {
            "created_at": record.created_at, "session_id": record.session_id, "operator": record.operator,
            "summary": redact(record.summary),
            "transcript": json.dumps(redact_obj(record.transcript), ensure_ascii=False),
            "customer_name": self._cipher.seal(record.customer_name), "contact": self._cipher.seal(record.contact),
            "contact_channel": record.contact_channel, "consent": int(record.consent)})

    def list_handoffs(self, limit: int = 100) -> list[HandoffRecord]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(HANDOFFS).order_by(HANDOFFS.c.id.desc()).limit(limit)).mappings().all()
        return [HandoffRecord.model_validate({**row, "transcript": json.loads(row["transcript"]),
                                              "customer_name": self._cipher.open(row["customer_name"]),
                                              "contact": self._cipher.open(row["contact"]),
                                              "consent": bool(row["consent"])}) for row in rows]

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA secure_delete=ON")  # purged rows are overwritten, not left in free pages
