"""The corpus health report as rows a reader can scan: shared by the evaluation report and the QA page."""

from __future__ import annotations

import html

from assistant.corpus.health import KIND_ORDER, HealthReport

KIND_LABELS = {
    "conflicting_fact": "Contradiction between clauses (rules facts)",
    "words_digits": "Number in words disagreeing with its digits",
    "rules_mismatch": "Same fee or duration with two values",
    "missing_reference": "Cross-reference to an article that does not exist",
    "missing_article": "Missing article",
    "numbering_gap": "Numbering gap",
    "repeated_run": "Machine-repeated clause run",
    "empty_heading": "Heading without text",
    "price_list_only": "Amount only 'in the price list'",
}
# What a QA analyst reads first: what can make an answer wrong, then the structure of the texts.
PRIORITY = ["conflicting_fact", "words_digits", "rules_mismatch", "missing_reference", "missing_article",
            "numbering_gap", "repeated_run", "empty_heading", "price_list_only"]


def counts_rows(report: HealthReport) -> list[list[str]]:
    counts = report.counts()
    return [[KIND_LABELS.get(k, k), str(counts.get(k, 0))] for k in PRIORITY if k in KIND_ORDER]


def finding_rows(report: HealthReport, kinds: list[str] | None = None, limit: int = 200) -> list[list[str]]:
    """(kind, operator, clauses, what, quote) for the findings of `kinds` (default: those that can make an
    answer wrong), most important kind first."""
    wanted = kinds or PRIORITY[:4]
    rows = []
    for kind in wanted:
        for f in report.of_kind(kind):
            what = f.message + (f" ({'; '.join(f.values)})" if f.values else "")
            quote = " / ".join(q[:160] for q in f.quotes[:2])
            rows.append([KIND_LABELS.get(kind, kind), f.operator, ", ".join(f.clause_ids), what, quote])
    return rows[:limit]


def health_html(report: HealthReport) -> str:
    """A self-contained page (no script) for the QA view of the web app."""
    def table(headers: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
             "th{background:#f3f3f3}")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Corpus health</title>"
            f"<style>{style}</style></head><body><h1>Corpus health</h1>"
            "<p>Found automatically in every document (no per-document code): what can make an answer wrong "
            "first. Quotes are exact substrings of the normalised texts. Same data: "
            "<code>assistant corpus --health --json</code>.</p>"
            f"{table(['finding', 'count'], counts_rows(report))}"
            "<h2>Contradictions and broken references</h2>"
            f"{table(['finding', 'operator', 'clauses', 'what', 'quote'], finding_rows(report))}"
            "<h2>Structure of the texts</h2>"
            f"{table(['finding', 'operator', 'clauses', 'what', 'quote'], finding_rows(report, PRIORITY[4:]))}"
            "</body></html>\n")
