"""Hand-off to a human: when to offer it, the customer's contact form, and the case summary.

A human is offered for an in-scope question the documents leave unanswered, or when the customer asks for
one in their own words (the phrases are data: `knowledge/handoff.yaml`). The form takes a name, an e-mail
address or phone number and an explicit consent; without the consent nothing is sent. The case summary is
written for an agent who has ten seconds: operator, status and count on one line, then the request, what the
assistant said, the clauses and how to call back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from assistant.config import ROOT
from assistant.models import Reply, ReplyStatus
from assistant.ui.i18n import Lang, t
from assistant.ui.paste import answer_sentences
from assistant.ui.render import clause_label, escape_markdown_html, shorten, status_text

CUES_FILE = ROOT / "knowledge" / "handoff.yaml"
# A human is offered only for an in-scope question the documents leave unanswered (never for a recipe request
# or a prompt injection); the customer can always ask for one in words.
HANDOFF_STATUSES = {ReplyStatus.NOT_FOUND}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
_PHONE_CHARS = re.compile(r"[+\d\s().\-/]+")
Channel = Literal["email", "phone"]
REQUEST_ONLY_WORDS = 12


class HandoffCues(BaseModel):
    """Phrases by which a customer asks for a person, per language (matched on folded whole words)."""

    fr: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)


class HandoffRequest(BaseModel):
    """What the form collected, checked: the record's contact fields are written only from this."""

    name: str = Field(min_length=1, max_length=120)
    contact: str = Field(min_length=3, max_length=200)
    channel: Channel
    consent: Literal[True]


class QA(BaseModel):
    question: str
    reply: Reply | None = None


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@cache
def load_cues(path: Path = CUES_FILE) -> tuple[str, ...]:
    cues = HandoffCues.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return tuple(fold(cue) for cue in [*cues.fr, *cues.en])


def asks_for_human(text: str, cues: Sequence[str] | None = None) -> bool:
    folded = f" {re.sub(r'[^a-z0-9' + chr(39) + ']+', ' ', fold(text))} "
    return any(f" {cue} " in folded for cue in (cues if cues is not None else load_cues()))


def is_request_only(text: str) -> bool:
    """A short message asking for a person ("je veux parler à un conseiller"): nothing else to answer."""
    return asks_for_human(text) and len(text.split()) <= REQUEST_ONLY_WORDS


def should_offer(reply: Reply) -> bool:
    return reply.status in HANDOFF_STATUSES


def contact_channel(contact: str) -> Channel | None:
    """'email' or 'phone' when `contact` is one (a phone number: 6 to 15 digits), else None."""
    contact = contact.strip()
    if _EMAIL.fullmatch(contact):
        return "email"
    digits = re.sub(r"\D", "", contact)
    if _PHONE_CHARS.fullmatch(contact) and 6 <= len(digits) <= 15:
        return "phone"
    return None


def check_form(name: str | None, contact: str | None, consent: bool | None, lang: Lang
               ) -> HandoffRequest | str:
    """The checked request, or the message saying what to fix (in the customer's language)."""
    name, contact = (name or "").strip(), (contact or "").strip()
    if not name or len(name) > 120:
        return t("handoff_err_name", lang)
    channel = contact_channel(contact) if len(contact) <= 200 else None
    if channel is None:
        return t("handoff_err_contact", lang)
    if consent is not True:
        return t("handoff_err_consent", lang)
    return HandoffRequest(name=name, contact=contact, channel=channel, consent=True)


def _line(label_key: str, value: str, lang: Lang) -> str:
    return t("summary_line", lang, label=t(label_key, lang), value=value)


def case_summary(turns: Sequence[QA], operator: str | None, lang: Lang,
                 request: HandoffRequest | None = None) -> str:
    """A short Markdown summary an agent can read in ten seconds."""
    answered = [turn for turn in turns if turn.reply]
    in_scope = [turn for turn in answered if turn.reply and turn.reply.status != ReplyStatus.REFUSED]
    focus = (in_scope or answered or list(turns) or [None])[-1]
    last = focus.reply if focus else None
    status = status_text(last.status.value, lang) if last else t("none", lang)
    head = " · ".join([f"**{escape_markdown_html(operator or t('unknown', lang))}**", status,
                       t("summary_questions_count", lang, n=len(turns))])
    lines = [head]
    if focus is not None:
        lines.append(_line("summary_request", t("quoted", lang, text=escape_markdown_html(shorten(focus.question, 200))),
                           lang))
    if last is not None:
        said = shorten(answer_sentences(last.answer).split("\n")[0], 200)
        lines.append(_line("summary_reply", escape_markdown_html(said), lang))
    clauses = list(dict.fromkeys(clause_label(c.clause_id, c.part) for turn in answered if turn.reply
                                 for c in turn.reply.citations))
    lines.append(_line("summary_clauses", escape_markdown_html(", ".join(clauses[:6])) or t("none", lang), lang))
    earlier = [turn.question for turn in turns if turn is not focus]
    if earlier:
        quoted = " ; ".join(t("quoted", lang, text=escape_markdown_html(shorten(q, 80))) for q in earlier[-3:])
        lines.append(_line("summary_earlier", quoted, lang))
    if request is not None:
        by = t("summary_callback_by", lang, channel=t(f"channel_{request.channel}", lang))
        lines.append(_line("summary_callback", f"{escape_markdown_html(request.name)}, {by}", lang))
    return "\n".join(lines)
