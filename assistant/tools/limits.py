"""Limits the documents set relative to the customer's own figures.

- Liability cap: the operator's liability is limited to the fees of the last N months (values carry months),
  computed from the monthly fee the customer gives; a customer in service for fewer months than N counts
  only the months paid; a yearly cap in euros, when stated, bounds the result.
- Interim invoice: an intermediate invoice / advance may be sent once the amount to bill exceeds the
  average bill by a stated amount: threshold = average + that amount.
- Reduction allowance: how many users / lines may be removed in one period = floor(count x percent / 100)
  (a maximum: a fraction of a user cannot be removed).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import Field

from assistant.models import CalcResult, CalcStep, FactStatus
from assistant.tools.common import Money, OperatorInput, cite_all, describe_fact, money
from assistant.tools.rules import Fact, OperatorRules, RuleBook


def _fact(tool: str, inp: OperatorInput, book: RuleBook, kind: str, what: str, label: str,
          unit: str) -> tuple[OperatorRules, Fact] | CalcResult:
    """The operator's first fact of `kind` when it states a value in `unit`; otherwise the CalcResult that
    says so: not_stated (nothing in the documents) or the fact's own status with its citation."""
    rules = book.for_operator(inp.operator)
    facts: list[Fact] = getattr(rules, kind)
    if not facts:
        return CalcResult(tool=tool, status=FactStatus.NOT_STATED, currency=rules.currency,
                          warnings=[f"The documents of {rules.operator} state no {what} / rien dans les documents."])
    fact = facts[0]
    if fact.value is None or getattr(fact.value, unit) is None:
        return CalcResult(tool=tool, status=fact.status if fact.status != FactStatus.STATED else FactStatus.NOT_STATED,
                          currency=rules.currency, warnings=[describe_fact(fact, label)],
                          citations=cite_all(book, rules, fact.all_sources))
    return rules, fact


class LiabilityInput(OperatorInput):
    monthly_fee: Money = Field(gt=0, description="What the customer pays per month for the service, in EUR")
    months_in_service: int | None = Field(None, ge=0, le=600, description="Months the service has been paid "
                                          "for, if fewer than the cap's period (optional)")


def liability_cap(inp: LiabilityInput, book: RuleBook) -> CalcResult:
    """The most the operator pays when it is liable: monthly fee x the months the clause names."""
    found = _fact("liability_cap", inp, book, "liability", "liability ceiling", "Liability ceiling / plafond de responsabilité", "months")
    if isinstance(found, CalcResult):
        return found
    rules, rule = found
    months = rule.value.months
    counted = min(months, inp.months_in_service) if inp.months_in_service is not None else months
    amount = money(inp.monthly_fee * counted)
    short = f" (< {months})" if counted < months else ""  # fewer months in service than the clause counts
    steps = [CalcStep(label="Liability ceiling ‖ Plafond de responsabilité",
                      formula=f"{money(inp.monthly_fee)} x {counted} months{short} ‖ "
                              f"{money(inp.monthly_fee)} x {counted} mois{short}",
                      value=f"{amount} EUR")]
    sources = list(rule.all_sources)
    values: dict[str, Any] = {"months": counted, "per_event": rule.per_event}
    assumptions = [rule.note] if rule.note else []
    assumptions.append("The monthly fee is taken as constant over the period; the ceiling follows its tax basis.")
    cap = rule.yearly_cap.value if rule.yearly_cap else None
    if rule.yearly_cap is not None:
        sources += rule.yearly_cap.all_sources
    if cap is not None and cap.amount is not None:
        values["yearly_cap"] = str(money(cap.amount))
        if amount > cap.amount:
            amount = money(cap.amount)
            steps.append(CalcStep(label="Plafond annuel / yearly cap", value=f"{amount} EUR"))
        else:
            assumptions.append(f"Whatever the number of events, at most {money(cap.amount)} EUR per calendar year.")
    return CalcResult(tool="liability_cap", amount=amount, currency=rules.currency, unit="EUR", breakdown=steps,
                      assumptions=assumptions, values=values, citations=cite_all(book, rules, sources))


class InterimInvoiceInput(OperatorInput):
    average_monthly_bill: Money = Field(gt=0, description="Average bill over the reference period, in EUR")
    current_amount: Money | None = Field(None, description="Amount to bill this period, in EUR (optional)")


