"""One turn as one compiled LangGraph graph, built once per Assistant and shared by the offline and LLM modes.

    understand ─► route ─┬─► junk | refuse | smalltalk | outside (another operator, a missing article) ─┐
                         ├─► unrouted   (the router abstained: closest clause framed honestly, or a question)
                         ├─► ask_operator (one question; the next turn resumes the pending question)
                         └─► answer     (gather facts + calculators + retrieval, compose, guard)  ─► record

Each node is a step of `Assistant`; the typed state carries what a step needs from the earlier ones, so the
decisions live in one place (`route`) and every branch ends in a Reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from assistant.agent.router import Need
from assistant.agent.session import SessionState
from assistant.agent.understanding import Understanding
from assistant.models import Reply

if TYPE_CHECKING:
    from assistant.agent.assistant import Assistant

BRANCHES = ("junk", "refuse", "refuse_injection", "smalltalk", "outside", "unrouted", "ask_operator", "answer")


class TurnState(TypedDict, total=False):
    question: str
    fixed_operator: str | None
    session: SessionState
    understanding: Understanding
    operator: str | None
    needs: list[Need]
    alternatives: list[Need]
    note: str
    branch: str
    reply: Reply


def build_turn_graph(assistant: Assistant, checkpointer: Any = None) -> Any:
    """Compile the turn graph once; `invoke({"question", "fixed_operator", "session"})["reply"]`. With a
    checkpointer, a conversation is a thread: its `session` is saved at the end of each turn."""
    graph = StateGraph(TurnState)
    graph.add_node("understand", assistant.understand_turn)
    graph.add_node("record", _record)
    for branch in BRANCHES:
        graph.add_node(branch, _branch(assistant, branch))
        graph.add_edge(branch, "record")
    graph.add_edge("record", END)
    graph.add_edge(START, "understand")
    graph.add_conditional_edges("understand", lambda s: s["branch"], {b: b for b in BRANCHES})
    return graph.compile(checkpointer=checkpointer)


def _record(state: TurnState) -> dict[str, Any]:
    """The turn in the conversation's history (what the next turn reads)."""
    session, reply = state["session"], state["reply"]
    session.turns += 1
    session.remember("user", state.get("question", ""))
    session.remember("assistant", reply.answer)
    return {"session": session}


def _branch(assistant: Assistant, name: str) -> Any:
    def node(state: TurnState) -> dict[str, Any]:
        return {"reply": assistant.reply_for_branch(name, state)}

    node.__name__ = f"branch_{name}"
    return node
