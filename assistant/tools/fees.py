"""Fees the documents state: lookup by kind, equipment, porting, cancellation, moving, deposit ceilings.

Every total is the sum of the fees asked for, each multiplied by its quantity (fees "from the n-th unit"
count only from that unit). When one fee is only pointed to ("liste des prix") the total has no amount and
the known subtotal is given; when one fee has two figures, the minimum and maximum totals are given.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

from pydantic import Field, model_validator

from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, FactStatus
from assistant.tools.calendar import term_end
from assistant.tools.common import (
    Count,
    FeeLine,
    Money,
    OperatorInput,
    Totals,
    cite_all,
    describe_fact,
    fees_for,
    fmt_qty,
    money,
)
from assistant.tools.rules import Fee, FeeKind, RuleBook


class FeeLookupInput(OperatorInput):
    kind: FeeKind = Field(description="Kind of fee, e.g. paper_invoice, reminder_fee, moving, porting_cancelled")
    service: str | None = Field(None, description="Restrict to one service (optional)")
    quantity: int | None = Field(None, ge=1, le=10000, description="How many units (invoices, reminders, lines, "
                                 "links, requests...); empty = the price of one unit")
    months: int | None = Field(None, ge=1, le=120, description="Number of months, for fees charged per month")
    hours: Decimal | None = Field(None, gt=0, le=1000, description="Duration of the work in hours, for fees per "
                                  "hour or that depend on how long the work takes")
    km: Decimal | None = Field(None, ge=0, le=10000, description="Kilometres travelled, for travel charged per km")


_UNITS_FR = {"hour": "heures", "month": "mois", "km": "km"}


def _billed_hours(hours: Decimal, increment_minutes: int | None) -> Decimal:
    """Hours rounded up to the fee's indivisible slices (e.g. 1 h 10 by 30 minutes = 1.5 h)."""
    if not increment_minutes:
        return hours
    slices = math.ceil(hours * 60 / increment_minutes - Decimal("0.0001"))  # 1.17 h given for 1 h 10 min
    return Decimal(slices * increment_minutes) / 60


def _hours_condition(fee: Fee) -> str:
    parts = []
    if fee.above_hours is not None:
        parts.append(f"> {fee.above_hours} h")
    if fee.below_hours is not None:
        parts.append(f"< {fee.below_hours} h")
    return " and ".join(parts)


def _applies_for_hours(fee: Fee, hours: Decimal | None) -> bool | None:
    """True/False when the fee depends on the duration and it is known; None when it cannot be told."""
    if fee.above_hours is None and fee.below_hours is None:
        return True
    if hours is None:
        return None
    return (fee.above_hours is None or hours > fee.above_hours) and (fee.below_hours is None or hours < fee.below_hours)


