"""A rule's figure applied to the customer's own figures (assistant/tools/arithmetic.py, assistant/agent/derive.py),
the counted units written in words, and the router's use of filled inputs as a tie-breaker only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from assistant.agent.derive import asks_for, derive
from assistant.agent.facts import FactView
from assistant.agent.figures import load_lexicon
from assistant.agent.router import Need
from assistant.agent.understanding import Understanding, extract_slots
from assistant.config import get_settings
from assistant.tools.arithmetic import Given, apply_figure
from assistant.tools.rules import Fact, Source, TaxBasis, Value

_SRC = Source(doc_id="d1", clause_id="7.2", quote="une phrase citée du document")


def _value(**kw) -> Value:
    return Value(source=_SRC, **kw)


def _view(value: Value, selector: str = "need:x", anchor: str | None = None) -> FactView:
    extra = {"anchor": anchor} if anchor else {}
    return FactView(operator="Op", selector=selector, label_fr="Règle", label_en="Rule",
                    fact=Fact(values=[value]), extra=extra)


def _need(answer: str) -> Need:
    return Need.model_validate({"id": "x", "intent": "other", "answer": answer, "facts": [],
                                "label": {"fr": "x", "en": "x"}, "examples": {"fr": ["x"], "en": ["x"]}})


def _u(text: str) -> Understanding:
    return Understanding(text=text, language="fr", slots=extract_slots(text, today=date(2026, 1, 1)))


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon(str(get_settings().knowledge_dir / "lexicon.yaml"))


def test_percentage_of_the_sum_given():
    r = apply_figure(_value(percent=Decimal("30")), Given(amount=Decimal("4100"), tax_basis=TaxBasis.HT,
                                                          wants_amount=True), "Deposit", "Acompte")
    assert r is not None and r.amount == Decimal("1230.00") and r.tax_basis == TaxBasis.HT
    assert "30 % x 4100.00" in r.breakdown[0].formula


def test_price_per_unit_times_units_counted_but_not_per_month():
    per_line = _value(amount=Decimal("45.50"), per="line", tax_basis=TaxBasis.HT)
    assert apply_figure(per_line, Given(count=4), "Fee", "Frais").amount == Decimal("182.00")
    assert apply_figure(per_line, Given(count=1), "Fee", "Frais") is None  # one unit: the price is the answer
    per_month = _value(amount=Decimal("5"), per="month")
    assert apply_figure(per_month, Given(count=4), "Fee", "Frais") is None


def test_months_of_a_monthly_amount_only_when_an_amount_is_asked():
    six = _value(months=6)
    assert apply_figure(six, Given(monthly=Decimal("75"), wants_amount=True), "Cap", "Plafond").amount == Decimal("450.00")
    assert apply_figure(six, Given(monthly=Decimal("75")), "Cap", "Plafond") is None


def test_a_delay_from_the_date_given_or_back_from_a_term_end():
    r = apply_figure(_value(days=10), Given(start=date(2026, 2, 25), wants_date=True), "Delay", "Délai")
    assert r is not None and r.result_date == "2026-03-07"
    r = apply_figure(_value(months=2), Given(start=date(2026, 8, 31), wants_date=True, before_end=True), "N", "P")
    assert r is not None and r.result_date == "2026-06-30"
    assert apply_figure(_value(days=10), Given(start=date(2026, 2, 25)), "Delay", "Délai") is None


def test_a_period_to_the_end_of_the_month_it_ends_in():
    # "au plus tard le dernier jour du mois suivant": one month on, then that month's last day
    following = _value(months=1, month_end=True)
    r = apply_figure(following, Given(start=date(2026, 1, 20), wants_date=True), "Exit", "Sortie")
    assert r is not None and r.result_date == "2026-02-28"
    assert apply_figure(following, Given(start=date(2026, 2, 12), wants_date=True), "E", "S").result_date == "2026-03-31"
    with pytest.raises(ValueError):
        _value(days=10, month_end=True)  # only a period in months runs to a month's end


def test_a_pro_rata_rule_counts_the_monthly_fee_per_day(lexicon):
    rule = FactView(operator="Op", selector="need:x", label_fr="Prorata", label_en="Pro rata",
                    fact=Fact(sources=[_SRC], pro_rata=True))
    # one date: from it to the end of its month (a first month); September has 30 days: 150 x 10/30
    r = derive(rule, _u("début du service le 21/09/2025, 150 € par mois, combien pour septembre ?"),
               _need("amount"), lexicon)
    assert r is not None and r.amount == Decimal("50.00")
    # two dates: the days between them, inclusive
    r = derive(rule, _u("du 01/07/2025 au 31/07/2025, abonnement 62 € par mois, combien ?"), _need("amount"), lexicon)
    assert r is not None and r.amount == Decimal("62.00")
    # no fee given: nothing to compute
    assert derive(rule, _u("début du service le 21/09/2025, combien ?"), _need("amount"), lexicon) is None


def test_derive_reads_the_customer_figures_from_the_message(lexicon):
    view = _view(_value(percent=Decimal("25")))
    r = derive(view, _u("On me demande une avance sur un devis de 2 400 € HT, combien vais-je verser ?"),
               _need("procedure"), lexicon)
    assert r is not None and r.amount == Decimal("600.00")
    fee = _view(_value(amount=Decimal("90"), per="request"))
    r = derive(fee, _u("nous avons retiré cinq demandes, c'est facturé combien ?"), _need("amount"), lexicon)
    assert r is not None and r.amount == Decimal("450.00")


def test_derive_never_uses_a_contract_start_for_a_notice(lexicon):
    notice = _view(_value(days=30), selector="notice", anchor="from_request")
    u = _u("contrat signé le 02/03/2025, à quelle date la résiliation prend-elle effet ?")
    assert derive(notice, u, _need("duration"), lexicon) is None
    u = _u("j'envoie ma lettre le 02/03/2026, à quelle date la résiliation prend-elle effet ?")
    r = derive(notice, u, _need("duration"), lexicon)
    assert r is not None and r.result_date == "2026-04-01"


def test_a_delay_and_the_one_date_given_lead_to_a_date_unless_a_sum_is_asked(lexicon):
    window = _view(_value(months=1, month_end=True))
    u = _u("Première facture augmentée reçue le 9 mars 2026, je peux partir sans frais ?")
    r = derive(window, u, _need("procedure"), lexicon)
    assert r is not None and r.result_date == "2026-04-30"  # a noun "facture" does not ask for an amount
    monthly = _view(_value(months=1))
    u = _u("résiliation le 9 mars 2026, je paie 40 € par mois : combien me coûte un mois ?")
    r = derive(monthly, u, _need("procedure"), lexicon)
    assert r is not None and r.amount == Decimal("40.00") and not r.result_date


def test_questions_that_ask_for_a_date_or_an_amount(lexicon):
    assert asks_for(lexicon, "date", "et ça se termine quand ?")
    assert asks_for(lexicon, "date", "By when must the letter arrive?")
    assert not asks_for(lexicon, "date", "what happens when I move house")
    assert asks_for(lexicon, "amount", "ça fait combien au total ?")
    assert not asks_for(lexicon, "amount", "combien de temps faut-il ?")
    assert not asks_for(lexicon, "amount", "la facture est arrivée hier")
    assert asks_for(lexicon, "amount", "ils me facturent quoi ?")
    assert asks_for(lexicon, "date", "à partir de quand peuvent-ils couper ?")
    assert asks_for(lexicon, "date", "At what point does the contract end?")
    assert not asks_for(lexicon, "amount", "the bill arrived on Monday")  # the noun, not a sum asked
    assert asks_for(lexicon, "amount", "will they bill me for the visit?")


def test_counts_written_in_words_and_the_longest_distance():
    assert extract_slots("il veut résilier les trois lignes").quantities.get("ligne") == 3
    assert extract_slots("two services were ordered").quantities.get("service") == 2
    assert extract_slots("les deux").quantities == {}
    assert extract_slots("site à 12 km, soit 24 km aller-retour").distance_km == Decimal("24")


def test_the_nth_unit_counts_n_units_and_a_term_end_is_read_as_such():
    assert extract_slots("c'est le 4e rappel que je reçois").quantities.get("rappel") == 4
    assert extract_slots("this is the fourth reminder").quantities.get("reminder") == 4
    assert extract_slots("le 1er mars").quantities.get("mar") in (None, 1)  # a date, not a count
    assert extract_slots("mon engagement se termine le 31/08/2027").term_end_date == date(2027, 8, 31)
    assert extract_slots("I want to end my contract on 31/08/2027").termination_date == date(2027, 8, 31)


def test_a_notice_in_months_is_never_a_number_of_fees(lexicon):
    notice = _view(_value(months=3), selector="notice")
    u = _u("je paie 300 € par mois, combien ça me coûte de partir ?")
    assert derive(notice, u, _need("amount"), lexicon) is None
    indemnity = _view(_value(months=3), selector="need:early_termination_cost")
    assert derive(indemnity, u, _need("amount"), lexicon).amount == Decimal("900.00")
