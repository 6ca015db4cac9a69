"""The conversation steps of a turn: which needs a message asks, whether it continues the question before it, which
operator and facts the conversation holds (mixed into `Assistant`)."""

from __future__ import annotations

import logging
import re

from assistant.agent.derive import derive
from assistant.agent.planner import (
    build_payload,
    field_to_slot,
    slot_values,
)
from assistant.agent.router import Need, Routing
from assistant.agent.session import PendingQuestion, SessionState
from assistant.agent.text import fold
from assistant.agent.understanding import (
    Slots,
    Understanding,
    assign_unlabelled_dates,
)
from assistant.models import (
    Reply,
    ReplyStatus,
)

log = logging.getLogger(__name__)


class ConversationSteps:
    # ------------------------------------------------------------------ understanding: needs

    def _needs(self, u: Understanding, state: SessionState,
               pending: PendingQuestion | None) -> tuple[list[Need], str, int, list[Need]]:
        """The needs of this turn and the text they are about. A message that only adds facts (an operator,
        a date, a fee) to the pending (`pending`: what the assistant asked) or just-answered question continues
        it; a new question replaces it."""
        fill = self._fill(u)
        routing = self.router.route(u.text, fill=fill)
        needs = [n for n in (self.catalog.get(i) for i in routing.needs) if n is not None]
        if needs and needs[0].action != "answer" and u.intent == "other":
            # contract words after a greeting ("Bonjour, on veut annuler..."): the greeting is not the question
            routing = self.router.route(u.text, fill=fill, allowed=self._answer_ids)
            needs = [n for n in (self.catalog.get(i) for i in routing.needs) if n is not None]
        previous_text = pending.text if pending else state.last_text
        if previous_text and needs and len(u.text.split()) <= self.catalog.router.context_max_words:
            needs = self._in_context(u, needs, routing, previous_text, fill)
        carries_facts = bool(u.operators) or bool(u.slots.filled()) or bool(u.slots.other_dates)
        previous = pending.needs if pending else state.last_needs
        # a short message of facts continues the question before it, unless the router is confident it asks
        # something else ("résil anticipée au 01/10, il doit combien ?" after a question on the term)
        confident_elsewhere = bool(needs) and needs[0].id not in previous and bool(routing.ranked) \
            and routing.ranked[0].score >= self.catalog.router.new_question_score
        # figures that the previous question's calculator takes, in a message naming no need of its own
        # ("my bill is about 80 € a month, so how much at most?" after a deposit question), complete it
        fits_previous = bool(previous) and bool(routing.ranked) and routing.ranked[0].keywords == 0 \
            and len(u.text.split()) <= self.catalog.router.facts_max_words \
            and (any(fill.get(n, 0.0) > 0 for n in previous) or self._previous_fact_applies(u, state, previous))
        # the operator asked for, given with more words: still the answer to our question unless the router is
        # confident those words ask something else
        gives_operator = pending is not None and pending.missing == "operator" and bool(u.operators) \
            and not confident_elsewhere
        follow_up = previous and carries_facts and (
            not needs or len(u.text.split()) <= 10 and routing.ranked and routing.ranked[0].keywords == 0
            and not confident_elsewhere
            or (needs and needs[0].action != "answer") or self._answers_pending(u, pending) or fits_previous
            or gives_operator)
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

    def _previous_fact_applies(self, u: Understanding, state: SessionState, previous: list[str]) -> bool:
        """The figures of this message compute the fact that answered the previous question, for a need without
        a calculator (a first month billed pro rata, then "started on the 11th, 300 € a month: what will April
        cost?"): the message completes that question rather than asking about whatever else takes such figures."""
        operator = state.operator
        if not operator or not (u.slots.filled() or u.slots.other_dates):
            return False
        whole = u.model_copy(update={"slots": _merged(state.slots, u.slots, resumed=True),
                                     "text": f"{state.last_text} {u.text}"})
        values = slot_values(whole, operator, self.services.get(operator, []))
        for need in (self.catalog.get(i) for i in previous):
            if need is None or need.calculators:
                continue  # a calculator's inputs are the router's fill signal already
            facts = self._facts_for(need, whole, operator, values)
            if facts and derive(facts[0], whole, need, self.lexicon, self._prices(facts[0])) is not None:
                return True
        return False

    @property
    def _answer_ids(self) -> set[str]:
        return {n.id for n in self.catalog.needs if n.action == "answer"}

    @staticmethod
    def _answers_pending(u: Understanding, pending: PendingQuestion | None) -> bool:
        """The message gives the one fact the assistant asked for (a short answer, not a new question)."""
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
        loose = {"loose_dates": sorted(u.slots.other_dates)} if u.slots.other_dates else {}
        if loose:  # dates without a cue word: a fact for the calculators whose own date fields take them as they are
            given.add("loose_dates")
        fill: dict[str, float] = {}
        if not given:
            return fill
        for need in self.catalog.needs:
            fields = {field_to_slot(f) for name in need.calculators if name in self.calculators
                      for f in self.calculators[name].input_model.model_fields}
            if loose and any(build_payload(self.calculators[name].input_model, loose)
                             for name in need.calculators if name in self.calculators):
                fields.add("loose_dates")
            if fields:
                fill[need.id] = len(fields & given) / len(given)
        return fill

    def _infer_operator(self, u: Understanding) -> tuple[str | None, str]:
        """The operator, when the service or product named exists at one operator only (said in the reply)."""
        found = set(self.facts.operators_with(u.text))
        products = getattr(self.corpus, "products", {})
        generic = {fold(p) for p in self.lexicon.generic_products}
        found |= {products[t] for t in re.findall(r"[\w+]+", fold(u.text)) if t in products and t not in generic}
        if len(found) != 1:
            return None, ""
        operator = found.pop()
        return operator, self.templates.get(u.language, "assumed_operator", operator=operator)

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
    def _merge_slots(u: Understanding, state: SessionState, resumed: bool = False) -> Understanding:
        """Facts given earlier in the session still hold unless this turn gives new ones. Dates without a role
        belong to their question: kept while a message continues it ("facture du 3 mars, avant quand ?" then
        the operator), dropped when a new question starts."""
        merged = _merged(state.slots, u.slots, resumed)
        state.slots = merged.model_copy(deep=True)
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


def _merged(held: Slots, given: Slots, resumed: bool) -> Slots:
    """The conversation's facts updated with a message's; its dates without a role are kept only while the message
    continues the question they belong to."""
    merged = held.model_copy(update=given.filled())
    earlier = [d for d in held.other_dates if d not in given.other_dates] if resumed else []
    merged.other_dates = [*earlier, *given.other_dates]
    return merged
