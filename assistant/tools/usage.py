"""Charges and refunds tied to use of the service: per-second call charge, outage refunds.

Call charge: billed duration = duration rounded up to the operator's billing increment; price = billed
seconds x price per minute / 60 (+ set-up fee), then rounded to the cent the operator's way ("arrondi au
cent supérieur" = up); when the text states no rounding, half-up to the cent is used and flagged.
Outage refund (pro rata): the outage counts from the day it is reported to the day the service is restored,
both included; each day is refunded at the monthly fee / number of days of that day's calendar month.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field, model_validator

from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, FactStatus
from assistant.tools.calendar import inclusive_days, pro_rata
from assistant.tools.common import CENT, Money, OperatorInput, cite_all, counted, describe_fact, money
from assistant.tools.rules import OutageRule, RuleBook


class CallChargeInput(OperatorInput):
    duration_seconds: int = Field(ge=0, le=86400, description="Call duration in seconds")
    price_per_minute: Money = Field(description="Price per minute in EUR (from the operator's tariff)")
    setup_fee: Money = Field(0, description="Set-up fee per call in EUR, if any")


def call_charge(inp: CallChargeInput, book: RuleBook) -> CalcResult:
    """Price of one call with the operator's billing increment and rounding."""
    rules = book.for_operator(inp.operator)
    rating = rules.call_rating[0] if rules.call_rating else None
    stated = rating is not None and rating.status == FactStatus.STATED
    increment = rating.increment_seconds if stated and rating else 1
    billed = -(-inp.duration_seconds // increment) * increment
    raw = Decimal(billed) * inp.price_per_minute / 60 + inp.setup_fee
    rounding = ROUND_CEILING if stated and rating and rating.rounding == "up" else ROUND_HALF_UP
    amount = raw.quantize(CENT, rounding=rounding)
    warnings = [] if stated else [describe_fact(rating, "Call rounding") if rating else
                                  "The documents state no call rounding / arrondi non indiqué"]
    return CalcResult(
        tool="call_charge", amount=amount, currency=rules.currency, unit="EUR",
        status=FactStatus.STATED if stated else FactStatus.NOT_STATED,
        breakdown=[CalcStep(label="Billed duration / durée facturée",
                            formula=f"{inp.duration_seconds} s, billed by {increment} s ‖ {inp.duration_seconds} s, "
                                    f"facturé par tranche de {increment} s", value=f"{billed} s"),
                   CalcStep(label="Price / prix",
                            formula=f"{billed} s x {inp.price_per_minute} EUR / 60 s + {inp.setup_fee} EUR",
                            value=f"{raw.quantize(Decimal('0.0001'))} EUR"),
                   CalcStep(label="Rounding / arrondi", formula="up to the cent" if rounding == ROUND_CEILING else "half up to the cent",
                            value=f"{amount} EUR")],
        assumptions=[] if stated else ["Per-second billing rounded half up to the cent is assumed."],
        warnings=warnings, citations=cite_all(book, rules, rating.all_sources) if rating else [])


class OutageInput(OperatorInput):
    service: str | None = Field(None, description="Service affected (optional), e.g. 'mobile'")
    monthly_fee: Money | None = Field(None, description="Monthly subscription fee of the affected service in EUR "
                                      "(not needed when the outage is too short for any refund)")
    outage_start: date | None = Field(None, description="Day the outage was reported (YYYY-MM-DD)")
    outage_end: date | None = Field(None, description="Day the service was restored (YYYY-MM-DD)")
    outage_days: int | None = Field(None, ge=1, le=3660, description="Days without service, reported day and "
                                    "restored day included, when the dates are not given")
    restoration_hours: Decimal | None = Field(None, ge=0, le=10000,
                                              description="Restoration time in hours, for hour-based guarantees (GTR)")

    @model_validator(mode="after")
    def _order(self) -> OutageInput:
        if self.outage_start and self.outage_end and self.outage_end < self.outage_start:
            raise InputError("outage_end", "is before outage_start", "est antérieure au début de l'interruption")
        if self.outage_start and self.outage_end is None and self.outage_days:
            self.outage_end = self.outage_start + timedelta(days=self.outage_days - 1)
        if not ((self.outage_start and self.outage_end) or self.outage_days or self.restoration_hours is not None):
            raise InputError("outage_end", "give the outage dates, its length in days or the restoration time in hours",
                             "indiquez les dates de l'interruption, sa durée en jours ou le temps de rétablissement en heures")
        return self

    def days(self) -> tuple[int, str]:
        """Days of outage (reported day to restored day inclusive) and how they were obtained."""
        if self.outage_start and self.outage_end:
            return inclusive_days(self.outage_start, self.outage_end), (f"{self.outage_start} .. {self.outage_end} inclusive ‖ "
                                                                         f"{self.outage_start} .. {self.outage_end} inclus")
        if self.outage_days:
            return self.outage_days, "length given ‖ durée indiquée"
        hours = self.restoration_hours or Decimal(0)
        return max(1, math.ceil(hours / 24)), f"{hours} h, a started day counts ‖ {hours} h, un jour entamé compte"


def _granted(inp: OutageInput, rule: OutageRule, days: int) -> tuple[Decimal, str]:
    """What the rule grants in its own unit: days refunded, months of fee, or % of the fee for the hours."""
    if rule.method == "pro_rata_days":
        return Decimal(days), "days"
    if rule.method == "fixed_months":
        return Decimal(rule.value.months if rule.value and rule.value.months else 0), "months"
    if inp.restoration_hours is None:  # tiers by hours
        raise InputError("restoration_hours", "this guarantee is computed from the restoration time in hours",
                         "cette garantie se calcule sur le temps de rétablissement en heures")
    return max((p for above, p in rule.tiers if inp.restoration_hours > above), default=Decimal(0)), "percent"


def _without_fee(inp: OutageInput, rule: OutageRule, days: int, steps: list[CalcStep], base: dict[str, Any],
                 ) -> CalcResult:
    """Without the monthly fee, what the rule grants in its own unit; the amount follows once the fee is given."""
    granted, unit = _granted(inp, rule, days)
    n = f"{granted.normalize():f}"
    fr = {"days": "jours", "months": "mois", "percent": "% de la redevance"}[unit]
    en = {"days": "days", "months": "months", "percent": "% of the monthly fee"}[unit]
    steps.append(CalcStep(label="Refund, in the rule's unit ‖ remboursement, dans l'unité de la règle",
                          value=f"{n} {en} ‖ {n} {fr}"))
    base["warnings"].append("Give the monthly fee to get the amount in euros ‖ indiquez la redevance mensuelle pour "
                            "obtenir le montant en euros")
    return CalcResult(**{**base, "unit": unit}, amount=granted, breakdown=steps,
                      values={"rule": rule.key, "days": days})


def outage_refund(inp: OutageInput, book: RuleBook) -> CalcResult:
    """Refund for an interruption, per the operator's rule (pro rata per day, a month's fee, tiers by hours)."""
    rules = book.for_operator(inp.operator)
    service = rules.service(inp.service).key if inp.service else None
    candidates = [r for r in rules.outage if not r.services or (service and service in r.services)]
    if inp.restoration_hours is None:  # hour-based guarantees need the hours; prefer day-based rules
        candidates.sort(key=lambda r: r.method == "tiers_by_hours")
    else:
        candidates.sort(key=lambda r: r.method != "tiers_by_hours")
    if not candidates:
        return CalcResult(tool="outage_refund", status=FactStatus.NOT_STATED, currency=rules.currency,
                          warnings=["The documents state no outage refund / aucun remboursement prévu."])
    rule = candidates[0]
    days, how = inp.days()
    citations = cite_all(book, rules, rule.all_sources)
    base = {"tool": "outage_refund", "currency": rules.currency, "unit": "EUR", "citations": citations,
            "assumptions": [rule.note] if rule.note else [],
            "warnings": [f"Other rule(s) may apply: {', '.join(r.key for r in candidates[1:])}"] if len(candidates) > 1 else []}
    steps = [CalcStep(label="Outage length / durée", formula=how, value=counted(days, "day", "days", "jour", "jours"))]
    if rule.status != FactStatus.STATED:  # the customer's own figures are not a result: the rule's words say it
        return CalcResult(**base, status=rule.status, breakdown=steps if inp.monthly_fee is not None else [],
                          values={"rule": rule.key, "days": days})
    threshold = rule.threshold(days)
    if threshold is not None:  # the length that opens the right, said also when it is reached
        reached, en, fr = threshold
        steps.append(CalcStep(label="Threshold / seuil", formula=f"{en} ‖ {fr}",
                              value="refund due ‖ remboursement dû" if reached else "0.00 EUR"))
        if not reached:
            return CalcResult(**base, amount=money(Decimal(0)), breakdown=steps, values={"rule": rule.key, "days": days})
    if inp.monthly_fee is None and rule.method != "none":
        return _without_fee(inp, rule, days, steps, base)
    fee = inp.monthly_fee or Decimal(0)
    if rule.method == "pro_rata_days" and inp.outage_start and inp.outage_end:
        amount = money(pro_rata(fee, inp.outage_start, inp.outage_end))
        steps.append(CalcStep(label="Pro rata", formula="sum of monthly fee / days in month, per day ‖ somme, par jour, de la redevance / jours du mois", value=f"{amount} EUR"))
    elif rule.method == "pro_rata_days":
        amount = money(fee * days / 30)
        steps.append(CalcStep(label="Pro rata", formula=f"{fee} / 30 x {days} day(s) ‖ {fee} / 30 x {days} jour(s)", value=f"{amount} EUR"))
        base["assumptions"].append("Without the outage dates, a day is refunded at 1/30 of the monthly fee "
                                   "(give the dates for the exact month lengths).")
    elif rule.method == "fixed_months":
        months = _granted(inp, rule, days)[0]
        amount = money(fee * months)
        steps.append(CalcStep(label="Refund / remboursement", formula=f"{fee} x {months} month(s) ‖ {fee} x {months} mois", value=f"{amount} EUR"))
    elif rule.method == "tiers_by_hours":
        percent = _granted(inp, rule, days)[0]
        amount = money(fee * percent / 100)
        steps.append(CalcStep(label="Penalty tier / palier", formula=f"{inp.restoration_hours} h -> {percent} % of {fee} ‖ {inp.restoration_hours} h -> {percent} % de {fee}",
                              value=f"{amount} EUR"))
        if rule.yearly_cap_months:
            base["assumptions"].append(f"Yearly cap: {rule.yearly_cap_months} monthly fee(s) in total.")
    else:
        amount = money(Decimal(0))
        steps.append(CalcStep(label="No compensation / aucune compensation", value="0.00 EUR"))
    return CalcResult(**base, amount=amount, breakdown=steps, values={"rule": rule.key, "days": days})
