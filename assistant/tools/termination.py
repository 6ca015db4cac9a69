"""Leaving a contract early: what it costs (the timeline of a termination is assistant.tools.timeline).

Calendar rules (see assistant.tools.calendar): a commitment of N months from activation S ends on the day
before the N-th monthly anniversary. Monthly fees are due per period starting on each monthly anniversary;
the period that contains the effective termination date has started and is billed as usual, so the
early-termination amount counts only the periods that would start after that date and up to the end of the
current commitment period (initial or renewed). A notice of N days / months "before the term end" must be
sent at the latest N days / N calendar months before the last day of the term. When a figure the rule
depends on is conflicting in the documents, every alternative is computed and shown; none is picked.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, Citation, FactStatus, TaxBasis
from assistant.tools.calendar import add_months, started_periods, term_end
from assistant.tools.common import CustomerTypeField, Money, OperatorInput, cite_all, money
from assistant.tools.rules import (
    EarlyTerminationCase,
    OperatorRules,
    RuleBook,
    Service,
    Source,
    TerminationReason,
)
from assistant.tools.terms import (
    CommitmentField,
    commitment_alternatives,
    current_period,
    renewal_alternatives,
)
from assistant.tools.timeline import TimelineInput, termination_timeline


def _no_fee() -> InputError:
    return InputError("monthly_fee", "give the monthly fee of the service", "indiquez la redevance mensuelle du service")


class EarlyTerminationInput(OperatorInput):
    service: str = Field(description="Service terminated, e.g. 'mobile', 'VoIP', 'fibre', 'internet'")
    monthly_fee: Money | None = Field(None, description="Monthly recurring fee of the terminated service in EUR: "
                                      "for all lines, or per line when monthly_fee_per_line is set")
    monthly_fee_per_line: bool = Field(False, description="The monthly fee is per line / number: multiply it by lines")
    start_date: date | None = Field(None, description="Activation / commitment start date (YYYY-MM-DD); "
                                    "optional when remaining_months is given")
    termination_date: date | None = Field(None, description="Date termination takes effect (YYYY-MM-DD)")
    request_date: date | None = Field(None, description="Date the termination request is sent, when the customer "
                                      "gives it instead of the date termination takes effect (YYYY-MM-DD): the "
                                      "effective date then follows the operator's notice")
    term_end_date: date | None = Field(None, description="Last day of the current commitment period, when the "
                                       "customer knows it instead of its start (YYYY-MM-DD)")
    remaining_months: int | None = Field(None, ge=0, le=240, description="Months of commitment still to run, when "
                                         "the customer knows them ('7 mois restants') instead of the dates")
    commitment_months: int | None = CommitmentField
    lines: int = Field(1, ge=1, le=10000, description="Number of lines / telephone numbers on the contract")
    customer_type: Literal["business", "consumer"] = CustomerTypeField
    reason: TerminationReason = Field("customer_request", description="Why the contract ends")
    fee_tax_basis: Literal["HT", "TTC"] = Field("HT", description="Is the monthly fee given HT or TTC?")
    case: str | None = Field(None, description="Force one rule of the operator (its key); empty = the rule that applies")

    @model_validator(mode="after")
    def _dates_in_order(self) -> EarlyTerminationInput:
        if self.reason != "customer_request":
            return self  # the reason's own rule may owe nothing: the figures are checked when the rule needs them
        if self.monthly_fee is None:
            raise _no_fee()
        if self.remaining_months is None and self.start_date is None and self.term_end_date and self.termination_date:
            self.remaining_months = _months_before(self.termination_date, self.term_end_date)
        if self.remaining_months is not None and (self.start_date is None or self.termination_date is None):
            return self
        if self.start_date is None:
            raise InputError("start_date", "give the commitment start date (or the months remaining)",
                             "indiquez la date de début de l'engagement (ou les mois restants)")
        day = self.termination_date or self.request_date
        if day is None:
            raise InputError("termination_date", "give the termination date", "indiquez la date de résiliation")
        if day < self.start_date:
            field = "termination_date" if self.termination_date else "request_date"
            raise InputError(field, "is before start_date", "est antérieure à la date de début")
        return self


def _months_before(termination: date, last_day: date) -> int:
    """Monthly periods of a commitment ending on `last_day` that start on or after `termination` (the periods
    are counted back from the day after the last one, the only anchor the customer gave)."""
    if termination > last_day:
        raise InputError("termination_date", "is later than the commitment's last day",
                         "tombe après le dernier jour de l'engagement")
    anchor, n = last_day + timedelta(days=1), 0
    while add_months(anchor, -(n + 1)) >= termination:
        n += 1
    return n


def _cases_for(rules: OperatorRules, inp: EarlyTerminationInput, svc: Service, committed: bool) -> EarlyTerminationCase:
    args = (inp.reason, svc.key, inp.customer_type, inp.lines, committed)
    if inp.case:
        case = next((c for c in rules.early_termination if c.key == inp.case), None)
        if case is None:
            keys = ", ".join(c.key for c in rules.early_termination)
            raise InputError("case", f"unknown rule '{inp.case}' for {rules.operator}; known: {keys}",
                             f"règle « {inp.case} » inconnue chez {rules.operator} ; connues : {keys}")
        if not case.applies(*args):
            raise InputError("case", f"rule '{case.label_en}' does not apply to this customer "
                             f"({_why_not(case, *args)})",
                             f"la règle « {case.label_fr} » ne s'applique pas à ce client ({_why_not(case, *args)})")
        return case
    for case in rules.early_termination:
        if case.applies(*args):
            return case
    raise InputError("reason", f"no early-termination rule of {rules.operator} covers a {inp.customer_type} "
                     f"customer ({inp.reason}, service {svc.key}, {inp.lines} line(s))",
                     f"aucune règle de résiliation anticipée de {rules.operator} ne couvre ce cas "
                     f"({inp.customer_type}, {inp.reason}, service {svc.key}, {inp.lines} ligne(s))")


def _first_months(rules: OperatorRules, inp: EarlyTerminationInput, svc: Service) -> int | None:
    """The N of a rule owing the fees up to the end of the contract's first N months, when that rule applies."""
    try:
        case = _cases_for(rules, inp, svc, committed=True)
    except InputError:
        return None
    cap = case.cap_months.value if case.cap_months else None
    return cap.months if cap is not None and cap.months else None


