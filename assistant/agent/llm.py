"""LLM mode (opt-in): a LangChain `create_agent` (LangGraph) agent with the same tools as the offline plan.

Understanding, refusals and clarifying questions stay with the shared (offline) logic, so a configured LLM
makes answers better worded, not different in behaviour. The agent gets the retriever and the calculators as
tools, answers through a structured `FinalAnswer` tool call, and everything it cites goes through the
citation guard: a citation must point to a clause retrieved or computed in this turn and its quote must be
an exact substring of the normalised source. Unverifiable quotes are removed from the text too. Then the prose
guard (prose_guard.py) removes every sentence that no verified quote or calculator result of the turn
supports (figures compared exactly), so a model that follows an injection cannot state "gratuit, sans
préavis" next to a real clause. When nothing verifiable, or no supported sentence that says something, is
left, `compose` returns None and the caller answers with the offline composer.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from assistant.agent.citations import guard
from assistant.agent.compose import Composed, citation_label, customer_reply, render_quotes
from assistant.agent.planner import Plan
from assistant.agent.prose_guard import QUOTED, ProseGuard
from assistant.agent.understanding import Understanding
from assistant.errors import AssistantError, InputError
from assistant.models import CalcResult, Citation, ReplyStatus

if TYPE_CHECKING:
    from assistant.agent.assistant import Assistant, Turn

log = logging.getLogger(__name__)

ANSWER_TOOL = "FinalAnswer"
_QUOTED = QUOTED


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


class SearchInput(BaseModel):
    query: str = Field(description="What to look for in the T&C, in French or English")
    operator: str | None = Field(None, description="Operator name to restrict the search to")


def build_chat_model(settings: Any) -> Any:
    """ChatOpenAI on any OpenAI-compatible endpoint (OpenAI, Mistral, Ollama, vLLM, llama.cpp server)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                      timeout=settings.llm_timeout_s, temperature=0, max_retries=1)