def interim_invoice(inp: InterimInvoiceInput, book: RuleBook) -> CalcResult:
    """Above which amount the operator may send an intermediate invoice or ask an advance."""
    found = _fact("interim_invoice", inp, book, "interim_invoice", "intermediate-invoice threshold", "Interim invoice threshold / seuil", "amount")
    if isinstance(found, CalcResult):
        return found
    rules, rule = found
    margin = rule.value.amount
    threshold = money(inp.average_monthly_bill + margin)
    steps = [CalcStep(label="Seuil / threshold", formula=f"{inp.average_monthly_bill} + {margin}", value=f"{threshold} EUR")]
    values: dict[str, Any] = {"threshold": str(threshold)}
    if inp.current_amount is not None:
        allowed = inp.current_amount >= threshold
        values["allowed"] = allowed
        steps.append(CalcStep(label="Montant du mois / this period",
                              formula=f"{inp.current_amount} {'>=' if allowed else '<'} {threshold}",
                              value="interim invoice possible ‖ facture intermédiaire possible" if allowed
                              else "no interim invoice ‖ pas de facture intermédiaire"))
    return CalcResult(tool="interim_invoice", amount=threshold, currency=rules.currency, unit="EUR",
                      tax_basis=rule.value.tax_basis, breakdown=steps, values=values,
                      assumptions=[rule.note] if rule.note else [],
                      citations=cite_all(book, rules, rule.all_sources))


class ReductionInput(OperatorInput):
    current_count: int = Field(ge=1, le=100000, description="Users / lines on the contract now")
    target_count: int | None = Field(None, ge=0, le=100000, description="Users / lines wanted after the reduction, "
                                     "when the customer asks whether that reduction is allowed")


def reduction_allowance(inp: ReductionInput, book: RuleBook) -> CalcResult:
    """How many users / lines may be removed in one period (floor of count x percent)."""
    found = _fact("reduction_allowance", inp, book, "reduction_limit", "limit on reducing users or lines", "Reduction limit / limite de réduction", "percent")
    if isinstance(found, CalcResult):
        return found
    rules, rule = found
    pct = rule.value.percent
    exact = Decimal(inp.current_count) * pct / 100
    allowed = math.floor(exact)
    # a reduction the customer asks for: within the most allowed in the period, or not (None: none asked)
    ok = (inp.target_count >= inp.current_count - allowed
          if inp.target_count is not None and inp.target_count < inp.current_count else None)
    return CalcResult(tool="reduction_allowance", amount=Decimal(allowed), currency=None, unit="count",
                      breakdown=[CalcStep(label=f"Maximum per {rule.period} / maximum par période",
                                          formula=f"{inp.current_count} x {pct} % = {exact.normalize():f}, rounded "
                                                  f"down ‖ {inp.current_count} x {pct} % = {exact.normalize():f}, "
                                                  "arrondi à l'unité inférieure",
                                          value=f"{allowed} {rule.unit}(s)"),
                                 # what the customer can go down to in the period, the figure a plan is made with
                                 CalcStep(label="Fewest after the reduction / minimum après la réduction",
                                          formula=f"{inp.current_count} - {allowed}",
                                          value=str(inp.current_count - allowed)),
                                 *_wanted(inp, allowed, ok)],
                      assumptions=["A fraction of a user or line cannot be removed: the result is rounded down."],
                      values={"percent": str(pct), "period": rule.period, "unit": rule.unit}
                      | ({"allowed": ok} if ok is not None else {}),
                      citations=cite_all(book, rules, rule.all_sources))


def _wanted(inp: ReductionInput, allowed: int, ok: bool | None) -> list[CalcStep]:
    """The reduction the customer asks for, checked against the most allowed in the period (`ok`)."""
    if ok is None or inp.target_count is None:
        return []
    asked, fewest = inp.current_count - inp.target_count, inp.current_count - allowed
    return [CalcStep(label="Reduction asked ‖ réduction demandée",
                     formula=f"{inp.current_count} -> {inp.target_count} = -{asked}; {inp.target_count} "
                             f"{'>=' if ok else '<'} {fewest}",
                     value="allowed ‖ permise" if ok else "over the limit ‖ au-delà de la limite")]
