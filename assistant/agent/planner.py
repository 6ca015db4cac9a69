"""Planning a turn: which tools to call, with which inputs, or which single question to ask back.

The planner knows intents and the calculators' *input models*, never operator facts: the figures come
from the rules files through the calculators, the clause text from retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from assistant.agent.text import fold
from assistant.agent.understanding import Understanding, detect_fee_kind
from assistant.models import CalcResult

# Intents whose answer depends on one operator's terms: without an operator the planner asks for it.
OPERATOR_SPECIFIC = frozenset({
    "termination", "notice", "early_termination_cost", "portability", "fees", "payment", "moving",
})

# Calculators per intent and per topic, tried in this order. A calculator runs when its inputs validate;
# only the early-termination cost is *required* (a missing input is asked back), the others are optional.
_BY_INTENT: dict[str, tuple[str, ...]] = {
    "early_termination_cost": ("early_termination_cost",),
    "notice": ("termination_timeline",),
    "termination": ("termination_timeline",),
    "payment": ("late_payment",),
    "moving": ("moving_cost",),
    "portability": ("porting_cost",),
}
_BY_TOPIC: dict[str, tuple[str, ...]] = {
    "equipment": ("equipment_return",),
    "outage": ("outage_refund",),
    "deposit": ("deposit_ceiling",),
    "call_charge": ("call_charge",),
    "late_payment": ("late_payment",),
    "porting": ("porting_cost",),
    "moving": ("moving_cost",),
    "liability": ("liability_cap",),
    "interim_invoice": ("interim_invoice",),
    "reduction": ("reduction_allowance",),
}
_BY_FEE_KIND: dict[str, tuple[str, ...]] = {
    "cancellation_before_activation": ("cancellation_cost",),
    "porting_cancelled": ("porting_cost",),
    "porting_partial": ("porting_cost",),
    "number_takeover": ("porting_cost",),
    "equipment_late_return": ("equipment_return",),
    "equipment_damaged": ("equipment_return",),
    "equipment_not_returned": ("equipment_return",),
}
# Slot answers the planner can ask for (templates exist for them); other missing inputs are not worth a question.
ASKABLE = frozenset({"operator", "commitment_start", "commitment_months", "termination_date", "monthly_fee",
                     "amount", "customer_type", "number_count", "due_date", "payment_date", "service"})

# French terms added to the retrieval query per intent: the corpus is French, the question may not be.
QUERY_HINTS: dict[str, str] = {
    "termination": "résiliation du contrat par le client modalités",
    "notice": "préavis de résiliation délai",
    "early_termination_cost": "résiliation anticipée indemnité période d'engagement mensualités restantes",
    "portability": "portabilité du numéro portage",
    "fees": "frais tarif liste des prix",
    "payment": "paiement facture retard intérêts de retard",
    "moving": "déménagement frais changement d'adresse",
}

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
    "termination_date": ("termination_date", "request_date", "notice_date", "end_date", "effective_date",
                         "termination_request_date", "cancel_date", "cancellation_date"),
    "monthly_fee": ("monthly_fee", "monthly_amount", "monthly_price", "subscription_fee", "monthly_charge",
                    "average_monthly_bill"),
    "monthly_fee_per_line": ("monthly_fee_per_line",),
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
    "service": ("service", "service_kind"),
    "fee_kind": ("fee_kind", "fee", "kind"),
    "text": ("question", "text", "query", "description"),
}
_SLOT_FOR_FIELD = {f: slot for slot, fields in _FIELD_SYNONYMS.items() for f in fields}

# Counted items ("3 postes", "2 dossiers") per calculator field: the folded singular nouns customers use.
_QUANTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "damaged_phones": ("poste", "telephone", "phone", "handset", "combine", "appareil"),
    "damaged_modems": ("modem", "routeur", "router", "box"),
    "cancelled_requests": ("dossier", "demande", "request", "file"),
    "services_cancelled": ("service",),
    "reminders": ("rappel", "reminder", "relance"),
    "temporary_service_months": (),
}
# Boolean inputs switched on by a fee kind or a word of the question.
_FLAG_FIELDS: dict[str, str] = {
    "not_returned": r"non restitu|pas (rendu|restitue)|not returned|never returned",
    "partial_porting": r"portage partiel|portabilite partielle|partial port",
    "takeover_numbers": r"reprise (de|du) numero|take ?over",
    "technician": r"technicien|technician|intervention",
}
# Why the contract ends (early-termination rules differ); first match wins, customer request is the default.
_REASONS: list[tuple[str, str]] = [
    ("customer_death", r"\b(deces|decede|decedee|mort|death|died|deceased)\b|passed away"),
    ("operator_for_customer_breach", r"(m|nous|l|me) a resilie|a resilie (mon|notre|le)|resilie par (l.operateur|eux)"
                                     r"|(terminated|cancelled|ended) (my|our|the) contract|because (i|we) (did not|didn.t) pay"),
    ("move_abroad_or_uncovered_area", r"etranger|abroad|zone non couverte|not covered|pas couvert"),
]
_TEMPORARY = re.compile(r"4g|temporaire|temporary|provisoire")


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


# Asking for a figure: money ("combien ça coûte"), a count or a duration ("combien de jours", "how long").
_ASKS_FIGURE = re.compile(
    r"combien|\bcb\b|coute|montant|tarif|prix|indemnit|penalit|je dois|dois-je|rembours|interet|taux|plafond|maximum"
    r"|how much|how many|how long|cost|fee|price|owe|refund|interest|rate|amount|up to|maximum|cap\b"
)
_ASKS_DATE = re.compile(r"quand|quelle date|a partir de quand|jusqu.a quand|prend(ra)? effet|when|what date|which date|until|effective|last day|dernier jour|by when")
# Asking what something costs *the customer* (the only figure worth a clarifying question).
_ASKS_AMOUNT = re.compile(
    r"combien (ca|cela|ça|me|vais|dois|je|on|faut|de frais|d.indemnit|coute|pour|il me)|(ca|cela) (me )?coute|je dois combien"
    r"|dois-je payer|combien\s*\?|how much (do|will|would|does|is|it|to|does it)|what do (i|we) owe|cost me|montant"
    r"|\bcb (ca )?coute|(ca|cela) coute combien|how much (compensation|interest|is the fee|are the fees)|\btaux\b|\brate\b"
)


_HOW_OFTEN = re.compile(r"combien de fois|how many times|how often|a quelle frequence")


def asks_amount(u: Understanding) -> bool:
    return bool(_ASKS_AMOUNT.search(fold(u.text)))


def asks_figure(u: Understanding) -> bool:
    folded = fold(u.text)
    if u.intent in ("notice", "termination"):
        return bool(_ASKS_DATE.search(folded))
    return bool(_ASKS_FIGURE.search(folded))


def choose_calculators(u: Understanding, registry: Mapping[str, Calculator]) -> list[str]:
    """Candidate calculators for this turn, most specific first."""
    kind = detect_fee_kind(u.text)
    names: list[str] = list(_BY_INTENT.get(u.intent, ()))
    if u.intent in ("fees", "other", "payment", "moving", "portability", "termination"):
        names += _BY_TOPIC.get(u.topic or "", ())
    if kind and not _HOW_OFTEN.search(fold(u.text)):  # "how many times may I change offer" asks no fee
        names += [*_BY_FEE_KIND.get(kind, ()), "fee_lookup"]
    return [n for n in dict.fromkeys(names) if n in registry]


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


def slot_values(u: Understanding, operator: str | None, services: ServiceCatalog = ()) -> dict[str, Any]:
    """Every value the turn offers a calculator, keyed by slot or field name."""
    values: dict[str, Any] = {k: v for k, v in u.slots.filled().items() if k not in ("other_dates", "quantities")}
    if operator:
        values["operator"] = operator
    service = resolve_service(u.text, services)
    if service:
        values["service"] = service
    else:
        values.pop("service", None)  # the generic word ("mobile") is not one of this operator's service keys
    kind = detect_fee_kind(u.text)
    if kind:
        values["fee_kind"] = kind
    folded = fold(u.text)
    for field_name, nouns in _QUANTITY_FIELDS.items():
        n = sum(u.slots.quantities.get(noun, 0) for noun in nouns)
        if n:
            values[field_name] = n
    if u.slots.commitment_months and _TEMPORARY.search(folded):
        values["temporary_service_months"] = u.slots.commitment_months
    quantity = _quantity(u)
    if quantity:
        values["quantity"] = quantity
    if kind and u.slots.commitment_months:  # "paper invoices for 12 months": the months a monthly fee is due
        values["months"] = u.slots.commitment_months

    for field_name, pattern in _FLAG_FIELDS.items():
        if re.search(pattern, folded):
            values[field_name] = True
    reason = next((r for r, pattern in _REASONS if re.search(pattern, folded)), None)
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
    """Fill the calculator's input fields from slot values (by field name, then synonym)."""
    payload: dict[str, Any] = {}
    for field_name in model.model_fields:
        slot = field_name if field_name in values else _SLOT_FOR_FIELD.get(field_name)
        if slot and slot in values:
            payload[field_name] = values[slot]
    return payload