def fee_lookup(inp: FeeLookupInput, book: RuleBook) -> CalcResult:
    """Every fee of one kind: the amount when one figure is stated, else not_stated with the pointer, or conflicting.

    With a quantity (and months / hours / km for fees priced per month / hour / km) the total is computed:
    unit price x units counted (fees "from the n-th unit" count from that unit; per-hour fees are rounded up
    to their indivisible slices). Supplements of the same kind ("en outre", "au-delà de 2 h") are added to
    the base fee when their condition is known to hold; otherwise they are listed, not added.
    """
    rules = book.for_operator(inp.operator)
    service = rules.service(inp.service).key if inp.service else None
    fees = rules.fees_of_kind(inp.kind, service)
    if not fees:
        return CalcResult(tool="fee_lookup", amount=None, status=FactStatus.NOT_STATED, currency=rules.currency,
                          warnings=[f"The documents of {rules.operator} state no fee of kind '{inp.kind}' "
                                    f"/ aucun frais de ce type dans les documents."],
                          values={"kind": inp.kind, "fees": []})
    totals = Totals()
    listed = []
    per_units: dict[str, Decimal] = {}
    if inp.months is not None:
        per_units["month"] = Decimal(inp.months)
    if inp.km is not None:
        per_units["km"] = inp.km
    base = [f for f in fees if not f.supplement and _applies_for_hours(f, inp.hours) is not False]
    added: list[Fee] = []
    for fee in fees:
        units = dict(per_units)
        if inp.hours is not None:
            units["hour"] = _billed_hours(inp.hours, fee.increment_minutes)
        qty: int | Decimal = inp.quantity if inp.quantity is not None else fee.applies_from
        line = FeeLine(fee, qty, units)
        entry = {"key": fee.key, "label_fr": fee.label_fr, "label_en": fee.label_en, "status": fee.status.value,
                 "item": fee.item, "pointer": fee.pointer, "supplement": fee.supplement,
                 "values": [{"amount": str(v.amount) if v.amount is not None else None, "per": v.per,
                             "tax_basis": v.tax_basis.value, "clause_id": v.source.clause_id,
                             "part": v.source.part} for v in fee.values]}
        if fee.supplement:
            applies = _applies_for_hours(fee, inp.hours)
            missing = [v.per for v in fee.values if v.per in ("km", "hour", "month") and v.per not in units]
            if applies and not missing:
                added.append(fee)
                totals.add_fee(line)
            else:
                why_en, why_fr = ((f"only when the work lasts {_hours_condition(fee)}",
                                   f"seulement si l'intervention dure {_hours_condition(fee).replace('and', 'et')}")
                                  if applies is None else ("its condition does not hold", "sa condition n'est pas remplie")
                                  if applies is False else (f"give the number of {', '.join(missing)}",
                                        f"indiquez le nombre de {', '.join(_UNITS_FR.get(m, m) for m in missing)}"))
                totals.sources += fee.all_sources
                totals.assumptions.append(f"{fee.label_en}: charged on top ({why_en}); not included in the total. ‖ "
                                          f"{fee.label_fr} : en supplément ({why_fr}) ; non compris dans le total.")
        elif fee in base:
            totals.add_fee(line)
            if fee.increment_minutes and inp.hours is not None:
                hours = f"({fmt_qty(inp.hours)} h -> {fmt_qty(units['hour'])} h)"
                totals.assumptions.append(f"{fee.label_en}: billed by indivisible slices of {fee.increment_minutes} "
                                          f"minutes {hours}. ‖ {fee.label_fr} : facturé par tranches indivisibles de "
                                          f"{fee.increment_minutes} minutes {hours}.")
        else:
            totals.sources += fee.all_sources
        entry["included"] = fee in base or fee in added
        listed.append(entry)
    values = {"kind": inp.kind, "fees": listed}
    if inp.quantity is not None:
        values["quantity"] = inp.quantity
    result = totals.result("fee_lookup", book, rules, values=values)
    if len(base) > 1:  # several different base fees of one kind are alternatives, not a sum
        return result.model_copy(update={"amount": None, "warnings": [*result.warnings,
                                 "Several fees of this kind apply in different cases: each is listed with its clause "
                                 "‖ plusieurs frais de ce type s'appliquent selon le cas : chacun est cité avec sa clause."]})
    return result


class EquipmentInput(OperatorInput):
    days_late: Count = Field(0, le=3650, description="Days of late return after the due return date")
    damaged_phones: Count = Field(0, le=1000, description="Desk phones returned faulty, damaged or incomplete")
    damaged_modems: Count = Field(0, le=1000, description="Modems / routers returned faulty, damaged or incomplete")
    not_returned: bool = Field(False, description="Equipment declared as not returned")

    @model_validator(mode="after")
    def _something(self) -> EquipmentInput:
        if not (self.days_late or self.damaged_phones or self.damaged_modems or self.not_returned):
            raise InputError("days_late", "give days_late, damaged_phones, damaged_modems or not_returned", "indiquez un retard, des articles abîmés ou non restitués")
        return self


