"""Sentences of a clause and the figures they state (amounts in euros, durations, percentages).

Shared by the coverage counter (which sentences state a figure the rules files should quote) and the health
check (numbers written in words that disagree with the digits printed next to them). Generic French: nothing
here knows an operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.models import Clause

# ------------------------------------------------------------------------------------------ numbers in words

UNITS = {
    "zéro": 0, "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15,
    "seize": 16, "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
}
SCALES = {"cent": 100, "cents": 100, "mille": 1000}
_WORD = "|".join(sorted([*UNITS, *SCALES], key=len, reverse=True))
_SEP = r"(?:[ \t]*[-‐‑][ \t]*|[ \t]+(?:et[ \t]+)?)"
# "trente", "vingt- quatre", "quatre-vingt-dix", "deux cents", "trente et un"
NUMBER_WORDS = rf"\b(?:{_WORD})(?:{_SEP}(?:{_WORD}))*\b"
WORDS_THEN_DIGITS = re.compile(rf"(?P<words>{NUMBER_WORDS})[ \t]*\([ \t]*(?P<digits>\d+)[ \t]*\)", re.IGNORECASE)
DIGITS_THEN_WORDS = re.compile(rf"(?<![\d.,])(?P<digits>\d+)[ \t]*\([ \t]*(?P<words>{NUMBER_WORDS})[ \t]*\)",
                               re.IGNORECASE)


def words_to_int(words: str) -> int | None:
    """French number words to their value ("vingt- quatre" -> 24, "quatre-vingt-dix" -> 90); None if not a number."""
    tokens = [t for t in re.split(r"[\s\-‐‑]+", words.casefold()) if t and t != "et"]
    if not tokens:
        return None
    total, current = 0, 0
    for i, token in enumerate(tokens):
        if token in ("vingt", "vingts") and i > 0 and tokens[i - 1] == "quatre" and current % 100 == 4:
            current += 80 - 4  # quatre-vingt(s)
        elif token in UNITS:
            current += UNITS[token]
        elif token in ("cent", "cents"):
            current = max(current, 1) * 100
        elif token == "mille":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
    return total + current


# ------------------------------------------------------------------------------------------ figures

_NUM = r"\d{1,3}(?:[  .]\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"
AMOUNT = re.compile(
    rf"(?:(?<![\w/])(?:{_NUM})\)?[ \t ]*[-,]{{0,2}}[ \t ]*(?:€|\bEUR\b|\beuros?\b)"
    rf"|(?:€|\bEUR\b)[ \t ]*(?:{_NUM}))", re.IGNORECASE)
_UNIT = r"(?:jours?|semaines?|mois|ans|an|années?|heures?|h(?![/\d]))"
_ORDER = r"(?:(?:premi|derni|prochain)(?:er|ère|ers|ères|s|es)?[ \t]+)?"
DURATION = re.compile(
    rf"(?:(?<![\w/.,])\d+(?:[.,]\d+)?\)?|{NUMBER_WORDS})(?:[ \t]*\([ \t]*(?:\d+|{NUMBER_WORDS})[ \t]*\))?"
    rf"[ \t ]*{_ORDER}{_UNIT}(?!\w)", re.IGNORECASE)
PERCENT = re.compile(rf"(?:{_NUM})[ \t ]*%|\bpour[ \t]?cent\b", re.IGNORECASE)

KINDS = ("amount", "duration", "percent")


def figure_kinds(text: str) -> list[str]:
    """Which kinds of figures a sentence states: amount (euros), duration (days, weeks, months, years, hours, in
    digits or in words), percent."""
    out = []
    if AMOUNT.search(text):
        out.append("amount")
    if DURATION.search(text):
        out.append("duration")
    if PERCENT.search(text):
        out.append("percent")
    return out


def figure_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) in `text` of every figure the kinds above detect."""
    return sorted(m.span() for rx in (AMOUNT, DURATION, PERCENT) for m in rx.finditer(text))


def has_figure(text: str) -> bool:
    return bool(AMOUNT.search(text) or PERCENT.search(text) or re.search(r"\d+[.,]\d+", text))


# ------------------------------------------------------------------------------------------ sentences

# A sentence ends at . ! ? followed by a capital, a digit, a quote or a bullet; these words end with a dot
# without ending the sentence ("l'art. 4.9", "p. ex.", "M. Dupont", "S.A.").
_BOUNDARY = re.compile(r"(?<=[.!?])[ \t ]+(?=[«\"(•\-–A-ZÀ-Ý\d])")
_ABBREVIATION = re.compile(r"(?:\b(?:art|arts|p|ex|cf|n|no|nr|m|mme|mr|env|resp|tél|tel|réf|ref|al|"
                           r"ibid|vol|c\.-à-d|i\.e|e\.g|s\.a|s\.à\s?r\.l)|\b[A-Z])\.$", re.IGNORECASE)


_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_OPEN_END = re.compile(r"[a-zà-ÿ,(\-]$")
_GOES_ON = re.compile(r"[a-zà-ÿ(]")


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    clause_id: str
    part: str | None
    start: int  # offsets into the normalised document text
    end: int
    text: str
    kinds: tuple[str, ...] = field(default=())
    duplicate_of: str | None = None  # the clause belongs to a machine-repeated run

    @property
    def ref(self) -> str:
        return f"{self.part} › {self.clause_id}" if self.part else self.clause_id


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, stripped. A line break ends a sentence unless the line stops
    mid-phrase and the next one goes on in lower case or with a bracket ("... dans un délai de trente" /
    "(30) jours après ..."); inside a line, sentences end at . ! ? before a capital, a digit or a bullet."""
    cuts = [0]
    for m in _LINE_BREAK.finditer(text):
        before, after = text[: m.start()], text[m.end():]
        if not (_OPEN_END.search(before) and _GOES_ON.match(after)):
            cuts.append(m.end())
    for m in _BOUNDARY.finditer(text):
        if not _ABBREVIATION.search(text[: m.start()]):
            cuts.append(m.end())
    cuts = sorted({*cuts, len(text)})
    spans: list[tuple[int, int]] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        piece = text[a:b]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((a + lead, a + len(piece.rstrip())))
    return spans


def clause_sentences(clause: Clause) -> list[Sentence]:
    """The sentences of one clause, each with the kinds of figures it states (document offsets)."""
    out = []
    for s, e in split_sentences(clause.text):
        text = clause.text[s:e]
        out.append(Sentence(clause.doc_id, clause.clause_id, clause.part, clause.start + s, clause.start + e, text,
                            tuple(figure_kinds(text)), clause.duplicate_of))
    return out


def document_sentences(clauses: list[Clause]) -> list[Sentence]:
    return [s for c in clauses for s in clause_sentences(c)]
