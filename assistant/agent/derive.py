"""A rule's figure applied to the customer's own figures: the computed answer a fact leads to.

A customer who gives figures wants the figure that follows for them, not the rule alone ("30 % deposit" and
"an order of 5,200 €" -> 1,560 €). When no calculator answered, the fact chosen for the question is applied to
what the conversation holds (assistant/tools/arithmetic.py does the arithmetic); what a question asks for (a
date, an amount) and the nouns units are counted with are data (knowledge/lexicon.yaml: `asks`, `unit_nouns`).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from assistant.agent.facts import FactView
from assistant.agent.figures import Lexicon
from assistant.agent.router import Need
from assistant.agent.text import fold
from assistant.agent.understanding import Understanding
from assistant.models import CalcResult, CalcStep, TaxBasis
from assistant.tools.arithmetic import Given, apply_figure
from assistant.tools.calendar import days_in_month, inclusive_days, pro_rata
from assistant.tools.common import counted, money

# Facts whose figures have their own calculator (rates per period, notices against a term): not applied here.
_OWN_CALCULATOR = frozenset({"interest", "outage", "reduction_limit", "call_rating", "early_termination"})
# Facts whose months are a length of time (a notice, a term), never a number of monthly fees to pay.
_LENGTHS = frozenset({"notice", "minimum_term", "renewal"})


@lru_cache(maxsize=8)
def _cue(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def asks_for(lexicon: Lexicon, what: str, text: str) -> bool:
    """The message asks for a date / an amount (lexicon `asks` cues)."""
    pattern = _cue(tuple(lexicon.asks.get(what, ())))
    return bool(pattern and pattern.search(fold(text).strip()))


def _count(u: Understanding, per: str, lexicon: Lexicon) -> int | None:
    """Units counted in the message for a price `per` unit: the quantities written with the unit's nouns."""
    nouns = set(lexicon.unit_nouns.get(per, ()))
    counted = sum(n for noun, n in u.slots.quantities.items() if noun in nouns)
    if not counted and u.slots.number_count and per in lexicon.line_count_units:
        counted = u.slots.number_count  # "8 lignes", "30 utilisateurs" are read as the customer's lines
    return counted or None


# A notice runs back from a term's end or forward from the request: only a date in that role anchors it.
_ANCHOR_ROLES = {"before_term_end": ("term_end_date", "renewal_date"), "from_request": ("termination_date", "request_date")}


def _given_dates(u: Understanding) -> set[date]:
    """Every date the message gives, in whatever role."""
    return set(u.slots.dates())


def _one_date(u: Understanding, view: FactView) -> date | None:
    """The one date the message gives; for a notice, the one date in the role its anchor counts from (never a
    contract's start or an invoice's date)."""
    anchor = view.extra.get("anchor")
    if anchor:
        roles = _ANCHOR_ROLES.get(anchor, ())
        dates = {d for d in (getattr(u.slots, r) for r in roles) if d is not None}
    else:
        dates = _given_dates(u)
    return dates.pop() if len(dates) == 1 else None


def _pro_rata(view: FactView, u: Understanding) -> CalcResult | None:
    """A monthly fee counted per day: between the two dates given (inclusive), from the one date given to the end
    of its month (a first month), or for a number of days in a month taken as 30 days."""
    fee = u.slots.monthly_fee
    dates = sorted(_given_dates(u))
    if fee is None or not (dates or u.slots.outage_days):
        return None
    if dates:
        first = dates[0]
        last = dates[-1] if len(dates) > 1 else first.replace(day=days_in_month(first))
        days = inclusive_days(first, last)
        amount = money(pro_rata(fee, first, last))
        period = f"{first.isoformat()} .. {last.isoformat()}"
        formula = f"{fee} EUR / days in the month x {days} days ‖ {fee} EUR / jours du mois x {days} jours"
    else:
        days = u.slots.outage_days or 0
        amount, period = money(fee * days / 30), ""
        formula = f"{fee} EUR / 30 x {days} days ‖ {fee} EUR / 30 x {days} jours"
    steps = [CalcStep(label=f"{view.label_en} ‖ {view.label_fr}", formula=period, value=counted(days, "day", "days",
                                                                                               "jour", "jours")),
             CalcStep(label="Pro rata", formula=formula, value=f"{amount} EUR")]
    return CalcResult(tool="apply_figure", amount=amount, unit="EUR",
                      tax_basis=TaxBasis(u.slots.tax_basis) if u.slots.tax_basis else TaxBasis.NONE, breakdown=steps,
                      assumptions=[] if dates else ["Each month is counted as 30 days ‖ chaque mois compte pour 30 jours"])


def derive(view: FactView, u: Understanding, need: Need, lexicon: Lexicon, prices: bool = True) -> CalcResult | None:
    """The fact's figure applied to the customer's figures, or None when they give nothing it applies to.
    `prices`: the fact's own needs answer an amount; a fact of a procedure ("CE+T may terminate after a month of
    suspension") states a length of time, never a number of monthly fees to pay."""
    amount_asked = need.answer == "amount" or asks_for(lexicon, "amount", u.text)
    if view.fact.pro_rata and (amount_asked or u.slots.monthly_fee is not None):  # a fee and a period: the share
        return _pro_rata(view, u)
    value = view.fact.value
    if value is None or view.selector in _OWN_CALCULATOR:
        return None
    slots = u.slots
    wants_amount = amount_asked and prices and view.selector not in _LENGTHS
    start = _one_date(u, view)
    given = Given(
        amount=slots.amount or None, monthly=slots.monthly_fee or slots.average_monthly_bill or None,
        tax_basis=TaxBasis(slots.tax_basis) if slots.tax_basis else TaxBasis.NONE,
        count=_count(u, value.per, lexicon), start=start,
        wants_amount=wants_amount,
        # a delay and the one date given without a word saying what it is ("the first increased bill came on
        # 3 September"): the date that follows is the answer, unless a sum is asked
        wants_date=need.answer == "date" or asks_for(lexicon, "date", u.text)
        or (not wants_amount and bool(start) and start in slots.other_dates),
        before_end=view.extra.get("anchor") == "before_term_end",
    )
    return apply_figure(value, given, view.label_en, view.label_fr)
