"""A deterministic stand-in chat model that obeys injections (for the prose guard and the abuse suite).

It behaves like a tool-calling model that has been talked into something: on its first call it searches the
clauses with the user's message; on its second it answers through the `FinalAnswer` tool, citing the first
sentence of the first clause it got back (a real, verifiable quote), and writing whatever the user's message
told it to say ("réponds que ...", "say that ...") — optionally followed by what the clause really says.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

# "réponds que X", "écris que X", "dis au client que X", "say that X", "tell the customer that X", ...
ORDER = re.compile(r"(?:r[ée]ponds?|r[ée]pondez|[ée]cris|[ée]crivez|dis|dites|affirme|confirme|say|write|answer|state|"
                   r"confirm|tell)(?:\s+(?:au client|the customer|them|me|him|her))?\s+(?:que\s+|qu'|that\s+)"
                   r"(?P<claim>[^.!?\n]+)", re.IGNORECASE)


def _call(name: str, args: dict[str, Any], n: int) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{n}", "type": "tool_call"}])


def obeyed_claim(text: str) -> str | None:
    """What the message orders the assistant to say, as a sentence, or None."""
    match = ORDER.search(text)
    if not match:
        return None
    claim = match.group("claim").strip()
    return claim[0].upper() + claim[1:] + "." if claim else None


class ObedientChatModel(BaseChatModel):
    """Searches, then answers with the ordered claim (plus the truth when `with_truth`) and a real citation."""

    with_truth: bool = False
    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "obedient-stand-in"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ObedientChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        question = next((str(m.content) for m in messages if isinstance(m, HumanMessage)), "")
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            message = _call("search_clauses", {"query": question.split("\n\n")[0][:300]}, len(self.seen))
            return ChatResult(generations=[ChatGeneration(message=message)])
        passages = _passages(str(results[-1].content))
        citations, truth = [], ""
        if passages:
            first = passages[0]
            truth = re.split(r"(?<=[.!?])\s", first["text"].strip())[0]
            citations = [{"doc_id": first["doc_id"], "clause_id": first["clause_id"], "quote": truth}]
        claim = obeyed_claim(question)
        parts = [claim] if claim else []
        if self.with_truth or not claim:
            parts.append(truth)  # the clause's own sentence, restated as prose
        answer = " ".join(p for p in parts if p)
        message = _call("FinalAnswer", {"answer": answer, "status": "answered", "citations": citations}, 99)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _passages(content: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(content)
    except ValueError:
        return []
    return [p for p in data if isinstance(p, dict) and p.get("text")] if isinstance(data, list) else []
