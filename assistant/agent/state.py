"""The typed state of the turn graph and of its answer subgraph, and what their tools read at run time.

`TurnState` is what a conversation's thread keeps between turns (checkpointed: only the types allowed in
checkpoints.py); `AnswerState` adds what one answer gathers (passages, calculator results, the model's
messages), which lives only while the answer is composed and is never checkpointed. `TurnContext` is
LangGraph's run-time context: the services the LLM's tools call (retrieval, calculators), passed with each
invocation rather than captured by the tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from assistant.agent.answer import NeedAnswer
from assistant.agent.compose import Composed
from assistant.agent.planner import Plan
from assistant.agent.router import Need
from assistant.agent.session import PendingQuestion, SessionState
from assistant.agent.turn import Turn
from assistant.agent.understanding import Understanding
from assistant.models import CalcResult, Passage, Reply


class TurnState(TypedDict, total=False):
    question: str
    fixed_operator: str | None
    session: SessionState
    # the question the assistant asked and waits to complete: the graph stops at `interrupt()` with it, and
    # the customer's next message resumes it (continuing it, or asking something new)
    pending: PendingQuestion | None
    understanding: Understanding
    operator: str | None
    needs: list[Need]
    alternatives: list[Need]
    note: str
    branch: str
    reply: Reply | None


class AnswerState(TurnState, total=False):
    turn: Turn  # tool traces, passages and what may be cited, accumulated by every step of the answer
    passages: list[Passage]  # retrieved with the needs' hints (shown, and searched for sentences)
    plain: list[Passage]  # retrieved with the question's own words (the facts' evidence)
    values: dict[str, Any]  # the calculators' inputs from the conversation's facts
    answers: list[NeedAnswer]
    results: list[tuple[str, CalcResult]]
    plan: Plan
    composed: Composed | None
    messages: Annotated[list[AnyMessage], add_messages]  # the LLM node's exchange with the model and tools
    model_calls: int


class ToolServices(Protocol):
    """What the LLM's tools call: the same retrieval and calculators as the offline plan."""

    def retrieve(self, query: str, operator: str | None, turn: Turn, k: int | None = None,
                 hints: str = "") -> Sequence[Passage]: ...

    def run_calculator(self, name: str, payload: dict[str, Any], turn: Turn) -> CalcResult: ...


@dataclass(frozen=True)
class TurnContext:
    """LangGraph's run-time context of a turn (`invoke(..., context=...)`)."""

    services: ToolServices