def _why_not(case: EarlyTerminationCase, reason: str, service: str, ctype: str, lines: int, committed: bool) -> str:
    if reason not in case.reasons:
        return f"reason {reason} not in {case.reasons}"
    if case.services and service not in case.services:
        return f"service {service} not in {case.services}"
    if ctype not in case.customer_types:
        return f"customer type {ctype} not in {case.customer_types}"
    if case.min_lines is not None and lines < case.min_lines:
        return f"{lines} line(s) < minimum {case.min_lines}"
    if case.max_lines is not None and lines > case.max_lines:
        return f"{lines} lines > maximum {case.max_lines}"
    return "the rule is for contracts without a minimum term" if committed else "condition not met"


def early_termination_cost(inp: EarlyTerminationInput, book: RuleBook) -> CalcResult:
    """Cost of ending a contract early; given the date the request is sent, the date it takes effect is the
    termination timeline's (the operator's notice counted from the request), and the step that leads to it is
    shown first."""
    if inp.termination_date is not None or inp.request_date is None or inp.start_date is None:
        return _cost(inp, book)
    effective, step, citations = _effective_date(inp, book)
    result = _cost(inp.model_copy(update={"termination_date": effective}), book)
    known = {(c.doc_id, c.clause_id) for c in result.citations}
    return result.model_copy(update={
        "breakdown": [step, *result.breakdown],
        "citations": [*result.citations, *(c for c in citations if (c.doc_id, c.clause_id) not in known)]})


def _effective_date(inp: EarlyTerminationInput, book: RuleBook) -> tuple[date, CalcStep, list[Citation]]:
    """The date a request sent on `request_date` takes effect: after a notice counted from the request while the
    commitment still runs (the timeline says fees for leaving early apply); else the request date itself (a
    notice before the term's end cannot end the commitment early, so the customer is leaving on that date)."""
    assert inp.request_date is not None
    request, label = inp.request_date, "Effective date after the notice ‖ date d'effet après le préavis"
    try:
        timeline: CalcResult | None = termination_timeline(TimelineInput(
            operator=inp.operator, service=inp.service, request_date=request, start_date=inp.start_date,
            commitment_months=inp.commitment_months, reason=inp.reason), book)
    except InputError:
        timeline = None
    if timeline is None or timeline.status != FactStatus.STATED or not timeline.values.get("early_termination_fees_apply"):
        return request, CalcStep(label=label, formula=f"{request} (request ‖ demande)", value=str(request)), []
    effective = date.fromisoformat(timeline.values["effective_end_date"])
    notice = next((s.value for s in timeline.breakdown if s.label.startswith("Notice")), "")
    en, _, fr = notice.partition(" / ")
    step = CalcStep(label=label, formula=f"{request} + {en} ‖ {request} + {fr or en}", value=str(effective))
    return effective, step, list(timeline.citations)


