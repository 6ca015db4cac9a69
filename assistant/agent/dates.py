"""Calendar dates in a message, via dateparser: durations, rates and hours are never read as dates."""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from functools import lru_cache

from assistant.agent.calltime import MINUTE_WORDS, SECOND_WORDS
from assistant.agent.text import fold
from assistant.tools.calendar import days_in_month

# units of time (folded): a number written with one is a duration, never a date nor a count
DURATION_WORDS = r"mois|months?|ans?|annees?|years?|jours?|days?|semaines?|weeks?|heures?|hours?"
_DURATION_UNITS = re.compile(rf"\b({DURATION_WORDS})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
_ORDINAL = re.compile(r"\b(1)(er|re|st)\b", re.IGNORECASE)  # "1er mars", "March 1st": dateparser wants plain "1"


@lru_cache(maxsize=1)
def month_names() -> frozenset[str]:
    """Month names and abbreviations, French and English, folded (CLDR via Babel)."""
    return frozenset(_month_numbers())


_YEAR = re.compile(r"\b(19|20)\d{2}\b")


def _years_from_context(found: list[tuple[str, date, int]], reference: date | None = None,
                        ) -> list[tuple[str, date, int]]:
    """A date written without its year ("du 10 juin 2024 au 21 juin") takes the year of the closest date written
    with one in the same message, not the current year; with none in the message, the year that puts it closest
    to `reference` (the conversation's latest date: "paid on 9 June" after an invoice of 20 May 2023)."""
    written = [(p, d.year) for t, d, p in found if _YEAR.search(t)]
    if not written and reference is not None:
        return [(t, d if _YEAR.search(t) else _closest_year(d, reference), p) for t, d, p in found]
    if not written:
        return found
    out = []
    for text, value, pos in found:
        if not _YEAR.search(text):
            year = min(written, key=lambda w: abs(w[0] - pos))[1]
            with contextlib.suppress(ValueError):  # 29 February of a year that has none keeps its own
                value = value.replace(year=year)
        out.append((text, value, pos))
    return out


def _closest_year(value: date, reference: date) -> date:
    """The same day and month in the year (around the reference's) that puts it closest to the reference."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        with contextlib.suppress(ValueError):
            candidates.append(value.replace(year=year))
    return min(candidates, key=lambda d: abs((d - reference).days), default=value)


@lru_cache(maxsize=1)
def _search_dates():  # noqa: ANN202 - import is slow (~0.3 s); done once, on first use
    from dateparser.search import search_dates

    return search_dates


# a number written with a percent sign or a unit of time is not a day of the month ("10% en février", "11h en juin"):
# blanked (same length, positions kept) before dates are searched
_NOT_A_DAY = re.compile(r"\b\d{1,3}(?:[.,]\d+)?\s*(?:%|h(?:\d{2})?\b|heures?\b|hours?\b|hrs?\b"
                        rf"|(?:{MINUTE_WORDS}|{SECOND_WORDS})\b)", re.IGNORECASE)


def extract_dates(text: str, today: date | None = None, reference: date | None = None,
                  ) -> list[tuple[str, date, int]]:
    """(matched text, date, position) for every calendar date in `text`, via dateparser.

    Durations ("24 mois") and relative words are dropped: they are not calendar dates. `reference`: the latest
    date the conversation holds, for dates written without a year.
    """
    # same length as `text`: positions are read back in the original message (the words before a date)
    prepared = _NOT_A_DAY.sub(lambda m: " " * len(m.group(0)),
                              _ORDINAL.sub(lambda m: m.group(1) + " " * len(m.group(2)), text))
    base = datetime.combine(today or date.today(), datetime.min.time())
    try:
        found = _search_dates()(
            prepared,
            languages=["fr", "en"],
            settings={"DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["day", "month"],
                      "RELATIVE_BASE": base, "PREFER_DATES_FROM": "current_period"},
        ) or []
    except Exception:  # dateparser raises on odd inputs (overflowing numbers...); dates are optional
        found = []
    out: list[tuple[str, date, int]] = []
    cursor = 0
    for matched, value in found:
        if not re.search(r"\d", matched):
            continue
        folded = fold(matched)
        if len(re.findall(r"\d+", matched)) < 2 and not set(re.findall(r"[a-z]+", folded)) & month_names():
            continue  # one number and no month name ("un 12 du mois": the 12th of every month) is not a date
        if _DURATION_UNITS.search(folded):
            # "36 mois depuis le 15/03/2023" read as one date: keep only the written calendar date inside it
            inner = _DMY_DATE.search(matched)
            if inner is None:
                continue
            try:
                value = datetime(int(inner.group(3)), int(inner.group(2)), int(inner.group(1)))
            except ValueError:
                continue
            matched = inner.group(0)
        # dateparser folds the blanked runs into one space: find the match with any whitespace between words
        hit = re.compile(r"\s+".join(map(re.escape, matched.split()))).search(prepared, cursor)
        pos = hit.start() if hit else -1
        cursor = max(cursor, hit.end()) if hit else cursor
        out.append((matched, value.date(), max(pos, 0)))
    # dateparser sometimes swallows a written date into a neighbouring phrase ("36 mois depuis le 15/03/2023"):
    # a dd/mm/yyyy date it did not return is still a date.
    for m in _DMY_DATE.finditer(prepared):
        if any(p <= m.start() < p + len(t) for t, _, p in out):
            continue
        try:
            out.append((m.group(0), date(int(m.group(3)), int(m.group(2)), int(m.group(1))), m.start()))
        except ValueError:
            continue
    out += [m for m in [*_month_parts(prepared, base.date()), *relative_dates(prepared, base.date())]
            if not any(p <= m[2] < p + len(t) for t, _, p in out)]
    out.sort(key=lambda x: x[2])
    return _years_from_context(_period_starts(prepared, out), reference)


@lru_cache(maxsize=1)
def _month_numbers() -> dict[str, int]:
    """Folded month name or abbreviation, French and English (CLDR via Babel) -> its number."""
    from babel.dates import get_month_names

    return {fold(name).strip("."): number for locale in ("fr", "en") for width in ("wide", "abbreviated")
            for number, name in get_month_names(width, locale=locale).items()}


@lru_cache(maxsize=1)
def _month_part_pattern() -> re.Pattern[str] | None:
    """A part of a month then the month's name and maybe its year (lexicon `month_parts`)."""
    from assistant.agent.figures import current_lexicon

    parts = current_lexicon().month_parts
    if not parts:
        return None
    groups = "|".join(f"(?P<{part}>{'|'.join(words)})" for part, words in parts.items() if words)
    months = "|".join(re.escape(m) for m in sorted(_month_numbers(), key=len, reverse=True) if len(m) > 2)
    return re.compile(rf"\b(?:{groups})[\s-]*(?:de |d'|of )?(?P<month>{months})\b\.?(?:\s+(?P<year>(?:19|20)\d{{2}}))?")


def _month_parts(prepared: str, today: date) -> list[tuple[str, date, int]]:
    """Dates written as a part of a month ("fin septembre 2025" -> 30 September 2025, "beginning of June" -> 1 June,
    "mi-mars" -> 15 March); without a year, this year's (the conversation's year is set afterwards)."""
    pattern = _month_part_pattern()
    if pattern is None:
        return []
    folded = fold(prepared)
    found = []
    for m in pattern.finditer(folded):
        month = _month_numbers()[m.group("month")]
        year = int(m.group("year")) if m.group("year") else today.year
        part = next(name for name, value in m.groupdict().items() if value and name not in ("month", "year"))
        day = {"end": days_in_month(date(year, month, 1)), "middle": 15}.get(part, 1)
        found.append((prepared[m.start():m.end()], date(year, month, day), m.start()))
    return found


@lru_cache(maxsize=1)
def _ago_cues() -> tuple[str, str]:
    """Lexicon `relative_dates`: the words before and after a count of time that make it a time ago, as
    alternations ("il y a 2 mois", "3 weeks ago")."""
    from assistant.agent.figures import current_lexicon

    cues = current_lexicon().relative_dates
    return "|".join(cues.get("ago_before", [])), "|".join(cues.get("ago_after", []))


@lru_cache(maxsize=1)
def _relative_patterns() -> tuple[list[re.Pattern[str]], re.Pattern[str] | None, dict[str, int], dict[str, str]]:
    """A count of units before or after its `ago` words, and today's words (lexicon `relative_dates`); with the
    number words and the unit each word of time counts in."""
    from assistant.agent.figures import current_lexicon

    lex = current_lexicon()
    numbers = {w: n for words in lex.number_words.values() for w, n in words.items()}
    units = {w: kind for kind, words in lex.units.items() if kind in ("days", "weeks", "months", "years")
             for w in words}
    count = rf"(?P<n>\d{{1,3}}|{'|'.join(map(re.escape, sorted(numbers, key=len, reverse=True)))})"
    unit = rf"(?P<unit>{'|'.join(map(re.escape, sorted(units, key=len, reverse=True)))})"
    before, after = _ago_cues()
    ago = ([re.compile(rf"\b(?:{before})\s+{count}\s+{unit}\b")] if before else []) + \
          ([re.compile(rf"\b{count}\s+{unit}\s+(?:{after})\b")] if after else [])
    today = "|".join(lex.relative_dates.get("today", []))
    return ago, (re.compile(rf"\b(?:{today})\b") if today else None), numbers, units


@lru_cache(maxsize=1)
def _ago_edges() -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    before, after = _ago_cues()
    return (re.compile(rf"\b(?:{before})\s+$") if before else None,
            re.compile(rf"\s+(?:{after})\b") if after else None)


def counted_back(before: str, after: str) -> bool:
    """A count of time between these folded texts is a time ago ("il y a | 2 mois", "3 months | ago"): a date
    (`relative_dates`), never a contract's term."""
    head, tail = _ago_edges()
    return bool((head and head.search(before)) or (tail and tail.match(after)))


def relative_dates(prepared: str, today: date) -> list[tuple[str, date, int]]:
    """Dates counted back from today ("activé il y a 2 mois", "started 3 weeks ago") and today itself ("si je
    résilie maintenant"), where they are written."""
    from dateutil.relativedelta import relativedelta

    ago, now, numbers, units = _relative_patterns()
    folded = fold(prepared)
    found = []
    for m in (m for pattern in ago for m in pattern.finditer(folded)):
        n = int(m.group("n")) if m.group("n").isdigit() else numbers[m.group("n")]
        with contextlib.suppress(ValueError, OverflowError):
            found.append((prepared[m.start():m.end()], today - relativedelta(**{units[m.group("unit")]: n}),
                          m.start()))
    for m in now.finditer(folded) if now else ():
        found.append((prepared[m.start():m.end()], today, m.start()))
    return found


@lru_cache(maxsize=1)
def _range_before() -> re.Pattern[str]:
    """A bare day, then a word joining it to the date that follows (lexicon `range_words`), at the end of a text."""
    from assistant.agent.figures import current_lexicon

    words = "|".join(f"(?:{w})" for w in current_lexicon().range_words) or "(?!)"
    return re.compile(rf"\b(\d{{1,2}})(?:er|re|st|nd|rd|th)?\s*(?:{words})\s*(?:le\s+|the\s+)?$")


def _period_starts(prepared: str, found: list[tuple[str, date, int]]) -> list[tuple[str, date, int]]:
    """A period written with its month once ("du 4 au 17 mars", "from 3 to 14 March"): the first day is a date
    of the second one's month and year, placed where it is written (its role is read from the words before it)."""
    out = list(found)
    for text, value, pos in found:
        before = fold(prepared[max(0, pos - 25):pos])
        head = _range_before().search(before)
        if head is None or not text.strip()[:1].isdigit():
            continue
        with contextlib.suppress(ValueError):
            first = value.replace(day=int(head.group(1)))
            if first < value and not any(d == first for _, d, _ in out):
                out.append((head.group(1), first, pos - (len(before) - head.start())))
    out.sort(key=lambda x: x[2])
    return out
