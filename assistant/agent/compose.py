"""The offline composer: templates from `prompts/answers.yaml`, calculator results and extracted quotes.

Order of an answer: the direct answer, then the calculation breakdown (when there is one), then the
supporting quotes with clause label and document title. For other questions the answer is extractive:
the best sentences of the top clauses, quoted verbatim (every sentence is a slice of a retrieved chunk,
so it is a substring of the normalised document by construction; the guard checks it again anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assistant.agent.text import fold, words
from assistant.models import CalcResult, Citation, FactStatus, Passage, ReplyStatus

# --------------------------------------------------------------------------- templates


@lru_cache(maxsize=8)
def _load_templates(path: Path, mtime: float) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


class Templates:
    """`prompts/answers.yaml`, reloaded when the file changes (prompt editors need no restart)."""

    def __init__(self, prompts_dir: Path):
        self.path = prompts_dir / "answers.yaml"

    def lang(self, language: str) -> dict[str, Any]:
        data = _load_templates(self.path, self.path.stat().st_mtime)
        return data.get(language) or data["fr"]

    def get(self, language: str, key: str, **values: Any) -> str:
        return str(self.lang(language)[key]).format(**values)

    def ask_field(self, language: str, slot: str, reason: str = "") -> str:
        fields = self.lang(language)["ask_field"]
        if slot in fields:
            return str(fields[slot])
        return str(fields["generic"]).format(reason=reason or slot.replace("_", " "))


# --------------------------------------------------------------------------- formatting

NNBSP = "\u202f"  # French thousands separator
_MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre"]
_MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December"]


def fmt_date(d: date, language: str) -> str:
    if language == "fr":
        return f"{'1er' if d.day == 1 else d.day} {_MONTHS_FR[d.month - 1]} {d.year}"
    return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"


def fmt_money(amount: Decimal, language: str, currency: str | None = "EUR") -> str:
    amount = Decimal(amount).quantize(Decimal("0.01"))
    symbol = "€" if (currency or "EUR") == "EUR" else currency
    if language == "fr":
        whole, _, cents = f"{amount:,.2f}".partition(".")
        return f"{whole.replace(',', NNBSP)},{cents} {symbol}"
    return f"{symbol}{amount:,.2f}"


_UNITS = {
    "fr": {"days": "jours", "months": "mois", "hours": "heures", "percent": "%", "count": ""},
    "en": {"days": "days", "months": "months", "hours": "hours", "percent": "%", "count": ""},
}


def fmt_result_value(result: CalcResult, language: str, tax: Mapping[str, str]) -> str | None:
    """The headline figure of a calculator result, in the user's language, or None without one."""
    if result.unit == "date" or (result.result_date and result.amount is None):
        return fmt_date(date.fromisoformat(result.result_date), language) if result.result_date else None
    if result.amount is None:
        return None
    unit = result.unit or result.currency or "EUR"
    if unit in ("EUR", result.currency) and unit not in _UNITS[language]:
        text = fmt_money(result.amount, language, result.currency)
        basis = tax.get(str(result.tax_basis), "")
        text = f"{text} {basis}".strip()
    else:
        number = f"{result.amount.normalize():f}"
        text = f"{number}{_UNITS[language].get(unit, unit)}" if unit == "percent" else f"{number} {_UNITS[language].get(unit, unit)}"
    if result.result_date and result.unit != "date":
        text += f" ({fmt_date(date.fromisoformat(result.result_date), language)})"
    return text.strip()


def citation_label(c: Citation) -> str:
    return f"{c.part}, art. {c.clause_id}" if c.part else f"art. {c.clause_id}"


# --------------------------------------------------------------------------- extractive answers