def _cost(inp: EarlyTerminationInput, book: RuleBook) -> CalcResult:
    """Cost of ending a contract before the end of its commitment, per the operator's rule for the case.

    remaining_periods: monthly_fee x (monthly periods starting after the termination date, up to the end of
    the current commitment period - or up to the end of the first N months when the rule caps it).
    flat_fee_per_line: the stated fee x lines. none: 0 (the rule sets no indemnity). not_stated: no figure.
    """
    rules = book.for_operator(inp.operator)
    svc = rules.service(inp.service)
    warnings: list[str] = []
    per_line_step: list[CalcStep] = []
    if inp.monthly_fee_per_line and inp.lines > 1 and inp.monthly_fee is not None:
        # the contract's monthly fee is what every later step multiplies: compute it once, visibly
        total = money(inp.monthly_fee * inp.lines)
        per_line_step = [CalcStep(label="Monthly fee, all lines / redevance mensuelle, toutes lignes",
                                  formula=f"{inp.lines} lines x {inp.monthly_fee} EUR ‖ {inp.lines} lignes x "
                                          f"{inp.monthly_fee} EUR", value=f"{total} EUR")]
        inp = inp.model_copy(update={"monthly_fee": total, "monthly_fee_per_line": False})
    # the customer who counted the months left needs no term length; nor does a reason's own rule
    counted = inp.remaining_months is not None and (inp.start_date is None or inp.termination_date is None)
    first_months = None
    try:
        commitments = commitment_alternatives(svc, inp.commitment_months, warnings)
    except InputError:
        first_months = _first_months(rules, inp, svc)
        if inp.reason == "customer_request" and not counted and first_months is None:
            raise
        commitments = []  # the rule is chosen without the term; one that counts months from dates asks for it
    case = _cases_for(rules, inp, svc, committed=all(m > 0 for m in commitments))
    if first_months is not None and not counted:
        # a rule owing the fees of the contract's first N months does not depend on its length: N is used
        commitments = [first_months]
        warnings.append(f"The contract's length is not given: it is taken to run at least the first {first_months} "
                        f"months the rule counts ‖ la durée du contrat n'est pas indiquée : elle est supposée couvrir au "
                        f"moins les {first_months} premiers mois que compte la règle")
    elif not commitments and case.formula == "remaining_periods" and not counted:
        commitments = commitment_alternatives(svc, inp.commitment_months, warnings)
    sources: list[Source] = list(case.sources) + svc.minimum_term.all_sources
    basis = case.tax_basis or TaxBasis(inp.fee_tax_basis)
    steps = [*per_line_step, CalcStep(label="Rule applied / règle appliquée",
                                            formula=f"{case.label_en} ‖ {case.label_fr}")]
    assumptions = [case.note] if case.note else []
    scenarios: list[dict[str, Any]] = []

    if case.formula in ("none", "not_stated"):
        amount = Decimal(0) if case.formula == "none" else None
        status = FactStatus.STATED if case.formula == "none" else FactStatus.NOT_STATED
        steps.append(CalcStep(label="Indemnity / indemnité",
                              value="0.00 EUR" if amount is not None else "not stated ‖ non chiffré"))
        return CalcResult(tool="early_termination_cost", amount=amount, currency=rules.currency, unit="EUR",
                          tax_basis=basis, status=status, breakdown=steps, assumptions=assumptions,
                          warnings=warnings, citations=cite_all(book, rules, sources),
                          values={"rule": case.key})
    if inp.monthly_fee is None and case.formula == "remaining_periods":
        raise _no_fee()
    if case.formula == "flat_fee_per_line":
        fee = case.flat_fee
        if fee is None or fee.value is None or fee.value.amount is None:
            raise InputError("case", f"rule {case.key} has no single flat fee", f"la règle {case.key} n'a pas de forfait unique")
        amount = money(fee.value.amount * inp.lines)
        steps.append(CalcStep(label="Flat fee per line ‖ forfait par ligne",
                              formula=f"{inp.lines} line(s) x {fee.value.amount} EUR ‖ {inp.lines} ligne(s) x "
                                      f"{fee.value.amount} EUR",
                              value=f"{amount} EUR"))
        return CalcResult(tool="early_termination_cost", amount=amount, currency=rules.currency, unit="EUR",
                          tax_basis=fee.value.tax_basis, breakdown=steps, assumptions=assumptions, warnings=warnings,
                          citations=cite_all(book, rules, sources + fee.all_sources), values={"rule": case.key})

    cap = case.cap_months.value.months if case.cap_months and case.cap_months.value else None
    if case.cap_months:
        sources += case.cap_months.all_sources
    if inp.start_date is None and inp.remaining_months is None:
        raise InputError("start_date", "give the commitment start date (or the months remaining)",
                         "indiquez la date de début de l'engagement (ou les mois restants)")
    if inp.start_date is not None and inp.termination_date is None and inp.remaining_months is None:
        raise InputError("termination_date", "give the termination date", "indiquez la date de résiliation")
    if inp.start_date is None or inp.termination_date is None:  # the customer counted the months left
        return _from_remaining(inp, book, rules, case, sources, steps, assumptions, warnings, basis, cap)
    for months in commitments:
        renewals = renewal_alternatives(svc, months)
        if len(renewals) > 1:
            sources += svc.renewal.all_sources
        for renewal in renewals:
            ps, pm, renewed = current_period(inp.start_date, months, renewal, inp.termination_date)
            # the effective termination date is the first day without service: a monthly period that
            # starts on that very day is no longer served and belongs to the remaining balance
            last_served = inp.termination_date - timedelta(days=1)
            if cap is not None:
                remaining = max(0, min(cap, months) - started_periods(inp.start_date, last_served))
                until = term_end(inp.start_date, min(cap, months))
            else:
                remaining = max(0, pm - started_periods(ps, last_served)) if pm else 0
                until = term_end(ps, pm) if pm else None
            scenarios.append({"commitment_months": months, "renewal_months": renewal,
                              "period_start": ps.isoformat(), "period_end": until.isoformat() if until else None,
                              "renewed_period": renewed, "remaining_months": remaining,
                              "amount": str(money(inp.monthly_fee * remaining))})
    first = scenarios[0]
    steps.append(CalcStep(label="Current commitment period / période d'engagement en cours",
                          formula=f"{first['period_start']} .. {first['period_end']}",
                          value=f"{first['commitment_months']} months" + (" (renewed)" if first["renewed_period"] else "")))
    left, day = first["remaining_months"], inp.termination_date.isoformat()
    steps.append(CalcStep(label="Monthly periods not yet served at the termination date ‖ mensualités pas encore "
                                "échues à la date de résiliation",
                          formula=f"periods starting on or after {day}" + (f", capped at the first {cap} months" if cap
                                                                           else "")
                                  + f" ‖ périodes commençant le {day} ou après"
                                  + (f", limitées aux {cap} premiers mois" if cap else ""),
                          value=f"{left} months ‖ {left} mois"))
    steps.append(CalcStep(label="Indemnity / indemnité",
                          formula=f"{left} months x {inp.monthly_fee} EUR ‖ {left} mois x {inp.monthly_fee} EUR",
                          value=f"{first['amount']} EUR"))
    if svc.started_month_due:
        sources.append(svc.started_month_due)
        assumptions.append("The month in progress on the termination date is due in full (started month due).")
    else:
        assumptions.append("The termination date is the first day without service; a month already in progress on that date is billed normally and not counted here.")
    assumptions.append("Calendar: a commitment of N months ends the day before the N-th monthly anniversary of the start date.")
    amounts = {s["amount"] for s in scenarios}
    status = FactStatus.STATED if len(amounts) == 1 else FactStatus.CONFLICTING
    if status == FactStatus.CONFLICTING:
        warnings.append("The documents give different terms for this contract; each alternative is computed "
                        "/ les documents sont contradictoires sur la durée : chaque hypothèse est calculée.")
    return CalcResult(tool="early_termination_cost", amount=Decimal(first["amount"]) if len(amounts) == 1 else None,
                      currency=rules.currency, unit="EUR", tax_basis=basis, status=status, breakdown=steps,
                      assumptions=assumptions, warnings=warnings, citations=cite_all(book, rules, sources),
                      values={"rule": case.key, "remaining_months": first["remaining_months"],
                              "alternatives": scenarios if status == FactStatus.CONFLICTING else []})


