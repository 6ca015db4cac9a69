"""The offline composer: templates from `prompts/answers.yaml`, calculator results and extracted quotes.

Order of an answer: the direct answer, then the calculation breakdown (when there is one), then the
supporting quotes with clause label and document title. For other questions the answer is extractive:
the best sentences of the top clauses, quoted verbatim (every sentence is a slice of a retrieved chunk,
so it is a substring of the normalised document by construction; the guard checks it again anyway).
"""

from __future__ import annotations

import math
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
from assistant.models import CalcResult, Citation, Passage, ReplyStatus

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
#
# Sentence choice for questions no calculator answers. Each sentence of the retrieved chunks is scored by
# the question terms it holds, each term weighted by
#   - its role: a concept of the bilingual glossary (préavis, délai, frais, portabilité...) counts most, other
#     words of the question less, the planner's per-intent retrieval hints least;
#   - how rare it is among the candidate sentences (every retrieved clause says "résiliation"; few say "préavis");
# plus the retrieval rank of its passage, a bonus when the question asks for a figure and the sentence gives a
# duration or an amount, and a small bonus when the clause title names the concept. Headings and list
# introductions ("Indemnités en cas de résiliation anticipée :") are never quoted, nor the same text twice.
# Stems come from the lexical index's French analyser, concepts from knowledge/glossary.yaml, so the
# composer and the retriever read a question the same way.

# Words of a question that say nothing about its topic (French, English, customer and call-centre phrasing).
_QUESTION_STOP = (
    "le la les de des du un une et ou en au aux a ce ces cet cette est sont je tu il elle nous vous ils mon ma mes "
    "ton ta tes son sa ses notre votre nos vos leur leurs que qui quoi quel quelle quels quelles dans pour par sur "
    "avec sans pas ne plus se si y d l j qu s n c m t est-ce comment combien quand puis peux peut dois doit faire "
    "chez the a an of to in on for and or is are be do does i my me you your what which how when who can will "
    "with at by it this that from if there have has would should could about est-il veux voudrais veut souhaite "
    "savoir dire bonjour merci svp stp ca cela alors donc mais aussi want know tell please need much many long any "
    "they them their here client cliente clients customer contrat contract operateur operator "
    # everyday telecom nouns: every clause has them, so sharing one is no sign of answering the question
    "telephone telephonique telephonie ligne lignes phone line service services abonnement subscription"
)
CONCEPT_WEIGHT, WORD_WEIGHT, HINT_WEIGHT = 2.0, 1.0, 0.35
RANK_WEIGHT, FIGURE_WEIGHT, TITLE_WEIGHT, FRAGMENT_PENALTY = 0.3, 0.35, 0.15, 0.15
KEEP_RATIO = 0.55  # a further quote must score at least this share of the best one
KEEP_RELEVANCE = 0.5  # and match the question at least this much relative to the best match

_MONEY_FIGURE = re.compile(r"\d\s*(€|eur\b|euros?\b|%)|€\s*\d|pour ?cent")
_NUM_WORD = (r"(?:un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize"
             r"|vingt|trente|quarante|cinquante|soixante|cent|mille)")
_FIGURE = re.compile(
    rf"(?:\d+(?:[.,]\d+)?|\b{_NUM_WORD}(?:[\s-]+(?:et[\s-]+)?{_NUM_WORD})*)\s*(?:\(\s*\d+\s*\)\s*)?"
    r"(?:€|eur\b|euros?\b|%|pour ?cent|jours?\b|mois\b|ans\b|an\b|annees?\b|semaines?\b|heures?\b|h\b|minutes?\b|km\b)"
    r"|€\s*\d"
)
# A clause number opening a sentence ("11.4 ", "66. ", "§2 "): the citation label already says it.
_LEADING_NUMBER = re.compile(r"^(?:§\s*\d+\.?|\d+(?:\.\d+)+\.?|\d+\.)\s+(?=\S)")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[«\"(\-–•A-ZÀ-ÖØ-Ý0-9])|\n+")
_POINTER = re.compile(
    r"liste des prix|tarifs? en vigueur|grille tarifaire|fiches? (tarifaire|signaletique|produit)|brochure"
    r"|sur (le|notre) site|bon de commande|selon l.offre|conditions tarifaires|price list"
    r"|contre paiement|moyennant paiement|moyennant (le )?paiement|a (ses|leurs) frais"
)
_MONEY_IN_TEXT = re.compile(r"\d\s*(€|eur|euro)")
MAX_QUOTE = 420


@lru_cache(maxsize=4)
def _glossary(path: Path, mtime: float) -> Any:
    from assistant.index.text import Glossary  # the retriever's own glossary (lazy: assistant.index is heavy)

    return Glossary.load(path)


