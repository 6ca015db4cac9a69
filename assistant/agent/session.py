"""Per-conversation memory: operator, facts given so far, what was asked before.

A conversation is a thread of the turn graph's checkpointer (checkpoints.py); its `session` channel is this
state. The question waiting for the customer's answer is not here: it is the value the graph's `interrupt()`
waits with (graph.py), `PendingQuestion`.
"""

from __future__ import annotations

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
    last_needs: list[str] = Field(default_factory=list)  # what the previous answered question asked
    last_text: str = ""
    last_operator: str | None = None  # whose terms the previous answered question was about
    service: tuple[str, str] | None = None  # (operator, service key) the conversation is about, once named
    reason: str | None = None  # why the contract ends, once the customer said (moving abroad, a death)
    turns: int = 0
    history: list[tuple[str, str]] = Field(default_factory=list)  # (role, text), trimmed

    def remember(self, role: str, text: str, keep: int = 20) -> None:
        self.history.append((role, text[:2000]))
        del self.history[:-keep]
