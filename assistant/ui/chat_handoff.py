"""The chat's hand-off controls: the offer button, the contact form, and what happens on submit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant.ui.backend import Backend, check_message
from assistant.ui.feedback import HandoffRecord
from assistant.ui.handoff import HandoffRequest, asks_for_human, case_summary, check_form
from assistant.ui.i18n import Lang, normalise_lang, t
from assistant.ui.render import escape_markdown_html

log = logging.getLogger(__name__)
UNKNOWN_OPERATOR = "__unknown__"  # the chat picker's "I don't know" value


@dataclass
class HandoffControls:
    offer: Any
    form: Any
    components: list[Any]  # relabelled on a language change, in `relabel` order

    @staticmethod
    def asked(text: str) -> bool:
        return asks_for_human(text)

    @staticmethod
    def relabel(lang: Lang) -> list[Any]:
        return [gr.update(value=t("handoff_button", lang)), f"**{t('handoff_form_title', lang)}**",
                gr.update(label=t("handoff_name", lang)),
                gr.update(label=t("handoff_contact", lang), info=t("handoff_contact_help", lang)),
                gr.update(label=t("handoff_consent", lang)), gr.update(value=t("handoff_submit", lang)),
                gr.update(value=t("handoff_cancel", lang))]


def _clean(text: str | None) -> str:
    checked = check_message((text or "").strip()[:200], max_chars=200)  # the chat's input gate
    return "" if checked.rejection else checked.text


def store_handoff(backend: Backend, state: Any, operator_value: str | None, lang: Lang,
                  request: HandoffRequest) -> str:
    """Write the case (summary and transcript redacted by the store) and return the chat's confirmation."""
    known = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
    known = known or state.known_operator()
    summary = case_summary(state.turns, known, lang, request)
    transcript: list[dict[str, str | None]] = [
        {"question": turn.question, "answer": turn.reply.answer if turn.reply else None,
         "status": turn.reply.status.value if turn.reply else None} for turn in state.turns]
    ref = backend.feedback.add_handoff(HandoffRecord(
        session_id=state.session_id, operator=known, summary=summary, transcript=transcript,
        customer_name=request.name, contact=request.contact, contact_channel=request.channel, consent=True))
    done = t("handoff_done", lang, name=escape_markdown_html(request.name), ref=ref,
             channel=t(f"channel_{request.channel}", lang))
    return f"{done}\n\n{summary}"


def wire_handoff(backend: Backend, session: Any, operator: Any, ui_lang: Any, chatbot: Any) -> HandoffControls:
    """Create the controls (inside the caller's Blocks) and their events."""
    offer = gr.Button(t("handoff_button", "fr"), visible=False, variant="secondary", elem_id="handoff")
    with gr.Group(visible=False, elem_id="handoff-form") as form:
        title = gr.Markdown(f"**{t('handoff_form_title', 'fr')}**")
        name = gr.Textbox(label=t("handoff_name", "fr"), max_lines=1, elem_id="handoff-name")
        contact = gr.Textbox(label=t("handoff_contact", "fr"), info=t("handoff_contact_help", "fr"), max_lines=1,
                             elem_id="handoff-contact")
        consent = gr.Checkbox(label=t("handoff_consent", "fr"), value=False, elem_id="handoff-consent")
        with gr.Row():
            submit = gr.Button(t("handoff_submit", "fr"), variant="primary", elem_id="handoff-submit")
            cancel = gr.Button(t("handoff_cancel", "fr"), elem_id="handoff-cancel")
        error = gr.Markdown(elem_id="handoff-error")

    offer.click(lambda: (gr.update(visible=False), gr.update(visible=True)), None, [offer, form])
    cancel.click(lambda: (gr.update(visible=False), ""), None, [form, error])

    def on_submit(name_value: str, contact_value: str, consent_value: bool, state: Any, operator_value: str,
                  lang_value: str) -> tuple[Any, ...]:
        lang = normalise_lang(lang_value)
        checked = check_form(_clean(name_value), _clean(contact_value), consent_value, lang)
        if isinstance(checked, str):
            return (gr.update(), gr.update(), f"**{checked}**", gr.update(), gr.update(),
                    gr.update(), state)
        try:
            confirmation = store_handoff(backend, state, operator_value, lang, checked)
        except Exception:  # the customer must get an answer even if the store fails
            log.exception("hand-off could not be stored")
            return (gr.update(), gr.update(), f"**{t('err_internal', lang)}**", gr.update(),
                    gr.update(), gr.update(), state)
        state.add("assistant", confirmation, None)
        return state.messages, gr.update(visible=False), "", "", "", False, state

    submit.click(on_submit, [name, contact, consent, session, operator, ui_lang],
                 [chatbot, form, error, name, contact, consent, session])
    return HandoffControls(offer, form, [offer, title, name, contact, consent, submit, cancel])
