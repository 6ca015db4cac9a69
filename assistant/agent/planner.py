"""Planning a turn: which tools to call, with which inputs, or which single question to ask back.

The planner knows intents and the calculators' *input models*, never operator facts: the figures come
from the rules files through the calculators, the clause text from retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from assistant.agent.understanding import Understanding, detect_fee_kind
from assistant.models import CalcResult

# Intents whose answer depends on one operator's terms: without an operator the planner asks for it.
OPERATOR_SPECIFIC = frozenset({
    "termination", "notice", "early_termination_cost", "portability", "fees", "payment", "moving",
})

# Calculator per intent (first one present in the registry wins); topics refine fees/other questions.
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
}

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
                         "activation_date", "service_start"),
    "commitment_months": ("commitment_months", "duration_months", "term_months", "commitment_duration_months"),
    "termination_date": ("termination_date", "request_date", "notice_date", "end_date", "effective_date",
                         "termination_request_date", "cancel_date"),
    "monthly_fee": ("monthly_fee", "monthly_amount", "monthly_price", "subscription_fee", "monthly_charge"),
    "amount": ("amount", "invoice_amount", "amount_due", "unpaid_amount", "sum"),
    "due_date": ("due_date", "invoice_due_date"),
    "payment_date": ("payment_date", "paid_date", "paid_on"),
    "move_date": ("move_date", "moving_date"),
    "number_count": ("number_count", "numbers", "n_numbers", "numbers_count", "lines", "line_count"),
    "tax_basis": ("tax_basis",),
    "service": ("service", "service_kind"),
    "fee_kind": ("fee_kind", "fee", "kind"),
    "text": ("question", "text", "query", "description"),
}
_SLOT_FOR_FIELD = {f: slot for slot, fields in _FIELD_SYNONYMS.items() for f in fields}


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


_ASKS_FIGURE = re.compile(
    r"combien|cout|coute|montant|frais|prix|tarif|indemnit|penalit|payer|dois-je|rembours|interet"
    r"|how much|cost|fee|price|owe|pay|charge|refund|interest|amount"
)
_ASKS_DATE = re.compile(r"quand|quelle date|a partir de quand|jusqu.a quand|prend(ra)? effet|when|what date|which date|until|effective|last day|dernier jour")


def asks_figure(u: Understanding) -> bool:
    from assistant.agent.text import fold

    folded = fold(u.text)
    if u.intent in ("notice", "termination"):
        return bool(_ASKS_DATE.search(folded))
    return bool(_ASKS_FIGURE.search(folded))


def choose_calculator(u: Understanding, registry: Mapping[str, Calculator]) -> str | None:
    names = list(_BY_TOPIC.get(u.topic or "", ())) if u.intent in ("fees", "other", "payment") else []
    names += _BY_INTENT.get(u.intent, ())
    if u.intent in ("fees", "moving", "portability"):
        names.append("fee_lookup")  # the generic lookup answers any listed fee kind
    return next((n for n in names if n in registry), None)


def slot_values(u: Understanding, operator: str | None) -> dict[str, Any]:
    """Every value the turn offers a calculator, keyed by slot name."""
    values: dict[str, Any] = {k: v for k, v in u.slots.filled().items() if k != "other_dates"}
    if operator:
        values["operator"] = operator
    kind = detect_fee_kind(u.text)
    if kind:
        values["fee_kind"] = kind
    values["text"] = u.text
    return values


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
              topic_text: str | None = None) -> Plan:
    """`topic_text` is the question without operator names (the retrieval query is filtered by operator)."""
    if u.junk:
        return Plan(action="junk", intent="other")
    if u.injection or u.intent == "out_of_scope":
        return Plan(action="refuse", intent="out_of_scope")
    if u.intent == "smalltalk":
        return Plan(action="smalltalk", intent="smalltalk")
    query = f"{topic_text or u.text} {QUERY_HINTS.get(u.intent, '')}".strip()
    name = choose_calculator(u, registry)
    required = name is not None and (u.intent == "early_termination_cost" or asks_figure(u))
    if operator is None and (u.intent in OPERATOR_SPECIFIC or required):
        return Plan(action="clarify", intent=u.intent, missing="operator", query=query)
    calls: list[CalcCall] = []
    if name is not None:
        payload = build_payload(registry[name].input_model, slot_values(u, operator))
        calls.append(CalcCall(name=name, payload=payload, required=required))
    return Plan(action="answer", intent=u.intent, operator=operator, query=query, calls=calls)
