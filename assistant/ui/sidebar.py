"""Agent sidebar: a narrow (~400 px) view to keep beside the CRM.

At a glance, in the order an agent on a call needs them and with nothing to open: the answer line, the
calculation breakdown, the clause with the quoted span, then the reply to paste (in the customer's
language, editable, with a copy button). Below, collapsed: one form per calculator and the tool trace.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import gradio as gr

from assistant.models import Reply
from assistant.ui.backend import Backend, check_message
from assistant.ui.calc_forms import build_forms, form_components, relabel
from assistant.ui.calc_view import breakdown_table, headline, main_result, tool_trace_html
from assistant.ui.chat import UNKNOWN_OPERATOR, rejection_text
from assistant.ui.i18n import Lang, accept_language, normalise_lang, t
from assistant.ui.paste import paste_reply
from assistant.ui.render import esc, escape_markdown_html, sources_html, status_text

log = logging.getLogger(__name__)

TERSE_CHARS = 420


def terse_answer(reply: Reply, lang: Lang) -> str:
    """Status badge and operator, then the answer's first paragraph (with the list it announces)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", reply.answer.strip()) if p.strip()] or [""]
    kept = [paragraphs[0]]
    for paragraph in paragraphs[1:]:
        if not kept[-1].rstrip().endswith(":") or paragraph.lstrip().startswith(">"):
            break
        kept.append(paragraph)
    first = "\n\n".join(kept)
    if len(first) > TERSE_CHARS:
        first = first[: TERSE_CHARS - 1].rstrip() + "…"
    badge = (f'<span class="status-badge" data-status="{esc(reply.status.value)}">'
             f'{esc(status_text(reply.status.value, lang))}</span>'
             f'{" · " + esc(reply.operator) if reply.operator else ""}')
    return f"{badge}\n\n{escape_markdown_html(first)}"


def breakdown_html(reply: Reply, lang: Lang, titles: dict[str, str]) -> str:
    """The stated calculator result's headline and step table, shown without opening anything."""
    found = main_result(reply)
    if found is None:
        return ""
    name, result = found
    table = breakdown_table(result, lang)
    return (f'<div class="calc-result agent-breakdown"><div class="calc-section">{esc(t("calc_steps", lang))} — '
            f'{esc(titles.get(name, ""))} : <strong class="calc-amount">{esc(headline(result, lang))}</strong></div>'
            f'{table}</div>')


def initial_language(request: gr.Request) -> Lang:
    """The interface starts in the language the browser asks for."""
    return accept_language(request.headers.get("accept-language") if request else None)


def tool_titles(backend: Backend) -> dict[str, tuple[str, str]]:
    return {name: (calc.title_fr, calc.title_en) for name, calc in backend.calculators.items()}


def make_render(backend: Backend) -> Callable[[Reply | None, Lang], tuple[str, str, str, str]]:
    """(answer line, breakdown, cited clause, tool trace) of a reply, in the agent's interface language."""
    titles = tool_titles(backend)

    def render(reply: Reply | None, lang: Lang) -> tuple[Any, ...]:
        if reply is None:
            return "", "", "", ""
        calc_titles = {name: pair[0 if lang == "fr" else 1] for name, pair in titles.items()}
        clause = sources_html(reply.citations, backend.find_clause, lang, backend.doc_titles)
        heading = f'<div class="agent-section">{esc(t("cited_clause", lang))}</div>' if reply.citations else ""
        return (terse_answer(reply, lang), breakdown_html(reply, lang, calc_titles), heading + clause,
                tool_trace_html(reply.tools, lang, titles, backend.open_choice_labels(lang)))

    return render


