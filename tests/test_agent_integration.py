"""The assistant on the real corpus, index, rules and calculators (needs the built index: `assistant ingest`)."""

from __future__ import annotations

import pytest

from assistant.models import ReplyStatus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assistant():
    from assistant.agent import Assistant
    from assistant.config import Settings

    try:
        return Assistant(Settings(llm_base_url=None)).warm()
    except Exception as exc:  # no index on this machine
        pytest.skip(f"index not available: {exc}")


def _verified(reply, assistant) -> None:
    for c in reply.citations:
        assert c.quote in assistant.corpus.documents[c.doc_id].text


def test_call_centre_shorthand_is_computed_and_cited(assistant):
    reply = assistant.ask("Proximus, pro, 8 numéros, CDD 24 mois depuis 01/01/2024, 120 €/mois, résiliation au 01/04/2025 ?")
    assert reply.status == ReplyStatus.ANSWERED
    assert reply.intent == "early_termination_cost" and reply.operator == "Proximus"
    assert "1\u202f080,00" in reply.answer
    assert any(c.clause_id == "66" for c in reply.citations)
    _verified(reply, assistant)


def test_english_notice_question_quotes_french(assistant):
    reply = assistant.ask("How much notice do I need to give to cancel with Luxembourg Online?")
    assert reply.status == ReplyStatus.ANSWERED and reply.language == "en"
    assert reply.citations and all(c.operator == "Luxembourg Online" for c in reply.citations)
    _verified(reply, assistant)
