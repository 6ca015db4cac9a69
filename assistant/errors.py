"""User-facing errors: every one carries a one-line message naming the problem (never a traceback)."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: the CLI prints `str(error)` on one line and exits non-zero."""


class CorpusError(AssistantError):
    """A document, the manifest or a rules file is missing, empty, unreadable or inconsistent."""


class QueryError(AssistantError):
    """A query or filter the user gave cannot be served (empty query, unknown operator...)."""


class InputError(AssistantError):
    """A calculator input is invalid. Names the field and the reason in French and English."""

    def __init__(self, field: str, reason_en: str, reason_fr: str | None = None):
        self.field = field
        self.reason_en = reason_en
        self.reason_fr = reason_fr or reason_en
        super().__init__(f"{field}: {reason_en} / {self.reason_fr}")
