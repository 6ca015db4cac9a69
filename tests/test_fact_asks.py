"""Questions a fact answers (`asks` in the rules files) count in the fact's similarity to a message."""

from __future__ import annotations

import dataclasses

import numpy as np

from assistant.agent.facts import FactBase
from assistant.config import get_settings
from assistant.tools.rules import load_rules


def _embed(texts: list[str]) -> np.ndarray:
    """A stand-in embedding: one hashed dimension per word, so texts sharing words are close."""
    rows = []
    for text in texts:
        row = np.zeros(4096)
        for w in text.lower().split():
            row[hash(w) % 4096] += 1.0
        rows.append(row / max(np.linalg.norm(row), 1e-9))
    return np.asarray(rows)


def test_the_closest_ask_less_the_offset_is_the_facts_similarity():
    facts = FactBase(load_rules(get_settings().rules_dir), embed=_embed, ask_offset=0.05)
    view = facts.candidates("Proximus", None, None, None)[0]
    plain = dataclasses.replace(view, fact=view.fact.model_copy(update={"asks": []}))
    asked = dataclasses.replace(view, fact=view.fact.model_copy(update={"asks": ["zz yy xx", "qq ww ee"]}))
    question = "zz yy xx"
    without = facts.similarities([plain], question, "fr")[0]
    with_asks = facts.similarities([asked], question, "fr")[0]
    assert without < 0.5  # the label and summary share no word with the question
    assert abs(with_asks - (1.0 - 0.05)) < 1e-9  # the identical ask, less the offset


def test_every_fee_and_open_fact_of_the_five_operators_has_asks_in_both_languages():
    from assistant.agent.understanding import detect_language

    book = load_rules(get_settings().rules_dir)
    for op in book.operators():
        rules = book.for_operator(op)
        for fact in [*rules.fees, *rules.facts]:
            languages = {detect_language(a, default="fr") for a in fact.asks}
            assert len(fact.asks) >= 2 and languages == {"fr", "en"}, f"{op} {fact.key}: {fact.asks}"
