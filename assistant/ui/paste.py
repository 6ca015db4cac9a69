"""The reply an agent pastes to the customer, written from the Reply's fields in the customer's language.

Greeting, the answer in one sentence, the arithmetic in one line, the clause reference, a closing: what a
call-centre agent would write by hand. A computed figure is taken from the calculator result the answer
states (`main_result`), never from a calculator run for another service; without one, the answer's own
sentences are used, stripped of Markdown and of the quoted sources (the reference line names them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.models import CalcResult, Citation, Reply
from assistant.ui.calc_view import arithmetic_line, headline, main_result
from assistant.ui.i18n import t

_HEADING = re.compile(r"^\*\*[^*]+\*\*(\s*\([^)]*\))?\s*:?$")
_QUOTE_LINE = re.compile(r"^\s*>")


def answer_sentences(answer: str) -> str:
    """The answer's own words: no quoted sources, no section headings, no Markdown emphasis or bullets."""
    kept: list[str] = []
    for paragraph in re.split(r"\n\s*\n", answer.strip()):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if not lines or all(_QUOTE_LINE.match(line) for line in lines):
            continue
        if _HEADING.match(lines[0].strip()):
            announced = bool(kept) and kept[-1].endswith(":")
            if not (announced and len(lines) > 1):
                break  # the breakdown, assumptions and sources follow: the paste reply has its own lines
            lines = lines[1:]  # the lead announces this list ("ce qui est chiffré et ce qui ne l'est pas :")
        text = "\n".join(re.sub(r"^\s*(?:[-*•]|\d+\.)\s+", "- " if kept and kept[-1].endswith(":") else "", line)
                         for line in lines)
        kept.append(text.replace("**", "").strip())
    return "\n\n".join(kept)


def clause_references(citations: Iterable[Citation], lang: str) -> list[str]:
    """One reference line per document: 'Référence : article 66, article 4 du document « … ».'"""
    by_doc: dict[str, list[str]] = {}
    for citation in citations:
        number = citation.clause_id if not citation.clause_id[:1].isdigit() else t("paste_article", lang,
                                                                                     id=citation.clause_id)
        label = f"{citation.part}, {number}" if citation.part else number
        doc = citation.doc_title or citation.operator
        if label not in by_doc.setdefault(doc, []):
            by_doc[doc].append(label)
    return [t("paste_reference", lang, clauses=", ".join(labels), doc=doc) for doc, labels in by_doc.items()]


def figure_sentence(name: str, result: CalcResult, operator: str, lang: str) -> str:
    what = t(f"calc.{name}.what", lang)
    figure = headline(result, lang)
    if result.amount is None:
        return t("paste_date", lang, operator=operator, what=what, date=figure)
    if result.unit == "count":
        return t("paste_count", lang, operator=operator, what=what, count=figure)
    return t("paste_amount", lang, operator=operator, what=what, amount=figure)


def paste_reply(reply: Reply) -> str:
    """The paste-ready reply: greeting, answer, arithmetic, clause reference, closing."""
    lang = reply.language
    parts = [t("paste_greeting", lang)]
    found = main_result(reply)
    citations: list[Citation] = list(reply.citations)
    if found is not None:
        name, result = found
        operator = reply.operator or next((c.operator for c in result.citations), "")
        parts.append(figure_sentence(name, result, operator, lang))
        steps = arithmetic_line(result, lang)
        if steps:
            parts.append(t("paste_arithmetic", lang, steps=steps))
        citations = list(result.citations) or citations
    else:
        body = answer_sentences(reply.answer)
        if body:
            parts.append(body)
    parts.extend(clause_references(citations[:3], lang))
    parts.append(t("paste_closing", lang))
    return "\n\n".join(parts)
