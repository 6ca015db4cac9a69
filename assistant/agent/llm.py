"""LLM mode (opt-in): the compose step of the answer graph written by a chat model with tools.

Understanding, refusals and clarifying questions stay with the shared graph, so a configured LLM makes answers
better worded, not different in behaviour. The model is bound once (`bind_tools`) to the retriever and the
calculators, which run in a LangGraph `ToolNode` and read what they need (the turn's record, the operator)
from the graph's state and the run-time context; it answers through a structured `FinalAnswer` tool call.
Everything it cites goes through the citation guard: a citation must point to a clause retrieved or computed
in this turn and its quote must be an exact substring of the normalised source. Unverifiable quotes are
removed from the text too. Then the prose guard (prose_guard.py) removes every sentence that no verified
quote or calculator result of the turn supports (figures compared exactly), so a model that follows an
injection cannot state "gratuit, sans préavis" next to a real clause. A model error, nothing verifiable, or no
supported sentence that says something left: the graph takes its fallback edge to the offline composer.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, ValidationError

from assistant.agent.citations import QuoteVerifier, guard
from assistant.agent.compose import Composed, Templates, customer_reply, render_quotes
from assistant.agent.planner import Calculator, Plan
from assistant.agent.prose_guard import QUOTED, ProseGuard
from assistant.agent.state import AnswerState, TurnContext
from assistant.agent.turn import Turn
from assistant.agent.understanding import Understanding
from assistant.errors import AssistantError, InputError
from assistant.models import Citation, Passage, ReplyStatus

log = logging.getLogger(__name__)

ANSWER_TOOL = "FinalAnswer"
MAX_MODEL_CALLS = 6  # searches and calculations before the answer; a model that never answers falls back


class LLMCitation(BaseModel):
    doc_id: str = Field(description="doc_id of a clause returned by search_clauses or a calculator")
    clause_id: str = Field(description="clause_id of that clause, as returned")
    quote: str = Field(description="1-3 sentences copied character for character from the clause text (French)")


class FinalAnswer(BaseModel):
    """The final answer to the user, with its citations."""

    answer: str = Field(description="The answer in the user's language: direct answer first, then any breakdown")
    status: Literal["answered", "not_found"] = Field(
        "answered", description="not_found when the documents do not give the information")
    citations: list[LLMCitation] = Field(default_factory=list)


def build_chat_model(settings: Any) -> Any:
    """ChatOpenAI on any OpenAI-compatible endpoint (OpenAI, Mistral, Ollama, vLLM, llama.cpp server)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                      timeout=settings.llm_timeout_s, temperature=0, max_retries=1)


# ---------------------------------------------------------------------- tools (state and context injected)


def search_clauses(query: str, runtime: ToolRuntime[TurnContext], operator: str | None = None) -> str:
    """Search the operators' T&C clauses. Returns clauses with doc_id, clause_id and exact text."""
    turn: Turn = runtime.state["turn"]
    try:
        passages = runtime.context.services.retrieve(query, operator or runtime.state.get("operator"), turn)
    except AssistantError as exc:  # unknown operator, empty query: let the model correct itself
        return json.dumps({"error": str(exc)})
    return json.dumps([{"doc_id": p.doc_id, "clause_id": p.clause_id, "part": p.chunk.part,
                        "operator": p.chunk.operator, "title": p.chunk.title, "text": p.chunk.text}
                       for p in passages], ensure_ascii=False)


class SearchInput(BaseModel):
    query: str = Field(description="What to look for in the T&C, in French or English")
    operator: str | None = Field(None, description="Operator name to restrict the search to")


def calculator_tool(name: str, calc: Calculator) -> BaseTool:
    """The calculator `name` as a tool: the model gives its inputs, the turn's record comes from the state."""

    def run(runtime: ToolRuntime[TurnContext], **payload: Any) -> str:
        try:
            result = runtime.context.services.run_calculator(name, payload, runtime.state["turn"])
        except InputError as exc:
            return json.dumps({"error": str(exc), "field": exc.field})
        return result.model_dump_json()

    return StructuredTool.from_function(func=run, name=name, args_schema=calc.input_model,
                                        description=calc.description or calc.title_en)


