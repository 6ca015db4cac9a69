"""Customer web chat (Gradio Blocks, messages format).

The conversation lives in one `ChatSession` per browser tab (gr.State): the Assistant keeps the operator and
contract facts under `session_id`; the UI keeps what it needs for feedback and handoff (each chat message's
turn, so a thumbs up/down is stored with the right question, answer and citations).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from assistant.models import Reply, ReplyStatus
from assistant.ui.backend import Backend, CheckedMessage, check_message
from assistant.ui.feedback import FeedbackRecord, HandoffRecord
from assistant.ui.i18n import Lang, normalise_lang, t
from assistant.ui.render import answer_markdown, citation_label, escape_markdown_html, shorten, sources_html

log = logging.getLogger(__name__)

UNKNOWN_OPERATOR = "__unknown__"
COMMENT_CHARS = 2000
# A human is offered only for an in-scope question the documents leave unanswered (never for a recipe request
# or a prompt injection); the customer can always ask for one with the hand-off button.
HANDOFF_STATUSES = {ReplyStatus.NOT_FOUND}
EXAMPLES = [
    "Je veux résilier mon abonnement Proximus, quel préavis dois-je respecter ?",
    "Combien coûte une résiliation anticipée chez Crossing Telecom ?",
    "What happens if I pay my CMI Services invoice late?",
    "Je déménage, puis-je transférer mon abonnement Luxembourg Online ?",
]


@dataclass
class Turn:
    question: str
    reply: Reply | None = None


@dataclass
class ChatSession:
    session_id: str = field(default_factory=lambda: f"web-{uuid.uuid4().hex[:12]}")
    messages: list[dict[str, str]] = field(default_factory=list)
    message_turns: list[int | None] = field(default_factory=list)  # chat message index -> turn index
    turns: list[Turn] = field(default_factory=list)
    feedback_id: int | None = None

    def add(self, role: str, content: str, turn: int | None) -> None:
        self.messages.append({"role": role, "content": content})
        self.message_turns.append(turn)

    def known_operator(self) -> str | None:
        return next((turn.reply.operator for turn in reversed(self.turns) if turn.reply and turn.reply.operator), None)


def rejection_text(checked: CheckedMessage, lang: Lang) -> tuple[str | None, str]:
    """(what to show as the user's bubble, the assistant's explanation) for a rejected message."""
    if checked.rejection == "too_long":
        return (t("truncated_message", lang, n=f"{checked.length:,}".replace(",", "\u202f")),
                t("err_too_long", lang, n=checked.length, limit=checked.max_chars))
    if checked.rejection == "binary":
        return t("binary_message", lang), t("err_binary", lang)
    if checked.rejection == "invalid_unicode":
        return t("invalid_unicode_message", lang), t("err_invalid_unicode", lang)
    return None, t("err_empty", lang)


def case_summary(session: ChatSession, operator: str | None, lang: Lang) -> str:
    """A short Markdown summary an agent can read in ten seconds."""
    answered = [turn for turn in session.turns if turn.reply]
    last = answered[-1].reply if answered else None
    clauses: list[str] = []
    for turn in answered:
        for citation in turn.reply.citations if turn.reply else []:
            label = citation_label(citation)
            if label not in clauses:
                clauses.append(label)
    questions = "\n".join(f"  - {escape_markdown_html(shorten(turn.question, 200))}" for turn in session.turns)
    return "\n".join([
        f"- **{t('summary_operator', lang)}** : {escape_markdown_html(operator or t('unknown', lang))}",
        f"- **{t('summary_questions', lang)}** :\n{questions or '  - ' + t('none', lang)}",
        f"- **{t('summary_last_status', lang)}** : {t('status_' + last.status.value, lang) if last else t('none', lang)}",
        f"- **{t('summary_clauses', lang)}** : {escape_markdown_html(', '.join(clauses)) or t('none', lang)}",
    ])


def build_chat(backend: Backend) -> gr.Blocks:
    operator_choices = lambda lang: [(t("operator_unknown", lang), UNKNOWN_OPERATOR)] + [  # noqa: E731
        (name, name) for name in backend.operators]

    with gr.Blocks(title=t("title", "fr"), analytics_enabled=False) as demo:
        session = gr.State(lambda: ChatSession())  # a factory: one fresh session per tab
        header = gr.Markdown(f"## {t('title', 'fr')}\n{t('subtitle', 'fr')}", elem_id="chat-header")
        with gr.Row(equal_height=True):
            operator = gr.Dropdown(operator_choices("fr"), value=UNKNOWN_OPERATOR, label=t("operator", "fr"),
                                   elem_id="operator", scale=3)
            ui_lang = gr.Radio([("Français", "fr"), ("English", "en")], value="fr",
                               label=t("ui_language", "fr"), elem_id="ui-lang", scale=2)
        chatbot = gr.Chatbot(label=t("chat_label", "fr"), elem_id="chatbot", height=460,
                             placeholder=t("chat_placeholder", "fr"), feedback_options=("Like", "Dislike"),
                             group_consecutive_messages=False, buttons=["copy"])
        with gr.Row():
            message = gr.Textbox(placeholder=t("placeholder", "fr"), show_label=False, lines=1, max_lines=6,
                                 elem_id="message", scale=5, autofocus=True)
            send = gr.Button(t("send", "fr"), variant="primary", elem_id="send", scale=1, min_width=90)
        with gr.Row(visible=False, elem_id="feedback-row") as feedback_row:
            comment = gr.Textbox(label=t("feedback_comment", "fr"), elem_id="feedback-comment", scale=4)
            comment_send = gr.Button(t("feedback_send", "fr"), elem_id="feedback-send", scale=1, min_width=90)
        feedback_status = gr.Markdown(elem_id="feedback-status")
        handoff = gr.Button(t("handoff_button", "fr"), visible=False, variant="secondary", elem_id="handoff")
        with gr.Accordion(t("sources", "fr"), open=True, elem_id="sources-panel") as sources_panel:
            sources = gr.HTML(f'<p class="no-sources">{t("no_sources", "fr")}</p>', elem_id="sources")
        gr.Examples(EXAMPLES, inputs=[message], label=t("examples", "fr"))
        new_conversation = gr.Button(t("new_conversation", "fr"), size="sm", elem_id="new-conversation")

        def respond(text: str, operator_value: str, lang_value: str, state: ChatSession
                    ) -> Iterator[tuple[Any, ...]]:
            lang = normalise_lang(lang_value)
            checked = check_message(text)
            no_change = gr.update()
            if checked.rejection:
                shown, explanation = rejection_text(checked, lang)
                turn = None
                if shown is not None:
                    state.turns.append(Turn(question=shown))
                    turn = len(state.turns) - 1
                    state.add("user", escape_markdown_html(shown), turn)
                state.add("assistant", explanation, None)
                yield "", state.messages, no_change, gr.update(visible=False), no_change, state
                return

            state.turns.append(Turn(question=checked.text))
            turn = len(state.turns) - 1
            state.add("user", escape_markdown_html(checked.text), turn)
            # Show the question at once; the answer replaces the "…" bubble when it is ready.
            yield "", [*state.messages, {"role": "assistant", "content": "…"}], no_change, no_change, no_change, state

            chosen = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
            try:
                reply = backend.ask(checked.text, session_id=state.session_id, operator=chosen)
            except Exception:  # the chat must keep serving whatever the pipeline does
                log.exception("assistant failed on a chat question")
                state.add("assistant", t("err_internal", lang), None)
                yield "", state.messages, no_change, gr.update(visible=True), no_change, state
                return

            state.turns[turn].reply = reply
            content = answer_markdown(reply)
            offer_handoff = reply.status in HANDOFF_STATUSES
            if offer_handoff:
                content += "\n\n" + t("handoff_offer", reply.language)
            state.add("assistant", content, turn)
            html = sources_html(reply.citations, backend.find_clause, reply.language, backend.doc_titles)
            # The conversation owns the operator: the picker follows the latest one, whoever named it.
            picker = (gr.update(value=reply.operator)
                      if reply.operator in backend.operators and reply.operator != chosen else no_change)
            yield "", state.messages, html, gr.update(visible=offer_handoff), picker, state

        submit_outputs = [message, chatbot, sources, handoff, operator, session]
        for trigger in (message.submit, send.click):
            trigger(respond, [message, operator, ui_lang, session], submit_outputs,
                    show_progress="minimal", concurrency_limit=4)

        def on_like(state: ChatSession, lang_value: str, data: gr.LikeData) -> tuple[Any, ...]:
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            turn_index = state.message_turns[index] if 0 <= index < len(state.message_turns) else None
            reply = state.turns[turn_index].reply if turn_index is not None else None
            if reply is None or data.liked not in (True, False):
                return gr.update(), gr.update(), state
            record = FeedbackRecord(
                view="chat", session_id=state.session_id, rating="up" if data.liked else "down",
                question=state.turns[turn_index].question, answer=reply.answer, status=reply.status.value,
                operator=reply.operator, language=reply.language, citations=reply.citations)
            state.feedback_id = backend.feedback.add(record)
            return gr.update(visible=True), t("feedback_thanks", normalise_lang(lang_value)), state

        chatbot.like(on_like, [session, ui_lang], [feedback_row, feedback_status, session])

        def on_comment(text: str, state: ChatSession, lang_value: str) -> tuple[Any, ...]:
            if state.feedback_id is None or not (text or "").strip():
                return gr.update(), gr.update(), gr.update()
            checked = check_message(text.strip()[:COMMENT_CHARS], max_chars=COMMENT_CHARS)  # the same gate
            if checked.rejection:
                return gr.update(), gr.update(), rejection_text(checked, normalise_lang(lang_value))[1]
            backend.feedback.set_comment(state.feedback_id, checked.text)
            return "", gr.update(visible=False), t("feedback_comment_saved", normalise_lang(lang_value))

        for trigger in (comment.submit, comment_send.click):
            trigger(on_comment, [comment, session, ui_lang], [comment, feedback_row, feedback_status])

        def on_handoff(state: ChatSession, operator_value: str, lang_value: str) -> tuple[Any, ...]:
            lang = normalise_lang(lang_value)
            known = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
            known = known or state.known_operator()
            summary = case_summary(state, known, lang)
            transcript: list[dict[str, str | None]] = [
                {"question": turn.question, "answer": turn.reply.answer if turn.reply else None,
                 "status": turn.reply.status.value if turn.reply else None} for turn in state.turns]
            ref = backend.feedback.add_handoff(HandoffRecord(
                session_id=state.session_id, operator=known, summary=summary, transcript=transcript))
            state.add("assistant", f"{t('handoff_done', lang, ref=ref)}\n\n{summary}", None)
            return state.messages, gr.update(visible=False), state

        handoff.click(on_handoff, [session, operator, ui_lang], [chatbot, handoff, session])

        def on_new_conversation() -> tuple[Any, ...]:
            return (ChatSession(), [], f'<p class="no-sources">{t("no_sources", "fr")}</p>',
                    gr.update(visible=False), gr.update(visible=False), "", UNKNOWN_OPERATOR)

        new_conversation.click(on_new_conversation, None,
                               [session, chatbot, sources, handoff, feedback_row, feedback_status, operator])

        def on_language(lang_value: str, operator_value: str) -> tuple[Any, ...]:
            lang = normalise_lang(lang_value)
            return (
                f"## {t('title', lang)}\n{t('subtitle', lang)}",
                gr.update(choices=operator_choices(lang), label=t("operator", lang), value=operator_value),
                gr.update(label=t("ui_language", lang)),
                gr.update(label=t("chat_label", lang), placeholder=t("chat_placeholder", lang)),
                gr.update(placeholder=t("placeholder", lang)),
                gr.update(value=t("send", lang)),
                gr.update(label=t("feedback_comment", lang)),
                gr.update(value=t("feedback_send", lang)),
                gr.update(value=t("handoff_button", lang)),
                gr.update(label=t("sources", lang)),
                gr.update(value=t("new_conversation", lang)),
            )

        ui_lang.change(on_language, [ui_lang, operator],
                       [header, operator, ui_lang, chatbot, message, send, comment, comment_send, handoff,
                        sources_panel, new_conversation])
    return demo