class LLMComposer:
    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.model = assistant._chat_model or build_chat_model(assistant.settings)
        self.prose_guard = ProseGuard.from_knowledge(assistant.settings.knowledge_dir)

    # ------------------------------------------------------------------ tools bound to one turn

    def tools(self, turn: Turn, operator: str | None) -> list[BaseTool]:
        a, default_operator = self.assistant, operator

        def search(query: str, operator: str | None = operator) -> str:
            try:
                passages = a._retrieve(query, operator or default_operator, turn)
            except AssistantError as exc:  # unknown operator, empty query: let the model correct itself
                return json.dumps({"error": str(exc)})
            return json.dumps([{"doc_id": p.doc_id, "clause_id": p.clause_id, "part": p.chunk.part,
                                "operator": p.chunk.operator, "title": p.chunk.title, "text": p.chunk.text}
                               for p in passages], ensure_ascii=False)

        tools: list[BaseTool] = [StructuredTool.from_function(
            func=search, name="search_clauses", args_schema=SearchInput,
            description="Search the operators' T&C clauses. Returns clauses with doc_id, clause_id and exact text.")]
        for name, calc in a.calculators.items():
            tools.append(StructuredTool.from_function(
                func=self._calculator_func(name, turn), name=name, args_schema=calc.input_model,
                description=calc.description or calc.title_en))
        return tools

    def _calculator_func(self, name: str, turn: Turn):  # noqa: ANN202 - a closure per calculator
        def run(**payload: Any) -> str:
            try:
                result = self.assistant._run_calculator(name, payload, turn)
            except InputError as exc:
                return json.dumps({"error": str(exc), "field": exc.field})
            return result.model_dump_json()
        return run

    # ------------------------------------------------------------------ one answer

    def system_prompt(self, u: Understanding, plan: Plan) -> str:
        path = self.assistant.settings.prompts_dir / "system_llm.md"
        facts = json.dumps({k: str(v) for k, v in u.slots.filled().items() if k != "other_dates"}, ensure_ascii=False)
        return path.read_text(encoding="utf-8").format(
            operators=", ".join(self.assistant.corpus.operators()), operator=plan.operator or "unknown",
            facts=facts, language_name="French" if u.language == "fr" else "English", answer_tool=ANSWER_TOOL)

    def compose(self, u: Understanding, plan: Plan, turn: Turn,
                results: Sequence[tuple[str, CalcResult]]) -> Composed | None:
        from langchain.agents import create_agent
        from langchain.agents.structured_output import ToolStrategy

        agent = create_agent(self.model, self.tools(turn, plan.operator), system_prompt=self.system_prompt(u, plan),
                             response_format=ToolStrategy(FinalAnswer))
        context = self._context(turn, results)
        state = agent.invoke({"messages": [HumanMessage(content=f"{u.text}\n\n{context}".strip())]},
                             config={"recursion_limit": 16})
        final = state.get("structured_response")
        if isinstance(final, FinalAnswer):
            text, status, raw = final.answer, final.status, [(c.doc_id, c.clause_id, c.quote) for c in final.citations]
        else:  # a model without tool calling: take its text and the quotes it contains
            text = _last_text(state.get("messages", []))
            status, raw = "answered", []
        citations = self._citations(raw, text, turn)
        citations += [c for _, r in results for c in self.assistant._with_doc_title(r.citations)]
        verified = guard(citations, turn.evidence, self.assistant.verifier)
        if not verified:
            return None
        text = self._guard_prose(self._strip_unverified_quotes(text, turn), verified, turn, u.text)
        if text is None:
            return None
        t, lang = self.assistant.templates, u.language
        answer = "\n\n".join([text.strip(), t.get(lang, "sources_heading"), *render_quotes(t, lang, verified)])
        lead = text.strip().split("\n\n")[0]
        return Composed(answer, customer_reply(t, lang, lead, verified),
                        ReplyStatus.NOT_FOUND if status == "not_found" else ReplyStatus.ANSWERED, verified)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _context(turn: Turn, results: Sequence[tuple[str, CalcResult]]) -> str:
        """Evidence the offline plan already gathered, so even a model that calls no tool has it."""
        lines = []
        for name, r in results:
            lines.append(f"[calculator {name}] {r.model_dump_json(exclude={'citations'})}")
        for p in turn.passages[:5]:
            lines.append(f"[clause doc_id={p.doc_id} clause_id={p.clause_id}] {p.chunk.text[:1200]}")
        return ("Retrieved evidence:\n" + "\n".join(lines)) if lines else ""

    def _citations(self, raw: list[tuple[str, str, str]], text: str, turn: Turn) -> list[Citation]:
        a = self.assistant
        out: list[Citation] = []
        for doc_id, clause_id, quote in raw:
            passage = next((p for p in turn.passages if p.doc_id == doc_id
                            and clause_id in {p.clause_id, *p.chunk.clause_ids}), None)
            operator = passage.chunk.operator if passage else ""
            out.append(Citation(doc_id=doc_id, operator=operator, clause_id=clause_id,
                                part=passage.chunk.part if passage else None,
                                doc_title=a._doc_title(doc_id), quote=quote))
        # Quotes written inline ("« ... »") are cited too when a retrieved passage holds them.
        for m in _QUOTED.finditer(text):
            quote = next(g for g in m.groups() if g)
            for p in turn.passages:
                span = a.verifier.locate(p.doc_id, quote)
                if span and span in p.chunk.text:
                    out.append(a.citation_from(p, span))
                    break
        return out

    def _guard_prose(self, text: str, verified: Sequence[Citation], turn: Turn, question: str) -> str | None:
        """The prose without its unsupported sentences; None when no supported sentence says anything."""
        calculators = set(self.assistant.calculators)
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

        def keep(m: re.Match[str]) -> str:
            quote = next(g for g in m.groups() if g)
            ok = any(self.assistant.verifier.locate(d, quote) for d in docs)
            return m.group(0) if ok else "[…]"
        return _QUOTED.sub(keep, text)


def _last_text(messages: Sequence[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, AIMessage) and isinstance(m.content, str) and m.content.strip():
            return m.content
    return ""


__all__ = ["FinalAnswer", "LLMComposer", "build_chat_model", "citation_label"]