def build_tools(calculators: Mapping[str, Calculator]) -> list[BaseTool]:
    search = StructuredTool.from_function(func=search_clauses, name="search_clauses", args_schema=SearchInput,
                                          description=search_clauses.__doc__ or "")
    return [search, *(calculator_tool(name, calc) for name, calc in calculators.items())]


# ---------------------------------------------------------------------- the node


class ComposeServices(Protocol):
    """What the LLM node uses of the assistant to check and render an answer."""

    settings: Any
    templates: Templates

    @property
    def verifier(self) -> QuoteVerifier: ...

    @property
    def calculators(self) -> dict[str, Calculator]: ...

    def operators(self) -> list[str]: ...

    def doc_title(self, doc_id: str) -> str: ...

    def with_doc_title(self, citations: Sequence[Citation]) -> list[Citation]: ...

    def citation_from(self, passage: Passage, quote: str) -> Citation: ...


class LLMNode:
    """The model bound once to the tools; `call` and `verify` are nodes of the answer graph."""

    def __init__(self, model: Any, services: ComposeServices):
        self.services = services
        self.tools = build_tools(services.calculators)
        self.model = model.bind_tools([*self.tools, FinalAnswer])
        self.prose_guard = ProseGuard.from_knowledge(services.settings.knowledge_dir)

    def call(self, state: AnswerState) -> dict[str, Any]:
        """One model call; the first one is sent the rules, the question and the plan's evidence."""
        sent = list(state.get("messages") or [])
        new = [] if sent else [SystemMessage(content=self.system_prompt(state["understanding"], state["plan"])),
                               HumanMessage(content=self._question(state))]
        calls = state.get("model_calls", 0) + 1
        try:
            reply = self.model.invoke([*sent, *new])
        except Exception as exc:  # any endpoint/model failure: the fallback edge to the offline composer
            log.warning("LLM call failed, the offline composer answers: %s", exc)
            return {"messages": new, "model_calls": calls, "composed": None}
        return {"messages": [*new, reply], "model_calls": calls}

    @staticmethod
    def next_step(state: AnswerState) -> Literal["tools", "verify", "offline"]:
        """After a model call: its tools, the check of its answer, or the offline composer (no reply)."""
        last = (state.get("messages") or [None])[-1]
        if not isinstance(last, AIMessage):
            return "offline"
        names = {c["name"] for c in last.tool_calls}
        if names and ANSWER_TOOL not in names and state.get("model_calls", 0) < MAX_MODEL_CALLS:
            return "tools"
        return "verify"

    def verify(self, state: AnswerState) -> dict[str, Any]:
        """The model's answer with only verified citations and supported sentences, or None (offline answers)."""
        return {"composed": self._checked(state)}

    def _checked(self, state: AnswerState) -> Composed | None:
        u, turn, results = state["understanding"], state["turn"], state.get("results") or []
        text, status, raw = _final_answer(state.get("messages") or [])
        a = self.services
        citations = self._citations(raw, text, turn)
        citations += [c for _, r in results for c in a.with_doc_title(r.citations)]
        verified = guard(citations, turn.evidence, a.verifier)
        if not verified:
            return None
        text = self._guard_prose(self._strip_unverified_quotes(text, turn), verified, turn, u.text)
        if text is None:
            return None
        t, lang = a.templates, u.language
        answer = "\n\n".join([text.strip(), t.get(lang, "sources_heading"), *render_quotes(t, lang, verified)])
        lead = text.strip().split("\n\n")[0]
        return Composed(answer, customer_reply(t, lang, lead, verified),
                        ReplyStatus.NOT_FOUND if status == "not_found" else ReplyStatus.ANSWERED, verified)

    # ------------------------------------------------------------------ helpers

    def system_prompt(self, u: Understanding, plan: Plan) -> str:
        path = self.services.settings.prompts_dir / "system_llm.md"
        facts = json.dumps({k: str(v) for k, v in u.slots.filled().items() if k != "other_dates"}, ensure_ascii=False)
        return path.read_text(encoding="utf-8").format(
            operators=", ".join(self.services.operators()), operator=plan.operator or "unknown",
            facts=facts, language_name="French" if u.language == "fr" else "English", answer_tool=ANSWER_TOOL)

    @staticmethod
    def _question(state: AnswerState) -> str:
        """The question with the evidence the plan already gathered, so even a model that calls no tool has it."""
        lines = [f"[calculator {name}] {r.model_dump_json(exclude={'citations'})}"
                 for name, r in state.get("results") or []]
        lines += [f"[clause doc_id={p.doc_id} clause_id={p.clause_id}] {p.chunk.text[:1200]}"
                  for p in state["turn"].passages[:5]]
        context = ("Retrieved evidence:\n" + "\n".join(lines)) if lines else ""
        return f"{state['understanding'].text}\n\n{context}".strip()

    def _citations(self, raw: list[tuple[str, str, str]], text: str, turn: Turn) -> list[Citation]:
        a = self.services
        out: list[Citation] = []
        for doc_id, clause_id, quote in raw:
            passage = next((p for p in turn.passages if p.doc_id == doc_id
                            and clause_id in {p.clause_id, *p.chunk.clause_ids}), None)
            operator = passage.chunk.operator if passage else ""
            out.append(Citation(doc_id=doc_id, operator=operator, clause_id=clause_id,
                                part=passage.chunk.part if passage else None,
                                doc_title=a.doc_title(doc_id), quote=quote))
        # Quotes written inline ("« ... »") are cited too when a retrieved passage holds them.
        for m in QUOTED.finditer(text):
            quote = next(g for g in m.groups() if g)
            for p in turn.passages:
                span = a.verifier.locate(p.doc_id, quote)
                if span and span in p.chunk.text:
                    out.append(a.citation_from(p, span))
                    break
        return out

    def _guard_prose(self, text: str, verified: Sequence[Citation], turn: Turn, question: str) -> str | None:
        """The prose without its unsupported sentences; None when no supported sentence says anything."""
        calculators = set(self.services.calculators)
        calls = [{"input": t.input, "output": t.output} for t in turn.tools if t.name in calculators]
        names = [name for c in verified for name in (c.operator, c.doc_title, c.title)]
        support = self.prose_guard.support([c.quote for c in verified], calls, names, user_text=question)
        guarded = self.prose_guard.check(text, support)
        for verdict in guarded.removed:
            # the figures, not the sentence: the sentence may carry what the customer wrote (redacted logs or not)
            log.warning("LLM sentence removed: unsupported figures %s, grounded share %s",
                        [f"{kind} {value}" for kind, value in verdict.unsupported], verdict.grounded_share)
        if not guarded.has_substance:
            log.warning("LLM prose left without a supported statement: answering with the offline composer")
            return None
        return guarded.text

    def _strip_unverified_quotes(self, text: str, turn: Turn) -> str:
        docs = {p.doc_id for p in turn.passages} | {d for d, _ in turn.evidence.clauses}
        verifier = self.services.verifier

        def keep(m: re.Match[str]) -> str:
            quote = next(g for g in m.groups() if g)
            ok = any(verifier.locate(d, quote) for d in docs)
            return m.group(0) if ok else "[…]"
        return QUOTED.sub(keep, text)


def _final_answer(messages: Sequence[Any]) -> tuple[str, str, list[tuple[str, str, str]]]:
    """The model's structured answer (its `FinalAnswer` call); a model without tool calling: its last text and
    no explicit citations (the quotes it wrote inline are still looked up)."""
    for m in reversed(messages):
        if not isinstance(m, AIMessage):
            continue
        for call in m.tool_calls:
            if call["name"] != ANSWER_TOOL:
                continue
            try:
                final = FinalAnswer.model_validate(call["args"])
            except ValidationError as exc:
                log.warning("the model's %s did not validate: %s", ANSWER_TOOL, exc.error_count())
                continue
            return final.answer, final.status, [(c.doc_id, c.clause_id, c.quote) for c in final.citations]
    return _last_text(messages), "answered", []


def _last_text(messages: Sequence[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, AIMessage) and isinstance(m.content, str) and m.content.strip():
            return m.content
    return ""


__all__ = ["FinalAnswer", "LLMNode", "build_chat_model", "build_tools", "search_clauses"]