def default_glossary() -> Any:
    """knowledge/glossary.yaml through `assistant.index.text.Glossary`, reloaded when the file changes."""
    from assistant.config import get_settings

    path = get_settings().knowledge_dir / "glossary.yaml"
    return _glossary(path, path.stat().st_mtime if path.is_file() else 0.0)


def _analyse(text: str) -> list[str]:
    from assistant.index.text import analyse  # the lexical index's French analyser (Snowball stems)

    return analyse(text)


@lru_cache(maxsize=1)
def _stop_stems() -> frozenset[str]:
    return frozenset(_analyse(_QUESTION_STOP))


@lru_cache(maxsize=8)
def _concept_stems(glossary: Any) -> frozenset[str]:
    """Stems of the French vocabulary the glossary maps customer words to (préavis, frais, portabilité...)."""
    return frozenset(_analyse(" ".join(t for _, targets in glossary.entries for t in targets))) - _stop_stems()


# Glossary phrases that say what kind of answer is wanted ("how long" -> délai, "combien" -> frais) rather
# than what the question is about: their French terms count as plain words, not as the concept.
_INTERROGATIVE = re.compile(r"(how|when|who|what|which|where|why|combien|quand|quel|quelle|quels|quelles|qui"
                            r"|comment|pourquoi)\b")


def _added_terms(glossary: Any, text: str) -> str:
    """The French terms `glossary.expand` appends to `text` (nothing when no phrase matches)."""
    expanded = glossary.expand(text)
    return expanded[len(text):] if expanded != text and expanded.startswith(text) else ""


@dataclass(frozen=True)
class QueryTerms:
    """Stems of a question with their role weights, and whether it asks for a figure (and which kind)."""

    weights: dict[str, float]
    wants_figure: bool
    figure_kind: str = ""  # "money", "time" or "" (either)

    def gives_figure(self, sentence: str) -> bool:
        """The sentence holds the kind of figure the question asks for."""
        if not self.wants_figure or not has_figure_unit(sentence):
            return False
        money = bool(_MONEY_FIGURE.search(fold(sentence)))
        return {"money": money, "time": not money or bool(re.search(r"\d\s*(jours?|mois|semaines?|heures?|ans?)\b",
                                                                    fold(sentence)))}.get(self.figure_kind, True)

    @property
    def concepts(self) -> set[str]:
        return {s for s, w in self.weights.items() if w >= CONCEPT_WEIGHT}


def query_terms(query: str, glossary: Any = None, want_figure: bool = False, hints: str = "",
                answer: str | None = None) -> QueryTerms:
    """The question's stems weighted by role: glossary concepts (the French terms its words and phrases map
    to, and the terms those map to in turn: "notice" -> "préavis" -> "avant l'échéance") count most, its other
    words and the answer-kind terms ("how long" -> "délai") less, the retrieval hints least."""
    glossary = glossary if glossary is not None else default_glossary()
    question = query
    padded = f" {' '.join(words(question))} "
    for phrase, _targets in glossary.entries:
        if _INTERROGATIVE.match(phrase):
            padded = padded.replace(f" {phrase} ", " ")
    topic = _added_terms(glossary, padded.strip())
    topic = f"{topic} {_added_terms(glossary, topic)}" if topic else ""
    stop, vocab = _stop_stems(), _concept_stems(glossary)
    weights: dict[str, float] = {}
    for stem in _analyse(_added_terms(glossary, question)):
        if stem not in stop:
            weights[stem] = WORD_WEIGHT
    for stem in _analyse(topic):
        if stem not in stop:
            weights[stem] = CONCEPT_WEIGHT
    for stem in _analyse(question):
        if stem not in stop and not stem.isdigit():
            weights[stem] = max(weights.get(stem, 0.0), CONCEPT_WEIGHT if stem in vocab else WORD_WEIGHT)
    for stem in _analyse(hints):
        if stem not in stop:
            weights.setdefault(stem, HINT_WEIGHT)
    # the kind of figure wanted comes from the answer type the router's need decided, nowhere else
    kind = {"amount": "money", "duration": "time", "date": "time"}.get(answer or "", "")
    return QueryTerms(weights, want_figure or bool(kind), kind)


# Words that only say "how much" (the kind of answer), never what the question is about.
_PRICE_WORDS = ("combien cout coute coutent coûte coûtent prix tarif tarifs montant frais factur facture facturé "
                "payer paie paye euro euros eur cost costs price fee fees charge charged pay amount much")