def field_to_slot(field_name: str) -> str:
    """The slot a calculator field corresponds to (for clarifying questions and session memory)."""
    return field_name if field_name in _FIELD_SYNONYMS else _SLOT_FOR_FIELD.get(field_name, field_name)


def make_plan(u: Understanding, operator: str | None, registry: Mapping[str, Calculator],
              topic_text: str | None = None, services: ServiceCatalog = ()) -> Plan:
    """`topic_text` is the question without operator names (the retrieval query is filtered by operator)."""
    if u.junk:
        return Plan(action="junk", intent="other")
    if u.injection or u.intent == "out_of_scope":
        return Plan(action="refuse", intent="out_of_scope")
    if u.intent == "smalltalk":
        return Plan(action="smalltalk", intent="smalltalk")
    query = f"{topic_text or u.text} {QUERY_HINTS.get(u.intent, '')}".strip()
    names = choose_calculators(u, registry)
    # Only a cost-of-leaving question cannot be answered without the customer's own figures.
    s = u.slots
    required = u.intent == "early_termination_cost" and (
        asks_amount(u) or any(v is not None for v in (s.monthly_fee, s.commitment_start, s.termination_date)))
    if operator is None and (u.intent in OPERATOR_SPECIFIC or required):
        return Plan(action="clarify", intent=u.intent, missing="operator", query=query)
    values = slot_values(u, operator, services)
    calls = [CalcCall(name=n, payload=build_payload(registry[n].input_model, values),
                      required=required and n == "early_termination_cost") for n in names]
    return Plan(action="answer", intent=u.intent, operator=operator, query=query, calls=calls)
