"""Personal data redaction (assistant/privacy.py) and the feedback store's privacy: redaction before writing,
owner-only file, retention purge, and log lines."""

from __future__ import annotations

import io
import logging
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.models import Citation
from assistant.privacy import (
    CARD,
    EMAIL,
    IBAN_TOKEN,
    PHONE,
    RedactingFormatter,
    install_log_redaction,
    redact,
)
from assistant.ui.feedback import FeedbackRecord, FeedbackStore, HandoffRecord

CITATION = Citation(doc_id="d1", operator="Proximus", clause_id="66", quote="appelez le 0800 22 800")


@pytest.mark.parametrize(("text", "expected"), [
    ("écrivez-moi à jean.dupont+cgv@example.lu merci", f"écrivez-moi à {EMAIL} merci"),
    ("IBAN LU28 0019 4006 4475 0000, ok", f"IBAN {IBAN_TOKEN}, ok"),
    ("iban be68539007547034.", f"iban {IBAN_TOKEN}."),
    ("FR14 2004 1010 0505 0001 3M02 606 fin", f"{IBAN_TOKEN} fin"),
    ("LU28 0019 4006 4475 0001 (faute de frappe)", f"{IBAN_TOKEN} (faute de frappe)"),  # wrong check digits
    ("carte 4111 1111 1111 1111 expirée", f"carte {CARD} expirée"),
    ("carte 5500-0000-0000-0004", f"carte {CARD}"),
    ("mobile 06 12 34 56 78", f"mobile {PHONE}"),
    ("appelez le +352 621 123 456 svp", f"appelez le {PHONE} svp"),
    ("fixe 0032 2 555 12 34", f"fixe {PHONE}"),
    ("Bruxelles 02/555.12.34", f"Bruxelles {PHONE}"),
    ("mon GSM 621123456", f"mon GSM {PHONE}"),
    ("(+352) 26 12 34 56", PHONE),
    ("0612345678 ou 0698765432", f"{PHONE} ou {PHONE}"),
])
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "Résiliation au 2025-04-01 d'un contrat du 01/01/2024 (art. 8.5.12 et 57 §2).",
    "8 lignes à 120,00 € HT par mois, soit 1 080,00 € ; 12 345 678 € de chiffre d'affaires.",
    "référence 20240101, 24 mois, 30 jours, 1234 EUR, LU12 n'est pas un IBAN.",
    "carte 4111 1111 1111 1112 (numéro faux, Luhn invalide)",
    "Version 2.0 des CG, CP L-1234 Luxembourg, art. 12.3.4.5",
])
def test_t_and_c_figures_are_kept(text: str) -> None:
    assert redact(text) == text


def test_redact_accepts_empty_values() -> None:
    assert redact(None) is None and redact("") == ""


# --------------------------------------------------------------------------- the store

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_redacts_everything_the_customer_wrote(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    feedback_id = store.add(FeedbackRecord(
        rating="down", question="Mon IBAN LU28 0019 4006 4475 0000 et mon mail a.b@example.com ?",
        answer="Nous vous rappelons au 06 12 34 56 78.", citations=[CITATION]))
    store.set_comment(feedback_id, "rappelez-moi au +352 621 123 456")
    store.add_handoff(HandoffRecord(summary="- client : a.b@example.com", transcript=[
        {"question": "carte 4111 1111 1111 1111 bloquée", "answer": None, "status": None}]))

    [stored] = store.list()
    assert stored.question == f"Mon IBAN {IBAN_TOKEN} et mon mail {EMAIL} ?"
    assert stored.answer == f"Nous vous rappelons au {PHONE}." and stored.comment == f"rappelez-moi au {PHONE}"
    assert stored.citations == [CITATION]  # document quotes are kept verbatim
    [handoff] = store.list_handoffs()
    assert handoff.summary == f"- client : {EMAIL}" and handoff.transcript[0]["question"] == f"carte {CARD} bloquée"
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("feedback.sqlite3"))
    for secret in (b"LU28", b"a.b@example.com", b"621 123 456", b"4111 1111"):
        assert secret not in raw, secret


def test_database_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(path)
    store.add(FeedbackRecord(rating="up", question="q", answer="a"))
    assert mode(path) == 0o600
    for side in ("-wal", "-shm"):
        side_file = path.with_name(path.name + side)
        if side_file.exists():
            assert mode(side_file) == 0o600, side


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path)
    path.chmod(0o644)
    FeedbackStore(path)
    assert mode(path) == 0o600


def test_retention_purge_removes_old_rows_only(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old = (now - timedelta(days=100)).isoformat(timespec="seconds")
    recent = (now - timedelta(days=10)).isoformat(timespec="seconds")
    store.add(FeedbackRecord(rating="up", question="vieille question secrète", answer="a", created_at=old))
    store.add(FeedbackRecord(rating="up", question="question récente", answer="a", created_at=recent))
    store.add_handoff(HandoffRecord(summary="vieux dossier", created_at=old))
    store.add_handoff(HandoffRecord(summary="dossier récent", created_at=recent))

    assert store.purge_older_than(0, now=now) == 0  # 0 keeps everything
    assert store.purge_older_than(90, now=now) == 2
    assert [r.question for r in store.list()] == ["question récente"]
    assert [h.summary for h in store.list_handoffs()] == ["dossier récent"]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("feedback.sqlite3"))
    assert "vieille question secrète".encode() not in raw  # overwritten, not left in free pages


def test_backend_purges_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Backend.from_settings runs the purge with ASSISTANT_RETENTION_DAYS (the pipeline is stubbed out)."""
    import assistant.agent
    import assistant.corpus
    import assistant.index
    from assistant.config import Settings
    from assistant.ui.backend import Backend

    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    long_ago = (datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="seconds")
    store.add(FeedbackRecord(rating="up", question="très ancienne", answer="a", created_at=long_ago))
    store.add(FeedbackRecord(rating="up", question="d'aujourd'hui", answer="a"))
    monkeypatch.setattr(assistant.index, "ensure_index", lambda settings, progress=True: None)
    monkeypatch.setattr(assistant.corpus, "load_corpus", lambda settings: None)
    monkeypatch.setattr(assistant.agent, "Assistant", lambda settings: object())
    Backend.from_settings(Settings(data_dir=tmp_path, retention_days=365), progress=False)
    assert [r.question for r in store.list()] == ["d'aujourd'hui"]


def test_plain_sql_still_reads_the_store(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add(FeedbackRecord(rating="down", question="q", answer="a"))
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM feedback").fetchone() == (1,)


# --------------------------------------------------------------------------- logs

def test_log_lines_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(inner=logging.Formatter("%(levelname)s %(message)s")))
    logger = logging.getLogger("test_privacy.redacted")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad question: mon IBAN est BE68539007547034")
        except ValueError:
            logger.exception("failed for %s", "jean@example.com")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "ERROR failed for [EMAIL]" in text and f"mon IBAN est {IBAN_TOKEN}" in text
    assert "jean@example.com" not in text and "BE68" not in text


def test_install_wraps_existing_handlers() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test_privacy.installed")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("<%(message)s>"))
    logger.addHandler(handler)
    logger.propagate = False
    root_formatters = [(h, h.formatter) for h in logging.getLogger().handlers]  # pytest's own handlers
    try:
        install_log_redaction("test_privacy.installed")
        logger.warning("call 06 12 34 56 78")
    finally:
        logger.removeHandler(handler)
        for root_handler, formatter in root_formatters:
            root_handler.setFormatter(formatter)
    assert stream.getvalue() == f"<call {PHONE}>\n"  # the handler's own format is kept
