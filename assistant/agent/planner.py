"""From what the conversation holds to a calculator's inputs: slot values, field synonyms, payloads.

Which calculators a turn runs is the need's decision (knowledge/needs.yaml); this module only fills their
input models from the facts the user gave, and never holds operator facts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, Field

from assistant.agent.text import fold
from assistant.agent.understanding import DATE_SLOTS, Understanding
from assistant.models import CalcResult

# Slot answers the planner can ask for (templates exist for them); other missing inputs are not worth a question.
ASKABLE = frozenset({"operator", "commitment_start", "commitment_months", "termination_date", "monthly_fee",
                     "amount", "customer_type", "number_count", "due_date", "payment_date", "service"})

# Which slot fills a calculator input field. Field names are matched exactly first, then by these
# synonyms, so a calculator can name its field `start_date` or `commitment_start` without code change.
_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "operator": ("operator", "operator_name"),
    "customer_type": ("customer_type", "customer", "client_type", "segment"),
    "commitment_start": ("commitment_start", "start_date", "contract_start", "commitment_start_date",
                         "service_start", "signature_date"),
    "commitment_months": ("commitment_months", "duration_months", "term_months", "commitment_duration_months"),
    "term_end_date": ("term_end_date", "term_end", "expiry_date"),
    "renewal_date": ("renewal_date", "next_renewal_date"),
    "termination_date": ("termination_date", "end_date", "effective_date", "cancel_date", "cancellation_date"),
    "request_date": ("request_date", "notice_date", "termination_request_date"),
    "monthly_fee": ("monthly_fee", "monthly_amount", "monthly_price", "subscription_fee", "monthly_charge",
                    "average_monthly_bill"),
    "monthly_fee_per_line": ("monthly_fee_per_line",),
    "commitment_over": ("commitment_over", "no_commitment"),
    "remaining_months": ("remaining_months", "months_remaining", "months_left"),
    "amount": ("amount", "invoice_amount", "amount_due", "unpaid_amount", "sum", "current_amount"),
    "due_date": ("due_date", "invoice_due_date"),
    "payment_date": ("payment_date", "paid_date", "paid_on"),
    "move_date": ("move_date", "moving_date"),
    "number_count": ("number_count", "numbers", "n_numbers", "numbers_count", "lines", "line_count", "current_count"),
    "distance_km": ("distance_km", "km", "kilometres"),
    "outage_days": ("outage_days", "days_without_service"),
    "tax_basis": ("tax_basis", "fee_tax_basis"),
    "days_late": ("days_late",),
    "quantity": ("quantity", "units"),
    "months_late": ("months_late",),
    "hours": ("restoration_hours", "hours"),
    "call_seconds": ("duration_seconds", "call_seconds"),
    "price_per_minute": ("price_per_minute",),
    "service": ("service", "service_kind"),
    "fee_kind": ("fee_kind", "fee", "kind"),
    "text": ("question", "text", "query", "description"),
}
_SLOT_FOR_FIELD = {f: slot for slot, fields in _FIELD_SYNONYMS.items() for f in fields}
# A fact given without its role: the only amount of a message that asks for a fee-based figure is the fee.
# A request date not told apart from the date the contract should end is that date (the timeline counts from it);
# asked back or weighed by the router, the two are one fact.
_STANDS_FOR = {"request_date": "termination_date"}
_FALLBACK_SLOT = {"monthly_fee": "amount", **_STANDS_FOR}

class CalculatorWords(BaseModel):
    """knowledge/lexicon.yaml `calculator_inputs`: the words that fill calculator inputs no slot carries."""

    quantity_fields: dict[str, list[str]] = Field(default_factory=dict)  # field -> folded nouns counted for it
    flags: dict[str, str] = Field(default_factory=dict)    # boolean field -> pattern (folded text) switching it on
    numbers: dict[str, str] = Field(default_factory=dict)  # number field -> pattern; its first captured number
    reasons: dict[str, str] = Field(default_factory=dict)  # why the contract ends -> pattern; first match wins
    temporary: str = ""  # a duration given with these words is the months of a temporary service
    # a country other than the operator's named with one of these words is a move abroad ("je pars vivre au
    # Portugal"); the reason it gives the contract's end
    move_words: str = ""
    move_reason: str = ""


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Folded country name (French and English, from the CLDR data of Babel) -> ISO code."""
    from babel import Locale

    names: dict[str, str] = {}
    for lang in ("fr", "en"):
        for code, name in Locale(lang).territories.items():
            if len(code) == 2 and code.isalpha():  # countries, not regions ("Europe", "Monde")
                names[fold(name)] = code
    return names


def countries_named(text: str) -> set[str]:
    """ISO codes of the countries named in the text (whole words, accents and case folded)."""
    folded = fold(text)
    return {code for name, code in _countries().items()
            if name in folded and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", folded)}


def termination_reason(text: str, home_country: str | None = None) -> str | None:
    """Why the contract ends, when the message says: the lexicon's reason patterns, first match wins; else a
    move to a country other than the operator's."""
    folded = fold(text)
    words = _calculator_words()
    reason = next((r for r, pattern in words.reasons.items() if re.search(pattern, folded)), None)
    moves = bool(words.move_words) and re.search(words.move_words, folded) is not None
    if reason is None and home_country and moves and countries_named(text) - {home_country}:
        reason = words.move_reason or None
    return reason


@lru_cache(maxsize=1)
def _calculator_words() -> CalculatorWords:
    from assistant.agent.understanding import _lexicon

    return CalculatorWords.model_validate(_lexicon().calculator_inputs)


class Calculator(Protocol):
    """What the planner needs from a calculator of `assistant.tools.registry.CALCULATORS`."""

    name: str
    title_fr: str
    title_en: str
    description: str
    input_model: type[BaseModel]

    def run(self, payload: dict[str, Any]) -> CalcResult: ...


class CalcCall(BaseModel):
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)
    required: bool = False  # the question asks for this figure: a missing input is asked back


