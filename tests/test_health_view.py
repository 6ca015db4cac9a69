"""The corpus health check as QA teams read it: the web page and the evaluation report section."""

from __future__ import annotations

from assistant.config import get_settings
from assistant.corpus.health import Finding, HealthReport
from assistant.corpus.health_view import counts_rows, finding_rows, health_html


def test_contradictions_come_first_and_text_is_escaped():
    report = HealthReport(findings=[
        Finding(kind="numbering_gap", doc_id="d", operator="Op", clause_ids=["3"], message="gap after 3"),
        Finding(kind="conflicting_fact", doc_id="d", operator="Op", clause_ids=["4", "9"],
                quotes=["<b>un (3) mois</b>"], message="notice differs", values=["1 month (art. 4)", "3 months (art. 9)"]),
    ])
    rows = finding_rows(report)
    assert rows[0][0].startswith("Contradiction") and "3 months (art. 9)" in rows[0][3]
    assert ["Numbering gap", "1"] in counts_rows(report)
    page = health_html(report)
    assert "&lt;b&gt;un (3) mois&lt;/b&gt;" in page and "<b>un" not in page  # never raw HTML from a document


def test_the_qa_page_lists_the_known_contradictions_of_the_corpus():
    from assistant.ui.server import _health_page

    page = _health_page(get_settings())().body.decode()
    assert "Corpus health" in page
    for operator in ("Crossing Telecom", "CE+T Télécommunications", "CMI Services"):
        assert operator in page