def _from_remaining(inp: EarlyTerminationInput, book: RuleBook, rules: OperatorRules, case: EarlyTerminationCase,
                    sources: list[Source], steps: list[CalcStep], assumptions: list[str], warnings: list[str],
                    basis: TaxBasis, cap: int | None) -> CalcResult:
    """monthly fee x the months the customer says remain; a rule capped at the first N months needs the dates."""
    remaining = inp.remaining_months
    if cap is not None or remaining is None:
        raise InputError("start_date", "give the commitment start date: the rule counts from it",
                         "indiquez la date de début de l'engagement : la règle se compte à partir d'elle")
    amount = money(inp.monthly_fee * remaining)
    span = f"{inp.termination_date} .. {inp.term_end_date}" if inp.term_end_date and inp.termination_date else ""
    steps.append(CalcStep(label="Months of commitment remaining / mois d'engagement restants", formula=span,
                          value=str(remaining)))
    steps.append(CalcStep(label="Indemnity / indemnité",
                          formula=f"{remaining} months x {inp.monthly_fee} EUR ‖ {remaining} mois x {inp.monthly_fee} EUR",
                          value=f"{amount} EUR"))
    return CalcResult(tool="early_termination_cost", amount=amount, currency=rules.currency, unit="EUR",
                      tax_basis=basis, status=FactStatus.STATED, breakdown=steps, assumptions=assumptions,
                      warnings=warnings, citations=cite_all(book, rules, sources),
                      values={"rule": case.key, "remaining_months": remaining})
