"""The sidebar's calculator forms: one Gradio form per calculator, labelled from the message catalogue.

Every number is a text box, not a number spinner: agents type '45,50' or '1 234,50 €' (a browser's number
input refuses the comma) and a blank box must mean "not given", never a silent 0. Dates are text boxes
that take 01/12/2026 as well as 2026-12-01.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from pydantic import ValidationError

from assistant.errors import InputError
from assistant.ui.backend import CalculatorLike
from assistant.ui.calc_view import SNAKE, calc_result_html
from assistant.ui.forms import (
    FormField,
    FormInputError,
    choice_label,
    field_help,
    field_label,
    fields_from_schema,
    payload_from_values,
)
from assistant.ui.i18n import Lang, normalise_lang, t
from assistant.ui.render import esc

log = logging.getLogger(__name__)

OPERATOR_FIELD = "operator"
# Open keys offered as a list: fee kinds are internal keys an agent cannot guess. Services stay free text
# (the calculators read any alias: "fibre", "VoIP", "GSM").
CHOICE_FIELDS = frozenset({"kind"})
OpenChoices = Mapping[str, Mapping[str, tuple[str, str]]]  # field -> value -> (French, English) label


@dataclass
class CalcForm:
    name: str
    calculator: CalculatorLike
    fields: list[FormField]
    panel: Any = None
    description: Any = None
    button: Any = None
    inputs: list[Any] = field(default_factory=list)


def choices_of(form_field: FormField, lang: Lang, open_choices: OpenChoices) -> list[tuple[str, str]]:
    extra = {value: labels[0 if lang == "fr" else 1] for value, labels in open_choices.get(form_field.name, {}).items()}
    values = form_field.choices or sorted(extra, key=lambda v: extra[v].casefold())
    return [(choice_label(form_field.name, value, lang, extra), value) for value in values]


def field_props(calc: str, form_field: FormField, lang: Lang, open_choices: OpenChoices) -> dict[str, Any]:
    """What changes with the interface language: label, help, placeholder, choice labels."""
    props: dict[str, Any] = {"label": field_label(calc, form_field, lang) + (" *" if form_field.required else ""),
                             "info": field_help(calc, form_field, lang) or None}
    if form_field.kind == "choice" or (form_field.name in CHOICE_FIELDS and form_field.name in open_choices):
        props["choices"] = choices_of(form_field, lang, open_choices)
    if form_field.kind == "date":
        props["placeholder"] = t("date_hint", lang)
    return props


def field_component(calc: str, form_field: FormField, lang: Lang, operators: list[str],
                    open_choices: OpenChoices) -> Any:
    props = field_props(calc, form_field, lang, open_choices)
    common: dict[str, Any] = {**props, "elem_classes": ["calc-field"], "elem_id": f"calc-{calc}-{form_field.name}"}
    if form_field.name == OPERATOR_FIELD and form_field.kind == "text":
        # Offer the manifest's operators but keep free text: calculators also accept aliases (LOL, CE+T).
        return gr.Dropdown(operators, value=form_field.default, allow_custom_value=True, **common)
    if "choices" in props:
        return gr.Dropdown(value=form_field.default, allow_custom_value=form_field.kind != "choice", **common)
    if form_field.kind == "bool":
        common.pop("placeholder", None)
        return gr.Checkbox(value=bool(form_field.default), **common)
    default = None if form_field.default is None else str(form_field.default)
    return gr.Textbox(value=default, **common)


def humanise(message: str, calc: str, fields: list[FormField], lang: Lang) -> str:
    """A calculator's message with field names replaced by their labels (no identifier on screen)."""
    for form_field in sorted(fields, key=lambda f: -len(f.name)):
        message = re.sub(rf"\b{re.escape(form_field.name)}\b", field_label(calc, form_field, lang), message)
    return SNAKE.sub(lambda m: m.group(0).replace("_", " "), message)


def calc_error_html(message: str, lang: Lang, key: str = "calc_invalid") -> str:
    return f'<p class="calc-error">{esc(t(key, lang))} : {esc(message)}</p>'


def make_compute(form: CalcForm) -> Callable[..., str]:
    def compute(lang_value: str, *values: Any) -> str:
        lang = normalise_lang(lang_value)
        try:
            payload = payload_from_values(form.fields, list(values), form.name, lang)
            result = form.calculator.run(payload)
        except FormInputError as error:
            return calc_error_html(error.message, lang)
        except InputError as error:
            reason = error.reason_fr if lang == "fr" else error.reason_en
            known = next((f for f in form.fields if f.name == error.field), None)
            label = field_label(form.name, known, lang) if known else ""
            reason = re.sub(rf"^{re.escape(error.field)}\s*:\s*", "", reason)
            text = f"{label} : {reason}" if label and lang == "fr" else f"{label}: {reason}" if label else reason
            return calc_error_html(humanise(text, form.name, form.fields, lang), lang)
        except ValidationError as error:
            messages = "; ".join(
                f"{humanise(str(item['loc'][0]), form.name, form.fields, lang) if item['loc'] else ''} "
                f"({item['msg']})".strip() for item in error.errors())
            return calc_error_html(messages, lang)
        except Exception as error:  # a calculator bug must not take the sidebar down
            log.exception("calculator %s failed", form.name)
            return calc_error_html(type(error).__name__, lang, key="calc_failed")
        return calc_result_html(result, lang)

    return compute


def calculator_title(calculator: CalculatorLike, lang: Lang) -> str:
    return calculator.title_fr if lang == "fr" else calculator.title_en


def build_forms(calculators: Mapping[str, CalculatorLike], operators: list[str], open_choices: OpenChoices,
                lang_input: Any, lang: Lang = "fr") -> list[CalcForm]:
    """One accordion per calculator (inside the caller's Blocks context), wired to compute on click."""
    forms = []
    for name, calculator in calculators.items():
        form = CalcForm(name, calculator, fields_from_schema(calculator.input_model.model_json_schema()))
        with gr.Accordion(calculator_title(calculator, lang), open=False, elem_id=f"calc-{name}") as panel:
            form.panel = panel
            form.description = gr.Markdown(t(f"calc.{name}.description", lang), elem_classes=["calc-description"])
            form.inputs = [field_component(name, f, lang, operators, open_choices) for f in form.fields]
            form.button = gr.Button(t("compute", lang), variant="primary", elem_id=f"calc-{name}-run", size="sm")
            result = gr.HTML(elem_id=f"calc-{name}-result")
        form.button.click(make_compute(form), [lang_input, *form.inputs], [result])
        forms.append(form)
    return forms


def relabel(forms: list[CalcForm], lang: Lang, open_choices: OpenChoices) -> list[Any]:
    """gr.update()s for every form component, in `form_components` order, for the interface language."""
    updates: list[Any] = []
    for form in forms:
        updates += [gr.update(label=calculator_title(form.calculator, lang)),
                    gr.update(value=t(f"calc.{form.name}.description", lang)),
                    gr.update(value=t("compute", lang))]
        updates += [gr.update(**field_props(form.name, f, lang, open_choices)) for f in form.fields]
    return updates


def form_components(forms: list[CalcForm]) -> list[Any]:
    out: list[Any] = []
    for form in forms:
        out += [form.panel, form.description, form.button, *form.inputs]
    return out
