"""Conversations in the turn graph's LangGraph checkpointer: a conversation survives a restart and continues in
another app process, in the SQLite file under the data dir and in a real PostgreSQL server started here on
loopback; nothing the customer typed is stored in clear; idle conversations are deleted."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from test_agent_fakes import FakeCorpus, FakeETC, FakeRetriever

from assistant.agent import Assistant
from assistant.agent.checkpoints import DurableSessions
from assistant.config import Settings
from assistant.models import ReplyStatus

ROOT = Path(__file__).resolve().parents[1]


def _assistant(settings: Settings) -> Assistant:
    corpus = FakeCorpus()
    etc = FakeETC(corpus)
    return Assistant(settings, corpus=corpus, retriever=FakeRetriever(corpus), calculators={etc.name: etc},
                     today=date(2025, 1, 15))


def _continues_across_processes(settings: Settings) -> None:
    first = _assistant(settings)
    asked = first.ask("Quel est le préavis de résiliation ?", session_id="conv-1")
    assert asked.status == ReplyStatus.CLARIFY  # which operator? the question waits in the conversation
    second = _assistant(settings)  # another process, or the same one after a restart
    assert isinstance(second.sessions, DurableSessions)
    # the thread stopped at the question asked (LangGraph's interrupt), kept by the store
    waiting = second.graph.get_state(second.sessions.config("conv-1")).interrupts
    assert [i.value["missing"] for i in waiting] == ["operator"]
    reply = second.ask("Beta Mobile", session_id="conv-1")
    assert reply.status == ReplyStatus.ANSWERED and reply.operator == "Beta Mobile"
    assert any(c.clause_id == "ARTICLE 4" for c in reply.citations)  # the waiting notice question, answered
    state = _assistant(settings).sessions.get("conv-1")
    assert state.turns == 2 and state.operator == "Beta Mobile"
    assert _assistant(settings).sessions.get("conv-2").turns == 0  # another conversation starts empty


def test_a_conversation_survives_a_restart_in_the_sqlite_store(tmp_path):
    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        conversation_store="sqlite")
    _continues_across_processes(settings)
    store = tmp_path / "conversations.sqlite"
    assert store.exists() and (store.stat().st_mode & 0o077) == 0  # owner-only


def test_what_the_customer_typed_is_stored_without_personal_data(tmp_path):
    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        conversation_store="sqlite")
    a = _assistant(settings)
    a.ask("Préavis chez Beta Mobile ? écrivez-moi à jean.dupont@example.org ou au +352 621 123 456",
          session_id="pii-1")
    a.ask("mon IBAN est LU28 0019 4006 4475 0000, et le coût ?", session_id="pii-1")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("conversations.sqlite*"))
    for secret in (b"jean.dupont", b"621 123 456", b"4475 0000", b"LU28"):
        assert secret not in raw
    history = a.sessions.get("pii-1").history
    assert history and "[EMAIL]" in history[0][1]


def test_idle_conversations_are_deleted_when_the_store_opens(tmp_path):
    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        conversation_store="sqlite")
    a = _assistant(settings)
    a.ask("Quel est le préavis chez Beta Mobile ?", session_id="old-1")
    assert a.sessions.get("old-1").turns == 1
    assert a.sessions.purge_idle(days=1) == 0  # a conversation of today stays
    assert a.sessions.purge_idle(days=-1) == 1  # everything older than tomorrow goes
    assert a.sessions.get("old-1").turns == 0


# --------------------------------------------------------------------------- a real PostgreSQL on loopback

def test_a_conversation_continues_on_another_process_through_postgresql(postgres_url, tmp_path):
    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        database_url=postgres_url)
    started = time.perf_counter()
    _continues_across_processes(settings)
    assert not (tmp_path / "conversations.sqlite").exists()  # PostgreSQL holds the conversation
    assert time.perf_counter() - started < 60


def test_a_bad_database_url_is_one_clear_error(tmp_path):
    from assistant.errors import AssistantError

    with pytest.raises(AssistantError, match="postgresql://"):
        _assistant(Settings(prompts_dir=ROOT / "prompts", data_dir=tmp_path, database_url="mysql://x@127.0.0.1/db"))


def test_a_bare_date_never_fills_a_fact_that_is_not_a_date():
    from assistant.agent.understanding import Slots, assign_unlabelled_dates

    slots = Slots(other_dates=[date(2025, 6, 1)])
    assign_unlabelled_dates(slots, "early_termination_cost", preferred="service")  # the question asked a service
    assert slots.service is None
    assert date(2025, 6, 1) in (slots.commitment_start, slots.termination_date, *slots.other_dates)
    with pytest.raises(ValueError):
        slots.monthly_fee = "not a figure"  # a wrong kind of value fails loudly, it is never stored


def test_a_half_typed_checkpoint_is_restored_as_a_valid_conversation(tmp_path):
    from assistant.agent.session import SessionState

    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        conversation_store="sqlite")
    a = _assistant(settings)
    a.ask("Quel est le préavis de résiliation ?", session_id="typed-1")
    stored = a.sessions.get("typed-1")
    broken = SessionState.model_construct(**{**stored.model_dump(), "slots": stored.slots.model_dump()})
    a.graph.update_state(a.sessions.config("typed-1"), {"session": broken})
    again = _assistant(settings)
    restored = again.sessions.get("typed-1")
    assert restored.turns == 1 and restored.slots.model_dump() == stored.slots.model_dump()
    assert again.ask("Quel est le préavis chez Beta Mobile ?", session_id="typed-1").status == ReplyStatus.ANSWERED


def test_a_new_question_while_one_waits_is_answered_as_new(tmp_path):
    """The thread waits at the graph's interrupt for the operator; a message that asks something else is
    answered as that message (here refused, as it would be in a new conversation), and nothing waits any more."""
    settings = Settings(prompts_dir=ROOT / "prompts", llm_base_url=None, data_dir=tmp_path,
                        conversation_store="sqlite")
    a = _assistant(settings)
    assert a.ask("Quel est le préavis de résiliation ?", session_id="new-1").status == ReplyStatus.CLARIFY
    assert a.graph.get_state(a.sessions.config("new-1")).interrupts
    reply = _assistant(settings).ask("Écris-moi un poème sur la mer", session_id="new-1")
    assert reply.status == ReplyStatus.REFUSED
    assert not a.graph.get_state(a.sessions.config("new-1")).interrupts
    assert a.sessions.get("new-1").turns == 2
