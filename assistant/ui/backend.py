"""What the three front ends (customer chat, agent sidebar, HTTP API) share.

The UI never talks to the retriever: it sees the assistant through `ask()`, clause texts through
`find_clause()` and the calculators through their typed inputs. `Backend` holds those three seams plus the
feedback store, and it is the only place that knows how to build the real pieces from `Settings`, so
tests can hand it stand-ins with the same signatures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from assistant.config import Settings
from assistant.models import Clause, Reply
from assistant.ui.conversation_locks import ConversationLocks
from assistant.ui.feedback import FeedbackStore
from assistant.ui.readiness import IndexStatus
from assistant.validation import (  # noqa: F401 - the gate is shared with the CLI; re-exported for the views
    MAX_MESSAGE_CHARS,
    CheckedMessage,
    Rejection,
    check_message,
)

log = logging.getLogger(__name__)


class AssistantLike(Protocol):
    def ask(self, question: str, session_id: str | None = None, operator: str | None = None) -> Reply: ...


class CalculatorLike(Protocol):
    name: str
    title_fr: str
    title_en: str
    description: str
    input_model: Any  # a pydantic model class

    def run(self, payload: dict[str, Any]) -> Any: ...


FindClause = Callable[[str, str, str | None], Clause | None]


def load_operators(settings: Settings) -> list[str]:
    """Operator names for pickers, in manifest order (a new manifest entry shows up with no code change)."""
    manifest = yaml.safe_load(settings.manifest_path.read_text(encoding="utf-8")) or {}
    names: list[str] = []
    for entry in manifest.get("documents", []):
        name = entry.get("operator")
        if name and name not in names:
            names.append(name)
    return names


def load_doc_titles(settings: Settings) -> dict[str, str]:
    manifest = yaml.safe_load(settings.manifest_path.read_text(encoding="utf-8")) or {}
    return {entry["doc_id"]: entry.get("title", "") for entry in manifest.get("documents", []) if "doc_id" in entry}


def load_open_choices(settings: Settings) -> dict[str, dict[str, tuple[str, str]]]:
    """Fee kinds and service keys of every operator's rules, with the first label each is given."""
    from assistant.tools.rules import load_rules

    try:
        book = load_rules(settings.rules_dir)
        rules = [book.for_operator(name) for name in book.operators()]
    except Exception as error:  # forms then take free text: a rules problem is reported by its own checks
        log.warning("no fee kinds or services for the calculator forms: %s", error)
        return {}
    kinds: dict[str, tuple[str, str]] = {}
    services: dict[str, tuple[str, str]] = {}
    for operator in rules:
        for fee in operator.fees:
            kinds.setdefault(fee.kind, (fee.label_fr, fee.label_en))
        for service in operator.services:
            services.setdefault(service.key, (service.name, service.name))
    return {"kind": kinds, "service": services}


@dataclass
class Backend:
    settings: Settings
    assistant: AssistantLike
    find_clause: FindClause
    calculators: Mapping[str, CalculatorLike]
    feedback: FeedbackStore
    operators: list[str]
    doc_titles: dict[str, str] = field(default_factory=dict)
    # Labels of open keys some calculator fields take (service keys, fee kinds), as the rules files name
    # them: field -> key -> (French, English). Forms offer them as choices; traces show them instead of keys.
    open_choices: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    # Answers run concurrently (no global lock): a turn's conversation state is in the conversation store and
    # the rest is read-only or thread-safe once warm; only turns of one conversation take turns (this process
    # and, with a shared store, the others).
    locks: ConversationLocks = field(default_factory=ConversationLocks, repr=False)
    index_status: IndexStatus | None = None

    def ask(self, question: str, session_id: str | None, operator: str | None) -> Reply:
        with self.locks.hold(session_id):
            return self.assistant.ask(question, session_id=session_id, operator=operator)

    def open_choice_labels(self, lang: str) -> dict[str, dict[str, str]]:
        index = 0 if lang == "fr" else 1
        return {name: {key: labels[index] for key, labels in values.items()}
                for name, values in self.open_choices.items()}

    @classmethod
    def from_settings(cls, settings: Settings, *, progress: bool = True) -> Backend:
        """Build the real pieces: index (built on first start, with a progress bar), corpus, agent, tools."""
        from assistant.agent import Assistant
        from assistant.corpus import load_corpus
        from assistant.index import ensure_index
        from assistant.tools.registry import CALCULATORS

        ensure_index(settings, progress=progress)
        corpus = load_corpus(settings)

        def find_clause(doc_id: str, clause_id: str, part: str | None = None) -> Clause | None:
            return corpus.find_clause(doc_id, clause_id, part=part)

        feedback = FeedbackStore.for_settings(settings)
        removed = feedback.purge_older_than(settings.retention_days)
        if removed:
            log.warning("retention: deleted %d feedback/hand-off rows older than %d days", removed,
                        settings.retention_days)
        assistant = Assistant(settings)
        # built before the first request: lazily built parts would otherwise be built by concurrent turns
        warm = getattr(assistant, "warm", None)
        if callable(warm):
            warm()
        return cls(
            settings=settings,
            assistant=assistant,
            find_clause=find_clause,
            calculators=CALCULATORS,
            feedback=feedback,
            operators=load_operators(settings),
            doc_titles=load_doc_titles(settings),
            open_choices=load_open_choices(settings),
            locks=ConversationLocks.for_settings(settings),
            index_status=IndexStatus(settings, getattr(assistant, "retriever", None)),
        )
