"""Coverage of figure sentences by the rules quotes: sentence splitting, figure detection, the counter on a small
synthetic document, exclusions, and the command on the real knowledge base. No embedding model is loaded."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import get_settings
from assistant.corpus import load_corpus_from
from assistant.corpus.coverage import (
    EXCLUSIONS_FILE,
    Exclusion,
    load_exclusions,
    measure,
    measure_knowledge,
)
from assistant.corpus.figures import figure_kinds, split_sentences, words_to_int
from assistant.errors import CorpusError
from assistant.tools.rules import load_rules
from tests.helpers_index import DOCS, KNOWLEDGE

DOC = "900_synth"
TEXT = textwrap.dedent("""\
    CONDITIONS GENERALES SYNTHETIQUES

    ARTICLE 1 - DUREE
    1.1 Le contrat est conclu pour une durée de douze (12) mois. Il est reconduit tacitement.
    1.2 Le préavis de résiliation est de trente (30) jours. Les frais de dossier sont de 25,00 € HT.
    ARTICLE 2 - PAIEMENT
    2.1 Les factures sont payables dans un délai de 15 jours. Un intérêt de 1% par mois est dû.
    2.2 Le client reçoit un relevé mensuel.
    2.3 Le préavis de résiliation est de trente (30) jours.
    """)
RULES = textwrap.dedent("""\
    operator: Synth Telecom
    doc_id: 900_synth
    customer_types: [consumer]
    services: []
    facts:
      - key: termination_notice
        need: notice_period
        label_fr: Préavis
        label_en: Notice
        values:
          - days: 30
            source: {clause_id: "1.2", quote: "Le préavis de résiliation est de trente (30) jours"}
    """)


def make_synthetic(root: Path, text: str = TEXT, rules: str = RULES) -> Path:
    kd = root / "knowledge"
    (kd / "documents").mkdir(parents=True)
    (kd / "rules").mkdir()
    (kd / "documents" / f"{DOC}.txt").write_text(text, encoding="utf-8")
    (kd / "manifest.yaml").write_text(
        f"documents:\n  - {{doc_id: {DOC}, file: {DOC}.txt, operator: Synth Telecom, country: LU,"
        " title: Conditions, kind: general conditions}\n", encoding="utf-8")
    (kd / "rules" / "synth-telecom.yaml").write_text(rules, encoding="utf-8")
    return kd


@pytest.fixture
def synthetic(tmp_path):
    kd = make_synthetic(tmp_path)
    return kd, load_corpus_from(kd), load_rules(kd / "rules")


# ---------------------------------------------------------------------------------------------- sentences, figures


def test_sentences_split_at_ends_but_not_after_abbreviations_nor_inside_a_broken_line():
    text = ("Voir l'art. 4.9 des CGV. Le client paie 10 €. Ensuite il part.\n"
            "Le solde est restitué dans un délai de trente\n(30) jours après résiliation.\nDATE")
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == ["Voir l'art. 4.9 des CGV.", "Le client paie 10 €.", "Ensuite il part.",
                   "Le solde est restitué dans un délai de trente\n(30) jours après résiliation.", "DATE"]


@pytest.mark.parametrize("sentence,kinds", [
    ("Le préavis est de trente (30) jours.", ["duration"]),
    ("une durée minimale d'engagement de vingt- quatre (24) mois", ["duration"]),
    ("un préavis d'un mois", ["duration"]),
    ("la valeur du Service lors des 6 derniers mois", ["duration"]),
    ("sous 8 (huit) jours", ["duration"]),
    ("résiliation 48 heures ouvrées après réception", ["duration"]),
    ("facturée 2,€ HT par facture", ["amount"]),
    ("(jusqu'à 10,-€ HT/min)", ["amount"]),
    ("un montant cumulé de 200 000 EUR par année calendrier", ["amount"]),
    ("soixante (60) Euros hors taxe", ["amount"]),
    ("un intérêt de 1% par mois", ["percent"]),
    ("4,35-€ HT/mois", ["amount"]),  # a monthly price, not a duration
    ("Mandat S€PA", []),
    ("de 08h00 à 17h00, 24h/24", []),  # times of day, not durations
    ("Tout mois entamé est dû.", []),
])
def test_figure_kinds(sentence, kinds):
    assert figure_kinds(sentence) == kinds


@pytest.mark.parametrize("words,value", [("un", 1), ("trente", 30), ("vingt- quatre", 24), ("quatre-vingt-dix", 90),
                                         ("soixante-douze", 72), ("deux cents", 200), ("trente et un", 31),
                                         ("quatre-vingts", 80), ("mille deux cent", 1200)])
def test_number_words(words, value):
    assert words_to_int(words) == value


# ---------------------------------------------------------------------------------------------- counter


def test_counter_on_a_synthetic_document(synthetic):
    kd, corpus, rules = synthetic
    report = measure(corpus, rules)
    rows = {(s.clause_id, s.text): s for s in report.sentences}
    # every figure sentence, and nothing else (2.2 and the plain sentences state no figure)
    assert sorted(rows) == sorted([
        ("1.1", "1.1 Le contrat est conclu pour une durée de douze (12) mois."),
        ("1.2", "1.2 Le préavis de résiliation est de trente (30) jours."),
        ("1.2", "Les frais de dossier sont de 25,00 € HT."),
        ("2.1", "2.1 Les factures sont payables dans un délai de 15 jours."),
        ("2.1", "Un intérêt de 1% par mois est dû."),
        ("2.3", "2.3 Le préavis de résiliation est de trente (30) jours."),
    ])
    text = corpus.documents[DOC].text
    assert all(text[s.start:s.end] == s.text for s in report.sentences)
    assert rows[("1.2", "1.2 Le préavis de résiliation est de trente (30) jours.")].status == "rules"
    # the same words in another clause are not what the rule quotes: position counts, not text
    assert rows[("2.3", "2.3 Le préavis de résiliation est de trente (30) jours.")].status == "uncovered"
    overall = report.overall
    assert (overall["duration"].total, overall["duration"].by_rules) == (4, 1)
    assert (overall["amount"].total, overall["amount"].by_rules) == (1, 0)
    assert (overall["percent"].total, overall["percent"].by_rules) == (1, 0)
    assert (overall["any"].total, overall["any"].covered) == (6, 1)
    assert report.documents[0].shares["duration"].share() == 0.25
    assert len(report.uncovered) == 5


def test_clauses_a_rules_fact_cites_are_counted_apart_from_titles(tmp_path):
    long = "Le client peut résilier par lettre recommandée ; la résiliation prend effet à la fin du mois suivant. " * 2
    text = textwrap.dedent(f"""\
        CONDITIONS GENERALES SYNTHETIQUES

        ARTICLE 1 - DUREE
        1.2 Le préavis de résiliation est de trente (30) jours. {long}
        ARTICLE 2 - PAIEMENT
        2.1 Les factures sont payables à réception. {long}
        2.2 Titre court.
        """)
    kd = make_synthetic(tmp_path, text=text)
    report = measure(load_corpus_from(kd), load_rules(kd / "rules"))
    doc = report.documents[0]
    # 1.2 is cited by the rules, 2.1 is long and cited by none, 2.2 is too short to count
    assert (doc.clauses, doc.clauses_cited) == (2, 1)
    assert report.as_json()["clauses"] == {"total": 2, "cited": 1}


def test_a_sentence_inside_a_quote_and_a_quote_across_a_sentence_edge_cover_it(tmp_path):
    rules = RULES.replace('quote: "Le préavis de résiliation est de trente (30) jours"',
                          'quote: "de trente (30) jours. Les frais de dossier sont de 25,00 €"')
    rules += ("      - days: 15\n        source: {clause_id: \"2.1\", quote: \"2.1 Les factures sont payables"
              " dans un délai de 15 jours. Un intérêt de 1% par mois est dû.\"}\n")
    rules = rules.replace("    values:\n", "    status: conflicting\n    values:\n")
    kd = make_synthetic(tmp_path, rules=rules)
    report = measure(load_corpus_from(kd), load_rules(kd / "rules"))
    status = {(s.clause_id, s.text[:12]): s.status for s in report.sentences}
    assert status[("1.2", "1.2 Le préav")] == "rules"  # the quote runs into it and holds its "trente (30) jours"
    assert status[("1.2", "Les frais de")] == "rules"  # ... and covers this one's "25,00 €"
    assert status[("2.1", "2.1 Les fact")] == status[("2.1", "Un intérêt d")] == "rules"  # inside the quote
    assert status[("1.1", "1.1 Le contr")] == "uncovered"


def test_exclusions_count_as_covered_with_their_reason(synthetic, tmp_path):
    kd, corpus, rules = synthetic
    (kd / EXCLUSIONS_FILE).write_text(textwrap.dedent(f"""\
        exclusions:
          - doc_id: {DOC}
            clause_id: "2.1..2.3"
            quote: "Le préavis de résiliation"
            reason: repeated clause, kept out on purpose
          - doc_id: {DOC}
            clause_id: "2.1"
            quote: "intérêt de 1%"
            reason: late interest is answered elsewhere
          - doc_id: 999_absent
            clause_id: "1"
            quote: "nothing here"
            reason: document of another knowledge base
        """), encoding="utf-8")
    report = measure(corpus, rules, load_exclusions(kd / EXCLUSIONS_FILE))
    excluded = {(s.clause_id, s.reason) for s in report.excluded}
    assert excluded == {("2.3", "repeated clause, kept out on purpose"), ("2.1", "late interest is answered elsewhere")}
    assert report.overall["percent"].by_exclusion == 1 and report.overall["percent"].share() == 1.0
    assert report.overall["duration"].covered == 2 and report.overall["any"].by_exclusion == 2
    assert [e.doc_id for e in report.unused_exclusions] == ["999_absent"]
    data = report.as_json()
    assert {r["clause_id"] for r in data["excluded"]} == {"2.1", "2.3"}
    assert data["overall"]["any"]["share"] == round(3 / 6, 4) and data["overall"]["any"]["share_rules_only"] == round(1 / 6, 4)


@pytest.mark.parametrize("entry,problem", [
    ({"clause_id": "7.7"}, "clause '7.7' not found"),
    ({"clause_id": "2.3..1.1"}, "clause '2.3..1.1' not found"),
    ({"quote": "pas dans le texte"}, "is not in"),
])
def test_an_exclusion_that_does_not_resolve_is_one_clear_error(synthetic, entry, problem):
    kd, corpus, rules = synthetic
    base = {"doc_id": DOC, "clause_id": "2.1", "quote": "intérêt de 1%", "reason": "why"}
    with pytest.raises(CorpusError, match=problem) as exc:
        measure(corpus, rules, [Exclusion(**{**base, **entry})])
    assert "\n" not in str(exc.value)


def test_a_malformed_exclusions_file_is_one_line(tmp_path):
    path = tmp_path / EXCLUSIONS_FILE
    path.write_text("exclusions:\n  - {doc_id: d, clause_id: '1', quote: abc}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="reason") as exc:
        load_exclusions(path)
    assert "\n" not in str(exc.value)
    assert load_exclusions(tmp_path / "absent.yaml") == []


# ---------------------------------------------------------------------------------------------- real knowledge


def test_real_knowledge_coverage_and_every_exclusion_is_used():
    report = measure_knowledge(KNOWLEDGE)
    assert not report.unused_exclusions, report.unused_exclusions
    assert {d.doc_id for d in report.documents} == set(DOCS.values())
    for kind in ("amount", "duration", "percent", "any"):
        share = report.overall[kind]
        assert share.total > 0 and 0 <= share.by_rules <= share.covered <= share.total
    corpus = load_corpus_from(KNOWLEDGE)
    for s in report.sentences:
        assert corpus.documents[s.doc_id].text[s.start:s.end] == s.text
    # the machine-repeated run of Crossing 8.5.15..8.5.45 is excluded, with its reason; a rules fact may cite one
    # of its clauses (the suspension fact cites the first), which then counts as covered by the rules
    run = [s for s in report.sentences if s.repeated_run]
    excluded = [s for s in run if s.status == "excluded"]
    assert len(run) == 31 and len(excluded) >= 30 and all("Machine-repeated" in s.reason for s in excluded)
    assert all(s.status in ("excluded", "rules") for s in run)


def test_corpus_coverage_command_json(capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(KNOWLEDGE))
    get_settings.cache_clear()
    try:
        assert main(["corpus", "--coverage", "--json"]) == 0
    finally:
        get_settings.cache_clear()
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"overall", "clauses", "documents", "uncovered", "excluded", "unused_exclusions"}
    assert 0 < data["clauses"]["cited"] <= data["clauses"]["total"]
    assert set(data["overall"]) == {"amount", "duration", "percent", "any"}
    assert [d["doc_id"] for d in data["documents"]] == list(DOCS.values())
    for row in data["uncovered"]:
        assert row["doc_id"] and row["clause_id"] and row["text"]


def test_corpus_coverage_command_table(capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(KNOWLEDGE))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        assert main(["corpus", "--coverage"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "overall" in out and "durations" in out and "Machine-repeated run" in out
