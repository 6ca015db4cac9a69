"""Agent sidebar: a narrow (~400 px) view to keep beside the CRM.

Terse answer with its status, a paste-ready reply, the cited clauses, one form per calculator (generated
from its typed input) with the step-by-step breakdown, and the tool trace of the last answer.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import gradio as gr
from pydantic import ValidationError

from assistant.errors import InputError
from assistant.models import CalcResult, Reply
from assistant.ui.backend import Backend, CalculatorLike, check_message
from assistant.ui.chat import UNKNOWN_OPERATOR, rejection_text
from assistant.ui.forms import FormField, fields_from_schema, payload_from_values
from assistant.ui.i18n import Lang, normalise_lang, t
from assistant.ui.render import (
    calc_result_html,
    esc,
    escape_markdown_html,
    sources_html,
    status_text,
    tool_trace_html,
)

log = logging.getLogger(__name__)

TERSE_CHARS = 420
OPERATOR_FIELD = "operator"


def terse_answer(reply: Reply) -> str:
    """Status badge, the answer's first paragraph and every calculator's headline figure."""
    # The first paragraph, plus the next ones while it only introduces them ("Voici ce que prévoient… :").
    paragraphs = [p for p in re.split(r"\n\s*\n", reply.answer.strip()) if p.strip()] or [""]
    kept = [paragraphs[0]]
    for paragraph in paragraphs[1:]:
        if not kept[-1].rstrip().endswith(":"):
            break
        kept.append(paragraph)
    first = "\n\n".join(kept)
    if len(first) > TERSE_CHARS:
        first = first[: TERSE_CHARS - 1].rstrip() + "…"
    lines = [f'<span class="status-badge" data-status="{esc(reply.status.value)}">'
             f'{esc(status_text(reply.status.value, reply.language))}</span>'
             f'{" · " + esc(reply.operator) if reply.operator else ""}',
             escape_markdown_html(first)]
    for tool in reply.tools:
        try:
            result = CalcResult.model_validate(tool.output)
        except ValidationError:
            continue
        if result.amount is not None:
            lines.append(f"- `{esc(tool.name)}` → **{result.amount} {esc(result.unit or result.currency or '')}"
                         f" {esc(result.tax_basis.value if result.tax_basis.value in ('HT', 'TTC') else '')}**")
    return "\n\n".join(lines)


def calc_error_html(message: str, lang: Lang, key: str = "calc_invalid") -> str:
    return f'<p class="calc-error">{esc(t(key, lang))} : {esc(message)}</p>'


def validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'input'}: {item['msg']}"
                     for item in error.errors())


def make_compute(calculator: CalculatorLike, fields: list[FormField]) -> Callable[..., str]:
    def compute(lang_value: str, *values: Any) -> str:
        lang = normalise_lang(lang_value)
        missing = [f.label for f, v in zip(fields, values, strict=True)
                   if f.required and (v is None or (isinstance(v, str) and not v.strip()))]
        if missing:
            return calc_error_html(f"{t('required', lang)} — {', '.join(missing)}", lang)
        try:
            result = calculator.run(payload_from_values(fields, list(values)))
        except InputError as error:
            return calc_error_html(f"{error.field}: {error.reason_fr if lang == 'fr' else error.reason_en}", lang)
        except ValidationError as error:
            return calc_error_html(validation_message(error), lang)
        except Exception as error:  # a calculator bug must not take the sidebar down
            log.exception("calculator %s failed", calculator.name)
            return calc_error_html(type(error).__name__, lang, key="calc_failed")
        return calc_result_html(result, lang)

    return compute


def field_component(form_field: FormField, lang: Lang, operators: list[str], elem_id: str
                    ) -> gr.components.Component:
    label = form_field.label + (" *" if form_field.required else "")
    common: dict[str, Any] = {"label": label, "info": form_field.description or None,
                              "elem_classes": ["calc-field"], "elem_id": elem_id}
    if form_field.name == OPERATOR_FIELD and form_field.kind == "text":
        # Offer the manifest's operators but keep free text: calculators also accept aliases (LOL, CE+T).
        return gr.Dropdown(operators, value=form_field.default, allow_custom_value=True, **common)
    if form_field.kind == "choice":
        return gr.Dropdown(form_field.choices, value=form_field.default, **common)
    if form_field.kind == "bool":
        return gr.Checkbox(value=bool(form_field.default), **common)
    if form_field.kind in ("integer", "number") and form_field.default is not None:
        # Only with a default: an emptied gr.Number submits 0, which would silently mean "no minimum
        # term" or "0 €"; fields without one stay text boxes so that blank really means "not given".
        return gr.Number(value=form_field.default, precision=0 if form_field.kind == "integer" else None, **common)
    placeholder = t("date_hint", lang) if form_field.kind == "date" else None
    return gr.Textbox(value=form_field.default, placeholder=placeholder, **common)


def build_sidebar(backend: Backend) -> gr.Blocks:
    choices = lambda lang: [(t("operator_unknown", lang), UNKNOWN_OPERATOR)] + [  # noqa: E731
        (name, name) for name in backend.operators]

    with gr.Blocks(title=t("sidebar_title", "fr"), analytics_enabled=False) as demo:
        session_id = gr.State(lambda: f"agent-{uuid.uuid4().hex[:12]}")
        with gr.Column(elem_id="agent-sidebar"):
            title = gr.Markdown(f"### {t('sidebar_title', 'fr')}")
            ui_lang = gr.Radio([("FR", "fr"), ("EN", "en")], value="fr", show_label=False, elem_id="agent-lang")
            operator = gr.Dropdown(choices("fr"), value=UNKNOWN_OPERATOR, label=t("operator", "fr"),
                                   elem_id="agent-operator")
            question = gr.Textbox(label=t("sidebar_question", "fr"), placeholder=t("sidebar_placeholder", "fr"),
                                  lines=3, max_lines=8, elem_id="agent-question")
            with gr.Row():
                ask = gr.Button(t("ask", "fr"), variant="primary", elem_id="agent-ask", min_width=80)
                new_case = gr.Button(t("new_case", "fr"), elem_id="agent-new-case", min_width=80)
            answer = gr.Markdown(elem_id="agent-answer")
            reply_box = gr.Textbox(label=t("reply_to_customer", "fr"), lines=5, max_lines=14, buttons=["copy"],
                                   elem_id="reply-to-customer", interactive=True)
            with gr.Accordion(t("sources", "fr"), open=True, elem_id="agent-sources-panel") as sources_panel:
                sources = gr.HTML(elem_id="agent-sources")
            with gr.Accordion(t("calculators", "fr"), open=False, elem_id="calculators") as calculators_panel:
                calc_panels: list[tuple[gr.Accordion, CalculatorLike]] = []
                compute_buttons: list[gr.Button] = []
                operator_fields: list[gr.components.Component] = []
                if not backend.calculators:
                    gr.Markdown(t("no_calculators", "fr"))
                for name, calculator in backend.calculators.items():
                    fields = fields_from_schema(calculator.input_model.model_json_schema())
                    with gr.Accordion(calculator.title_fr, open=False, elem_id=f"calc-{name}") as panel:
                        gr.Markdown(escape_markdown_html(calculator.description))
                        inputs = [field_component(f, "fr", backend.operators, f"calc-{name}-{f.name}")
                                  for f in fields]
                        operator_fields += [c for f, c in zip(fields, inputs, strict=True)
                                            if f.name == OPERATOR_FIELD]
                        compute = gr.Button(t("compute", "fr"), variant="primary", elem_id=f"calc-{name}-run",
                                            size="sm")
                        result = gr.HTML(elem_id=f"calc-{name}-result")
                    compute.click(make_compute(calculator, fields), [ui_lang, *inputs], [result])
                    calc_panels.append((panel, calculator))
                    compute_buttons.append(compute)
            with gr.Accordion(t("tool_trace", "fr"), open=False, elem_id="tool-trace-panel") as trace_panel:
                trace = gr.HTML(elem_id="tool-trace")

        def on_ask(text: str, operator_value: str, lang_value: str, sid: str) -> tuple[Any, ...]:
            lang = normalise_lang(lang_value)
            checked = check_message(text)
            if checked.rejection:
                _, explanation = rejection_text(checked, lang)
                return f'<p class="calc-error">{esc(explanation)}</p>', "", "", "", gr.update()
            chosen = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
            try:
                reply = backend.ask(checked.text, session_id=sid, operator=chosen)
            except Exception:
                log.exception("assistant failed on a sidebar question")
                return f'<p class="calc-error">{esc(t("err_internal", lang))}</p>', "", "", "", gr.update()
            picker = gr.update(value=reply.operator) if chosen is None and reply.operator in backend.operators \
                else gr.update()
            return (terse_answer(reply), reply.reply_to_customer or reply.answer,
                    sources_html(reply.citations, backend.find_clause, reply.language, backend.doc_titles),
                    tool_trace_html(reply.tools, reply.language), picker)

        outputs = [answer, reply_box, sources, trace, operator]
        for trigger in (ask.click, question.submit):
            trigger(on_ask, [question, operator, ui_lang, session_id], outputs, concurrency_limit=4)

        new_case.click(lambda: (f"agent-{uuid.uuid4().hex[:12]}", "", "", "", "", "", UNKNOWN_OPERATOR), None,
                       [session_id, question, answer, reply_box, sources, trace, operator])

        # The case's operator fills every calculator form, so the agent types it once.
        operator.change(lambda value: [gr.update(value=None if value == UNKNOWN_OPERATOR else value)
                                       for _ in operator_fields], [operator], operator_fields)

        def on_language(lang_value: str, operator_value: str) -> list[Any]:
            lang = normalise_lang(lang_value)
            updates: list[Any] = [
                f"### {t('sidebar_title', lang)}",
                gr.update(choices=choices(lang), label=t("operator", lang), value=operator_value),
                gr.update(label=t("sidebar_question", lang), placeholder=t("sidebar_placeholder", lang)),
                gr.update(value=t("ask", lang)), gr.update(value=t("new_case", lang)),
                gr.update(label=t("reply_to_customer", lang)), gr.update(label=t("sources", lang)),
                gr.update(label=t("calculators", lang)), gr.update(label=t("tool_trace", lang)),
            ]
            updates += [gr.update(label=calc.title_fr if lang == "fr" else calc.title_en) for _, calc in calc_panels]
            updates += [gr.update(value=t("compute", lang)) for _ in compute_buttons]
            return updates

        ui_lang.change(on_language, [ui_lang, operator],
                       [title, operator, question, ask, new_case, reply_box, sources_panel, calculators_panel,
                        trace_panel, *(panel for panel, _ in calc_panels), *compute_buttons])
    return demo
