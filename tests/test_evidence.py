"""Fused fact evidence, the new calculator inputs (months remaining, no commitment running) and the words that
feed them (lexicon data): behaviour that could regress silently."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pytest

from assistant.agent.evidence import clause_rank, fused_scores, needs_served
from assistant.agent.facts import FactView, serves
from assistant.agent.router import FusionWeights, Need
from assistant.agent.understanding import expand_abbreviations, extract_slots
from assistant.errors import InputError
from assistant.tools.registry import CALCULATORS
from assistant.tools.rules import Fact, Source


@dataclass
class _Chunk:
    clause_ids: list[str] = field(default_factory=list)


@dataclass
class _Passage:
    doc_id: str
    clause_id: str
    chunk: _Chunk = field(default_factory=_Chunk)


def _view(selector: str, clause: str, doc: str = "d1") -> FactView:
    fact = Fact(sources=[Source(doc_id=doc, clause_id=clause, quote="une phrase citée du document")])
    return FactView(operator="Op", selector=selector, label_fr=selector, label_en=selector, fact=fact)


def _need(need_id: str, facts: list[str]) -> Need:
    return Need.model_validate({"id": need_id, "intent": "other", "answer": "amount", "facts": facts,
                                "label": {"fr": need_id, "en": need_id},
                                "examples": {"fr": ["x"], "en": ["x"]}})


def test_clause_rank_follows_nested_numbering_and_documents():
    passages = [_Passage("d2", "12.2"), _Passage("d1", "12.2.1"), _Passage("d1", "4", _Chunk(["4", "4.1"]))]
    assert clause_rank(_view("notice", "12.2"), passages) == 1  # 12.2.1 belongs to 12.2, not d2's 12.2
    assert clause_rank(_view("notice", "4.1"), passages) == 2  # found among the chunk's clauses
    assert clause_rank(_view("notice", "7"), passages) is None


def test_retrieval_support_and_router_belief_reorder_facts_of_equal_wording():
    a, b = _view("fee:travel", "3"), _view("need:deposit", "9")
    needs = [_need("fee_amount", ["fee:*"]), _need("deposit", [])]
    assert serves(needs[0], a) and not serves(needs[0], b) and needs_served(b, needs) == [needs[1]]
    sims = np.array([0.85, 0.85])
    w = FusionWeights(retrieval=0.1, need=0.2, lexical=0.0)
    # the deposit clause came first in retrieval: the deposit fact leads
    scores = fused_scores([a, b], sims, [0.0, 0.0], [_Passage("d1", "9"), _Passage("d1", "3")], {}, needs, w)
    assert scores[1] > scores[0]
    # the router believes in the fee need much more: the fee fact leads
    scores = fused_scores([a, b], sims, [0.0, 0.0], [_Passage("d1", "9"), _Passage("d1", "3")],
                          {"fee_amount": 0.9, "deposit": 0.1}, needs, w)
    assert scores[0] > scores[1]
    # no evidence at all: the similarity alone
    assert list(fused_scores([a, b], np.array([0.9, 0.8]), [0, 0], [], {}, needs, w)) == pytest.approx([0.9, 0.8])


@pytest.mark.parametrize("text, remaining, commitment", [
    ("CT résil. anticipée, 14 mois restants à 45€HT/mois", 14, None),
    ("39.90 € a month and 7 months left on my 24-month commitment", 7, 24),
    ("il me reste 5 mois", 5, None),
    ("contrat de 24 mois signé le 01/02/2025", None, 24),
])
def test_months_remaining_are_told_from_the_commitment(text, remaining, commitment):
    slots = extract_slots(text)
    assert slots.remaining_months == remaining and slots.commitment_months == commitment


@pytest.mark.parametrize("text, over", [
    ("My commitment period is already over, I post the letter on 15 March 2026", True),
    ("je suis sans engagement, je résilie le 3 février", True),
    ("contrat reconduit pour une durée indéterminée", True),
    ("engagement de 24 mois depuis le 01/01/2025", None),
])
def test_no_commitment_running_is_understood(text, over):
    assert extract_slots(text).commitment_over is over


def test_shorthand_is_expanded_as_whole_words_only():
    assert expand_abbreviations("CT résil. anticipée, num porté pdt 3 j") == \
        "CT résiliation anticipée, numéro porté pendant 3 jours"  # a unit letter after a number is its unit
    assert expand_abbreviations("PX cust disputes a bill") == "PX customer disputes a bill"
    assert expand_abbreviations("l'abonnement numérique, résiliation") == "l'abonnement numérique, résiliation"


def test_early_termination_from_the_months_remaining():
    calc = CALCULATORS["early_termination_cost"]
    r = calc.run({"operator": "CT", "service": "xdsl", "monthly_fee": "45", "remaining_months": 14})
    assert r.amount == Decimal("630.00") and any(c.clause_id == "11.4" for c in r.citations)
    with pytest.raises(InputError) as err:  # neither the dates nor the months left
        calc.run({"operator": "CT", "service": "xdsl", "monthly_fee": "45"})
    assert err.value.field == "start_date"
    # a rule capped at the first six months is counted from the start date: the months left do not say it
    with pytest.raises(InputError):
        calc.run({"operator": "Proximus", "service": "voip", "monthly_fee": "45", "remaining_months": 10,
                  "lines": 3, "customer_type": "business"})


def test_timeline_without_a_running_commitment_counts_the_notice_from_the_request():
    calc = CALCULATORS["termination_timeline"]
    r = calc.run({"operator": "Proximus", "service": "voip", "request_date": "2026-02-03", "commitment_over": True})
    assert r.result_date == "2026-03-05"  # art. 65: 30 days
    with pytest.raises(InputError):  # no date at all
        calc.run({"operator": "Proximus", "service": "voip", "commitment_over": True})


def test_timeline_deadline_of_the_initial_term_from_the_start_date():
    r = CALCULATORS["termination_timeline"].run({"operator": "CT", "service": "virtual pbx",
                                                 "start_date": "2024-03-01"})
    # 12 months (4.2.2) end on 2025-02-28; 90 days before (11.3.1.3)
    assert r.result_date == "2024-11-30" and r.values["effective_end_date"] == "2025-02-28"


@pytest.mark.parametrize("text, months", [
    ("contrat d'un an signé le 15 janvier 2025", 12),
    ("He had signed a 2-year contract", 24),
    ("engagement de deux ans", 24),
    ("a three-month commitment", 3),
])
def test_durations_in_words_are_read_like_digits(text, months):
    assert extract_slots(text).commitment_months == months
