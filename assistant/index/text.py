"""French text analysis for lexical search: accent folding, stop words, Snowball stemming,
plus a bilingual glossary so English questions reach French clauses."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import Stemmer
import yaml

from assistant.corpus.loader import fold

WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_FRENCH

    return frozenset(fold(w) for w in STOPWORDS_FRENCH) | {"client", "article", "present", "presentes", "l", "d"}


LETTERS = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def analyse(text: str) -> list[str]:
    """Tokens for BM25: lower-cased words (elisions l'/d' dropped), stop words out, Snowball-stemmed
    *with* their accents (the French stemmer needs them: annulée/annulation -> annul), then folded so
    that a customer typing without accents still matches."""
    words = []
    for token in LETTERS.findall(text.casefold().replace("'", " ").replace("’", " ")):
        for w in token.split("-"):
            if len(w) > 1 and fold(w) not in _stopwords():
                words.append(w)
    return [fold(s) for s in _stemmer().stemWords(words)]


class Glossary:
    """English (and informal French) terms -> the French vocabulary the contracts use."""

    def __init__(self, entries: dict[str, list[str]]):
        # longest phrases first so "notice period" wins over "notice"
        self.entries = sorted(((fold(k), v) for k, v in entries.items()), key=lambda kv: -len(kv[0]))

    @classmethod
    def load(cls, path: Path) -> Glossary:
        if not path.is_file():
            return cls({})
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls({str(k): [str(x) for x in (v or [])] for k, v in (data.get("terms") or {}).items()})

    def expand(self, query: str) -> str:
        """The query followed by the French terms of every glossary phrase it contains."""
        folded = f" {' '.join(WORD.findall(fold(query)))} "
        extra: list[str] = []
        for phrase, targets in self.entries:
            if f" {phrase} " in folded:
                extra.extend(targets)
                folded = folded.replace(f" {phrase} ", " ")
        return query if not extra else f"{query} {' '.join(dict.fromkeys(extra))}"


_FIGURE = re.compile(r"\d+(?:[.,:/h]\d+)*")


def figureless(text: str) -> str:
    """The words of a question without its figures, the text its meaning is embedded from. What a message asks
    does not depend on the customer's own amounts, dates and counts (the calculators read those), and figures
    would pull every message that has many towards the example questions that have many too (routing and the
    facts' ranking read it; the dense search keeps the figures, which clauses share with questions: measured
    worse without them)."""
    return " ".join(_FIGURE.sub(" ", text).split()) or text
