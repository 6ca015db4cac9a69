"""One turn as one compiled LangGraph graph, built once per Assistant and shared by the offline and LLM modes.

    understand ─► route ─┬─► junk | refuse | refuse_injection | smalltalk | outside ──────────────────┐
                         ├─► unrouted (closest clause, a question back, or the need the evidence shows) ─┤
                         ├─► clarify  (which operator?) ─────────────────────────────────────────────────┤
                         ├─► compare  (the answer subgraph once per operator named) ─────────────────────┤
                         └─► answer:  retrieve ─► calculators ─┬─► compose (offline) ─────► guard ─► record
                                                               └─► llm ⇄ tools ─► verify ─┘  ▲      │
                                                                                   └─────────┘      ▼
                                          END ◄── (nothing asked) ── record ──► wait (interrupt) ──► understand

The LLM node exists when a chat model is configured; its fallback edge goes to the offline composer (model
error, no verified answer, the prose guard removed everything). A turn that leaves a question for the
customer (which operator, a missing figure) stops at `interrupt()` in `wait`; the customer's next message
resumes the thread (`Command(resume=...)`) and is understood with that question in view: a message that only
adds facts completes it, a new question is answered as new. The checkpointer keeps the thread, so a
conversation waiting for an answer survives a restart or moves to another process.
"""

from __future__ import annotations

from typing import Any, Protocol

from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from assistant.agent.llm import LLMNode
from assistant.agent.state import AnswerState, TurnContext, TurnState

SIMPLE = ("junk", "refuse", "refuse_injection", "smalltalk", "outside")
BRANCHES = (*SIMPLE, "unrouted", "clarify", "compare", "answer")


class Node(Protocol):
    def __call__(self, state: Any) -> dict[str, Any]: ...


class AnswerNodes(Protocol):
    """The steps of an answer (answering.py)."""

    retrieve_step: Node
    calculators_step: Node
    compose_step: Node
    guard_step: Node


class TurnNodes(Protocol):
    """The steps of a turn (assistant.py)."""

    understand_turn: Node
    unrouted_step: Node
    clarify_step: Node
    compare_step: Node

    def simple_step(self, branch: str) -> Node: ...


def build_answer_graph(steps: AnswerNodes, llm: LLMNode | None = None) -> Any:
    """retrieve -> calculators -> compose (offline, or the LLM node with the offline composer as its fallback)
    -> guard. Never checkpointed itself: what it gathers lives for one answer."""
    graph = StateGraph(AnswerState, context_schema=TurnContext)
    graph.add_node("retrieve", steps.retrieve_step)
    graph.add_node("calculators", steps.calculators_step)
    graph.add_node("compose", steps.compose_step)
    graph.add_node("guard", steps.guard_step)
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "calculators")
    graph.add_edge("compose", "guard")
    graph.add_edge("guard", END)
    if llm is None:
        graph.add_edge("calculators", "compose")
    else:
        graph.add_node("llm", llm.call)
        graph.add_node("tools", ToolNode(llm.tools))
        graph.add_node("verify", llm.verify)
        graph.add_edge("calculators", "llm")
        graph.add_conditional_edges("llm", llm.next_step, {"tools": "tools", "verify": "verify",
                                                           "offline": "compose"})
        graph.add_edge("tools", "llm")
        graph.add_conditional_edges("verify", _verified, {"guard": "guard", "compose": "compose"})
    return graph.compile(checkpointer=False, name="answer")


def build_turn_graph(steps: TurnNodes, answer: Any, checkpointer: Any) -> Any:
    """Compile the turn graph once; a conversation is a thread of `checkpointer`. `invoke({"question",
    "fixed_operator", "session"})` for a new question, `invoke(Command(resume={...}))` for the answer to a
    question the assistant asked."""
    graph = StateGraph(TurnState, context_schema=TurnContext)
    graph.add_node("understand", steps.understand_turn)
    for branch in SIMPLE:
        graph.add_node(branch, steps.simple_step(branch))
        graph.add_edge(branch, "record")
    graph.add_node("unrouted", steps.unrouted_step)
    graph.add_node("clarify", steps.clarify_step)
    graph.add_node("compare", steps.compare_step)
    graph.add_node("answer", answer)
    graph.add_node("record", _record)
    graph.add_node("wait", _wait)
    graph.add_edge(START, "understand")
    graph.add_conditional_edges("understand", _route, {b: b for b in BRANCHES})
    graph.add_conditional_edges("unrouted", _answered, {"record": "record", "answer": "answer"})
    for branch in ("clarify", "compare", "answer"):
        graph.add_edge(branch, "record")
    graph.add_conditional_edges("record", _waiting, {"wait": "wait", "end": END})
    graph.add_edge("wait", "understand")
    return graph.compile(checkpointer=checkpointer, name="turn")


def _route(state: TurnState) -> str:
    return state["branch"]


def _verified(state: AnswerState) -> str:
    return "guard" if state.get("composed") is not None else "compose"


def _answered(state: TurnState) -> str:
    """The unrouted step answered, or found the need the evidence points to (then the answer subgraph)."""
    return "record" if state.get("reply") is not None else "answer"


def _waiting(state: TurnState) -> str:
    return "wait" if state.get("pending") is not None else "end"


def _record(state: TurnState) -> dict[str, Any]:
    """The turn in the conversation's history (what the next turn reads)."""
    session, reply = state["session"], state["reply"]
    assert reply is not None  # every branch ends with a reply
    session.turns += 1
    session.remember("user", state.get("question", ""))
    session.remember("assistant", reply.answer)
    return {"session": session}


def _wait(state: TurnState) -> dict[str, Any]:
    """Stop until the customer answers the question asked; their message is the next turn's question."""
    pending = state["pending"]
    message = interrupt(pending.model_dump() if pending is not None else None)
    return {"question": message["question"], "fixed_operator": message.get("fixed_operator"),
            "session": message["session"], "reply": None}
