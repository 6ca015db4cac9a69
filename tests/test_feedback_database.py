"""Feedback and hand-offs in the conversations' database: a real PostgreSQL on loopback when
ASSISTANT_DATABASE_URL is set (shared by replicas, contact details encrypted with the one key they share,
retention purge), the local SQLite file otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.fernet import Fernet

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.ui.feedback import FeedbackRecord, FeedbackStore, HandoffRecord

pytestmark = pytest.mark.server

CONTACT = "+352 621 987 654"


@pytest.fixture
def shared_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("ASSISTANT_HANDOFF_KEY", key)
    return key


def _raw_rows(url: str) -> str:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT * FROM handoffs").fetchall() + db.execute("SELECT * FROM feedback").fetchall()
    return repr(rows)


def test_replicas_share_feedback_and_hand_offs_in_postgresql(postgres_url, tmp_path, shared_key):
    settings = Settings(data_dir=tmp_path / "one", database_url=postgres_url)
    first = FeedbackStore.for_settings(settings)  # one replica
    second = FeedbackStore.for_settings(settings.model_copy(update={"data_dir": tmp_path / "two"}))  # another
    feedback_id = first.add(FeedbackRecord(rating="down", question="préavis ? écrivez à jean@example.org",
                                           answer="Trois mois."))
    assert second.set_comment(feedback_id, "rappelez le 06 12 34 56 78")  # the other replica sees the row
    first.add_handoff(HandoffRecord(summary="dossier portabilité", customer_name="Jean", contact=CONTACT,
                                    contact_channel="phone", consent=True))
    [handoff] = second.list_handoffs()
    assert (handoff.customer_name, handoff.contact) == ("Jean", CONTACT)  # read back with the shared key
    [row] = [r for r in second.list() if r.id == feedback_id]
    assert "jean@example.org" not in row.question and "06 12" not in (row.comment or "")
    raw = _raw_rows(postgres_url)
    assert "621 987 654" not in raw and "Jean" not in raw and "jean@example.org" not in raw  # never in clear
    assert not list((tmp_path / "one").glob("feedback.sqlite3*"))  # nothing local: PostgreSQL holds it
    assert not (tmp_path / "one" / "handoff.key").exists()  # the key is the shared one, not a local file
    wrong = FeedbackStore(postgres_url, key=Fernet.generate_key().decode())
    assert wrong.list_handoffs()[0].contact is None  # another key reads nothing, never garbled text


def test_retention_purge_in_postgresql(postgres_url, shared_key):
    store = FeedbackStore(postgres_url)
    now = datetime.now(UTC)
    old = (now - timedelta(days=100)).isoformat(timespec="seconds")
    store.add(FeedbackRecord(rating="up", question="ancienne question", answer="a", created_at=old))
    store.add(FeedbackRecord(rating="up", question="question du jour", answer="a"))
    store.add_handoff(HandoffRecord(summary="ancien dossier", created_at=old))
    before = len(store.list(limit=1000)), len(store.list_handoffs(limit=1000))
    assert store.purge_older_than(90) == 2
    questions = [r.question for r in store.list(limit=1000)]
    assert "ancienne question" not in questions and "question du jour" in questions
    assert len(store.list(limit=1000)) == before[0] - 1
    assert "ancien dossier" not in [h.summary for h in store.list_handoffs(limit=1000)]
    assert len(store.list_handoffs(limit=1000)) == before[1] - 1


def test_a_shared_database_without_the_shared_key_is_one_clear_error(postgres_url, tmp_path, monkeypatch):
    monkeypatch.delenv("ASSISTANT_HANDOFF_KEY", raising=False)
    with pytest.raises(AssistantError, match="ASSISTANT_HANDOFF_KEY must be set"):
        FeedbackStore.for_settings(Settings(data_dir=tmp_path, database_url=postgres_url))
    monkeypatch.setenv("ASSISTANT_HANDOFF_KEY", "not-a-key")
    with pytest.raises(AssistantError, match="not a valid Fernet key"):
        FeedbackStore.for_settings(Settings(data_dir=tmp_path, database_url=postgres_url))


def test_an_unreachable_database_is_one_clear_error(tmp_path, shared_key):
    from assistant.evaluation.services import free_port

    url = f"postgresql://assistant@127.0.0.1:{free_port()}/postgres?connect_timeout=2"
    with pytest.raises(AssistantError, match="cannot open the feedback database"):
        FeedbackStore.for_settings(Settings(data_dir=tmp_path, database_url=url))


def test_without_a_database_url_the_local_sqlite_file_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSISTANT_HANDOFF_KEY", raising=False)
    store = FeedbackStore.for_settings(Settings(data_dir=tmp_path))
    store.add(FeedbackRecord(rating="up", question="q", answer="a"))
    assert store.path == tmp_path / "feedback.sqlite3" and store.path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "handoff.key").stat().st_mode & 0o077 == 0
