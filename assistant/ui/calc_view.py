"""Calculator results as agents read them: the headline figure, a breakdown table that fits 400 px, the
one-line arithmetic, and the tool trace with readable names.

Calculators word their steps in both languages ("English / français", "English ‖ français"); the agent
reads the side in the interface language (`assistant.agent.compose.localise`, the same reading the
answers use). Nothing here shows an internal identifier: tool names, field names and choice values go
through the message catalogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from assistant.agent.compose import fmt_date, fmt_money, localise
from assistant.models import CalcResult, Reply, ToolTrace
from assistant.ui.forms import FormField, choice_label, field_label
from assistant.ui.i18n import has, t
from assistant.ui.render import citation_label, esc, shorten

SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:\.\d+)?(?![\d.,]*\d)")
_ARITHMETIC = re.compile(r"\d[^=]*\s(?:x|×|\*|\+|/|−)\s[^=]*\d")
_EUR = re.compile(r"\bEUR\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def as_result(output: Mapping[str, Any] | CalcResult | None) -> CalcResult | None:
    if isinstance(output, CalcResult):
        return output
    try:
        return CalcResult.model_validate(output or {})
    except ValidationError:
        return None


def readable(text: str, lang: str) -> str:
    """A calculator's text in the reader's language; the original when it has no such side (an agent
    prefers an English note to none), but never an internal identifier."""
    shown = localise(text, lang)
    if shown is None:
        shown = text
    return SNAKE.sub(lambda m: m.group(0).replace("_", " "), shown)


def localise_numbers(text: str, lang: str) -> str:
    """'120.00 x 9' -> '120,00 × 9' in French; 'EUR' -> '€'; '2025-04-01 .. 2025-12-31' -> '01/04/2025 – 31/12/2025';
    '12 months (renewed)' -> '12 mois (reconduit)'."""
    text = text.replace(" x ", " × ").replace(" * ", " × ").replace(" .. ", " – ")
    text = _EUR.sub("€", text)
    dates: list[str] = []

    def park(match: re.Match[str]) -> str:  # dates keep their digits: no decimal comma inside them
        dates.append(f"{match[3]}/{match[2]}/{match[1]}")
        return f"\0{len(dates) - 1}\0"

    text = _ISO_DATE.sub(park, text)
    if lang == "fr":
        text = _NUMBER.sub(_french_number, text)
    for word in ("months", "month", "days", "day", "renewed"):
        if has(f"word.{word}", lang):
            text = re.sub(rf"\b{word}\b", t(f"word.{word}", lang), text)
    return re.sub(r"\0(\d+)\0", lambda m: dates[int(m[1])], text)


def _french_number(match: re.Match[str]) -> str:
    whole, _, cents = match.group(0).partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f") if len(whole) > 3 else whole
    return f"{grouped},{cents}" if cents else grouped


def tax_text(result: CalcResult, lang: str) -> str:
    key = f"tax_{result.tax_basis.value}"
    return t(key, lang) if has(key, lang) else ""


def headline(result: CalcResult, lang: str) -> str:
    """The result's figure in the reader's language: '1 080,00 € HT', '1 April 2025', '3'."""
    if result.amount is None:
        if result.result_date:
            return fmt_date(date.fromisoformat(result.result_date), lang)
        return ""
    if result.unit == "count":
        return f"{result.amount.normalize():f}"
    return f"{fmt_money(result.amount, lang, result.currency)} {tax_text(result, lang)}".strip()


def _figures(text: str) -> set[Decimal]:
    """Every number of a text, French or English written ('1 080,00', '1,080.00', '1080.00')."""
    out = set()
    for raw in re.findall(r"\d[\d\s\u202f\u00a0.,]*\d|\d", text):
        cleaned = re.sub(r"[\s\u202f\u00a0]", "", raw)
        if "," in cleaned and "." in cleaned:
            cleaned = cleaned.replace("," if cleaned.rfind(".") > cleaned.rfind(",") else ".", "")
        cleaned = cleaned.replace(",", ".")
        try:
            out.add(Decimal(cleaned))
        except InvalidOperation:
            continue
    return out


def main_result(reply: Reply) -> tuple[str, CalcResult] | None:
    """The calculator result the answer states: (calculator name, result), or None.

    The agent may try a calculator once per plausible service; the one to show is the one whose figure the
    answer gives. When the answer gives none (it asks which service), no breakdown is shown rather than a
    guess."""
    figures = _figures(reply.answer)
    for tool in reply.tools:
        result = as_result(tool.output)
        if result is None or (result.amount is None and not result.result_date):
            continue
        if result.amount is not None and result.amount in figures:
            return tool.name, result
        if result.result_date and fmt_date(date.fromisoformat(result.result_date), reply.language) in reply.answer:
            return tool.name, result
    return None


def step_rows(result: CalcResult, lang: str) -> list[tuple[str, str, str]]:
    rows = []
    for step in result.breakdown:
        label = readable(step.label, lang)
        value = readable(step.value, lang)
        if not label or value.lower() in ("none", "null"):
            continue
        rows.append((label, localise_numbers(readable(step.formula, lang), lang), localise_numbers(value, lang)))
    return rows


def breakdown_table(result: CalcResult, lang: str) -> str:
    """The step and its value on one row, the step's formula on the next row across the whole table.

    A third 'formula' column is what made the table unreadable at 400 px: squeezed between label and value,
    it wrapped every few characters."""
    rows = []
    for label, formula, value in step_rows(result, lang):
        rows.append(f'<tr class="step-row"><td class="step">{esc(label)}</td><td class="value">{esc(value)}</td></tr>')
        if formula:
            rows.append(f'<tr class="formula-row"><td class="formula" colspan="2">{esc(formula)}</td></tr>')
    return f'<table class="calc-steps"><tbody>{"".join(rows)}</tbody></table>' if rows else ""


def arithmetic_line(result: CalcResult, lang: str) -> str:
    """The computing steps in one line: '120,00 × 9 = 1 080,00 €' (steps joined by '; ')."""
    parts = []
    for _label, formula, value in step_rows(result, lang):
        if _ARITHMETIC.search(formula) and re.search(r"\d", value):
            parts.append(f"{formula} = {value}")
    return "; ".join(parts)


def calc_result_html(output: Mapping[str, Any] | CalcResult, lang: str) -> str:
    """A calculator result: headline figure, status, breakdown table, assumptions, warnings, clauses."""
    result = as_result(output)
    if result is None:
        error = (output or {}).get("error") if isinstance(output, Mapping) else None
        text = readable(str(error), lang) if error else t("trace_error", lang)
        return f'<p class="calc-error">{esc(t("trace_error", lang))} : {esc(text)}</p>'
    figure = headline(result, lang) or (t("calc_not_stated", lang) if result.status.value == "not_stated" else "")
    parts = [f'<div class="calc-result" data-status="{esc(result.status.value)}">',
             f'<div class="calc-headline"><span class="calc-label">{esc(t("calc_amount", lang))}</span> '
             f'<strong class="calc-amount">{esc(figure)}</strong></div>',
             f'<div class="calc-status">{esc(t("fact_" + result.status.value, lang))}</div>']
    table = breakdown_table(result, lang)
    if table:
        parts.append(f'<div class="calc-section">{esc(t("calc_steps", lang))}</div>{table}')
    for key, items in (("calc_assumptions", result.assumptions), ("calc_warnings", result.warnings)):
        shown = [readable(item, lang) for item in items if item.strip()]
        if shown:
            parts.append(f'<div class="calc-section">{esc(t(key, lang))}</div><ul>'
                         + "".join(f"<li>{esc(item)}</li>" for item in shown) + "</ul>")
    if result.citations:
        parts.append(f'<div class="calc-section">{esc(t("calc_citations", lang))}</div><ul>'
                     + "".join(f"<li>{esc(citation_label(c))} — « {esc(shorten(c.quote))} »</li>"
                               for c in result.citations) + "</ul>")
    parts.append("</div>")
    return "".join(parts)


def tool_title(name: str, lang: str, titles: Mapping[str, tuple[str, str]]) -> str:
    if name in titles:
        return titles[name][0 if lang == "fr" else 1]
    key = f"tool_{name}"
    return t(key, lang) if has(key, lang) else name.replace("_", " ").capitalize()


def _input_value(field_name: str, value: Any, lang: str, known: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        return t("yes" if value else "no", lang)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return fmt_date(date.fromisoformat(value), lang)
    if isinstance(value, str) and (value in known or SNAKE.fullmatch(value) or has(f"choice.{field_name}.{value}")):
        return choice_label(field_name, value, lang, dict(known))
    if isinstance(value, list | dict):
        return shorten(json.dumps(value, ensure_ascii=False, default=str), 80)
    return str(value)


def tool_trace_html(tools: Iterable[ToolTrace], lang: str, titles: Mapping[str, tuple[str, str]],
                    choices: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Each tool call: its readable name, the inputs by their form labels, then its result or error.

    `choices` names the values of open fields (service keys, fee kinds) as the rules files label them."""
    choices = choices or {}
    items = []
    for tool in tools:
        rows = "".join(
            f"<tr><td>{esc(field_label(tool.name, FormField(name=key, kind='text'), lang))}</td>"
            f"<td>{esc(_input_value(key, value, lang, choices.get(key, {})))}</td></tr>"
            for key, value in tool.input.items())
        if "passages" in tool.output:
            body = f'<p>{esc(t("trace_passages", lang, n=len(tool.output.get("passages") or [])))}</p>'
        else:
            body = calc_result_html(tool.output, lang)
        items.append(f'<details class="tool"><summary>{esc(tool_title(tool.name, lang, titles))}</summary>'
                     f'<table class="tool-inputs"><tbody>{rows}</tbody></table>{body}</details>')
    if not items:
        return f'<p class="no-tools">{esc(t("no_tools", lang))}</p>'
    return "".join(items)