def _require(fees: list, kind: str, field: str, operator: str) -> list:
    if not fees:
        raise InputError(field, f"{operator}'s documents state no rule for {kind}",
                         f"les documents de {operator} ne prévoient rien pour {kind}")
    return fees


def equipment_return(inp: EquipmentInput, book: RuleBook) -> CalcResult:
    """Late return (per day), damaged or incomplete items (per item) and non-returned equipment."""
    rules = book.for_operator(inp.operator)
    totals = Totals()
    asks = [("equipment_late_return", None, inp.days_late, "days_late"),
            ("equipment_damaged", "phone", inp.damaged_phones, "damaged_phones"),
            ("equipment_damaged", "modem", inp.damaged_modems, "damaged_modems"),
            ("equipment_not_returned", None, int(inp.not_returned), "not_returned")]
    for kind, item, qty, field in asks:
        if qty:
            for fee in _require(fees_for(rules, kind, item=item), kind, field, rules.operator):
                totals.add_fee(FeeLine(fee, qty))
    return totals.result("equipment_return", book, rules)


class PortingInput(OperatorInput):
    cancelled_requests: Count = Field(0, le=1000, description="Porting requests cancelled by the customer before the porting date")
    partial_porting: bool = Field(False, description="Only part of the numbers is ported away")
    takeover_numbers: bool = Field(False, description="Taking over another customer's number(s)")

    @model_validator(mode="after")
    def _something(self) -> PortingInput:
        if not (self.cancelled_requests or self.partial_porting or self.takeover_numbers):
            raise InputError("cancelled_requests", "give cancelled_requests, partial_porting or takeover_numbers", "indiquez ce qui est demandé (annulation, portage partiel, reprise)")
        return self


def porting_cost(inp: PortingInput, book: RuleBook) -> CalcResult:
    """Fees of number porting: cancelled porting requests, partial porting, number take-over."""
    rules = book.for_operator(inp.operator)
    totals = Totals()
    for kind, qty, field in (("porting_cancelled", inp.cancelled_requests, "cancelled_requests"),
                             ("porting_partial", int(inp.partial_porting), "partial_porting"),
                             ("number_takeover", int(inp.takeover_numbers), "takeover_numbers")):
        if qty:
            for fee in _require(fees_for(rules, kind), kind, field, rules.operator):
                totals.add_fee(FeeLine(fee, qty))
    return totals.result("porting_cost", book, rules)


class CancellationInput(OperatorInput):
    services_cancelled: int = Field(1, ge=1, le=100, description="Number of services cancelled before activation")
    signature_date: date | None = Field(None, description="Contract signature date (YYYY-MM-DD)")
    cancellation_date: date | None = Field(None, description="Cancellation date (YYYY-MM-DD)")

    @model_validator(mode="after")
    def _order(self) -> CancellationInput:
        if self.signature_date and self.cancellation_date and self.cancellation_date < self.signature_date:
            raise InputError("cancellation_date", "is before signature_date", "est antérieure à la signature")
        return self


def cancellation_cost(inp: CancellationInput, book: RuleBook) -> CalcResult:
    """Cancelling an order before the service is activated (per cancelled service)."""
    rules = book.for_operator(inp.operator)
    totals = Totals()
    fees = _require(fees_for(rules, "cancellation_before_activation"), "cancellation before activation",
                    "operator", rules.operator)
    for fee in fees:
        if fee.applies_after_days is not None and inp.signature_date and inp.cancellation_date:
            elapsed = (inp.cancellation_date - inp.signature_date).days
            if elapsed <= fee.applies_after_days:
                totals.sources += fee.all_sources
                totals.add_amount(f"{fee.label_en} ‖ {fee.label_fr}", f"{elapsed} day(s) after signature <= {fee.applies_after_days}: fee not due", 0)
                continue
        elif fee.applies_after_days is not None:
            totals.assumptions.append(f"The fee applies to cancellations more than {fee.applies_after_days} days after signature.")
        totals.add_fee(FeeLine(fee, inp.services_cancelled))
    return totals.result("cancellation_cost", book, rules)


