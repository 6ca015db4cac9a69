"""Figures computed from one stated rule and the customer's own figures.

The rules files state figures (a percentage, a price per unit, a number of months of fees, a delay); customers
ask for the figure that follows for them ("30 % of my 5,200 € order", "7 lines at 180 € each", "6 months of my
320 € fee", "15 days from 3 February"). One function computes every such figure the same way, with its step:

- a percentage of a sum the customer gave;
- a price per counted unit (line, request, service...) times the units counted;
- a number of months of a monthly amount the customer gave;
- a delay added to the one date the customer gave (or taken from it, for a notice due before a term's end).

Which rule applies is decided by the caller (the answer path chose the fact); this module only does the
arithmetic, in Decimal, and words its step in both languages.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field

from assistant.models import CalcResult, CalcStep
from assistant.tools.calendar import add_months, days_in_month
from assistant.tools.common import fmt_qty, money
from assistant.tools.rules import TaxBasis, Value

# Units a price is counted by, not measured in: time and distance go through the fee calculator's own inputs.
_MEASURED = frozenset({"month", "year", "day", "hour", "minute", "km", "quarter", ""})


class Given(BaseModel):
    """The customer's own figures, as the conversation holds them."""

    amount: Decimal | None = Field(None, gt=0)   # a sum: an invoice, an order, a value
    monthly: Decimal | None = Field(None, gt=0)  # a monthly amount: the subscription, the average bill
    tax_basis: TaxBasis = TaxBasis.NONE          # of the sum or monthly amount given
    count: int | None = Field(None, ge=1)        # units counted for a price per unit
    start: date | None = None                    # the one date given
    wants_amount: bool = False                   # the question asks for an amount
    wants_date: bool = False                     # the question asks for a date
    before_end: bool = False                     # the delay runs back from the date (a notice before a term ends)


def _step(label_en: str, label_fr: str, formula: str, value: str) -> CalcStep:
    return CalcStep(label=f"{label_en} ‖ {label_fr}", formula=formula, value=value)


def apply_figure(value: Value, given: Given, label_en: str, label_fr: str) -> CalcResult | None:
    """The figure `value` gives for the customer's own figures, or None when none of the four cases holds."""
    if value.percent is not None and (given.wants_amount or given.amount is not None):
        base = given.amount or given.monthly  # a sum given next to a percentage rule is what it applies to
        if base is None:
            return None
        amount = money(base * value.percent / 100)
        step = _step(label_en, label_fr, f"{fmt_qty(value.percent)} % x {money(base)}", f"{amount} EUR")
        return CalcResult(tool="apply_figure", amount=amount, unit="EUR", tax_basis=given.tax_basis, breakdown=[step])
    if value.amount is not None and value.per not in _MEASURED and given.count and given.count > 1:
        amount = money(value.amount * given.count)
        step = _step(label_en, label_fr, f"{money(value.amount)} x {given.count}", f"{amount} EUR")
        return CalcResult(tool="apply_figure", amount=amount, unit="EUR", tax_basis=value.tax_basis, breakdown=[step])
    if value.months is not None and given.monthly is not None and given.wants_amount and not given.wants_date:
        amount = money(given.monthly * value.months)
        step = _step(label_en, label_fr, f"{money(given.monthly)} x {value.months}", f"{amount} EUR")
        return CalcResult(tool="apply_figure", amount=amount, unit="EUR", tax_basis=given.tax_basis, breakdown=[step])
    if given.start is not None and given.wants_date and (value.days is not None or value.months is not None):
        sign = -1 if given.before_end else 1
        op = "-" if sign < 0 else "+"
        if value.days is not None:
            result = given.start + timedelta(days=sign * value.days)
            n, en, fr = value.days, "days", "jours"
        else:
            result = add_months(given.start, sign * (value.months or 0))
            n, en, fr = value.months, "months", "mois"
        start = given.start.isoformat()
        formula = f"{start} {op} {n} {en} ‖ {start} {op} {n} {fr}"
        if value.month_end:  # "the last day of the following month"
            result = result.replace(day=days_in_month(result))
            formula = f"{start} {op} {n} {en}, last day of that month ‖ {start} {op} {n} {fr}, dernier jour de ce mois"
        step = _step(label_en, label_fr, formula, result.isoformat())
        return CalcResult(tool="apply_figure", unit="date", result_date=result.isoformat(), breakdown=[step])
    return None