def topic_stems(question: str, glossary: Any = None, concepts_only: bool = False) -> set[str]:
    """What a question is about: its stems and their glossary concepts, minus stop words and the words
    that only ask for a price. Empty when the question is nothing but "how much?". With `concepts_only`,
    only the French terms the glossary maps the question to (for a question not written in French, whose
    own words cannot be looked for in the documents)."""
    generic = _stop_stems() | set(_analyse(_PRICE_WORDS)) | set(_analyse(_added_terms(
        glossary if glossary is not None else default_glossary(), _PRICE_WORDS)))
    terms = query_terms(question, glossary)
    stems = terms.concepts if concepts_only else set(terms.weights)
    return {s for s in stems if s not in generic and not s.isdigit()}


def covers_topic(question: str, sentence: str, glossary: Any = None, language: str = "fr") -> bool:
    """The sentence shares at least one topic word with the question (or the question has none we can
    look for: an English question is judged on its glossary concepts only)."""
    topic = topic_stems(question, glossary, concepts_only=language != "fr")
    return not topic or bool(topic & set(_analyse(sentence)))


def query_stems(query: str) -> set[str]:
    """The stems a question is matched on (its words, their glossary concepts and the retrieval hints)."""
    return set(query_terms(query).weights)


@dataclass
class Sentence:
    passage: Passage
    text: str  # exact slice of passage.chunk.text
    score: float
    relevance: float = 1.0  # share of the best sentence's weighted match with the question


def sentences_of(text: str) -> list[str]:
    """Sentence slices of `text`; every returned string is a substring of `text`."""
    out: list[str] = []
    pos = 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[pos:end].strip().lstrip("-–•* ").strip()
        piece = piece[_m.end():] if (_m := _LEADING_NUMBER.match(piece)) else piece
        if len(piece) >= 25 and re.search(r"[a-zA-Zà-ÿ]{3}", piece):
            out.append(_clip(piece))
        pos = m.end() if m else len(text)
    return out


def _clip(piece: str) -> str:
    """At most MAX_QUOTE characters, cut after a comma or semicolon when one is near the limit."""
    if len(piece) <= MAX_QUOTE:
        return piece
    head = piece[:MAX_QUOTE]
    cut = max(head.rfind(", "), head.rfind("; "))
    if cut < 200:
        cut = head.rfind(" ")
    return piece[: cut if cut > 200 else MAX_QUOTE].rstrip(" ,;:")


def has_figure_unit(text: str) -> bool:
    """A duration, an amount or a percentage ("30 jours", "trois (3) mois", "d'un mois", "50 €", "10 %")."""
    return bool(_FIGURE.search(fold(text)))