class MovingInput(OperatorInput):
    service: str | None = Field(None, description="Service moved, e.g. 'fibre' (optional)")
    technician: bool = Field(False, description="An on-site technician intervention is requested")
    temporary_service_months: Count = Field(0, le=24, description="Months of temporary service during the move (e.g. LOL 4G)")
    activation_date: date | None = Field(None, description="Activation date at the new address (YYYY-MM-DD)")
    current_commitment_end: date | None = Field(None, description="Last day of the commitment at the old address")


def moving_cost(inp: MovingInput, book: RuleBook) -> CalcResult:
    """Moving fee, travel for the moved service, optional technician and temporary service; new commitment end."""
    rules = book.for_operator(inp.operator)
    service = rules.service(inp.service).key if inp.service else None
    totals = Totals()
    moving = _require(fees_for(rules, "moving", service), "moving", "operator", rules.operator)
    for fee in moving:
        totals.add_fee(FeeLine(fee, 1))
    if service:  # travel costs of moving this service (item "moving"), e.g. "en sus pour déménagement fibre"
        for fee in fees_for(rules, "travel", service):
            if fee.item == "moving" and fee.services:
                totals.add_fee(FeeLine(fee, 1))
    for kind, qty in (("technician", int(inp.technician)), ("temporary_service", inp.temporary_service_months)):
        if qty:
            for fee in _require(fees_for(rules, kind, service)[:1], kind, kind, rules.operator):
                totals.add_fee(FeeLine(fee, qty))
    values: dict[str, str | None] = {}
    recommit = rules.moving_recommitment
    if recommit and recommit.value and recommit.value.months and inp.activation_date:
        new_end = term_end(inp.activation_date, recommit.value.months)
        if inp.current_commitment_end and inp.current_commitment_end > new_end:
            new_end = inp.current_commitment_end
        values["new_commitment_end"] = new_end.isoformat()
        totals.sources += recommit.all_sources
        totals.steps.append(CalcStep(label="New commitment end / fin d'engagement après déménagement",
                                     formula=f"max(activation + {recommit.value.months} months, current end) ‖ "
                                             f"max(activation + {recommit.value.months} mois, fin actuelle)",
                                     value=new_end.isoformat()))
    return totals.result("moving_cost", book, rules, values=values)


class DepositInput(OperatorInput):
    average_monthly_bill: Money = Field(gt=0, description="Average monthly bill (subscriptions + consumption) in EUR")


def deposit_ceiling(inp: DepositInput, book: RuleBook) -> CalcResult:
    """Highest deposit / advance the operator may ask: N months of the average bill, when N is stated."""
    rules = book.for_operator(inp.operator)
    if not rules.deposit:
        return CalcResult(tool="deposit_ceiling", status=FactStatus.NOT_STATED, currency=rules.currency,
                          warnings=["The documents say nothing about deposits / rien sur le dépôt de garantie."])
    rule = rules.deposit[0]
    citations = cite_all(book, rules, rule.all_sources)
    notes = [rule.note] if rule.note else []
    if rule.value is None or rule.value.months is None:
        return CalcResult(tool="deposit_ceiling", status=rule.status, currency=rules.currency, assumptions=notes,
                          warnings=[describe_fact(rule, "Deposit ceiling / plafond du dépôt")], citations=citations)
    months = rule.value.months
    amount = money(inp.average_monthly_bill * months)
    return CalcResult(tool="deposit_ceiling", amount=amount, currency=rules.currency, unit="EUR", citations=citations,
                      breakdown=[CalcStep(label="Deposit ceiling ‖ Plafond du dépôt",
                                          formula=f"{money(inp.average_monthly_bill)} x {months} months ‖ "
                                                  f"{money(inp.average_monthly_bill)} x {months} mois",
                                          value=f"{amount} EUR")],
                      assumptions=notes + ["The ceiling follows the tax basis of the average bill given."],
                      values={"months": months})

