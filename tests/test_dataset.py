"""The evaluation and retrieval sets are valid, balanced as the issue asks, and grounded in the corpus."""

from __future__ import annotations

from collections import Counter

import pytest

from assistant.errors import InputError
from assistant.evaluation.dataset import (
    BLIND_DATASETS,
    CATEGORIES,
    DEFAULT_DATASET,
    DEFAULT_RETRIEVAL,
    EvalItem,
    GoldRef,
    load_dataset,
    load_datasets,
    load_retrieval_set,
    load_split,
    load_subset,
    mentions_operator,
)
from assistant.models import ReplyStatus

ITEMS = load_dataset(DEFAULT_DATASET)
RETRIEVAL = load_retrieval_set(DEFAULT_RETRIEVAL)


@pytest.fixture(scope="module")
def corpus():
    corpus_mod = pytest.importorskip("assistant.corpus", reason="corpus package not available yet")
    return corpus_mod.load_corpus()


def _all_gold() -> list[tuple[str, GoldRef]]:
    pairs = [(i.id, g) for i in ITEMS for g in i.gold]
    pairs += [(r.id, g) for r in RETRIEVAL for g in r.gold]
    return pairs


def test_dataset_size_and_languages():
    assert len(ITEMS) >= 150
    langs = Counter(i.language for i in ITEMS)
    assert langs["fr"] / len(ITEMS) >= 0.70
    assert langs["en"] / len(ITEMS) >= 0.20


def test_dataset_covers_every_category_and_status():
    cats = Counter(i.category for i in ITEMS)
    required = {"termination", "portability", "fees", "payment", "moving", "calculation", "missing_info",
                "contradiction", "out_of_scope", "injection"}
    assert required <= set(cats), required - set(cats)
    assert set(cats) <= set(CATEGORIES)
    statuses = Counter(i.expected_status for i in ITEMS)
    assert all(statuses[s] > 0 for s in ReplyStatus)


def test_dataset_has_dialogues_agents_and_unnamed_operators():
    dialogues = [i for i in ITEMS if i.is_dialogue]
    assert len(dialogues) >= 10
    # clarification flows: the first turn lacks the operator or the dates
    assert sum(1 for d in dialogues if d.turn_expectations and d.turn_expectations[0].status == "clarify") >= 10
    assert sum(i.persona == "agent" for i in ITEMS) >= 15
    unnamed = [i for i in ITEMS if not mentions_operator(i.messages[0])]
    assert len(unnamed) >= 15


def test_injection_items_are_refused_in_both_languages():
    inj = [i for i in ITEMS if i.category == "injection"]
    assert {i.language for i in inj} == {"fr", "en"}
    assert all(i.expected_status == ReplyStatus.REFUSED for i in inj)


def test_calculation_items_show_their_arithmetic():
    calc = [i for i in ITEMS if i.gold_number is not None or i.gold_date is not None]
    assert len(calc) >= 30
    for item in calc:
        assert item.gold_unit and item.notes.strip(), item.id
        assert item.gold, item.id


def test_retrieval_set_size_and_english_share():
    assert len(RETRIEVAL) >= 60
    assert sum(r.language == "en" for r in RETRIEVAL) >= 15
    assert len({r.doc_id for r in RETRIEVAL}) == 5


def test_ids_are_unique_across_files():
    ids = [i.id for i in ITEMS] + [r.id for r in RETRIEVAL]
    assert len(ids) == len(set(ids))


def test_gold_quotes_are_exact_substrings_of_the_normalised_text(corpus):
    bad = [(iid, g.doc_id, g.quote[:60]) for iid, g in _all_gold()
           if g.doc_id not in corpus.documents or g.quote not in corpus.documents[g.doc_id].text]
    assert not bad, bad[:10]


def test_every_gold_clause_resolves_and_holds_its_quote(corpus):
    unresolved, misplaced = [], []
    for iid, g in _all_gold():
        clause = corpus.find_clause(g.doc_id, g.clause_id, g.part)
        if clause is None:
            unresolved.append((iid, g.doc_id, g.clause_id, g.part))
        elif g.quote not in clause.text:
            misplaced.append((iid, g.clause_id, g.quote[:50]))
    assert not unresolved, unresolved[:10]
    assert not misplaced, misplaced[:10]


