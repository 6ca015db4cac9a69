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
from typing import Any, Protocol

from assistant.agent.citations import QuoteVerifier, TurnEvidence, guard
from assistant.agent.compose import (
    Composed,
    Templates,
    best_sentences,
    compose_calculation,
    compose_extract,
    compose_not_found,
    compose_simple,
    covers_topic,
    has_figure,
    is_pointer,
)
from assistant.agent.planner import (
    ASKABLE,
    Calculator,
    Plan,
    asks_amount,
    asks_figure,
    field_to_slot,
    make_plan,
)
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
    Passage,
    PassageOut,
    Reply,
    ReplyStatus,
    ToolTrace,
)

log = logging.getLogger(__name__)


class RetrieverLike(Protocol):
    def retrieve(self, query: str, k: int = 5, operator: str | None = None,
                 doc_ids: list[str] | None = None) -> list[Passage]: ...


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
                 chat_model: Any = None, sessions: SessionStore | None = None, today: date | None = None):
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

                book = load_rules()
                self._services = {op: [(s.key, [s.name, *s.aliases]) for s in book.for_operator(op).services]
                                  for op in book.operators()}
            except Exception as exc:  # no rules for this deployment: calculators that need a service will ask
                log.warning("rules not available: %s", exc)
                self._services = {}
        return self._services

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
        _ = self.matcher, self.verifier, self.calculators, self.services
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
        u = understand(question, self.matcher, default_language=state.language or "fr", today=self.today(),
                       others=self.corpus.other_matcher)
        if u.junk:
            return self._simple(state.language or u.language, "junk", ReplyStatus.CLARIFY, "other")
        state.language = u.language
        u = self._continue_pending(u, state)
        operator = self._operator(u, state, fixed_operator)
        u = self._merge_slots(u, state)
        plan = make_plan(u, operator, self.calculators, topic_text=self.matcher.strip(u.text) if operator else None,
                         services=self.services.get(operator or "", []))
        if plan.action not in ("refuse", "smalltalk", "junk"):
            unknown = self._outside_corpus(u, operator, fixed_operator)
            if unknown is not None:
                state.pending = None
                return unknown
        if plan.action == "refuse":
            state.pending = None
            key = "refuse_injection" if u.injection else "refuse"
            return self._simple(u.language, key, ReplyStatus.REFUSED, "out_of_scope")
        if plan.action == "smalltalk":
            return self._simple(u.language, "smalltalk", ReplyStatus.ANSWERED, "smalltalk")
        if plan.action == "clarify":
            return self._clarify(u, state, plan.missing or "operator", operator)
        return self._answer(u, state, plan)

    # ------------------------------------------------------------------ session handling

    def _continue_pending(self, u: Understanding, state: SessionState) -> Understanding:
        """If the last turn asked a question and this message answers it, resume the original question."""
        pending = state.pending
        if pending is None or u.injection or u.intent == "smalltalk":
            return u
        answers_it = (
            (pending.missing == "operator" and bool(u.operators))
            or (pending.missing != "operator" and (getattr(u.slots, pending.missing, None) is not None
                                                 or bool(u.slots.other_dates)))
        )
        # A bare answer ("Alpha", "01/03/2024", "pro, 8 numéros") has no question words and may even look
        # out of scope on its own: short and carrying facts (or nothing else) means it continues the question.
        short = len(u.text.split()) <= 8
        bare = short and (u.intent == "other" or (u.intent == "out_of_scope" and bool(u.slots.filled())))
        if not (answers_it or bare):
            return u  # a new question: it replaces the pending one
        slots = u.slots.model_copy(deep=True)
        assign_unlabelled_dates(slots, pending.intent, preferred=pending.missing)
        return u.model_copy(update={"text": f"{pending.text} {u.text}", "intent": pending.intent,
                                    "topic": pending.topic, "slots": slots})

    def _operator(self, u: Understanding, state: SessionState, fixed: str | None) -> str | None:
        if fixed:
            resolved = self.corpus.resolve_operator(fixed)
            if resolved:
                state.operator = resolved
                return resolved
        if u.operator:
            state.operator = u.operator
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

    def _clarify(self, u: Understanding, state: SessionState, missing: str, operator: str | None,
                 reason: str = "", turn: Turn | None = None) -> Reply:
        slot = field_to_slot(missing)
        state.pending = PendingQuestion(text=u.text, intent=u.intent, topic=u.topic, missing=slot)
        if slot == "operator":
            text = self.templates.get(u.language, "ask_operator", operators=", ".join(self.corpus.operators()))
        else:
            text = self.templates.ask_field(u.language, slot, reason)
        turn = turn or Turn()
        return Reply(answer=text, reply_to_customer=text, status=ReplyStatus.CLARIFY, intent=u.intent,
                     language=u.language, operator=operator, tools=turn.tools)

    def _answer(self, u: Understanding, state: SessionState, plan: Plan) -> Reply:
        turn = Turn()
        passages = self._retrieve(plan.query, plan.operator, turn)
        results: list[tuple[str, CalcResult]] = []
        for call in plan.calls:
            try:
                results.append((call.name, self._run_for_service(call.name, call.payload, plan.operator, turn)))
            except InputError as exc:
                if call.required and field_to_slot(exc.field) in ASKABLE:
                    reason = exc.reason_fr if u.language == "fr" else exc.reason_en
                    return self._clarify(u, state, exc.field, plan.operator, reason, turn)
        state.pending = None

        composed: Composed | None = None
        if self.llm_enabled:
            composed = self._llm_compose(u, plan, turn, results)
        if composed is None:
            composed = self._offline_compose(u, plan, passages, results)
        if composed.status == ReplyStatus.CLARIFY:
            state.pending = PendingQuestion(text=u.text, intent=u.intent, topic=u.topic, missing="operator")
        citations = guard(composed.citations, turn.evidence, self.verifier)
        if not citations and composed.status == ReplyStatus.ANSWERED:
            # Nothing verifiable to show: an answer without support would be a guess.
            composed = compose_not_found(self.templates, u.language, plan.operator, [])
        return Reply(
            answer=composed.answer, reply_to_customer=composed.reply_to_customer, status=composed.status,
            intent=plan.intent, language=u.language, operator=plan.operator or self._single_operator(citations),
            citations=citations, tools=turn.tools,
            passages=[PassageOut(doc_id=p.doc_id, clause_id=p.clause_id, part=p.chunk.part, title=p.chunk.title,
                                 text=p.chunk.text, score=p.score) for p in turn.passages],
        )

    # ------------------------------------------------------------------ tools (shared with the LLM path)

    def _retrieve(self, query: str, operator: str | None, turn: Turn, k: int | None = None) -> list[Passage]:
        k = k or self.settings.retrieval_k
        passages = self.retriever.retrieve(query, k=k, operator=operator)
        turn.passages.extend(p for p in passages if p not in turn.passages)
        for p in passages:
            turn.evidence.allow((p.doc_id, cid) for cid in {p.clause_id, *p.chunk.clause_ids})
        turn.tools.append(ToolTrace(
            name="retriever", input={"query": query, "k": k, "operator": operator},
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

    def _offline_compose(self, u: Understanding, plan: Plan, passages: Sequence[Passage],
                         results: Sequence[tuple[str, CalcResult]]) -> Composed:
        t, lang = self.templates, u.language
        if asks_figure(u) or any(c.required for c in plan.calls):
            for name, result in results:
                cites = self._with_doc_title(result.citations)
                return compose_calculation(t, lang, plan.operator or "", result, self._calc_title(name, lang), cites)
        if not passages:
            return compose_not_found(t, lang, plan.operator, [])
        operator, note = plan.operator, ""
        if operator is None:
            top_ops = {p.chunk.operator for p in passages[:3]}
            if len(top_ops) > 1:
                # A general question whose answer differs per operator: ask rather than guess.
                return Composed(t.get(lang, "ask_operator", operators=", ".join(self.corpus.operators())), "",
                                ReplyStatus.CLARIFY)
            operator = passages[0].chunk.operator
            note = t.get(lang, "which_operator_note", operator=operator)
        want_figure = asks_figure(u)
        chosen = best_sentences(plan.query, passages, want_figure=want_figure)
        cites = [self.citation_from(s.passage, s.text) for s in chosen]
        if asks_amount(u) and chosen and not any(covers_topic(self.matcher.strip(u.text), s.text, language=lang)
                                                for s in chosen):
            # A price for something no retrieved sentence even mentions (a handset, another product): the
            # documents are silent, whatever other amounts they state.
            return compose_not_found(t, lang, operator, [])
        on_topic = max(chosen, key=lambda s: s.relevance) if chosen else None
        if asks_amount(u) and on_topic is not None and is_pointer(on_topic.text):
            # The sentence closest to the question says "against payment" / "see the price list" without a
            # figure: whatever amounts other clauses state, this one is not given.
            pointer = self.citation_from(on_topic.passage, on_topic.text)
            return compose_not_found(t, lang, operator, [pointer])
        if asks_amount(u) and cites and not any(has_figure(c.quote) for c in cites[:2]):
            # An amount was asked and none of the best sentences gives one: say so, with any pointer clause.
            return compose_not_found(t, lang, operator, [c for c in cites if is_pointer(c.quote)][:2])
        if not cites:
            return compose_not_found(t, lang, operator, [])
        return compose_extract(t, lang, operator, cites, note)

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


def _jsonable(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in payload.items():
        out[k] = v.isoformat() if isinstance(v, date) else (str(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
    return out


__all__ = ["Assistant", "Slots"]
