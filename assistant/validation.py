"""The one gate every user message goes through: CLI argument, `ask --jsonl` lines, HTTP API, web chat, sidebar.

`check_message` either cleans a message (stray control and invisible formatting characters removed,
NFC) or rejects it with a reason and a one-line English explanation (`CheckedMessage.explanation`); the
web front ends show their own French/English wording for the same reasons. Nothing here raises on bad
input, so no caller can turn a bad message into a traceback or a 5xx.

Invalid Unicode: Python turns undecodable bytes into lone surrogates (U+D800–U+DFFF) wherever it decodes
with `surrogateescape` (command-line arguments, file names), and a JSON body can carry them as `\\udXXX`
escapes. They cannot be encoded back to UTF-8, so a message containing one is rejected, not guessed at.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_MESSAGE_CHARS = 4000
# Share of characters that may be control / unassigned / replacement characters before a message is
# treated as pasted binary. A stray control character in real text is tolerated (and stripped).
BINARY_RATIO = 0.02
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
# Invisible formatting characters removed from messages: zero-width space, LRM/RLM, bidi embeddings and
# overrides (U+202A–E, used to make stored text read differently from what it is), word joiner, bidi
# isolates, BOM. Zero-width (non-)joiners stay: some scripts and emoji need them.
_INVISIBLE = {"\u200b", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2060",
              "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff"}

Rejection = Literal["empty", "too_long", "invalid_unicode", "binary"]


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate code point: it is not valid Unicode text."""
    return any("\ud800" <= char <= "\udfff" for char in text)


def first_surrogate(text: str) -> int:
    return next((i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff"), -1)


@dataclass(frozen=True)
class CheckedMessage:
    """A message after the gate: either clean `text` or a `rejection` reason."""

    text: str
    rejection: Rejection | None = None
    length: int = 0
    max_chars: int = MAX_MESSAGE_CHARS

    @property
    def explanation(self) -> str:
        """One line saying what is wrong (English; the web views translate the reason themselves)."""
        if self.rejection == "empty":
            return "the message is empty"
        if self.rejection == "too_long":
            return f"the message has {self.length} characters; the limit is {self.max_chars}"
        if self.rejection == "invalid_unicode":
            return "the message is not valid UTF-8 text (it contains bytes or code points that are not characters)"
        if self.rejection == "binary":
            return "the message looks like binary data, not text"
        return ""


def _is_garbage(char: str) -> bool:
    if char in _ALLOWED_CONTROLS:
        return False
    return char == "\ufffd" or unicodedata.category(char) in {"Cc", "Cs", "Co", "Cn"}


def check_message(raw: str | bytes | None, max_chars: int = MAX_MESSAGE_CHARS) -> CheckedMessage:
    """Gate one user message: empty, overlong, invalid-Unicode and binary input never reach the assistant."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return CheckedMessage("", "invalid_unicode", len(raw), max_chars)
    text = (raw or "").strip()
    if not text:
        return CheckedMessage("", "empty", 0, max_chars)
    if len(text) > max_chars:
        return CheckedMessage("", "too_long", len(text), max_chars)
    if has_lone_surrogate(text):
        return CheckedMessage("", "invalid_unicode", len(text), max_chars)
    garbage = sum(1 for char in text if _is_garbage(char))
    if "\x00" in text or garbage / len(text) > BINARY_RATIO:
        return CheckedMessage("", "binary", len(text), max_chars)
    cleaned = "".join(char for char in text if not _is_garbage(char) and char not in _INVISIBLE)
    cleaned = unicodedata.normalize("NFC", cleaned).strip()
    if not cleaned:
        return CheckedMessage("", "empty", 0, max_chars)
    return CheckedMessage(cleaned, None, len(cleaned), max_chars)


def field_problem(value: str, name: str, max_chars: int) -> str | None:
    """Why a short text field (operator name, model, id) is unusable, as one line, or None when it is fine.

    Unlike messages, fields are never silently cleaned: a name with a control character in it is a
    different name, so it is refused.
    """
    if has_lone_surrogate(value):
        return f"{name} is not valid UTF-8 text"
    if len(value) > max_chars:
        return f"{name} has {len(value)} characters; the limit is {max_chars}"
    if any(unicodedata.category(char) in {"Cc", "Cf", "Co", "Cn"} for char in value):
        return f"{name} contains control or invisible characters"
    return None
