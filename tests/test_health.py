"""The knowledge health check: every kind of finding on a small synthetic document, and the known contradictions
of the real documents. Findings' quotes must be exact substrings of the normalised text."""

from __future__ import annotations

import json
import textwrap

import pytest

from assistant.cli import main
from assistant.config import get_settings
from assistant.corpus import load_corpus_from
from assistant.corpus.health import KIND_ORDER, HealthReport, check
from assistant.tools.rules import load_rules
from tests.helpers_index import DOCS, KNOWLEDGE
from tests.test_coverage import DOC, make_synthetic

TEXT = textwrap.dedent("""\
    CONDITIONS GENERALES SYNTHETIQUES

    ARTICLE 1 - DUREE
    1.1 Le contrat est conclu pour une durée de douze (12) mois, résiliable avec un préavis d'un (3) mois.
    1.2 Toute réclamation est introduite dans les trente (60) jours, comme prévu à l'article 1.1.
    1.4 Les modalités de paiement sont définies à l'article 4.9 des CGV et à l'art. 1.2.
    ARTICLE 2 - FRAIS
    2.1 Les frais de blocage sont facturés selon la liste des prix en vigueur.
    2.2 Le rappel est facturé 10,00 € HT. Le rappel est facturé 12,00 € HT à compter du 1er janvier.
    2.3 Conformément à l'article 1347 du Code civil, la preuve est libre. Le délai est de six (6) mois.
    2.4 ANNEXE TARIFAIRE
    """)
RULES = textwrap.dedent("""\
    operator: Synth Telecom
    doc_id: 900_synth
    customer_types: [consumer]
    services: []
    fees:
      - key: reminder
        kind: reminder_fee
        label_fr: Frais de rappel
        label_en: Reminder fee
        status: conflicting
        values:
          - {amount: "10.00", tax_basis: HT, per: reminder, source: {clause_id: "2.2", quote: "Le rappel est facturé 10,00 € HT."}}
          - {amount: "12.00", tax_basis: HT, per: reminder, source: {clause_id: "2.2", quote: "Le rappel est facturé 12,00 € HT"}}
      - key: reminder_new
        kind: reminder_fee
        label_fr: Frais de rappel
        label_en: Reminder fee (new)
        values:
          - {amount: "12.00", tax_basis: HT, per: reminder, source: {clause_id: "2.2", quote: "Le rappel est facturé 12,00 € HT"}}
      - key: reminder_old
        kind: reminder_fee
        label_fr: Frais de rappel
        label_en: Reminder fee (old)
        values:
          - {amount: "10.00", tax_basis: HT, per: reminder, source: {clause_id: "2.2", quote: "Le rappel est facturé 10,00 € HT."}}
      - key: blocking
        kind: blocking_fee
        label_fr: Frais de blocage
        label_en: Blocking fee
        status: not_stated
        pointer: liste des prix
        sources: [{clause_id: "2.1", quote: "Les frais de blocage sont facturés selon la liste des prix en vigueur."}]
    """)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[HealthReport, str]:
    kd = make_synthetic(tmp_path_factory.mktemp("health"), text=TEXT, rules=RULES)
    corpus = load_corpus_from(kd)
    return check(corpus, load_rules(kd / "rules")), corpus.documents[DOC].text


def test_words_that_disagree_with_their_digits(synthetic):
    report, text = synthetic
    found = {f.quotes[0]: f for f in report.of_kind("words_digits")}
    assert set(found) == {"un (3) mois", "trente (60) jours"}  # "douze (12)" and "six (6)" agree
    assert found["un (3) mois"].clause_ids == ["1.1"] and found["trente (60) jours"].clause_ids == ["1.2"]
    assert found["un (3) mois"].values == ["1 (words)", "3 (digits)"]
    assert "is 30 but the digits say 60" in found["trente (60) jours"].message


def test_a_cross_reference_to_a_missing_article(synthetic):
    report, _ = synthetic
    refs = report.of_kind("missing_reference")
    # 4.9 does not exist; 1.1 and 1.2 do; "l'article 1347 du Code civil" is the law's, not the document's
    assert [f.message for f in refs] == ["the text refers to article 4.9 (1×) but the document has no clause 4.9"]
    assert refs[0].clause_ids == ["1.4"]
    assert "l'article 4.9 des CGV" in refs[0].quotes[0]


def test_gap_heading_price_list_and_rules_findings(synthetic):
    report, _ = synthetic
    gaps = report.of_kind("numbering_gap")
    assert [(f.clause_ids, f.message) for f in gaps] == [(["1.2", "1.4"], "numbering jumps from 1.2 to 1.4: 1.3 missing")]
    assert [f.clause_ids for f in report.of_kind("empty_heading")] == [["2.4"]]
    assert [f.quotes for f in report.of_kind("price_list_only")] == [
        ["2.1 Les frais de blocage sont facturés selon la liste des prix en vigueur."]]
    conflicts = report.of_kind("conflicting_fact")
    assert len(conflicts) == 1 and conflicts[0].values == ["10.00 € HT per reminder (2.2)", "12.00 € HT per reminder (2.2)"]
    assert conflicts[0].quotes == ["Le rappel est facturé 10,00 € HT.", "Le rappel est facturé 12,00 € HT"]
    # same fee kind, same label, different amounts: the two stated fees contradict each other (the conflicting fee
    # already holds both figures, so it is not reported against either)
    mismatches = report.of_kind("rules_mismatch")
    assert [f.message for f in mismatches] == [
        "Synth Telecom fee kind reminder_fee: reminder_new and reminder_old (same label) give 12.00 € HT per reminder "
        "(reminder_new, 2.2) vs 10.00 € HT per reminder (reminder_old, 2.2)"]
    assert report.counts()["repeated_run"] == report.counts()["missing_article"] == 0


