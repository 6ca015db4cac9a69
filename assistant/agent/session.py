"""Per-conversation memory: operator, facts given so far, the question waiting for a clarification.

Sessions are isolated by id; nothing is shared between two states. The store is bounded (least recently
used sessions are forgotten) so a long-running server cannot grow without limit.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Literal

from pydantic import BaseModel, Field

from assistant.agent.understanding import Slots


class PendingQuestion(BaseModel):
    """The question the assistant could not answer yet and the one thing it asked for."""

    text: str
    intent: str
    topic: str | None = None
    missing: str  # "operator" or a slot / calculator field name
    needs: list[str] = Field(default_factory=list)  # the routed needs of the question waiting


class SessionState(BaseModel):
    session_id: str
    language: Literal["fr", "en"] | None = None
    operator: str | None = None
    slots: Slots = Field(default_factory=Slots)
    pending: PendingQuestion | None = None
    last_needs: list[str] = Field(default_factory=list)  # what the previous answered question asked
    last_text: str = ""
    service: tuple[str, str] | None = None  # (operator, service key) the conversation is about, once named
    turns: int = 0
    history: list[tuple[str, str]] = Field(default_factory=list)  # (role, text), trimmed

    def remember(self, role: str, text: str, keep: int = 20) -> None:
        self.history.append((role, text[:2000]))
        del self.history[:-keep]


class SessionStore:
    """Conversations in this process only (see assistant/agent/checkpoints.py for the durable store)."""

    checkpointer = None  # the turn graph keeps no checkpoints: the states here are the conversations

    def __init__(self, max_sessions: int = 2000):
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_sessions

    def get(self, session_id: str | None) -> SessionState:
        """The state for `session_id`, created when new; a fresh id when None."""
        sid = session_id or uuid.uuid4().hex
        with self._lock:
            state = self._states.get(sid)
            if state is None:
                state = SessionState(session_id=sid)
                self._states[sid] = state
                while len(self._states) > self._max:
                    self._states.popitem(last=False)
            else:
                self._states.move_to_end(sid)
            return state

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._states.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._states)