def is_heading(text: str, title: str = "") -> bool:
    """A heading or list introduction rather than a statement: not worth quoting on its own."""
    body = _LEADING_NUMBER.sub("", text.strip()).strip()
    if body.endswith(":") or (title and fold(body).strip(" .:") == fold(title).strip(" .:")):
        return True
    letters = [c for c in body if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.7 * len(letters):
        return True
    return len(body) < 100 and not re.search(r"[.;!?,)»\"”]$", body) and not re.search(r"\d", body)


def _dedupe_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", fold(text)).strip()


def score_sentences(query: str, passages: Sequence[Passage], want_figure: bool = False,
                    glossary: Any = None, hints: str = "", answer: str | None = None) -> list[Sentence]:
    """Every quotable sentence of `passages` (headings and repeats left out) with its score, best first."""
    terms = query_terms(query, glossary, want_figure, hints, answer)
    candidates: list[tuple[int, Passage, str, set[str], int]] = []
    seen: set[str] = set()
    for i, p in enumerate(passages):
        for s in sentences_of(p.chunk.text):
            key = _dedupe_key(s)
            if key in seen or is_heading(s, p.chunk.title):
                continue
            seen.add(key)
            stems = _analyse(s)
            candidates.append((i, p, s, set(stems), len(stems)))
    if not candidates:
        return []
    n = len(candidates)
    avg_len = sum(c[4] for c in candidates) / n or 1.0
    df: dict[str, int] = {}
    for c in candidates:
        for stem in c[3] & terms.weights.keys():
            df[stem] = df.get(stem, 0) + 1
    # rarer among the candidates = more telling; damped so that one rare word does not outweigh the topic
    weight = {s: w * (1.0 + 0.5 * math.log((n + 1) / (df.get(s, 0) + 1))) for s, w in terms.weights.items()}
    # a short sentence holding the concept answers more directly than a long one that mentions it in passing
    matches = [sum(weight[t] for t in c[3] & weight.keys()) / (0.7 + 0.3 * c[4] / avg_len) for c in candidates]
    top_match = max(matches) or 1.0
    concepts = terms.concepts
    scored: list[Sentence] = []
    for (i, p, s, _stems, _len), match in zip(candidates, matches, strict=True):
        relevance = match / top_match
        score = relevance + RANK_WEIGHT / (1 + i)
        if terms.gives_figure(s):
            score += FIGURE_WEIGHT * min(1.0, 2 * relevance)  # helps a sentence on the topic, not any sentence
        heading = set(_analyse(" ".join([p.chunk.title, *p.chunk.heading_path])))
        if concepts and heading & concepts:
            score += TITLE_WEIGHT * len(heading & concepts) / len(concepts)
        if re.match(r"[a-zà-ÿ]|\(?[a-z0-9]\)\s", s):
            score -= FRAGMENT_PENALTY  # a list item cut from its introduction ("si le Client...;", "a) ...")
        if match == 0:
            score -= 1.0  # shares no word with the question: only quoted when nothing else is left
        scored.append(Sentence(p, s, score, relevance))
    scored.sort(key=lambda s: -s.score)
    return scored


def best_sentences(query: str, passages: Sequence[Passage], limit: int = 3, per_passage: int = 2,
                   want_figure: bool = False, glossary: Any = None, hints: str = "",
                   answer: str | None = None) -> list[Sentence]:
    """The sentences of `passages` that best answer `query`, best first, each an exact slice of its chunk:
    at most `limit`, `per_passage` per chunk, none far below the best one, no text twice."""
    chosen: list[Sentence] = []
    per: dict[str, int] = {}
    for s in score_sentences(query, passages, want_figure, glossary, hints, answer):
        if chosen and (s.score < KEEP_RATIO * chosen[0].score or s.relevance < KEEP_RELEVANCE):
            continue
        key = s.passage.chunk.chunk_id
        if per.get(key, 0) >= per_passage:
            continue
        folded = _dedupe_key(s.text)
        if any(folded in _dedupe_key(c.text) or _dedupe_key(c.text) in folded for c in chosen):
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


_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|«[^»]*»')


def localise(text: str, language: str) -> str | None:
    """The part of a calculator's text a reader of `language` should see, or None.

    Calculators word their steps "English / français" (or "English ‖ français"); lines written in one language only are shown to
    readers of that language (the agent's tool trace keeps everything). Internal identifiers never show."""
    from assistant.agent.understanding import detect_language

    text = text.strip()
    if not text:
        return ""
    if " ‖ " in text or (" / " in text and text.count(" / ") == 1 and not re.search(r"\d\s*/\s*\d", text)):
        first, second = text.split(" ‖ " if " ‖ " in text else " / ", 1)
        # "English / français" mostly, sometimes the other way round: the side written in the reader's language
        if detect_language(first, default="en") == language != detect_language(second, default="fr"):
            text = first
        elif detect_language(second, default="fr") == language != detect_language(first, default="en"):
            text = second
        else:
            text = second if language == "fr" else first
    elif re.search(r"[a-zA-Z]{3}", text) and detect_language(_QUOTED.sub(" ", text), default=language) != language:
        return None  # the language of its own words: a French phrase quoted in an English note is no French
    if _SNAKE.search(text):
        return None
    return text


def calc_details(t: Templates, language: str, result: CalcResult) -> list[str]:
    """The breakdown, assumptions and warnings of a calculator result, in the reader's language."""
    parts: list[str] = []
    steps = []
    for step in result.breakdown:
        label = localise(step.label, language)
        if not label:
            continue
        formula = localise(step.formula, language) or ""
        value = localise(step.value, language) or ""
        if value.lower() in ("none", "null"):
            continue  # a step the calculator could not fill (no next renewal...): nothing to read
        steps.append(f"{len(steps) + 1}. {label}" + (f" : {formula}" if formula else "") + (f" = {value}" if value else ""))
    if steps:
        parts.append("\n".join([t.get(language, "breakdown_heading"), *steps]))
    for heading, lines in (("assumptions_heading", result.assumptions), ("warnings_heading", result.warnings)):
        shown = [x for x in (localise(line, language) for line in lines) if x]
        if shown:
            parts.append("\n".join([t.get(language, heading), *(f"- {x}" for x in shown)]))
    return parts


def clause_ref(c: Citation, language: str) -> str:
    """How the lead sentence names a clause: "l'art. 65" / "art. 65", "l'article 4", "la partie « X »"."""
    cid = c.clause_id.strip()
    if re.match(r"(§\s*)?\d", cid):
        ref = f"l'art. {cid}" if language == "fr" else f"art. {cid}"
    elif fold(cid).startswith("article"):
        ref = f"l'{cid.lower()}" if language == "fr" else cid.lower()
    else:  # an unnumbered part named by its heading
        ref = f"la partie « {cid} »" if language == "fr" else f"the section “{cid}”"
    return f"{ref} ({c.part})" if c.part else ref


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
