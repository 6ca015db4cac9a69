"""Calculator forms generated from the calculators' typed inputs (pydantic JSON schema).

A new calculator gets a form in the agent sidebar with no UI code: each schema property becomes a field
whose widget follows its type (enum -> choice, boolean -> checkbox, integer/number -> number,
format date -> date text box, anything else -> text box).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

FieldKind = Literal["choice", "bool", "integer", "number", "date", "text"]


class FormField(BaseModel):
    name: str
    label: str
    kind: FieldKind
    required: bool = False
    description: str = ""
    choices: list[str] = []
    default: Any = None


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
        node = _resolve(raw, defs)
        kind = _kind(node)
        choices = [str(value) for value in node.get("enum", [node["const"]] if "const" in node else [])]
        fields.append(FormField(
            name=name,
            label=node.get("title") or name.replace("_", " ").capitalize(),
            kind=kind,
            required=name in required,
            description=node.get("description", ""),
            choices=choices,
            default=node.get("default"),
        ))
    return fields


def payload_from_values(fields: list[FormField], values: list[Any]) -> dict[str, Any]:
    """The calculator payload: blank optional fields are left out so the model's defaults apply."""
    payload: dict[str, Any] = {}
    for form_field, value in zip(fields, values, strict=True):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if form_field.kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif form_field.kind == "number" and isinstance(value, float):
            # str keeps Decimal fields exact (120.1 must not become 120.0999...)
            value = str(int(value)) if value.is_integer() else repr(value)
        elif isinstance(value, str):
            value = value.strip()
            if form_field.kind in ("integer", "number"):
                # Agents type French amounts: "1 234,50 €" means 1234.50.
                value = value.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
                value = value.replace(",", ".")
        payload[form_field.name] = value
    return payload
