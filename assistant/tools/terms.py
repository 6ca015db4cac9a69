"""The terms of a contract as the rules state them: the commitment lengths to count with, the length of each
renewed period, and the period a given day falls in. Shared by the cost of leaving early
(assistant.tools.termination) and the timeline of a termination (assistant.tools.timeline).

Calendar rule (assistant.tools.calendar): a commitment of N months from S ends the day before the N-th monthly
anniversary.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from assistant.errors import InputError
from assistant.models import FactStatus
from assistant.tools.calendar import add_months, term_end
from assistant.tools.rules import Service

CommitmentField = Field(None, ge=0, le=120, description="Minimum term in months from the contract; 0 = no "
                        "minimum term; empty = the term the operator's conditions state")


def commitment_alternatives(svc: Service, given: int | None, warnings: list[str]) -> list[int]:
    if given is not None:
        stated = svc.minimum_term.value
        if stated is not None and stated.months != given:
            warnings.append(f"The conditions state a {stated.months}-month minimum term (art. "
                            f"{stated.source.clause_id}); the {given} months given are used.")
        return [given]
    if svc.minimum_term.status == FactStatus.NOT_STATED or not svc.minimum_term.values:
        raise InputError("commitment_months",
                         f"the conditions do not state the minimum term of '{svc.name}' "
                         f"({svc.minimum_term.pointer or svc.minimum_term.summary_en}); give it from the contract",
                         f"les conditions ne fixent pas la durée minimale de « {svc.name} » "
                         f"({svc.minimum_term.pointer or svc.minimum_term.summary_fr}) ; indiquez celle du contrat")
    return sorted({int(v.number) for v in svc.minimum_term.values})


def renewal_alternatives(svc: Service, months: int) -> list[int | None]:
    """Length of each renewed period (None: no fixed renewal, the contract ends or runs indefinitely)."""
    r = svc.renewal
    if r.mode in ("indefinite", "none"):
        return [None]
    alts: set[int] = {int(v.number) for v in r.values}
    if r.mode == "same_as_initial":
        alts.add(months)
    return sorted(alts)


def current_period(start: date, months: int, renewal: int | None, day: date) -> tuple[date, int, bool]:
    """(start, length, renewed?) of the commitment period containing `day`; length 0 once no period runs."""
    ps, pm, renewed = start, months, False
    while months and day > term_end(ps, pm):
        if not renewal:
            return ps, 0, renewed
        ps, pm, renewed = add_months(ps, pm), renewal, True
    return ps, pm, renewed
