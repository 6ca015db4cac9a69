"""HTML / Markdown rendering of answers, citations, clause texts, calculator results and tool traces.

Everything that comes from a user, a document or a tool is escaped here before it reaches the browser:
clause texts are real, messy extractions and users paste anything, so no string is trusted as markup.
A quote is highlighted by escaping the text around it and wrapping the escaped quote in <mark>.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from assistant.models import CalcResult, Citation, Clause, Reply, ToolTrace
from assistant.ui.i18n import t

FindClause = Callable[[str, str, str | None], Clause | None]


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def escape_markdown_html(text: str) -> str:
    """Neutralise HTML in text that the chat renders as Markdown: tags show as text, Markdown still works.

    Escaping `<` is enough to stop every tag; `>` is kept because it starts the Markdown blockquotes in
    which the assistant quotes clauses.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;")


def find_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` sits in `text`: exact first, then tolerant of whitespace and case (page furniture and
    line breaks differ between a clause's text and a quote taken from a chunk)."""
    quote = quote.strip()
    if not quote or not text:
        return None
    index = text.find(quote)
    if index >= 0:
        return index, index + len(quote)
    pattern = r"\s+".join(re.escape(token) for token in quote.split())
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def highlight(text: str, quote: str | None) -> str:
    """Escaped `text` with the first occurrence of `quote` wrapped in <mark>."""
    span = find_span(text, quote or "")
    if span is None:
        return esc(text)
    start, end = span
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def clause_label(clause_id: str, part: str | None = None) -> str:
    """'art. 8.5.12', 'CP Mobile, art. 7', 'ARTICLE 12' (no 'art.' before an id that already names itself)."""
    number = f"art. {clause_id}" if clause_id[:1].isdigit() else clause_id
    return f"{part}, {number}" if part else number


def citation_label(citation: Citation) -> str:
    label = f"{citation.operator} · {clause_label(citation.clause_id, citation.part)}"
    return f"{label} — {citation.title}" if citation.title else label


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def answer_markdown(reply: Reply) -> str:
    """The chat bubble: the answer (which already quotes the clauses), then the numbered references of
    the sources panel, by label only so that no quote is shown twice."""
    parts = [escape_markdown_html(reply.answer.strip())]
    if reply.citations:
        # one line per clause, with the numbers of its quotes in the sources panel ("[1, 2] … art. 65")
        numbers: dict[str, list[int]] = {}
        for number, citation in enumerate(reply.citations, start=1):
            numbers.setdefault(citation_label(citation), []).append(number)
        lines = [f"**{t('sources_heading', reply.language)}**"]
        lines += [f"[{', '.join(map(str, nums))}] {escape_markdown_html(label)}" for label, nums in numbers.items()]
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts)


def status_text(status: str, lang: str) -> str:
    key = f"status_{status}"
    try:
        return t(key, lang)
    except KeyError:
        return status


def sources_html(citations: Iterable[Citation], find_clause: FindClause | None, lang: str,
                 doc_titles: Mapping[str, str] | None = None) -> str:
    """One expandable card per citation: the clause's full text with the quoted span highlighted."""
    cards = []
    for number, citation in enumerate(citations, start=1):
        clause = None
        if find_clause is not None:
            try:
                clause = find_clause(citation.doc_id, citation.clause_id, citation.part)
            except Exception:  # a lookup failure must not hide the answer; show the quote instead
                clause = None
        doc_title = citation.doc_title or (doc_titles or {}).get(citation.doc_id, citation.doc_id)
        if clause is not None and find_span(clause.text, citation.quote):
            body = f'<div class="clause-text">{highlight(clause.text, citation.quote)}</div>'
        else:
            body = (f'<p class="quote-note">{esc(t("quote_not_located", lang))}</p>'
                    f'<div class="clause-text"><mark>{esc(citation.quote)}</mark></div>')
        cards.append(
            f'<details class="source-card" data-clause="{esc(citation.clause_id)}" '
            f'data-doc="{esc(citation.doc_id)}"{" open" if number == 1 else ""}>'
            f'<summary><span class="source-num">[{number}]</span> {esc(citation_label(citation))}'
            f'<span class="source-doc">{esc(doc_title)}</span></summary>{body}</details>'
        )
    if not cards:
        return f'<p class="no-sources">{esc(t("no_sources", lang))}</p>'
    return '<div class="sources">' + "".join(cards) + "</div>"


def _format_amount(result: CalcResult) -> str:
    if result.amount is None:
        return ""
    unit = result.unit or result.currency or ""
    if unit == "EUR" or (not result.unit and result.currency == "EUR"):
        unit = "€"
    tax = f" {result.tax_basis.value}" if result.tax_basis.value in ("HT", "TTC") else ""
    return f"{result.amount} {unit}{tax}".strip()


def calc_result_html(output: Mapping[str, Any] | CalcResult, lang: str) -> str:
    """A calculator result: headline figure, status, step-by-step table, assumptions, warnings, clauses."""
    try:
        result = output if isinstance(output, CalcResult) else CalcResult.model_validate(output)
    except ValidationError:
        return f'<pre class="tool-json">{esc(json.dumps(output, ensure_ascii=False, indent=2, default=str))}</pre>'
    headline = _format_amount(result) or esc(result.result_date or "")
    if result.status.value == "not_stated" and not headline:
        headline = esc(t("calc_not_stated", lang))
    parts = [f'<div class="calc-result" data-status="{esc(result.status.value)}">',
             f'<div class="calc-headline"><span class="calc-label">{esc(t("calc_amount", lang))}</span> '
             f'<strong class="calc-amount">{esc(headline)}</strong>'
             f'{"" if not result.result_date or headline == result.result_date else " · " + esc(result.result_date)}'
             f'</div>',
             f'<div class="calc-status">{esc(t("calc_status", lang))} : {esc(result.status.value)}</div>']
    if result.breakdown:
        rows = "".join(f"<tr><td>{esc(step.label)}</td><td><code>{esc(step.formula)}</code></td>"
                       f"<td>{esc(step.value)}</td></tr>" for step in result.breakdown)
        parts.append(f'<div class="calc-section">{esc(t("calc_steps", lang))}</div>'
                     f'<table class="calc-steps"><tbody>{rows}</tbody></table>')
    for key, items in (("calc_assumptions", result.assumptions), ("calc_warnings", result.warnings)):
        if items:
            parts.append(f'<div class="calc-section">{esc(t(key, lang))}</div><ul>'
                         + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>")
    if result.citations:
        parts.append(f'<div class="calc-section">{esc(t("calc_citations", lang))}</div><ul>'
                     + "".join(f"<li>{esc(citation_label(c))} — « {esc(shorten(c.quote))} »</li>"
                               for c in result.citations) + "</ul>")
    parts.append("</div>")
    return "".join(parts)


def tool_trace_html(tools: Iterable[ToolTrace], lang: str) -> str:
    items = []
    for tool in tools:
        input_json = esc(json.dumps(tool.input, ensure_ascii=False, indent=1, default=str))
        items.append(f'<details class="tool"><summary><code>{esc(tool.name)}</code></summary>'
                     f'<pre class="tool-json">{input_json}</pre>{calc_result_html(tool.output, lang)}</details>')
    if not items:
        return f'<p class="no-tools">{esc(t("no_tools", lang))}</p>'
    return "".join(items)
