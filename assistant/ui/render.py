"""HTML / Markdown rendering of answers, citations and clause texts (calculator results: `calc_view`).

Everything that comes from a user, a document or a tool is escaped here before it reaches the browser:
clause texts are real, messy extractions and users paste anything, so no string is trusted as markup.
A quote is highlighted by escaping the text around it and wrapping the escaped quote in <mark>.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping

from assistant.models import Citation, Clause, Reply
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


_HEADING = re.compile(r"^\*\*[^*]+\*\*(\s*\([^)]*\))?\s*:?$")
_QUOTE_TEXT = re.compile(r"«\s*(.+?)\s*»", re.S)


def _is_quote(paragraph: str) -> bool:
    lines = [line for line in paragraph.splitlines() if line.strip()]
    return bool(lines) and all(line.lstrip().startswith(">") for line in lines)


def _quote_key(paragraph: str) -> str:
    """What makes two quote blocks the same quote: the quoted words, whatever the attribution line says."""
    match = _QUOTE_TEXT.search(paragraph)
    return " ".join((match.group(1) if match else paragraph).split()).casefold()


def split_answer(answer: str) -> tuple[list[str], list[str]]:
    """(the answer's paragraphs, its source quotes): a quote section (a bold heading followed by quotes,
    "**Sources**", "**Voir aussi**") moves to the sources, each quote once; a quote the answer introduces
    ("the passage closest to your question is art. 5 :") stays where it is, as the answer."""
    paragraphs = [p for p in re.split(r"\n\s*\n", answer.strip()) if p.strip()]
    body: list[str] = []
    sources: list[str] = []
    seen: set[str] = set()
    in_sources = False
    for index, paragraph in enumerate(paragraphs):
        following = paragraphs[index + 1] if index + 1 < len(paragraphs) else ""
        if _HEADING.match(paragraph.strip()) and _is_quote(following):
            in_sources = True
            continue
        if not _is_quote(paragraph):
            in_sources = False
            body.append(paragraph)
            continue
        key = _quote_key(paragraph)
        if key in seen:
            continue
        seen.add(key)
        (sources if in_sources else body).append(paragraph)
    # A quote inside a longer quote of the same answer adds nothing: the longer one shows it.
    keys = [_quote_key(p) for p in body if _is_quote(p)] + [_quote_key(p) for p in sources]
    sources = [p for p in sources if not any(_quote_key(p) in other and _quote_key(p) != other for other in keys)]
    return body, sources


def answer_markdown(reply: Reply) -> str:
    """The chat bubble: the answer first, then its sources collapsed (each quote once), so the customer
    reads the answer, not the reference list."""
    body, quotes = split_answer(reply.answer)
    parts = [escape_markdown_html(p) for p in body] or [escape_markdown_html(reply.answer.strip())]
    if not quotes:
        cited = {_quote_key(p) for p in body}
        quotes = [f"> « {c.quote} »\n> — {citation_label(c)}" for c in _unique(reply.citations)
                  if " ".join(c.quote.split()).casefold() not in cited]
    if quotes:
        labels = list(dict.fromkeys(clause_label(c.clause_id, c.part) for c in reply.citations))
        summary = t("sources_summary", reply.language, n=len(quotes), labels=", ".join(labels))
        inner = "\n\n".join(escape_markdown_html(q) for q in quotes)
        parts.append(f'<details class="answer-sources"><summary>{esc(summary)}</summary>\n\n{inner}\n\n</details>')
    return "\n\n".join(parts)


def _unique(citations: Iterable[Citation]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for citation in citations:
        seen.setdefault(" ".join(citation.quote.split()).casefold(), citation)
    return list(seen.values())


def status_text(status: str, lang: str) -> str:
    key = f"status_{status}"
    try:
        return t(key, lang)
    except KeyError:
        return status


def highlight_all(text: str, quotes: Iterable[str]) -> str | None:
    """Escaped `text` with every quote that is found in it wrapped in <mark>; None when none is found."""
    spans = sorted(span for span in (find_span(text, q) for q in quotes) if span)
    if not spans:
        return None
    out, position = [], 0
    for start, end in spans:
        if start < position:  # overlapping quotes: mark the union once
            start = position
        if end <= position:
            continue
        out.append(f"{esc(text[position:start])}<mark>{esc(text[start:end])}</mark>")
        position = end
    return "".join(out) + esc(text[position:])


def sources_html(citations: Iterable[Citation], find_clause: FindClause | None, lang: str,
                 doc_titles: Mapping[str, str] | None = None, open_first: bool = True) -> str:
    """One expandable card per cited clause: its full text with every quoted span highlighted."""
    groups: dict[tuple[str, str, str | None], list[Citation]] = {}
    for citation in citations:
        groups.setdefault((citation.doc_id, citation.clause_id, citation.part), []).append(citation)
    cards = []
    for number, ((doc_id, clause_id, part), group) in enumerate(groups.items(), start=1):
        citation = group[0]
        quotes = list(dict.fromkeys(c.quote for c in group))
        clause = None
        if find_clause is not None:
            try:
                clause = find_clause(doc_id, clause_id, part)
            except Exception:  # a lookup failure must not hide the answer; show the quote instead
                clause = None
        doc_title = citation.doc_title or (doc_titles or {}).get(doc_id, doc_id)
        marked = highlight_all(clause.text, quotes) if clause is not None else None
        if marked is not None:
            body = f'<div class="clause-text">{marked}</div>'
        else:
            body = (f'<p class="quote-note">{esc(t("quote_not_located", lang))}</p>'
                    + "".join(f'<div class="clause-text"><mark>{esc(q)}</mark></div>' for q in quotes))
        cards.append(
            f'<details class="source-card" data-clause="{esc(clause_id)}" data-doc="{esc(doc_id)}"'
            f'{" open" if number == 1 and open_first else ""}>'
            f'<summary><span class="source-num">[{number}]</span> {esc(citation_label(citation))}'
            f'<span class="source-doc">{esc(doc_title)}</span></summary>{body}</details>'
        )
    if not cards:
        return f'<p class="no-sources">{esc(t("no_sources", lang))}</p>'
    return '<div class="sources">' + "".join(cards) + "</div>"
