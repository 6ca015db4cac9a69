"""Calculator forms generated from the calculators' typed inputs (pydantic JSON schema).

A new calculator gets a form in the agent sidebar with no UI code: each schema property becomes a field
whose widget follows its type (enum -> choice, boolean -> checkbox, integer/number -> number box,
format date -> date box, anything else -> text box). What the agent reads comes from the message catalogue:
`field.<name>` (or `field.<calculator>.<name>` where one calculator means something else by it), its
`.help`, and `choice.<name>.<value>` for each choice; the schema's English descriptions are only a fallback.

Agents type what they read on contracts and invoices: dates as 01/12/2026 (or 2026-12-01), amounts as
45,50 or 1 234,50 €. `payload_from_values` turns those into what the calculators validate, and says in the
agent's language which field is wrong.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel

from assistant.ui.i18n import has, t

FieldKind = Literal["choice", "bool", "integer", "number", "date", "text"]
# `case` forces one of an operator's rules by its internal key: a debugging switch, not an agent's input.
HIDDEN_FIELDS = frozenset({"case"})
_DAY_FIRST = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


class FormField(BaseModel):
    name: str
    kind: FieldKind
    required: bool = False
    description: str = ""  # the schema's (English) description, used only when the catalogue has no help
    choices: list[str] = []
    default: Any = None


class FormInputError(ValueError):
    """A value the agent typed that is not what the field takes; `message` is in the agent's language."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and unwrap Optional (anyOf [X, null]) so the field's real type is visible."""
    if "$ref" in node:
        target = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        return _resolve({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [_resolve(option, defs) for option in node[key] if option.get("type") != "null"]
            merged = {k: v for k, v in node.items() if k != key}
            # Decimal is `number | string(pattern)`: prefer the number widget when one option is numeric.
            numeric = [option for option in options if option.get("type") in ("number", "integer")]
            chosen = numeric[0] if numeric else (options[0] if options else {})
            return {**chosen, **merged}
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve({**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}, defs)
    return node


def _kind(node: dict[str, Any]) -> FieldKind:
    if "enum" in node or "const" in node:
        return "choice"
    kind = node.get("type")
    if kind == "boolean":
        return "bool"
    if kind in ("integer", "number"):
        return kind
    if node.get("format") == "date":
        return "date"
    return "text"


def fields_from_schema(schema: dict[str, Any]) -> list[FormField]:
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        if name in HIDDEN_FIELDS and name not in required:
            continue
        node = _resolve(raw, defs)
        choices = [str(value) for value in node.get("enum", [node["const"]] if "const" in node else [])]
        fields.append(FormField(name=name, kind=_kind(node), required=name in required,
                                description=node.get("description", ""), choices=choices,
                                default=node.get("default")))
    return fields


# --------------------------------------------------------------------------- what the agent reads

def field_label(calculator: str, form_field: FormField, lang: str) -> str:
    for key in (f"field.{calculator}.{form_field.name}", f"field.{form_field.name}"):
        if has(key, lang):
            return t(key, lang)
    # A field added to a calculator before its catalogue entry: readable words, never the identifier.
    return form_field.name.replace("_", " ").capitalize()


def field_help(calculator: str, form_field: FormField, lang: str) -> str:
    for key in (f"field.{calculator}.{form_field.name}.help", f"field.{form_field.name}.help"):
        if has(key, lang):
            return t(key, lang)
    if has(f"field.{calculator}.{form_field.name}", lang) or has(f"field.{form_field.name}", lang):
        return ""  # labelled in the catalogue and needing no help
    return re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b", "", form_field.description).strip()


def choice_label(field_name: str, value: str, lang: str, extra: dict[str, str] | None = None) -> str:
    key = f"choice.{field_name}.{value}"
    if has(key, lang):
        return t(key, lang)
    if extra and value in extra:
        return extra[value]
    return value.replace("_", " ").capitalize()


# --------------------------------------------------------------------------- what the calculators get

def parse_date(text: str) -> str:
    """ISO date of '01/12/2026' (day first, as written in Luxembourg, Belgium and France) or '2026-12-01'."""
    text = text.strip()
    match = _ISO.fullmatch(text)
    day_first = _DAY_FIRST.fullmatch(text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        if day_first:
            return date(int(day_first[3]), int(day_first[2]), int(day_first[1])).isoformat()
    except ValueError:
        pass  # 31/02/2026: the shape of a date, not a date
    raise ValueError(text)


def parse_number(text: str) -> Decimal:
    """'45,50', '1 234,50 €', '1.234,50', '1,234.50', '120' -> Decimal."""
    cleaned = re.sub(r"[\s\u00a0\u202f€]|EUR", "", text.strip(), flags=re.IGNORECASE)
    if "," in cleaned and "." in cleaned:  # the last separator is the decimal one
        thousands = "." if cleaned.rfind(",") > cleaned.rfind(".") else ","
        cleaned = cleaned.replace(thousands, "")
    cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def _convert(form_field: FormField, value: Any, label: str, lang: str) -> Any:
    if form_field.kind == "bool":
        return bool(value)
    if form_field.kind == "date":
        try:
            return parse_date(str(value))
        except ValueError:
            raise FormInputError(t("form_bad_date", lang, field=label, value=str(value).strip())) from None
    if form_field.kind in ("integer", "number"):
        try:
            number = parse_number(str(value))
        except ValueError:
            raise FormInputError(t("form_bad_number", lang, field=label, value=str(value).strip())) from None
        if form_field.kind == "integer":
            if number != number.to_integral_value():
                raise FormInputError(t("form_bad_integer", lang, field=label, value=str(value).strip()))
            return int(number)
        return format(number, "f")  # a string keeps Decimal fields exact (120.1 must not become 120.0999...)
    return str(value).strip()


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def payload_from_values(fields: list[FormField], values: list[Any], calculator: str = "",
                        lang: str = "fr") -> dict[str, Any]:
    """The calculator payload: blank optional fields are left out so the model's defaults apply.

    Raises FormInputError naming the field (by its label) when a required field is blank or a value is not a
    date or number."""
    missing = [field_label(calculator, f, lang) for f, v in zip(fields, values, strict=True)
               if f.required and is_blank(v)]
    if missing:
        raise FormInputError(t("form_missing", lang, fields=", ".join(missing)))
    payload: dict[str, Any] = {}
    for form_field, value in zip(fields, values, strict=True):
        if is_blank(value):
            continue
        payload[form_field.name] = _convert(form_field, value, field_label(calculator, form_field, lang), lang)
    return payload