_STOP = frozenset(str.split(
    "le la les de des du un une et ou en au aux a ce ces cet cette est sont je tu il elle nous vous ils mon ma mes "
    "ton ta tes son sa ses notre votre nos vos leur leurs que qui quoi quel quelle quels quelles dans pour par sur "
    "avec sans pas ne plus se si y d l j qu s n c m t est-ce comment combien quand puis peux peut dois doit faire "
    "chez mon the a an of to in on for and or is are be do does i my me you your what which how when who can will "
    "with at by it this that from if there have has would should could about est-il client contrat contract"
))
# English customer words -> the French words of the corpus (content words only).
_GLOSSARY: dict[str, str] = {
    "cancel": "résiliation résilier", "cancellation": "résiliation", "terminate": "résiliation résilier",
    "termination": "résiliation", "notice": "préavis", "invoice": "facture", "bill": "facture",
    "fee": "frais", "fees": "frais", "price": "prix tarif", "liability": "responsabilité", "liable": "responsabilité",
    "data": "données", "personal": "personnelles", "privacy": "vie privée données", "equipment": "matériel équipement",
    "router": "modem routeur matériel", "modem": "modem", "outage": "interruption", "interruption": "interruption",
    "warranty": "garantie", "guarantee": "garantie", "dispute": "litige", "court": "tribunaux",
    "law": "droit loi", "deposit": "dépôt garantie caution", "suspend": "suspension suspendre",
    "suspension": "suspension", "complaint": "réclamation plainte", "refund": "remboursement",
    "compensation": "indemnisation dédommagement", "payment": "paiement", "pay": "paiement payer",
    "late": "retard", "interest": "intérêts", "number": "numéro", "porting": "portabilité portage",
    "port": "portabilité portage", "moving": "déménagement", "move": "déménagement", "address": "adresse",
    "commitment": "engagement", "duration": "durée", "renewal": "reconduction renouvellement",
    "renew": "reconduction", "change": "modification", "changes": "modifications", "modify": "modification",
    "transfer": "cession transfert", "death": "décès", "bankruptcy": "faillite", "installation": "installation",
    "activation": "activation", "directory": "annuaire", "emergency": "urgence", "abuse": "abus",
    "maintenance": "maintenance", "speed": "débit", "minimum": "minimale", "period": "période durée",
    "written": "écrit", "letter": "lettre recommandée", "registered": "recommandée", "email": "courriel",
    "force": "force", "majeure": "majeure", "withdrawal": "rétractation", "reminder": "rappel",
}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[«\"(\-–•A-ZÀ-ÖØ-Ý0-9])|\n+")
_POINTER = re.compile(
    r"liste des prix|tarifs? en vigueur|grille tarifaire|fiches? (tarifaire|signaletique|produit)|brochure"
    r"|sur (le|notre) site|bon de commande|selon l.offre|conditions tarifaires|price list"
)
_MONEY_IN_TEXT = re.compile(r"\d\s*(€|eur|euro)")
MAX_QUOTE = 420


def _stem(word: str) -> str:
    return word[:6]


def query_stems(query: str) -> set[str]:
    tokens = [t for t in words(query) if len(t) > 2 and t not in _STOP]
    expanded = list(tokens)
    for t in tokens:
        expanded += words(_GLOSSARY.get(t, ""))
    return {_stem(t) for t in expanded if len(t) > 2 and t not in _STOP}


@dataclass
class Sentence:
    passage: Passage
    text: str  # exact slice of passage.chunk.text
    score: float


def sentences_of(text: str) -> list[str]:
    """Sentence slices of `text`; every returned string is a substring of `text`."""
    out: list[str] = []
    pos = 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[pos:end].strip().lstrip("-–•* ").strip()
        if len(piece) >= 25 and re.search(r"[a-zA-Zà-ÿ]{3}", piece):
            out.append(_clip(piece))
        pos = m.end() if m else len(text)
    return out


def _clip(piece: str) -> str:
    if len(piece) <= MAX_QUOTE:
        return piece
    cut = piece.rfind(" ", 0, MAX_QUOTE)
    return piece[: cut if cut > 200 else MAX_QUOTE].rstrip(" ,;:")


def best_sentences(query: str, passages: Sequence[Passage], limit: int = 3, per_passage: int = 2,
                   want_figure: bool = False) -> list[Sentence]:
    stems = query_stems(query)
    scored: list[Sentence] = []
    for p in passages:
        for s in sentences_of(p.chunk.text):
            s_stems = {_stem(w) for w in words(s) if len(w) > 2}
            overlap = len(stems & s_stems)
            score = overlap + 0.6 / (1 + p.rank) + (0.5 if want_figure and _MONEY_IN_TEXT.search(fold(s)) else 0.0)
            heading = {_stem(w) for w in words(" ".join([p.chunk.title, *p.chunk.heading_path]))}
            score += 0.3 * len(stems & heading)
            scored.append(Sentence(p, s, score))
    scored.sort(key=lambda s: -s.score)
    chosen: list[Sentence] = []
    per: dict[str, int] = {}
    for s in scored:
        key = s.passage.chunk.chunk_id
        if per.get(key, 0) >= per_passage:
            continue
        per[key] = per.get(key, 0) + 1
        chosen.append(s)
        if len(chosen) == limit:
            break
    return chosen


_NUMBER_WORDS = re.compile(
    r"\b(un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante"
    r"|soixante|cent|mille|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|sixty"
    r"|hundred|thousand)\b\s+(jours?|mois|ans?|annees?|semaines?|heures?|days?|months?|years?|weeks?|hours?|%|pour ?cent)"
)


def has_amount(text: str) -> bool:
    return bool(_MONEY_IN_TEXT.search(fold(text)))


