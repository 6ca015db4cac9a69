"""Strict correctness of the final reply (`answer_correct`) and the stated figure (`figure_stated`).

An item passes `answer_correct` only when all of these hold for the last turn's reply:

(a) status: `reply.status` equals `expected_status`;
(b) facts, in the reply's own sentences (`own_text`: quotes removed): every `key_facts` group is matched by
    one of its surface forms (accent-, case- and whitespace-insensitive; figures compared after normalising
    separators, so "1 080,00", "1080,00", "1,080.00" and "1080" are the same figure); an item without key
    facts needs its gold figure (`gold_number` / `gold_date`) stated there, when it has one;
(c) citation: an item with gold clauses that expects answered / not_found cites at least one gold clause
    (same matching as the citation metrics: same doc, same clause or a child, part without case/accents);
(d) hygiene: no internal token outside quotes (`internal_tokens`, in the item's language).

`answer_issues` says which of these fail, for the report.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from assistant.evaluation.metrics.base import Metric, MetricContext, Sample, clause_matches, fold
from assistant.evaluation.metrics.citations import _answered_with_gold
from assistant.evaluation.metrics.hygiene import internal_tokens, own_text
from assistant.evaluation.metrics.numeric import (
    NUMBER_PATTERN,
    dates_in_text,
    numbers_in_text,
    parse_number,
    same_cents,
)

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_ATOM = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|\S")
_LETTER = re.compile(r"[^\W\d_]")


def _canonical_number(token: str) -> str:
    value = parse_number(token)
    if value is None:
        return token
    return format(value.normalize(), "f")  # 1080.00 -> "1080", 184.80 -> "184.8"


def normalise(text: str | None) -> str:
    """Folded (case, accents), one space for any whitespace run, figures written one way ("1 080,00" -> "1080")."""
    folded = " ".join(fold(text).translate(_APOSTROPHES).split())
    return NUMBER_PATTERN.sub(lambda m: _canonical_number(m.group(0)), folded)


@lru_cache(maxsize=4096)
def surface_pattern(form: str) -> re.Pattern[str] | None:
    """A regex for one surface form of a key fact, matched against `normalise`d text.

    Whitespace between the form's pieces is optional ("50%" = "50 %", "30 jours" = "30jours"). A form starting
    with a letter starts a word (a prefix: "recommand" matches "recommandée", not "déconseillé"); a form of
    three letters or less is a whole word ("non", "yes", "ID"); a figure never sits inside a longer figure
    ("180" does not match "1180" nor "180,50").
    """
    norm = normalise(form).strip()
    atoms = _ATOM.findall(norm)
    if not atoms:
        return None
    body = r"\s*".join(re.escape(a) for a in atoms)
    first, last = atoms[0], atoms[-1]
    head = tail = ""
    if first[0].isdigit():
        head = r"(?<!\d)(?<!\d[.,])"
    elif _LETTER.match(first) and not (len(atoms) > 1 and atoms[1] == "'"):  # "n't state" may sit inside a word
        head = r"(?<![^\W\d_])"
    if last[-1].isdigit():
        tail = r"(?!\d)(?![.,]\d)"
    elif _LETTER.match(last) and len(norm.replace(" ", "")) <= 3:
        tail = r"(?![^\W\d_])"
    return re.compile(head + body + tail)


def states_fact(text: str, forms: list[str]) -> bool:
    """Does the (already `normalise`d) text contain one of the surface forms?"""
    return any((p := surface_pattern(f)) is not None and p.search(text) is not None for f in forms)


def missing_key_facts(text: str | None, key_facts: list[list[str]]) -> list[list[str]]:
    """The key-fact groups that the text does not state (text is taken as is: remove quotes first)."""
    norm = normalise(text)
    return [group for group in key_facts if not states_fact(norm, group)]


def states_gold_figure(sample: Sample) -> bool | None:
    """Is the gold number / date stated in the reply's own text? None when the item has no gold figure."""
    item, reply = sample.item, sample.reply
    if item.gold_number is None and item.gold_date is None:
        return None
    if reply is None:
        return False
    text = own_text(reply.answer)
    if item.gold_date is not None:
        return item.gold_date in dates_in_text(text)
    gold: Decimal = item.gold_number  # type: ignore[assignment]
    return any(same_cents(gold, n) for n in numbers_in_text(text))


def cites_gold(sample: Sample) -> bool:
    reply = sample.reply
    cited = [(c.doc_id, c.clause_id, c.part) for c in (reply.citations if reply else [])]
    return any(clause_matches(g, *key) for g in sample.item.gold for key in cited)


def answer_issues(sample: Sample) -> list[str]:
    """Why the item fails `answer_correct` (empty list: it passes)."""
    item, reply = sample.item, sample.reply
    if sample.error:
        return [f"error: {sample.error}"]
    if reply is None:
        return ["no reply"]
    issues: list[str] = []
    if reply.status != item.expected_status:
        issues.append(f"status {reply.status} (expected {item.expected_status})")
    if item.key_facts:
        for group in missing_key_facts(own_text(reply.answer), item.key_facts):
            issues.append("key fact missing: " + " | ".join(group))
    elif states_gold_figure(sample) is False:
        issues.append(f"figure not stated: {item.gold_date.isoformat() if item.gold_date else item.gold_number}")
    if _answered_with_gold(sample) and not cites_gold(sample):
        issues.append("no gold clause cited")
    tokens = internal_tokens(reply.answer, item.language)
    if tokens:
        issues.append("internal tokens: " + ", ".join(tokens[:5]) + (" …" if len(tokens) > 5 else ""))
    return issues


class AnswerCorrect(Metric):
    """1 when the reply's status, own-words key facts (or gold figure), gold citation and hygiene are all right."""

    name = "answer_correct"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        return 0.0 if answer_issues(sample) else 1.0


class FigureStated(Metric):
    """Calculation items (`gold_number` set): the gold figure, to the cent, is stated outside quotes."""

    name = "figure_stated"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        if sample.item.gold_number is None:
            return None
        return 1.0 if states_gold_figure(sample) else 0.0
