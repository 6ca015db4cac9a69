"""Customer web chat (Gradio Blocks, messages format).

The conversation lives in one `ChatSession` per browser tab (gr.State): the Assistant keeps the operator and
contract facts under `session_id`; the UI keeps what it needs for feedback and hand-off (each chat message's
turn, so a thumbs up/down is stored with the right question, answer and citations).

What the customer sees after each reply: the answer at the top of the chat box (never scrolled past to the
sources), its sources collapsed under it with each quote once, and the interface in the language they write
in. Every visible word comes from the message catalogue (`assistant/ui/i18n.py`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from assistant.models import Citation
from assistant.ui.backend import Backend, CheckedMessage, check_message
from assistant.ui.chat_handoff import UNKNOWN_OPERATOR, HandoffControls, wire_handoff
from assistant.ui.feedback import FeedbackRecord
from assistant.ui.handoff import QA, asks_for_human, is_request_only, should_offer
from assistant.ui.i18n import Lang, accept_language, normalise_lang, t
from assistant.ui.render import answer_markdown, escape_markdown_html, sources_html

log = logging.getLogger(__name__)
__all__ = ["UNKNOWN_OPERATOR", "build_chat", "rejection_text"]

COMMENT_CHARS = 2000
EXAMPLE_KEYS = ("example_1", "example_2", "example_3", "example_4")
# After a reply, bring the top of the newest answer to the top of the chat box (Gradio's autoscroll would
# show its end: the sources, not the figure). Waits for the "…" placeholder to be replaced.
SCROLL_TO_ANSWER_JS = """
() => {
  const deadline = Date.now() + 5000;
  const tick = () => {
    const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
    const last = bots[bots.length - 1];
    if (!last || last.innerText.trim() === '…') { if (Date.now() < deadline) setTimeout(tick, 50); return; }
    let box = last.parentElement;
    while (box && !(box.scrollHeight > box.clientHeight + 2 && /(auto|scroll)/.test(getComputedStyle(box).overflowY))) {
      box = box.parentElement;
    }
    if (box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
  };
  setTimeout(tick, 30);
}
"""


@dataclass
class ChatSession:
    session_id: str = field(default_factory=lambda: f"web-{uuid.uuid4().hex[:12]}")
    messages: list[dict[str, str]] = field(default_factory=list)
    message_turns: list[int | None] = field(default_factory=list)  # chat message index -> turn index
    turns: list[QA] = field(default_factory=list)
    feedback_id: int | None = None
    citations: list[Citation] = field(default_factory=list)  # of the last answer, for the sources panel

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


def operator_choices(backend: Backend, lang: Lang) -> list[tuple[str, str]]:
    return [(t("operator_unknown", lang), UNKNOWN_OPERATOR)] + [(name, name) for name in backend.operators]


def examples_update(lang: Lang) -> Any:
    return gr.update(samples=[[t(key, lang)] for key in EXAMPLE_KEYS], label=t("examples", lang))


def initial_language(request: gr.Request) -> Lang:
    """The interface starts in the language the browser asks for; then it follows the customer's messages."""
    return accept_language(request.headers.get("accept-language") if request else None)


def make_respond(backend: Backend) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """The chat's answer to one message. Yields (message box, chat, sources panel, hand-off offer, hand-off
    form, operator picker, interface language, session): the question at once, then the answer."""

    def respond(text: str, operator_value: str, lang_value: str, state: ChatSession
                ) -> Iterator[tuple[Any, ...]]:
        lang = normalise_lang(lang_value)
        checked = check_message(text)
        same = gr.update()
        if checked.rejection:
            shown, explanation = rejection_text(checked, lang)
            turn = None
            if shown is not None:
                state.turns.append(QA(question=shown))
                turn = len(state.turns) - 1
                state.add("user", escape_markdown_html(shown), turn)
            state.add("assistant", explanation, None)
            yield "", state.messages, same, same, same, same, same, state
            return

        state.turns.append(QA(question=checked.text))
        turn = len(state.turns) - 1
        state.add("user", escape_markdown_html(checked.text), turn)
        if is_request_only(checked.text):  # "je veux parler à un conseiller": the form, not an answer
            state.add("assistant", t("handoff_request_ack", lang), None)
            yield "", state.messages, same, gr.update(visible=False), gr.update(visible=True), same, same, state
            return
        # Show the question at once; the answer replaces the "…" bubble when it is ready.
        yield "", [*state.messages, {"role": "assistant", "content": "…"}], same, same, same, same, same, state

        chosen = None if operator_value in (None, UNKNOWN_OPERATOR) else operator_value
        try:
            reply = backend.ask(checked.text, session_id=state.session_id, operator=chosen)
        except Exception:  # the chat must keep serving whatever the pipeline does
            log.exception("assistant failed on a chat question")
            state.add("assistant", t("err_internal", lang), None)
            yield "", state.messages, same, gr.update(visible=True), same, same, same, state
            return

        state.turns[turn].reply = reply
        state.citations = list(reply.citations)
        content = answer_markdown(reply)
        asked = asks_for_human(checked.text)  # a question that also asks for a person
        offer = should_offer(reply) or asked
        if offer:
            content += "\n\n" + t("handoff_asked" if asked else "handoff_offer", reply.language)
        state.add("assistant", content, turn)
        html = sources_html(reply.citations, backend.find_clause, reply.language, backend.doc_titles,
                            open_first=False)
        # The conversation owns the operator: the picker follows the latest one, whoever named it.
        picker = gr.update(value=reply.operator) if reply.operator in backend.operators \
            and reply.operator != chosen else same
        follow = gr.update(value=reply.language) if reply.language != lang else same
        yield "", state.messages, html, gr.update(visible=offer), same, picker, follow, state

    return respond


def make_relabel(backend: Backend, handoff: HandoffControls) -> Callable[..., tuple[Any, ...]]:
    """Every chrome text of the chat in the new interface language (the outputs of `ui_lang.change`)."""

    def on_language(lang_value: str, operator_value: str, state: ChatSession) -> tuple[Any, ...]:
        lang = normalise_lang(lang_value)
        return (
            f"## {t('title', lang)}\n{t('subtitle', lang)}",
            gr.update(choices=operator_choices(backend, lang), label=t("operator", lang), value=operator_value),
            gr.update(label=t("ui_language", lang)),
            gr.update(label=t("chat_label", lang), placeholder=t("chat_placeholder", lang)),
            gr.update(placeholder=t("placeholder", lang)),
            gr.update(value=t("send", lang)),
            gr.update(label=t("feedback_comment", lang)),
            gr.update(value=t("feedback_send", lang)),
            gr.update(label=t("sources", lang)),
            sources_html(state.citations, backend.find_clause, lang, backend.doc_titles, open_first=False),
            examples_update(lang),
            gr.update(value=t("new_conversation", lang)),
            *handoff.relabel(lang),
        )

    return on_language


@dataclass
class FeedbackControls:
    row: Any
    comment: Any
    send: Any
    status: Any


def wire_feedback(backend: Backend, chatbot: Any, session: Any, ui_lang: Any) -> FeedbackControls:
    """👍/👎 on an answer stores it with its question and citations; an optional comment follows."""
    with gr.Row(visible=False, elem_id="feedback-row") as feedback_row:
        comment = gr.Textbox(label=t("feedback_comment", "fr"), elem_id="feedback-comment", scale=4)
        comment_send = gr.Button(t("feedback_send", "fr"), elem_id="feedback-send", scale=1, min_width=90)
    feedback_status = gr.Markdown(elem_id="feedback-status")

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
    return FeedbackControls(feedback_row, comment, comment_send, feedback_status)


def build_chat(backend: Backend) -> gr.Blocks:
    with gr.Blocks(title=t("title", "fr"), analytics_enabled=False) as demo:
        session = gr.State(lambda: ChatSession())  # a factory: one fresh session per tab
        header = gr.Markdown(f"## {t('title', 'fr')}\n{t('subtitle', 'fr')}", elem_id="chat-header")
        with gr.Row(equal_height=True):
            operator = gr.Dropdown(operator_choices(backend, "fr"), value=UNKNOWN_OPERATOR,
                                   label=t("operator", "fr"), elem_id="operator", scale=3)
            ui_lang = gr.Radio([(t("lang_fr", "fr"), "fr"), (t("lang_en", "fr"), "en")], value="fr",
                               label=t("ui_language", "fr"), elem_id="ui-lang", scale=2)
        chatbot = gr.Chatbot(label=t("chat_label", "fr"), elem_id="chatbot", height=460, autoscroll=False,
                             placeholder=t("chat_placeholder", "fr"), feedback_options=("Like", "Dislike"),
                             group_consecutive_messages=False, buttons=["copy"])
        with gr.Row():
            message = gr.Textbox(placeholder=t("placeholder", "fr"), show_label=False, lines=1, max_lines=6,
                                 elem_id="message", scale=5, autofocus=True)
            send = gr.Button(t("send", "fr"), variant="primary", elem_id="send", scale=1, min_width=90)
        handoff = wire_handoff(backend, session, operator, ui_lang, chatbot)
        feedback = wire_feedback(backend, chatbot, session, ui_lang)
        with gr.Accordion(t("sources", "fr"), open=False, elem_id="sources-panel") as sources_panel:
            sources = gr.HTML(f'<p class="no-sources">{t("no_sources", "fr")}</p>', elem_id="sources")
        examples = gr.Dataset(components=[message], samples=[[t(key, "fr")] for key in EXAMPLE_KEYS],
                              label=t("examples", "fr"), elem_id="examples")
        new_conversation = gr.Button(t("new_conversation", "fr"), size="sm", elem_id="new-conversation")

        respond = make_respond(backend)

        submit_outputs = [message, chatbot, sources, handoff.offer, handoff.form, operator, ui_lang, session]
        for trigger in (message.submit, send.click):
            trigger(respond, [message, operator, ui_lang, session], submit_outputs,
                    show_progress="minimal", concurrency_limit=4).then(None, None, None, js=SCROLL_TO_ANSWER_JS)
        examples.click(lambda sample: sample[0] if sample else "", [examples], [message])

        def on_new_conversation(lang_value: str) -> tuple[Any, ...]:
            lang = normalise_lang(lang_value)
            return (ChatSession(), [], f'<p class="no-sources">{t("no_sources", lang)}</p>',
                    gr.update(visible=False), gr.update(visible=False), gr.update(visible=False), "",
                    UNKNOWN_OPERATOR)

        new_conversation.click(on_new_conversation, [ui_lang],
                               [session, chatbot, sources, handoff.offer, handoff.form, feedback.row,
                                feedback.status, operator])

        on_language = make_relabel(backend, handoff)

        ui_lang.change(on_language, [ui_lang, operator, session],
                       [header, operator, ui_lang, chatbot, message, send, feedback.comment, feedback.send, sources_panel,
                        sources, examples, new_conversation, *handoff.components])
        demo.load(initial_language, None, [ui_lang])
    return demo