def has_figure(text: str) -> bool:
    """A number the customer could use: digits (not only an article number) or a spelt-out duration."""
    folded = fold(text)
    body = re.sub(r"^\s*\d+(\.\d+)*\.?\s", "", folded)  # a leading clause number is not a figure
    return bool(re.search(r"\d", body) or _NUMBER_WORDS.search(body))


def is_pointer(text: str) -> bool:
    folded = fold(text)
    return bool(_POINTER.search(folded)) and not _MONEY_IN_TEXT.search(folded)


# --------------------------------------------------------------------------- answers


@dataclass
class Composed:
    answer: str
    reply_to_customer: str
    status: ReplyStatus
    citations: list[Citation] = field(default_factory=list)


def render_quotes(t: Templates, language: str, citations: Sequence[Citation]) -> list[str]:
    lines = []
    for c in citations:
        lines.append(t.get(language, "quote_line", quote=c.quote, label=citation_label(c), doc_title=c.doc_title))
    return lines


def _strip_md(text: str) -> str:
    return re.sub(r"\*\*|\*", "", text)


def customer_reply(t: Templates, language: str, lead: str, citations: Sequence[Citation]) -> str:
    """Short paste-ready text: the direct answer and which clauses it rests on."""
    text = _strip_md(lead)
    if citations:
        labels = "; ".join(dict.fromkeys(f"{citation_label(c)} ({c.doc_title})" for c in citations))
        text += "\n" + t.get(language, "customer_sources", labels=labels)
    return text


def compose_calculation(t: Templates, language: str, operator: str, result: CalcResult, title: str,
                        citations: Sequence[Citation]) -> Composed:
    """Direct answer from a calculator result, then its breakdown, assumptions and quotes."""
    tl = t.lang(language)
    parts: list[str] = []
    value = fmt_result_value(result, language, tl["tax"])
    figures = any(re.search(r"\d", s.value or s.formula) for s in result.breakdown)
    if result.status == FactStatus.CONFLICTING:
        lead = t.get(language, "calc_conflicting", operator=operator, title=title)
        if value:
            lead += f" {value}"
        status = ReplyStatus.ANSWERED
    elif value is not None and result.status == FactStatus.STATED:
        lead = t.get(language, "calc_answer", title=title, value=value)
        status = ReplyStatus.ANSWERED
    elif figures:  # some items have a figure, others are only pointed to: give what there is, say what is not
        lead = t.get(language, "calc_partial", operator=operator, title=title)
        status = ReplyStatus.ANSWERED
    else:
        lead = t.get(language, "calc_not_stated", operator=operator, title=title)
        status = ReplyStatus.NOT_FOUND
    parts.append(lead)
    if result.breakdown:
        steps = [f"{i}. {s.label}" + (f" : {s.formula}" if s.formula else "") + (f" = {s.value}" if s.value else "")
                 for i, s in enumerate(result.breakdown, 1)]
        parts.append("\n".join([t.get(language, "breakdown_heading"), *steps]))
    if result.assumptions:
        parts.append("\n".join([t.get(language, "assumptions_heading"), *(f"- {a}" for a in result.assumptions)]))
    if result.warnings:
        parts.append("\n".join([t.get(language, "warnings_heading"), *(f"- {w}" for w in result.warnings)]))
    if citations:
        parts.append("\n\n".join([t.get(language, "sources_heading"), *render_quotes(t, language, citations)]))
    return Composed("\n\n".join(parts), customer_reply(t, language, lead, citations), status, list(citations))


def compose_extract(t: Templates, language: str, operator: str | None, chosen: Sequence[Citation],
                    note: str = "") -> Composed:
    """Answer made of verbatim sentences from the top clauses."""
    lead = t.get(language, "extract_intro", operator=operator or "?")
    if note:
        lead = f"{note}\n\n{lead}"
    body = render_quotes(t, language, chosen)
    answer = "\n\n".join([lead, *body])
    first = chosen[0].quote if chosen else ""
    reply = customer_reply(t, language, f"{_strip_md(lead)} « {first} »" if language == "fr" else f"{_strip_md(lead)} “{first}”", chosen[:2])
    return Composed(answer, reply, ReplyStatus.ANSWERED, list(chosen))


def compose_not_found(t: Templates, language: str, operator: str | None, pointers: Sequence[Citation]) -> Composed:
    lead = t.get(language, "not_found", operator=operator) if operator else t.get(language, "not_found_any")
    parts = [lead]
    if pointers:
        parts.append(t.get(language, "not_found_pointer"))
        parts.extend(render_quotes(t, language, pointers))
    return Composed("\n\n".join(parts), customer_reply(t, language, lead, pointers), ReplyStatus.NOT_FOUND,
                    list(pointers))


def compose_simple(t: Templates, language: str, key: str, status: ReplyStatus, **values: Any) -> Composed:
    text = t.get(language, key, **values)
    return Composed(text, text, status)