def test_every_finding_is_well_formed(synthetic):
    report, text = synthetic
    assert report.findings
    for f in report.findings:
        assert f.kind in KIND_ORDER and f.doc_id == DOC and f.operator == "Synth Telecom"
        assert f.message and "\n" not in f.message
        assert f.quotes and all(q in text for q in f.quotes)


# ---------------------------------------------------------------------------------------------- real documents


@pytest.fixture(scope="module")
def real() -> HealthReport:
    return check(load_corpus_from(KNOWLEDGE), load_rules(KNOWLEDGE / "rules"))


def test_known_contradictions_are_listed(real):
    conflicts = {f.message.split(":")[0]: f for f in real.of_kind("conflicting_fact")}

    def one(fragment: str):
        hits = [f for key, f in conflicts.items() if fragment in key]
        assert len(hits) == 1, (fragment, list(conflicts))
        return hits[0]

    paper = one("Crossing Telecom fees.paper_invoice")
    assert paper.values[0].startswith("1.03 € HT per invoice") and paper.values[-1].startswith("2.00 € HT per invoice")
    billing = one("CE+T Télécommunications facts.billing_schedule")  # two rules, not two figures
    assert [v.split(" (")[0] for v in billing.values] == ["the price is billed monthly in arrears, once the period is over",
                                                          "recurring services are billed around the 28th of the month "
                                                          "for the following month, so in advance"]
    surcharge = one("Crossing Telecom fees.payment_method_surcharge")
    assert [v.split(" (")[0] for v in surcharge.values] == ["4.35 € HT per month", "4.39 € HT per invoice"]
    term = one("CE+T Télécommunications easy2phone.minimum_term")
    assert [v.split(" (")[0] for v in term.values] == ["60 months", "36 months"]
    notice = one("CMI Services fixed_telephony.notice_renewed")
    assert [v.split(" (")[0] for v in notice.values] == ["1 month", "3 months"]
    assert any("un (3) mois" in q for q in notice.quotes)
    renewal = one("CMI Services fixed_telephony.renewal")
    assert [v.split(" (")[0] for v in renewal.values] == ["12 months", "same length as the initial term"]
    # the CMI notice is also found by reading the text, without the rules
    words = real.of_kind("words_digits")
    assert [(f.doc_id, f.quotes[0], f.clause_ids) for f in words] == [(DOCS["cmi"], "un (3) mois", ["12.2.1"])]


def test_known_document_defects_are_listed(real):
    refs = {(f.doc_id, f.message.split(" (")[0]) for f in real.of_kind("missing_reference")}
    assert (DOCS["cmi"], "the text refers to article 4.9") in refs
    assert (DOCS["cet"], "the text refers to article 11.3") in refs
    gaps = {(f.doc_id, f.message) for f in real.of_kind("numbering_gap")}
    assert (DOCS["cet"], "numbering jumps from 11.2 to 11.4: 11.3 missing") in gaps
    assert (DOCS["crossing"], "numbering jumps from 8.5.46 to 11.3.1.1: articles 9, 10 missing") in {
        (f.doc_id, f.message) for f in real.of_kind("missing_article")}
    runs = real.of_kind("repeated_run")
    assert [(f.doc_id, f.clause_ids) for f in runs] == [(DOCS["crossing"], ["8.5.14", "8.5.45"])]
    pointers = {(f.doc_id, f.clause_ids[0]) for f in real.of_kind("price_list_only")}
    assert (DOCS["lol"], "8B") in pointers and (DOCS["proximus"], "60 §3") in pointers


def test_real_findings_quote_the_documents_exactly(real):
    corpus = load_corpus_from(KNOWLEDGE)
    for f in real.findings:
        assert f.quotes, f
        assert all(q in corpus.documents[f.doc_id].text for q in f.quotes), f
        assert "\n" not in f.message


def test_corpus_health_command(capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(KNOWLEDGE))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        assert main(["corpus", "--health", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert main(["corpus", "--health"]) == 0
        table = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert list(data["counts"]) == KIND_ORDER
    assert sum(data["counts"].values()) == len(data["findings"]) > 0
    assert {"kind", "doc_id", "operator", "clause_ids", "quotes", "message", "values"} == set(data["findings"][0])
    assert "conflicting_fact" in table and "un (3) mois" in table


def test_coverage_and_health_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        main(["corpus", "--coverage", "--health"])