class Plan(BaseModel):
    action: Literal["answer", "clarify", "refuse", "smalltalk", "junk"]
    intent: str
    operator: str | None = None
    missing: str | None = None  # what to ask for when action == "clarify"
    query: str = ""
    calls: list[CalcCall] = Field(default_factory=list)


ServiceCatalog = Sequence[tuple[str, Sequence[str]]]  # (service key, aliases) of one operator, from the rules


def resolve_service(text: str, services: ServiceCatalog) -> str | None:
    """The operator's service the question is about: its only one, or the longest alias named in the text."""
    if len(services) == 1:
        return services[0][0]
    folded = fold(text)
    best: tuple[int, str] | None = None
    for key, aliases in services:
        for alias in (key.replace("_", " "), *aliases):
            a = fold(alias)
            if a and re.search(rf"(?<!\w){re.escape(a)}(?!\w)", folded) and (best is None or len(a) > best[0]):
                best = (len(a), key)
    return best[1] if best else None


def slot_values(u: Understanding, operator: str | None, services: ServiceCatalog = (),
                home_country: str | None = None, roles: str | None = None) -> dict[str, Any]:
    """Every value the turn offers a calculator, keyed by slot or field name (`home_country`: the operator's,
    so that a move to another country is a move abroad; `roles`: the message with operators named by their
    role, so that "CE+T résilie" reads as the operator terminating)."""
    values: dict[str, Any] = {k: v for k, v in u.slots.filled().items() if k not in ("other_dates", "quantities")}
    if u.slots.other_dates:  # dates without a role: a calculator's own date fields may take them
        values["loose_dates"] = sorted(u.slots.other_dates)
    if operator:
        values["operator"] = operator
    service = resolve_service(u.text, services)
    if service:
        values["service"] = service
    else:
        values.pop("service", None)  # the generic word ("mobile") is not one of this operator's service keys
    folded = fold(u.text)
    words = _calculator_words()
    for field_name, nouns in words.quantity_fields.items():
        n = sum(u.slots.quantities.get(noun, 0) for noun in nouns)
        if n:
            values[field_name] = n
    if u.slots.commitment_months and words.temporary and re.search(words.temporary, folded):
        values["temporary_service_months"] = u.slots.commitment_months
    quantity = _quantity(u)
    if quantity:
        values["quantity"] = quantity
    if u.slots.commitment_months:  # "paper invoices for 12 months": the months a monthly fee is due
        values["months"] = u.slots.commitment_months

    for field_name, pattern in words.flags.items():
        if re.search(pattern, folded):
            values[field_name] = True
    for field_name, pattern in words.numbers.items():
        m = re.search(pattern, folded)
        number = next((g for g in m.groups() if g), None) if m else None
        if number is not None:
            values[field_name] = int(number)
    reason = termination_reason(roles or u.text, home_country)
    if reason:
        values["reason"] = reason
    values["text"] = u.text
    return values


def _quantity(u: Understanding) -> int | None:
    """How many units a fee question is about: the counted lines / numbers / users, else one count of items
    ("12 factures", "3 rappels", "2 liens SDSL"); None when the question counts different things."""
    if u.slots.number_count:
        return u.slots.number_count
    counts = set(u.slots.quantities.values())
    return counts.pop() if len(counts) == 1 else None


def build_payload(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the calculator's input fields from slot values (by field name, then synonym). Dates the message
    gives without a cue word fill, in order, the calculator's own date fields that no slot names (an outage
    "reported on 10 March, fixed on 21 March"), when there are enough of them for all those fields."""
    payload: dict[str, Any] = {}
    own_dates: list[str] = []
    used: set[str] = set()
    for field_name, info in model.model_fields.items():
        slot = field_name if field_name in values else _SLOT_FOR_FIELD.get(field_name)
        if slot and slot not in values:
            slot = _FALLBACK_SLOT.get(slot, slot)
        if slot and slot in values:
            payload[field_name] = values[slot]
            used.add(slot)
        elif slot is None and date in get_args(info.annotation) + (info.annotation,):
            own_dates.append(field_name)
    loose = list(values.get("loose_dates") or [])
    if own_dates and len(loose) < len(own_dates):
        # too few dates without a role: a date in a role this calculator has no use for is one of its own
        # ("du 2 au 9 mars": the first day read as a contract's start is an outage's first day)
        loose += [v for k, v in values.items() if k in DATE_SLOTS and k not in used and isinstance(v, date)]
    if own_dates and len(loose) >= len(own_dates):
        payload.update(zip(own_dates, sorted(loose), strict=False))
    return payload


def field_to_slot(field_name: str) -> str:
    """The slot a calculator field corresponds to (for clarifying questions and session memory)."""
    slot = field_name if field_name in _FIELD_SYNONYMS else _SLOT_FOR_FIELD.get(field_name, field_name)
    return _STANDS_FOR.get(slot, slot)
