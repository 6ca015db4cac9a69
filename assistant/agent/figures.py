"""Generic figure reading: durations and amounts in a sentence ("trois (3) mois", "250,00 € HT"), for the
extractive fallback to state in the user's language what the quoted clause says. Word lists live in
`knowledge/lexicon.yaml`; every match is on whole words ("an" is never read inside "annulation")."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from assistant.agent.text import fold


class Figure(BaseModel):
    kind: str  # days | months | years | hours | weeks | amount
    number: Decimal
    tax: str = ""  # HT / TTC for amounts


class Lexicon(BaseModel):
    """knowledge/lexicon.yaml: the word lists the parsers read (patterns are over folded text)."""

    number_words: dict[str, dict[str, int]]
    ordinal_words: dict[str, dict[str, int]] = {}  # "troisième", "third": the n-th unit counted
    units: dict[str, list[str]]
    currency: list[str]
    date_roles: dict[str, list[str]] = {}      # role of a date -> cue words just before it
    range_words: list[str] = []                # "du 4 au 17 mars": words joining the first day to a date
    month_parts: dict[str, list[str]] = {}     # "fin mars", "start of June": end / start / middle -> words before a month
    relative_dates: dict[str, list[str]] = {}  # "il y a 2 mois", "3 weeks ago", "maintenant": `ago_before` / `ago_after` / `today`
    no_commitment: list[str] = []              # "sans engagement", "my commitment is over"
    remaining: dict[str, list[str]] = {}       # `before` / `after` cues of a duration still to run
    elapsed_cues: list[str] = []               # words before a duration something takes (not the contract's term)
    late: dict[str, list[str]] = {}            # `before` / `after` cues of a duration a payment is late by
    abbreviations: dict[str, str] = {}         # call-centre shorthand -> the words it stands for
    unit_shorthand: dict[str, str] = {}        # a unit letter after a number ("36m", "8 j") -> the unit's word
    length_words: list[str] = []               # ... unless one of these comes just before ("câble de 50m")
    language_words: dict[str, list[str]] = {}  # marker words of each language
    asks: dict[str, list[str]] = {}            # what a question asks for: `date` / `amount` cues
    unit_nouns: dict[str, list[str]] = {}      # unit of a price per unit -> nouns a count of it is written with
    line_count_units: list[str] = []           # units the customer's count of lines / numbers / users counts
    calculator_inputs: dict[str, Any] = {}     # words that fill calculator inputs (assistant/agent/planner.py)
    generic_products: list[str] = []           # brand names sold by anyone: never tell which operator is meant
    guarantee_words: list[str] = []            # a duration next to one names a guarantee ("GTR 4h"), not a length
    operator_role: str = "l'opérateur"         # what an operator's name is read as where its role matters


@lru_cache(maxsize=4)
def load_lexicon(path: str) -> Lexicon:
    return Lexicon.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def current_lexicon() -> Lexicon:
    """The lexicon of the configured knowledge directory."""
    from assistant.config import get_settings

    return load_lexicon(str(get_settings().knowledge_dir / "lexicon.yaml"))


def _number(token: str, words: dict[str, int]) -> Decimal | None:
    if token in words:
        return Decimal(words[token])
    try:
        return Decimal(token.replace(" ", "").replace(".", "").replace(",", "."))
    except InvalidOperation:
        return None


def read_figures(sentence: str, lexicon: Lexicon) -> list[Figure]:
    """Every duration and amount of `sentence`, in reading order. "trois (3) mois" is one figure: the
    digits in brackets win over the word (documents sometimes disagree with themselves; see the health check)."""
    text = fold(sentence)
    words = {w: n for lang in lexicon.number_words.values() for w, n in lang.items()}
    unit_of = {fold(u): kind for kind, us in lexicon.units.items() for u in us}
    number = r"\d{1,3}(?:[ .]\d{3})*(?:,\d{1,2})?|\d+(?:,\d{1,2})?|" + "|".join(
        sorted((re.escape(w) for w in words), key=len, reverse=True))
    units = "|".join(sorted((re.escape(u) for u in unit_of), key=len, reverse=True))
    currency = "|".join(re.escape(fold(c)) for c in lexicon.currency)
    pattern = re.compile(
        rf"(?<![\w,.])(?P<n>{number})(?:\s*\((?P<d>\d+)\))?\s*(?:(?P<u>{units})(?![\w])|(?P<c>{currency})(?![a-z])"
        rf"\s*(?P<t>ht|ttc|htva|tvac)?)")
    out: list[Figure] = []
    for m in pattern.finditer(text):
        raw = m.group("d") or m.group("n")
        value = _number(raw, words)
        if value is None:
            continue
        if m.group("u"):
            out.append(Figure(kind=unit_of[m.group("u")], number=value))
        else:
            tax = (m.group("t") or "").upper().replace("HTVA", "HT").replace("TVAC", "TTC")
            out.append(Figure(kind="amount", number=value, tax=tax))
    return out
