"""The need router: understanding declared as data (knowledge/needs.yaml), one scorer that can abstain.

Questions here are written for these tests, not taken from any evaluation set. The router runs with the
product's embedding model (as in the app) and, for the stand-in mode used by the agent tests, on words only.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.agent.router import NeedRouter, load_needs, phrase_in, stem_tokens  # noqa: E402
from assistant.config import get_settings  # noqa: E402
from assistant.errors import CorpusError  # noqa: E402

CATALOG = load_needs(get_settings().knowledge_dir / "needs.yaml")


@pytest.fixture(scope="module")
def router() -> NeedRouter:
    from assistant.agent.assistant import _query_embedder

    return NeedRouter(CATALOG, _query_embedder(get_settings()))


@pytest.mark.parametrize("text,need", [
    ("Je voudrais savoir combien je paierai si j'arrête mon forfait un an avant la fin", "early_termination_cost"),
    ("what's the penalty if we break our contract now?", "early_termination_cost"),
    ("Quel délai de préavis dois-je respecter ?", "notice_period"),
    ("If my letter leaves on 10 March, on which day does the contract stop?", "termination_date"),
    ("La démarche pour arrêter mon abonnement, c'est quoi ?", "how_to_terminate"),
    ("Est-ce que je garde mon numéro en partant chez un concurrent ?", "portability_procedure"),
    ("On emménage ailleurs le mois prochain, que devient la ligne ?", "moving"),
    ("I paid my bill three weeks late, will there be interest?", "late_payment"),
    ("Le relevé papier est-il facturé ?", "fee_amount"),
    ("Internet coupé depuis trois jours, j'ai droit à quoi ?", "outage_refund"),
    ("Recette de la tarte aux pommes ?", "out_of_scope"),
])
def test_routes_reworded_questions(router, text, need):
    routing = router.route(text)
    assert routing.top == need, routing.ranked[:3]


def test_two_part_question_gets_two_needs(router):
    routing = router.route("Quel est le préavis, et combien vais-je payer si je pars avant la fin de l'engagement ?")
    assert set(routing.needs) == {"notice_period", "early_termination_cost"}


def test_a_message_that_asks_nothing_gets_no_answer_need(router):
    routing = router.route("Alpha Beta Gamma")
    assert routing.abstained or CATALOG.get(routing.top).action != "answer"


def test_filled_inputs_tip_a_terse_message(router):
    text = "pro 6 lignes 35€/mois depuis 01/02/2024 résil 01/09/2025"
    fill = {"early_termination_cost": 1.0, "termination_date": 0.5}
    assert router.route(text, fill=fill).top == "early_termination_cost"


def test_keywords_match_whole_words_only():
    # "décembre" must never look like "décès", nor "an" like "annulation"
    assert not phrase_in(stem_tokens("deces"), stem_tokens("résiliation au 1er décembre 2025"))
    assert not phrase_in(stem_tokens("an"), stem_tokens("annulation de la commande"))
    assert phrase_in(stem_tokens("resiliation"), stem_tokens("Résilier mon contrat"))


def test_words_only_mode_still_ranks_by_examples():
    words_only = NeedRouter(CATALOG, None)
    assert words_only.route("Quel est le préavis de résiliation ?").top == "notice_period"
    assert words_only.route("Comment résilier mon contrat, par lettre recommandée ?").top == "how_to_terminate"


def test_a_broken_needs_file_is_one_clear_line(tmp_path: Path):
    bad = tmp_path / "needs.yaml"
    bad.write_text("needs:\n  - {id: Bad Id, intent: x, answer: amount, label: {fr: a, en: a}}\n", encoding="utf-8")
    with pytest.raises(CorpusError) as exc:
        load_needs(bad)
    assert "needs.yaml" in str(exc.value) and "\n" not in str(exc.value)


def test_december_is_not_a_death(router):
    """A date in December must not switch an early-termination bill to the customer's-death case."""
    from assistant.agent.planner import slot_values
    from assistant.agent.understanding import OperatorMatcher, understand

    u = understand("résiliation au 01/12/2025, 40 €/mois depuis le 01/01/2025", OperatorMatcher({}), today=date(2025, 1, 1))
    assert "reason" not in slot_values(u, "X")


def test_filled_inputs_never_make_an_unrelated_need_win(router):
    # the message speaks of keeping a number; an amount it gives fills the late-payment calculator's input
    text = "Garder mon numéro chez le nouvel opérateur coûte combien ? On m'a parlé de 35 €"
    alone = router.route(text)
    filled = router.route(text, fill={"late_payment": 1.0})
    assert filled.ranked[0].need == alone.ranked[0].need != "late_payment"


def test_also_must_name_needs_of_the_file(tmp_path: Path):
    bad = tmp_path / "needs.yaml"
    bad.write_text("needs:\n  - {id: a, intent: x, answer: amount, label: {fr: a, en: a}, also: [nowhere]}\n",
                   encoding="utf-8")
    with pytest.raises(CorpusError) as exc:
        load_needs(bad)
    assert "nowhere" in str(exc.value) and "\n" not in str(exc.value)


def test_what_is_asked_is_read_without_the_customer_figures():
    from assistant.index.text import figureless

    assert figureless("je paie 54,90 €/mois depuis le 12/03/2024, 8 lignes") == "je paie €/mois depuis le , lignes"
    assert figureless("2024") == "2024"  # nothing but figures: the text as it is
    assert "avril" in figureless("résiliation le 22 avril 2024")  # a month name stays: it says a date is given


def test_a_french_verb_in_the_plural_shares_its_singular_stem():
    from assistant.agent.router import phrase_in, stem_tokens

    # Snowball keeps "coupent" apart from "couper"; the need's keyword must still match it
    assert phrase_in(stem_tokens("couper", "fr"), stem_tokens("ils coupent la ligne", "fr"))
    assert phrase_in(stem_tokens("suspend"), stem_tokens("est-ce qu'ils suspendent mon compte ?"))
    assert not phrase_in(stem_tokens("couper", "fr"), stem_tokens("le moment venu", "fr"))
