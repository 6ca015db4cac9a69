"""Numbers and dates: does the reply give the hand-computed gold figure, to the cent?

Candidates come from the calculator traces (`reply.tools[*].output`: amount, result_date, values) and
from the answer text ("1 080,00 €", "1,080.00", "270 € HT", "02/05/2025", "2025-05-02").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from assistant.evaluation.metrics.base import Metric, MetricContext, Sample
from assistant.models import Reply

CENT = Decimal("0.01")
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+(?:[.,]\d{1,2})?(?!\d)|(?<![\w.,])\d+(?:[.,]\d{1,2})?(?!\d)")
NUMBER_PATTERN = _NUMBER  # a figure as written ("1 080,00", "1,080.00", "12,36"); shared with the answer metric
_DMY = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# Durations are often spelt out as the contracts do ("préavis d'un mois", "trois (3) mois", "fourteen days").
_WORDS = {"un": 1, "une": 1, "one": 1, "a": 1, "deux": 2, "two": 2, "trois": 3, "three": 3, "quatre": 4, "four": 4,
          "cinq": 5, "five": 5, "six": 6, "sept": 7, "seven": 7, "huit": 8, "eight": 8, "dix": 10, "ten": 10,
          "douze": 12, "twelve": 12, "quatorze": 14, "fourteen": 14, "quinze": 15, "fifteen": 15, "vingt": 20,
          "twenty": 20, "trente": 30, "thirty": 30, "soixante": 60, "sixty": 60, "quatre-vingt-dix": 90, "ninety": 90}
_SPELT = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, _WORDS), key=len, reverse=True)) + r")"
                    r"\s+(?:\(\d+\)\s+)?(?:jours?|mois|months?|days?|semaines?|weeks?|heures?|hours?|ans?|years?)\b",
                    re.IGNORECASE)


def parse_number(token: str) -> Decimal | None:
    """'1 080,00' -> 1080.00, '1,080.00' -> 1080.00, '12,36' -> 12.36, '2.500' -> 2500."""
    raw = token.strip()
    decimals = ""
    match = re.search(r"[.,](\d{1,2})$", raw)
    if match:
        decimals, raw = match.group(1), raw[: match.start()]
    digits = re.sub(r"[ \u00a0\u202f.,']", "", raw)
    if not digits.isdigit():
        return None
    try:
        return Decimal(f"{digits}.{decimals}" if decimals else digits)
    except InvalidOperation:
        return None


def numbers_in_text(text: str) -> list[Decimal]:
    """Every figure in the text, plus durations spelt out in words ("d'un mois" -> 1)."""
    found = [n for n in (parse_number(m.group(0)) for m in _NUMBER.finditer(text or "")) if n is not None]
    found += [Decimal(_WORDS[m.group(1).casefold()]) for m in _SPELT.finditer(text or "")]
    return found


def dates_in_text(text: str) -> list[date]:
    found: list[date] = []
    for d, m, y in _DMY.findall(text or ""):
        try:
            found.append(date(int(y), int(m), int(d)))
        except ValueError:
            continue
    for y, m, d in _ISO.findall(text or ""):
        try:
            found.append(date(int(y), int(m), int(d)))
        except ValueError:
            continue
    return found


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _tool_outputs(reply: Reply) -> Iterable[dict[str, Any]]:
    return (t.output for t in reply.tools if isinstance(t.output, dict))


def tool_amounts(reply: Reply) -> list[Decimal]:
    found: list[Decimal] = []
    for out in _tool_outputs(reply):
        for value in (out.get("amount"), *_walk(out.get("values", {}))):
            if isinstance(value, bool) or value is None:
                continue
            try:
                found.append(Decimal(str(value)))
            except InvalidOperation:
                continue
    return found


def tool_dates(reply: Reply) -> list[date]:
    found: list[date] = []
    for out in _tool_outputs(reply):
        for value in (out.get("result_date"), *_walk(out.get("values", {}))):
            if isinstance(value, str):
                found.extend(dates_in_text(value))
    return found


def candidate_numbers(reply: Reply) -> list[Decimal]:
    return tool_amounts(reply) + numbers_in_text(reply.answer)


def same_cents(a: Decimal, b: Decimal) -> bool:
    return a.quantize(CENT, ROUND_HALF_UP) == b.quantize(CENT, ROUND_HALF_UP)


class NumericExact(Metric):
    """1 when the gold number (to the cent) or gold date is among the reply's figures; items with a gold figure."""

    name = "numeric_exact"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        item = sample.item
        if item.gold_number is None and item.gold_date is None:
            return None
        reply = sample.reply
        if reply is None:
            return 0.0
        if item.gold_date is not None:
            return 1.0 if item.gold_date in tool_dates(reply) + dates_in_text(reply.answer) else 0.0
        gold = item.gold_number
        assert gold is not None
        return 1.0 if any(same_cents(gold, n) for n in candidate_numbers(reply)) else 0.0
