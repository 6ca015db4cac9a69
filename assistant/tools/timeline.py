"""When a termination takes effect: last day to send notice, effective end and next renewal (the calendar rules
are those of assistant.tools.termination: a commitment of N months from S ends the day before the N-th monthly
anniversary; a notice of N days / months "before the term end" is sent at the latest N days / N calendar months
before the term's last day). When a figure the rule depends on is conflicting, every alternative is listed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import Field, model_validator

from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, FactStatus
from assistant.tools.calendar import add_months, monthly_anniversary_after, term_end
from assistant.tools.common import OperatorInput, cite_all
from assistant.tools.rules import Notice, OperatorRules, RuleBook, Service, Source, TerminationReason, Value
from assistant.tools.terms import (
    CommitmentField,
    commitment_alternatives,
    current_period,
    renewal_alternatives,
)


class TimelineInput(OperatorInput):
    service: str = Field(description="Service to terminate, e.g. 'mobile', 'VoIP', 'fibre'")
    request_date: date | None = Field(None, description="Date the termination request is sent (YYYY-MM-DD); "
                                      "optional when the term end or renewal date is given")
    start_date: date | None = Field(None, description="Activation / commitment start date (YYYY-MM-DD)")
    commitment_months: int | None = CommitmentField
    term_end_date: date | None = Field(None, description="Last day of the current term ('échéance'), if known "
                                       "(instead of start_date + commitment)")
    renewal_date: date | None = Field(None, description="Date the contract renews (first day of the next period), "
                                      "if known (instead of start_date + commitment)")
    commitment_over: bool = Field(False, description="The customer says no commitment is running (there is none, "
                                  "or it is over): the notice then runs from the request")
    reason: TerminationReason = Field("customer_request", description="Why the contract ends (a move abroad may "
                                      "have its own notice)")

    @model_validator(mode="after")
    def _dates_in_order(self) -> TimelineInput:
        if self.term_end_date is None and self.renewal_date is None:
            # no commitment running, or a reason that may bring its own notice (checked against the rules)
            if self.start_date is None and (self.commitment_over or self.reason != "customer_request"):
                if self.request_date is None:
                    raise InputError("request_date", "give the date the request is sent",
                                     "indiquez la date de la demande")
                return self
            if self.start_date is None:
                raise InputError("start_date", "give start_date, term_end_date or renewal_date",
                                 "indiquez la date de début, la date d'échéance ou la date de reconduction")
            if self.request_date is None:
                return self  # "by when must I give notice?": the deadline of the initial term
            if self.request_date < self.start_date:
                raise InputError("request_date", "is before start_date", "est antérieure à la date de début")
        return self

    def known_term_end(self) -> date | None:
        """Last day of the current term when the customer gives it (a renewal date is the day after)."""
        if self.term_end_date is not None:
            return self.term_end_date
        return self.renewal_date - timedelta(days=1) if self.renewal_date is not None else None


def _notice_alternatives(notice: Notice) -> list[Value | None]:
    return notice.distinct_values() if notice.values else [None]


# How the calendar is read (each line "English / français", one separator, for the reader's language).


# How the calendar is read (each line "English / français", one separator, for the reader's language).
_TERM_ASSUMPTIONS = [
    "A notice of N days or months before the term end is sent at the latest N days or N calendar months before the "
    "last day of the term / un préavis de N jours ou N mois avant l'échéance s'envoie au plus tard N jours ou N mois "
    "calendaires avant le dernier jour de la période",
    "A commitment of N months ends the day before the N-th monthly anniversary of the start date / un engagement de "
    "N mois prend fin la veille du N-ième anniversaire mensuel de la date de début",
]


def _notice_text(nv: Value | None) -> str:
    if nv is None:
        return "no notice / aucun préavis"
    if nv.months is not None:
        return f"{nv.months} month{'s' if nv.months != 1 else ''} / {nv.months} mois"
    return f"{nv.days} day{'s' if nv.days != 1 else ''} / {nv.days} jour{'s' if nv.days != 1 else ''}"


def _shift(day: date, value: Value | None, sign: int) -> date:
    if value is None:
        return day
    if value.months is not None:
        return add_months(day, sign * value.months)
    return day + timedelta(days=sign * int(value.days or 0))


def termination_timeline(inp: TimelineInput, book: RuleBook) -> CalcResult:
    """Last day to send notice, effective end date and next renewal date for a termination request.

    before_term_end: deadline = last day of the current period minus the notice; a request on or before it
    ends the contract on that last day, a later one only when the next (renewed) period is over.
    from_request: the contract ends notice after the request (fees until the commitment ends remain
    due when that is before the term end). monthly_anniversary_next_month: ends on the monthly anniversary
    of the start date in the month after the request. Indefinite contracts: notice from the request.
    """
    rules = book.for_operator(inp.operator)
    svc = rules.service(inp.service)
    warnings: list[str] = []
    sources: list[Source] = list(svc.minimum_term.all_sources)
    scenarios: list[dict[str, Any]] = []
    known_end = inp.known_term_end()
    if known_end is not None:
        return _timeline_from_term_end(inp, book, rules, svc, known_end)
    if inp.request_date is None and inp.start_date is not None:  # the deadline of the initial term
        months = commitment_alternatives(svc, inp.commitment_months, warnings)[0]
        return _timeline_from_term_end(inp, book, rules, svc, term_end(inp.start_date, months))
    assert inp.request_date is not None
    special = _reason_notice(rules, inp.reason, svc.key)
    if special is not None:  # the reason's own notice, from the request (e.g. a move abroad)
        sources = list(special.all_sources)
        scenarios = [_scenario(inp, special, nv, inp.request_date, 0, None, 0) for nv in _notice_alternatives(special)]
    elif inp.start_date is None and not inp.commitment_over:
        raise InputError("start_date", "give start_date, term_end_date or renewal_date",
                         "indiquez la date de début, la date d'échéance ou la date de reconduction")
    elif inp.start_date is None:  # no commitment running (validated): the notice of a contract without one
        notice = svc.notice_no_commitment or svc.notice_renewed or svc.notice
        if notice.anchor not in ("from_request", "none"):  # counted from a term or an anniversary: need the start
            raise InputError("start_date", "give the activation date: the notice is counted from it",
                             "indiquez la date de mise en service : le préavis se compte à partir d'elle")
        sources += notice.all_sources
        scenarios = [_scenario(inp, notice, nv, inp.request_date, 0, None, 0) for nv in _notice_alternatives(notice)]
    if inp.commitment_over and svc.notice_no_commitment is None and any(s.notice_no_commitment for s in rules.services):
        # the operator words a rule for contracts without commitment, not for this service (equipment bought in
        # instalments, say)
        raise InputError("service", "this service has no rule for a contract without commitment",
                         "ce service n'a pas de règle pour un contrat sans engagement")
    # the customer says no commitment runs: the activation date only dates the anniversaries, not a term
    for months in ([] if inp.start_date is None or special is not None else [0] if inp.commitment_over
                   else commitment_alternatives(svc, inp.commitment_months, warnings)):
        for renewal in renewal_alternatives(svc, months) if months else [None]:
            ps, pm, renewed = current_period(inp.start_date, months, renewal, inp.request_date)
            if months == 0 or pm == 0:  # no commitment running: notice from the request
                notice = (svc.notice_no_commitment if months == 0 else None) or svc.notice_renewed or svc.notice
            else:
                notice = (svc.notice_renewed or svc.notice) if renewed else svc.notice
            sources += notice.all_sources + svc.renewal.all_sources
            for nv in _notice_alternatives(notice):
                scenarios.append(_scenario(inp, notice, nv, ps, pm, renewal, months))
    keys = ("last_notice_day", "effective_end_date", "next_renewal_date", "early_termination_fees_apply")
    distinct = {tuple(s[k] for k in keys) for s in scenarios}
    status = FactStatus.STATED if len(distinct) == 1 else FactStatus.CONFLICTING
    first = scenarios[0]
    period = (CalcStep(label="Current period / période en cours", formula=f"{first['period_start']} .. {first['term_end']}",
                       value=f"{first['commitment_months']} months ‖ {first['commitment_months']} mois")
              if inp.start_date is not None and special is None and first["term_end"]
              else CalcStep(label="Commitment / engagement", value="no commitment running / aucun engagement en cours"))
    steps = [period,
             CalcStep(label="Notice / préavis", formula=first["notice_rule"], value=first["notice"]),
             CalcStep(label="Last day to send notice / dernier jour pour résilier", value=str(first["last_notice_day"])),
             CalcStep(label="Effective end / fin effective", value=str(first["effective_end_date"]))]
    if first["next_renewal_date"]:  # only when the contract renews before it ends
        steps.append(CalcStep(label="Next renewal / prochaine reconduction", value=str(first["next_renewal_date"])))
    if first["early_termination_fees_apply"]:
        warnings.append("The contract ends before the end of its commitment: early-termination fees apply "
                        "(see early_termination_cost) / des frais de résiliation anticipée s'appliquent.")
    if status == FactStatus.CONFLICTING:
        warnings.append("The documents disagree on a period or notice; each alternative is listed "
                        "/ les documents sont contradictoires : chaque hypothèse est listée.")
    return CalcResult(tool="termination_timeline", amount=None, currency=None, unit="date",
                      status=status, result_date=str(first["effective_end_date"]) if status == FactStatus.STATED else None,
                      values={k: first[k] for k in (*keys, "term_end")} | {"alternatives": scenarios if status == FactStatus.CONFLICTING else []},
                      breakdown=steps,
                      assumptions=[] if inp.start_date is None or special is not None or inp.commitment_over
                      else _TERM_ASSUMPTIONS,
                      warnings=warnings, citations=cite_all(book, rules, sources))


def _reason_notice(rules: OperatorRules, reason: str, service: str) -> Notice | None:
    """The notice of the early-termination case for this reason, when the rules give one."""
    if reason == "customer_request":
        return None
    return next((c.notice for c in rules.early_termination if c.notice is not None and reason in c.reasons
                 and (not c.services or service in c.services)), None)


# how a notice is counted, as a step of the timeline says it (the reader sees one language)
_ANCHOR_WORDS = {
    "before_term_end": "before the term ends ‖ avant l'échéance",
    "from_request": "from the request ‖ à compter de la demande",
    "monthly_anniversary_next_month": "to the monthly anniversary of the next month ‖ "
                                      "jusqu'à la date anniversaire du mois suivant",
    "none": "no notice ‖ sans préavis",
}


def _scenario(inp: TimelineInput, notice: Notice, nv: Value | None, ps: date, pm: int, renewal: int | None,
              months: int) -> dict[str, Any]:
    req = inp.request_date
    end = term_end(ps, pm) if pm else None
    out: dict[str, Any] = {"commitment_months": months, "renewal_months": renewal, "period_start": ps.isoformat(),
                           "term_end": end.isoformat() if end else None, "notice_rule": _ANCHOR_WORDS.get(notice.anchor, ""),
                           "notice": _notice_text(nv),
                           "early_termination_fees_apply": False}
    if notice.anchor == "monthly_anniversary_next_month":
        effective = monthly_anniversary_after(inp.start_date, req)
        deadline, next_renewal = req, None
    elif end is None or notice.anchor == "from_request" or notice.anchor == "none":
        effective = _shift(req, nv, +1)
        deadline = _shift(end, nv, -1) if end else req
        next_renewal = end + timedelta(days=1) if end and renewal else None
        out["early_termination_fees_apply"] = bool(end and effective < end)
    else:  # before_term_end
        deadline = _shift(end, nv, -1)
        if req <= deadline:
            effective, next_renewal = end, None
        elif renewal:
            effective, next_renewal = term_end(end + timedelta(days=1), renewal), end + timedelta(days=1)
        else:  # renews for an indefinite duration: notice then runs from the request
            effective, next_renewal = _shift(req, nv, +1), end + timedelta(days=1)
    out.update(last_notice_day=deadline.isoformat(), effective_end_date=effective.isoformat(),
               next_renewal_date=next_renewal.isoformat() if next_renewal else None)
    return out


def _end_formula(inp: TimelineInput) -> str:
    if inp.term_end_date is not None:
        return "given / indiqué"
    if inp.renewal_date is not None:
        return "renewal date - 1 day / date de reconduction - 1 jour"
    return "start date + initial term / date de début + durée initiale"


def _timeline_from_term_end(inp: TimelineInput, book: RuleBook, rules: OperatorRules, svc: Service,
                            end: date) -> CalcResult:
    """Timeline when the customer knows the last day of the term (or the renewal date, the day after).

    Deadline = last day of the term minus the notice. Without a request date the answer is that deadline
    (notice sent by then ends the contract on the last day of the term); with one, as for start + term.
    """
    notice = svc.notice
    sources: list[Source] = [*notice.all_sources, *svc.renewal.all_sources]
    warnings: list[str] = []
    if svc.notice_renewed is not None and {v.figure_key for v in svc.notice_renewed.values} != {
            v.figure_key for v in notice.values}:
        alt = "; ".join(f"{v.months} month(s)" if v.months is not None else f"{v.days} day(s)"
                        for v in svc.notice_renewed.distinct_values()) or "see the clause"
        warnings.append(f"The notice of the first term is used; for a renewed period the documents give {alt} "
                        f"/ préavis différent pour une période renouvelée.")
        sources += svc.notice_renewed.all_sources
    months = inp.commitment_months
    if months is None and svc.minimum_term.value is not None and svc.minimum_term.value.months is not None:
        months = svc.minimum_term.value.months
    renewals = renewal_alternatives(svc, months or 0) if svc.renewal.mode not in ("indefinite", "none") else [None]
    renewals = [r for r in renewals if r] or [None]
    scenarios = []
    for nv in _notice_alternatives(notice):
        for renewal in renewals:
            deadline = _shift(end, nv, -1) if notice.anchor in ("before_term_end", "from_request") else end
            req = inp.request_date
            fees = False
            if req is None or req <= deadline:
                effective, next_renewal = end, None
            elif notice.anchor == "from_request" or not renewal:
                effective, next_renewal = _shift(req, nv, +1), end + timedelta(days=1)
            else:
                effective, next_renewal = term_end(end + timedelta(days=1), renewal), end + timedelta(days=1)
            scenarios.append({"renewal_months": renewal, "term_end": end.isoformat(), "notice_rule": _ANCHOR_WORDS.get(notice.anchor, ""),
                              "notice": _notice_text(nv),
                              "last_notice_day": deadline.isoformat(), "effective_end_date": effective.isoformat(),
                              "next_renewal_date": next_renewal.isoformat() if next_renewal else None,
                              "early_termination_fees_apply": fees})
    keys = ("last_notice_day", "effective_end_date", "next_renewal_date")
    distinct = {tuple(s[k] for k in keys) for s in scenarios}
    status = FactStatus.STATED if len(distinct) == 1 else FactStatus.CONFLICTING
    first = scenarios[0]
    # Without a request date the question is "by when must I give notice": the deadline is the answer.
    headline = first["last_notice_day"] if inp.request_date is None else first["effective_end_date"]
    notice_en, _, notice_fr = first["notice"].partition(" / ")
    steps = [CalcStep(label="Last day of the term / dernier jour de la période", value=end.isoformat(),
                      formula=_end_formula(inp)),
             CalcStep(label="Notice / préavis", formula=first["notice_rule"], value=first["notice"]),
             CalcStep(label="Last day to send notice / dernier jour pour résilier",
                      formula=f"{end.isoformat()} - {notice_en} ‖ {end.isoformat()} - {notice_fr or notice_en}",
                      value=first["last_notice_day"]),
             CalcStep(label="Effective end / fin effective", value=first["effective_end_date"])]
    if first["next_renewal_date"]:
        steps.append(CalcStep(label="Next renewal / prochaine reconduction", value=first["next_renewal_date"]))
    if status == FactStatus.CONFLICTING:
        warnings.append("The documents disagree on a period or notice; each alternative is listed "
                        "/ les documents sont contradictoires : chaque hypothèse est listée.")
    return CalcResult(tool="termination_timeline", amount=None, currency=None, unit="date", status=status,
                      result_date=headline if status == FactStatus.STATED else None,
                      values={k: first[k] for k in (*keys, "term_end", "early_termination_fees_apply")}
                      | {"alternatives": scenarios if status == FactStatus.CONFLICTING else []},
                      breakdown=steps,
                      assumptions=[*([] if inp.renewal_date is None else [
                          "The renewal date is the first day of the new period: the term ends the day before / la date "
                          "de reconduction est le premier jour de la nouvelle période : l'échéance est la veille"]),
                          _TERM_ASSUMPTIONS[0]],
                      warnings=warnings, citations=cite_all(book, rules, sources))