def make_on_ask(backend: Backend, render: Callable[[Reply | None, Lang], tuple[str, str, str, str]]
                ) -> Callable[..., tuple[Any, ...]]:
    """The sidebar's answer to a question: its views, the paste-ready reply, the picker, the reply kept."""

    def on_ask(text: str, operator_value: str, lang_value: str, sid: str) -> tuple[Any, ...]:
        lang = normalise_lang(lang_value)
        checked = check_message(text)
        failed = ("", "", "", gr.update(), gr.update(), None)
        if checked.rejection:
            _, explanation = rejection_text(checked, lang)
            return (f'<p class="calc-error">{esc(explanation)}</p>', *failed)
        chosen = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
        try:
            reply = backend.ask(checked.text, session_id=sid, operator=chosen)
        except Exception:
            log.exception("assistant failed on a sidebar question")
            return (f'<p class="calc-error">{esc(t("err_internal", lang))}</p>', *failed)
        # The conversation owns the operator: the picker follows the latest one, whoever named it.
        picker = gr.update(value=reply.operator) if reply.operator in backend.operators \
            and reply.operator != chosen else gr.update()
        answer_md, breakdown_value, clause_value, trace_value = render(reply, lang)
        return (answer_md, breakdown_value, clause_value, paste_reply(reply), trace_value, picker, reply)

    return on_ask


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
            breakdown = gr.HTML(elem_id="agent-breakdown")
            sources = gr.HTML(elem_id="agent-sources")
            reply_box = gr.Textbox(label=t("reply_to_customer", "fr"), lines=8, max_lines=20, buttons=["copy"],
                                   elem_id="reply-to-customer", interactive=True)
            with gr.Accordion(t("calculators", "fr"), open=False, elem_id="calculators") as calculators_panel:
                if not backend.calculators:
                    gr.Markdown(t("no_calculators", "fr"))
                forms = build_forms(backend.calculators, backend.operators, backend.open_choices, ui_lang)
            with gr.Accordion(t("tool_trace", "fr"), open=False, elem_id="tool-trace-panel") as trace_panel:
                trace = gr.HTML(elem_id="tool-trace")
        last_reply = gr.State(None)

        render = make_render(backend)
        on_ask = make_on_ask(backend, render)

        outputs = [answer, breakdown, sources, reply_box, trace, operator, last_reply]
        for trigger in (ask.click, question.submit):
            trigger(on_ask, [question, operator, ui_lang, session_id], outputs, concurrency_limit=4)

        new_case.click(lambda: (f"agent-{uuid.uuid4().hex[:12]}", "", "", "", "", "", "", UNKNOWN_OPERATOR, None),
                       None, [session_id, question, answer, breakdown, sources, reply_box, trace, operator,
                              last_reply])

        # The case's operator fills every calculator form, so the agent types it once.
        operator_inputs = [c for form in forms for f, c in zip(form.fields, form.inputs, strict=True)
                           if f.name == "operator"]
        operator.change(lambda value: [gr.update(value=None if value == UNKNOWN_OPERATOR else value)
                                       for _ in operator_inputs], [operator], operator_inputs)

        def on_language(lang_value: str, operator_value: str, reply: Reply | None) -> list[Any]:
            lang = normalise_lang(lang_value)
            updates: list[Any] = [
                f"### {t('sidebar_title', lang)}",
                gr.update(choices=choices(lang), label=t("operator", lang), value=operator_value),
                gr.update(label=t("sidebar_question", lang), placeholder=t("sidebar_placeholder", lang)),
                gr.update(value=t("ask", lang)), gr.update(value=t("new_case", lang)),
                gr.update(label=t("reply_to_customer", lang)), gr.update(label=t("calculators", lang)),
                gr.update(label=t("tool_trace", lang)),
            ]
            rendered = render(reply, lang) if reply is not None else (gr.update(),) * 4
            return [*updates, *rendered, *relabel(forms, lang, backend.open_choices)]

        ui_lang.change(on_language, [ui_lang, operator, last_reply],
                       [title, operator, question, ask, new_case, reply_box, calculators_panel, trace_panel,
                        answer, breakdown, sources, trace, *form_components(forms)])
        demo.load(initial_language, None, [ui_lang])
    return demo
