"""Late payment: interest, fixed indemnities and reminder fees as each operator states them.

Calendar rules: days late = payment date - due date (the due date itself is not late). Yearly rates are
applied pro rata per day on a 365-day year. Monthly rates are applied per month of delay; when the rule
counts a started month in full, months = started months of delay, otherwise complete months only.
The rate of a period is the highest of the stated rate and the stated multiple of the legal interest rate
(the legal rate is never in the texts: give it as input, otherwise that part cannot be computed).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from assistant.errors import InputError
from assistant.models import CalcResult, FactStatus, TaxBasis
from assistant.tools.calendar import started_periods, whole_months_between
from assistant.tools.common import (
    Count,
    CustomerTypeField,
    FeeLine,
    Money,
    OperatorInput,
    Totals,
    fees_for,
    money,
)
from assistant.tools.rules import InterestRule, RuleBook


class LatePaymentInput(OperatorInput):
    amount: Money = Field(gt=0, description="Unpaid invoice amount in EUR")
    due_date: date | None = Field(None, description="Invoice due date (YYYY-MM-DD); optional when the delay is given")
    payment_date: date | None = Field(None, description="Payment date (YYYY-MM-DD); empty if the delay is given")
    months_late: int | None = Field(None, ge=0, le=120, description="Months late, if no payment date is given")
    days_late: int | None = Field(None, ge=0, le=3650, description="Days late, if no payment date is given")
    customer_type: Literal["business", "consumer"] = CustomerTypeField
    reminders: Count = Field(0, le=50, description="Number of payment reminders received")
    legal_interest_rate_percent: Decimal | None = Field(
        None, ge=0, le=50, description="Legal interest rate in % a year, when a rule refers to it")
    reminder_date: date | None = Field(None, description="Date of the reminder, for rules that run from it")

    @model_validator(mode="after")
    def _period_given(self) -> LatePaymentInput:
        if self.payment_date is None and self.months_late is None and self.days_late is None:
            raise InputError("payment_date", "give payment_date, days_late or months_late",
                             "indiquez la date de paiement ou le retard (en jours ou en mois)")
        if self.payment_date is not None and self.due_date is None and (self.days_late or self.months_late):
            self.payment_date = None  # the delay is given: a payment date alone adds nothing to count from
        if self.payment_date is not None and self.due_date is None:
            raise InputError("due_date", "a payment date needs the due date", "indiquez aussi la date d'échéance")
        if self.due_date is not None and self.payment_date is None and self.days_late is not None:
            self.payment_date = self.due_date + timedelta(days=self.days_late)
        if self.payment_date is not None and self.due_date is not None and self.payment_date < self.due_date:
            raise InputError("payment_date", "is before due_date", "est antérieure à l'échéance")
        return self


def _interest(rule: InterestRule, inp: LatePaymentInput, totals: Totals) -> None:
    totals.sources += rule.all_sources
    if rule.note:
        totals.assumptions.append(rule.note)
    if rule.status != FactStatus.STATED:
        totals.status = FactStatus.NOT_STATED
        where = f" ({rule.pointer})" if rule.pointer else ""
        totals.warnings.append(f"Late interest: not stated{where} / intérêts de retard non chiffrés{where}")
        return
    start = inp.due_date
    if rule.runs_from == "reminder" and start is not None:
        if inp.reminder_date is None:
            totals.warnings.append("This rule runs from an unanswered reminder; without reminder_date the due "
                                   "date is used, an upper bound / calculé depuis l'échéance (majorant).")
        else:
            start = max(start, inp.reminder_date)
    rates: list[Decimal] = [v.percent for v in rule.values if v.percent is not None]
    if rule.legal_rate_multiple is not None:
        if inp.legal_interest_rate_percent is None:
            if not rates:
                totals.status = FactStatus.NOT_STATED
                totals.warnings.append("Late interest is a multiple of the legal rate: give legal_interest_rate_percent "
                                       "/ indiquez le taux d'intérêt légal.")
                return
            totals.warnings.append(f"If {rule.legal_rate_multiple} x the legal rate exceeds {rates[0]}%, that higher "
                                   "rate applies: give legal_interest_rate_percent.")
        else:
            rates.append(rule.legal_rate_multiple * inp.legal_interest_rate_percent)
    rate = max(rates)
    if rule.period == "month":
        if inp.payment_date is None or start is None:
            if inp.months_late is not None:
                months = inp.months_late
            else:  # only a number of days: a month of delay counted as 30 days
                days = inp.days_late or 0
                months = -(-days // 30) if rule.started_period_counts else days // 30
                totals.assumptions.append("Without dates, a month of delay = 30 days"
                                          + (" and a started month counts in full." if rule.started_period_counts else "."))
        elif rule.started_period_counts:
            # month k of delay starts on the k-th monthly anniversary of the first day late
            months = started_periods(start + timedelta(days=1), inp.payment_date)
            totals.assumptions.append("A started month of delay counts as a full month.")
        else:
            months = whole_months_between(start, inp.payment_date)
        amount = inp.amount * rate / 100 * months
        totals.add_amount("Intérêts de retard / late interest", f"{inp.amount} x {rate} % x {months} month(s) ‖ {inp.amount} x {rate} % x {months} mois", amount)
    else:
        days = (inp.payment_date - start).days if inp.payment_date and start else inp.days_late
        if days is None:
            days = (inp.months_late or 0) * 365 // 12
            totals.assumptions.append("Without a payment date, one month late = 365/12 days.")
        amount = inp.amount * rate / 100 * days / 365
        totals.add_amount("Intérêts de retard / late interest", f"{inp.amount} x {rate}% x {max(days, 0)}/365", max(amount, Decimal(0)))


def late_payment(inp: LatePaymentInput, book: RuleBook) -> CalcResult:
    """Interest, fixed recovery indemnities and reminder fees for one unpaid invoice."""
    rules = book.for_operator(inp.operator)
    if inp.customer_type not in rules.customer_types:
        raise InputError("customer_type", f"{rules.operator}'s conditions cover {rules.customer_types} customers only",
                         f"les conditions de {rules.operator} ne couvrent que : {rules.customer_types}")
    totals = Totals()
    interest_rules = [r for r in rules.interest if inp.customer_type in r.customer_types]
    if not interest_rules:
        totals.warnings.append("No late-interest rule in the documents / aucun intérêt de retard prévu.")
    for rule in interest_rules:
        _interest(rule, inp, totals)
    for fee in fees_for(rules, "recovery_indemnity", customer_type=inp.customer_type):
        totals.add_fee(FeeLine(fee, 1))
    if inp.reminders:
        for fee in fees_for(rules, "reminder_fee", customer_type=inp.customer_type):
            totals.add_fee(FeeLine(fee, inp.reminders))
    totals.bases.add(TaxBasis.NONE)  # interest follows the invoice; fees keep their own basis
    return totals.result("late_payment", book, rules, values={"invoice_amount": str(money(inp.amount))},
                         assumptions=["Days late = payment date - due date; yearly rates pro rata on 365 days."])
