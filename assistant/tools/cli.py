"""`assistant calc <tool> '<json payload>' [--json]`: run one calculator and print its result."""

from __future__ import annotations

import json
import sys

from assistant.errors import AssistantError
from assistant.models import CalcResult
from assistant.tools.registry import CALCULATORS


def list_calculators() -> str:
    lines = []
    for c in CALCULATORS.values():
        fields = ", ".join(c.input_model.model_fields)
        lines.append(f"{c.name:24} {c.title_en} / {c.title_fr}\n{'':24} fields: {fields}")
    return "\n".join(lines)


def render(result: CalcResult) -> str:
    """Human table: amount or date, then the breakdown, assumptions, warnings and cited clauses."""
    head = (f"{result.amount} {result.currency or ''} {result.tax_basis.value}" if result.amount is not None
            else result.result_date or "no single figure")
    out = [f"{result.tool}: {head}  [{result.status.value}]", ""]
    width = max((len(s.label) for s in result.breakdown), default=0)
    out += [f"  {s.label:<{width}}  {s.formula}  => {s.value}".rstrip() for s in result.breakdown]
    for k, v in result.values.items():
        if v not in (None, [], {}, ""):
            out.append(f"  {k}: {json.dumps(v, ensure_ascii=False, default=str)}")
    out += [f"  assumption: {a}" for a in result.assumptions]
    out += [f"  WARNING: {w}" for w in result.warnings]
    out += [f"  [{c.operator}, {c.part + ', ' if c.part else ''}art. {c.clause_id}] « {c.quote} »" for c in result.citations]
    return "\n".join(out)


def run_calc(tool: str, payload_json: str, as_json: bool) -> int:
    """Print the calculator's result; on bad input print one line naming the problem to stderr, exit 2."""
    calc = CALCULATORS.get(tool)
    if calc is None:
        print(f"tool: unknown calculator '{tool}'; known: {', '.join(CALCULATORS)}", file=sys.stderr)
        return 2
    try:
        payload = json.loads(payload_json or "{}")
    except json.JSONDecodeError as exc:
        print(f"payload: invalid JSON ({exc.msg} at char {exc.pos}) / JSON invalide", file=sys.stderr)
        return 2
    try:
        result = calc.run(payload)
    except AssistantError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return 2
    print(result.model_dump_json(indent=2) if as_json else render(result))
    return 0