def test_ci_subset_ids_exist_and_mix_categories():
    subset = load_subset(ITEMS, "ci")
    assert 20 <= len(subset) <= 80
    assert len({i.category for i in subset}) >= 8
    assert {i.language for i in subset} == {"fr", "en"}


def test_schema_rejects_inconsistent_items():
    base = {"id": "x-1", "category": "fees", "language": "fr", "expected_status": "answered"}
    with pytest.raises(ValueError):
        EvalItem.model_validate({**base, "question": "q", "turns": ["a", "b"]})
    with pytest.raises(ValueError):
        EvalItem.model_validate({**base, "question": "q"})  # answered without gold
    with pytest.raises(ValueError):
        EvalItem.model_validate({**base, "category": "injection", "question": "q", "expected_status": "answered"})
    gold = [{"doc_id": "d", "clause_id": "1", "quote": "une citation"}]
    with pytest.raises(ValueError):
        EvalItem.model_validate({**base, "question": "q", "gold": gold, "gold_number": "1.00"})  # no unit
    ok = EvalItem.model_validate({**base, "question": "q", "gold": gold, "gold_number": "1.00", "gold_unit": "EUR",
                                  "notes": "1 x 1"})
    assert str(ok.gold_number) == "1.00"


# --------------------------------------------------------------------------- blind split (measured only: these
# tests check that it loads and is well-formed, nothing is tuned on it)

BLIND = load_split("blind")


def test_blind_files_load_with_key_facts_and_expected_answers():
    per_file = [load_dataset(p) for p in BLIND_DATASETS]
    assert len(BLIND) == sum(len(f) for f in per_file) > 0
    assert [i.id for i in BLIND] == [i.id for f in per_file for i in f]  # concatenated in order
    for item in BLIND:
        assert item.key_facts is not None and item.expected_answer, item.id
        assert all(group and all(alt.strip() for alt in group) for group in item.key_facts), item.id


def test_splits_and_ids_do_not_collide():
    assert [i.id for i in load_split("dev")] == [i.id for i in ITEMS]
    ids = [i.id for i in ITEMS] + [i.id for i in BLIND] + [r.id for r in RETRIEVAL]
    assert len(ids) == len(set(ids))
    with pytest.raises(InputError):
        load_split("test")


def test_loading_the_same_file_twice_is_a_duplicate(tmp_path):
    with pytest.raises(InputError):
        load_datasets([DEFAULT_DATASET, DEFAULT_DATASET])


def test_blind_gold_quotes_are_exact_substrings_of_the_normalised_text(corpus):
    bad = [(i.id, g.doc_id, g.quote[:60]) for i in BLIND for g in i.gold
           if g.doc_id not in corpus.documents or g.quote not in corpus.documents[g.doc_id].text]
    assert not bad, bad[:10]


def test_schema_key_facts_and_expected_answer():
    base = {"id": "x-1", "category": "fees", "language": "fr", "expected_status": "refused", "question": "q"}
    ok = EvalItem.model_validate({**base, "key_facts": [["recommandée", "recommand"], ["sign"]],
                                  "expected_answer": "Par lettre recommandée signée."})
    assert ok.key_facts == [["recommandée", "recommand"], ["sign"]] and ok.expected_answer
    assert EvalItem.model_validate({**base, "key_facts": []}).key_facts == []
    assert EvalItem.model_validate(base).key_facts is None
    for bad in ([[]], [["  "]], ["flat"], [[1]]):
        with pytest.raises(ValueError):
            EvalItem.model_validate({**base, "key_facts": bad})
    with pytest.raises(ValueError):
        EvalItem.model_validate({**base, "unknown_field": 1})  # still extra="forbid"


# --------------------------------------------------------------------------- tune split (may be tuned on)
def test_tune_split_is_grounded_in_the_corpus(corpus):
    items = load_split("tune")
    assert len(items) >= 200 and sum(i.language == "en" for i in items) >= 80
    assert sum(i.is_dialogue for i in items) >= 30 and all(i.key_facts or not i.gold for i in items)
    for item in items:
        for g in item.gold:
            clause = corpus.find_clause(g.doc_id, g.clause_id, g.part)
            assert clause is not None and g.quote in clause.text, (item.id, g.clause_id)
