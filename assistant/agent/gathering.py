"""The gathering steps of a turn: every fact scored by the evidence, a need's facts, its calculators, and a rule's figure
applied to the customer's figures (mixed into `Assistant`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.agent.answer import NeedAnswer
from assistant.agent.derive import asks_for, derive
from assistant.agent.evidence import fused_scores, needs_served
from assistant.agent.facts import FactView, serves
from assistant.agent.planner import (
    ASKABLE,
    Calculator,
    build_payload,
    field_to_slot,
    slot_values,
)
from assistant.agent.router import Need, Routing
from assistant.agent.turn import Turn
from assistant.agent.understanding import (
    Understanding,
)
from assistant.errors import InputError
from assistant.models import (
    CalcResult,
    Citation,
    FactStatus,
    Passage,
)
from assistant.tools.common import cite
from assistant.tools.rules import Source

log = logging.getLogger(__name__)


class GatheringSteps:
    def _scored_facts(self, u: Understanding, operator: str, service: str | None, topic: str,
                      passages: Sequence[Passage], reason: str | None = None,
                      ) -> tuple[list[FactView], np.ndarray, np.ndarray, Routing]:
        """Every fact of the operator scored by its wording, its clause's retrieval rank and the router's belief
        in its need (evidence.py): the views, their cosine similarity to the question, their fused score."""
        views = self.facts.candidates(operator, service, u.slots.customer_type, u.slots.number_count, reason=reason)
        routing = self.router.route(u.text, fill=self._fill(u))
        if not views or self.router.embed is None:
            return [], np.zeros(0), np.zeros(0), routing
        question = self.facts.question_text(operator, topic)
        sims = self.facts.similarities(views, question, u.language)
        scores = fused_scores(views, sims, self.facts.lexical(views, question, u.language), passages,
                              {r.need: r.score for r in routing.ranked}, self.catalog.needs, self.catalog.fact_fusion)
        return views, sims, scores, routing

    def _part_tops(self, u: Understanding, operator: str, views: list[FactView], topic: str,
                   passages: Sequence[Passage]) -> list[FactView]:
        """A question in parts ("is my deposit returned? within how many days?"): the fact each part points
        to on its own, when it is close enough to that part to be worth saying."""
        parts = self.router.parts(topic)
        if len(parts) < 2:
            return []
        tops: list[FactView] = []
        fill = self._fill(u)
        for part in parts:
            question = self.facts.question_text(operator, part)
            sims = self.facts.similarities(views, question, u.language)
            routing = self.router.route(part, fill=fill)  # what this part asks, not the whole
            scores = fused_scores(views, sims, self.facts.lexical(views, question, u.language), passages,
                                  {r.need: r.score for r in routing.ranked}, self.catalog.needs,
                                  self.catalog.fact_fusion)
            best = int(np.argmax(scores))
            if sims[best] >= self.catalog.fact_fusion.say_min_similarity and views[best] not in tops:
                tops.append(views[best])
        return tops

    def _fact_evidence(self, u: Understanding, needs: list[Need], operator: str, values: dict[str, Any],
                       topic: str, passages: Sequence[Passage],
                       ) -> tuple[list[Need], dict[int, float], list[FactView]]:
        """The facts' support orders them within a need; when the best-supported fact serves another need than
        the router's first and clearly leads it, that need answers first (the router's second need, or one it did
        not take), unless the customer is computing with the routed
        need's calculator (the figures they gave decide). The best-supported fact is also returned when it is
        close enough to the question to be worth saying in any case, then the facts the parts of a question in
        parts point to."""
        views, sims, scores, routing = self._scored_facts(u, operator, values.get("service"), topic, passages,
                                                          values.get("reason"))
        if not views:
            return needs, {}, []
        weights = self.catalog.fact_fusion
        support = {id(v): float(scores[i] - sims[i]) for i, v in enumerate(views)}
        best = int(np.argmax(scores))
        top = [views[best]] if sims[best] >= weights.say_min_similarity else []
        top += [v for v in self._part_tops(u, operator, views, topic, passages) if v not in top]
        top = [v for v in top if self._worth_saying(v, needs, u, topic)]
        served = needs_served(views[best], self.catalog.needs)
        # the customer's figures argue for the routed need's calculator, unless the best fact takes them too
        computing = self._fill(u).get(needs[0].id, 0.0) > 0 and not (
            served and derive(views[best], u, served[0], self.lexicon, self._prices(views[best])) is not None)
        if not served or needs[0] in served or computing:
            return needs, support, top
        routed = [scores[i] for i, v in enumerate(views) if serves(needs[0], v)]
        if routed and scores[best] - max(routed) < weights.override_margin:
            return needs, support, top
        rank = {r.need: r.score for r in routing.ranked}
        chosen = max(served, key=lambda n: rank.get(n.id, 0.0))
        router, first = self.catalog.router, rank.get(needs[0].id, 0.0)
        if not routed and first >= router.new_question_score and rank.get(chosen.id, 0.0) < router.second_ratio * first:
            # the operator's terms hold nothing for a need the router is sure of: that is the answer ("not
            # stated"), not a fact of a need the router would not even take as a second one
            return needs, support, top
        return [chosen, *(n for n in needs[1:] if n.id != chosen.id)], support, top

    def _worth_saying(self, view: FactView, needs: Sequence[Need], u: Understanding, topic: str) -> bool:
        """A fact the terms leave open is worth saying only when it was asked about: it serves a need of the
        question or the question names it. "The terms do not set X" about an X nobody asked is noise."""
        if view.status != FactStatus.NOT_STATED:
            return True
        return any(serves(n, view) for n in needs) or self.facts.names(view, topic, u.language)

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
                support: dict[int, float] | None = None, top: Sequence[FactView] = ()) -> NeedAnswer:
        """Facts for the need, then the first of its calculators whose inputs the conversation fills; else the
        first fact applied to the customer's own figures. A need whose facts all fall short of the question
        takes the fact the evidence points to when it serves the need."""
        facts = self._facts_for(need, u, operator, values, support)
        if not facts:
            # a generic need ("how much is X?") takes the evidence's fact only when the question names it
            question = self.matcher.strip(u.text) or u.text
            facts = [v for v in top if serves(need, v) and ("fee:*" not in need.facts
                                                           or self.facts.names(v, question, u.language))][:1]
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
            if _figure(result):
                answer.missing, answer.missing_slot = None, ""  # computed after all: nothing to ask
            break
        if answer.results and not any(_figure(r) for _, _, r in answer.results):
            # the calculator found no figure (a fee the terms leave open): a rule the customer's figures apply to
            # answers instead ("signed on 25 March" and a 14-day withdrawal right -> 8 April)
            applied = self._derived(NeedAnswer(need=need, facts=facts), u, operator)
            if applied.results:
                answer.results, answer.missing, answer.missing_slot = applied.results, None, ""
            return answer
        return answer if answer.results else self._derived(answer, u, operator)

    def _derived(self, answer: NeedAnswer, u: Understanding, operator: str) -> NeedAnswer:
        """The first of the answer's two best facts that applies to the customer's figures (derive.py), as a
        computed result: figures that fit a rule say it is the rule they are asking about."""
        for view in answer.facts[:2]:
            result = derive(view, u, answer.need, self.lexicon, self._prices(view))
            if result is not None:
                cites = [self._cite_source(operator, src) for src in view.sources()[:2]]
                answer.results.append(("apply_figure", view.label(u.language),
                                       result.model_copy(update={"citations": cites})))
                answer.missing, answer.missing_slot = None, ""
                break
        return answer

    def _prices(self, view: FactView) -> bool:
        """The fact's figure can be a price: a typed fact, or an open fact of a need that answers an amount."""
        own = needs_served(view, self.catalog.needs) if view.selector.startswith("need:") else []
        return not own or any(n.answer == "amount" for n in own)

    @staticmethod
    def _gives_inputs(payload: dict[str, Any], calc: Calculator) -> bool:
        """The customer gave at least one of the calculator's own figures (not just the operator/service)."""
        return any(k not in ("operator", "service", "customer_type", "text") for k in payload
                   if k in calc.input_model.model_fields)

    def _facts_for(self, need: Need, u: Understanding, operator: str, values: dict[str, Any],
                   support: dict[int, float] | None = None) -> list[FactView]:
        asked = next((kind for kind in ("date", "duration") if asks_for(self.lexicon, kind, u.text)), None)
        return self.facts.for_need(operator, need, self.matcher.strip(u.text) or u.text, values.get("service"),
                                   u.slots.customer_type, u.slots.number_count, u.language, support,
                                   values.get("reason"), asked, uncommitted=bool(u.slots.commitment_over))

    def payload_for(self, name: str, values: dict[str, Any], facts: Sequence[FactView]) -> dict[str, Any]:
        """A calculator's inputs from the conversation's facts; the fee kind is the one of the best-ranked fee
        among the facts that answer the question."""
        kind = next((v.selector.removeprefix("fee:") for v in facts if v.selector.startswith("fee:")), None)
        return build_payload(self.calculators[name].input_model, {**values, **({"fee_kind": kind} if kind else {})})

    def _cite_source(self, operator: str, src: Source) -> Citation:
        book = self.facts.book
        return cite(book, book.for_operator(operator), src)


def _figure(result: CalcResult) -> bool:
    """The calculator computed something: an amount, a date, or a rule it states."""
    return result.amount is not None or bool(result.result_date) or result.status == FactStatus.STATED
