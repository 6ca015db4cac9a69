"""The calculators as LangChain StructuredTools for the agent (args schema = the calculator's input model)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import StructuredTool

from assistant.errors import InputError
from assistant.tools.registry import CALCULATORS, Calculator


def _tool(calc: Calculator) -> StructuredTool:
    def run(**kwargs: Any) -> dict[str, Any]:
        try:
            return calc.run(kwargs).model_dump(mode="json")
        except InputError as exc:  # the agent gets the bilingual reason instead of an exception
            return {"tool": calc.name, "error": {"field": exc.field, "reason_en": exc.reason_en, "reason_fr": exc.reason_fr}}

    return StructuredTool.from_function(func=run, name=calc.name, description=calc.description,
                                        args_schema=calc.input_model)


def as_langchain_tools() -> list[StructuredTool]:
    return [_tool(c) for c in CALCULATORS.values()]
