"""The answer steps of a turn, the nodes of the answer subgraph (graph.py): retrieve -> calculators -> compose
(offline here; the LLM node is llm.py) -> guard. Mixed into `Assistant`; each step reads the typed state and
returns what it adds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.agent.answer import MAX_FACTS_PER_NEED, FactWriter, NeedAnswer, compose_facts
from assistant.agent.citations import guard
from assistant.agent.compose import Composed, compose_not_found
from assistant.agent.derive import asks_for
from assistant.agent.planner import CalcCall, Plan, slot_values
from assistant.agent.router import Need
from assistant.agent.session import PendingQuestion
from assistant.agent.state import AnswerState
from assistant.agent.turn import Turn, jsonable
from assistant.agent.understanding import Understanding
from assistant.models import PassageOut, Reply, ReplyStatus

log = logging.getLogger(__name__)


class AnswerSteps:
    def retrieve_step(self, s: AnswerState) -> dict[str, Any]:
        """The clauses about the question (with the needs' hints, shown) and about its own words (the facts'
        evidence); the calculators' inputs from the conversation's facts."""
        u, needs, operator, session = s["understanding"], s["needs"], s["operator"], s["session"]
        turn = Turn()
        topic = self.matcher.strip(u.text)
        hints = " ".join(n.query_hint for n in needs).strip()
        # with the need's hints: the passages shown (hints match words, the question's embedding is shared)
        passages = self.retrieve(topic or u.text, operator, turn, hints=hints)
        # the question's own words for the evidence: the hints would only confirm the router's choice
        plain = self.retrieve(topic or u.text, operator, turn) if hints else passages
        values = slot_values(u, operator, self.services.get(operator, []), self.home_country(operator),
                             roles=self.matcher.replace(u.text, self.lexicon.operator_role))
        if "service" in values:
            session.service = (operator, values["service"])
        elif session.service and session.service[0] == operator:  # named in an earlier turn
            values["service"] = session.service[1]
        if "reason" in values:  # why the customer leaves holds for the whole conversation ("je pars au Canada")
            session.reason = values["reason"]
        elif session.reason:
            values["reason"] = session.reason
        return {"turn": turn, "passages": passages, "plain": plain, "values": values, "composed": None,
                "messages": [], "model_calls": 0}

    def calculators_step(self, s: AnswerState) -> dict[str, Any]:
        """Each need's facts and the first of its calculators the conversation's facts fill; the fact the
        evidence points to; the question waiting for a missing fact, if any."""
        u, operator, values, turn = s["understanding"], s["operator"], s["values"], s["turn"]
        topic = self.matcher.strip(u.text) or u.text
        needs, support, tops = self._fact_evidence(u, s["needs"], operator, values, topic, s["plain"])
        answers = [self._gather(need, u, operator, values, turn, support, tops) for need in needs]
        for top in tops:
            shown = [v for a in answers for v in a.facts[:MAX_FACTS_PER_NEED]]
            if top in shown or any(a.results for a in answers):
                continue
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
        session = s["session"]
        # a new question in the same conversation about the same operator: the earlier question's main fact is
        # recalled after the new answer, so the last reply holds the whole picture (a sidebar agent reads one)
        earlier = session.last_needs if session.last_operator == operator else []
        answers += self._companions(needs, answers, u, operator, values, earlier, session.last_text)
        session.last_needs, session.last_text = [n.id for n in needs], u.text
        session.last_operator = operator
        missing = next((a for a in answers if a.missing), None)
        pending = (PendingQuestion(text=u.text, intent=needs[0].intent, missing=missing.missing_slot,
                                   needs=[n.id for n in needs]) if missing else None)
        hints = " ".join(n.query_hint for n in s["needs"]).strip()
        plan = Plan(action="answer", intent=needs[0].intent, operator=operator,
                    query=f"{self.matcher.strip(u.text)} {hints}".strip(),
                    calls=[CalcCall(name=name, payload=jsonable(values)) for a in answers for name, _, _ in a.results])
        results = [(name, result) for a in answers for name, _, result in a.results]
        return {"needs": needs, "answers": answers, "results": results, "plan": plan, "pending": pending}

    def _companions(self, needs: list[Need], answers: list[NeedAnswer], u: Understanding, operator: str,
                    values: dict[str, Any], earlier: Sequence[str] = (), earlier_text: str = "") -> list[NeedAnswer]:
        """The main fact of each need the answered needs name in `also`, then of the needs the conversation's
        previous question (`earlier_text`) asked (`earlier`), said after them; only when the need itself was
        answered from facts or computed (a companion never stands in for a missing answer). An earlier question
        that asked for a date or an amount gets its fact applied to the conversation's figures, as it was."""
        if not answers or not (answers[0].facts or answers[0].results) or any(a.missing for a in answers):
            return []
        shown = [v for a in answers for v in a.facts[:MAX_FACTS_PER_NEED]]
        asked = {n.id for n in needs}
        # a figure asked before or in this message (a date, a sum): the earlier rule may be what it follows from
        figure_asked = any(asks_for(self.lexicon, kind, text) for kind in ("date", "amount")
                           for text in (earlier_text, u.text))
        out: list[NeedAnswer] = []
        for need_id in dict.fromkeys([*(a for n in needs for a in n.also), *earlier]):
            companion = self.catalog.get(need_id)
            if companion is None or need_id in asked:
                continue
            facts = [v for v in self._facts_for(companion, u, operator, values)[:1] if v not in shown]
            if facts:
                shown += facts
                recalled = NeedAnswer(need=companion, facts=facts, companion=True)
                if need_id in earlier and figure_asked:
                    recalled = self._derived(recalled, u.model_copy(update={"text": f"{earlier_text} {u.text}"}),
                                             operator)
                out.append(recalled)
        return out

    def compose_step(self, s: AnswerState) -> dict[str, Any]:
        """The offline composer: the facts and results in the templates' words; the next-ranked need or the
        closest sentences when nothing serves the need. Also the LLM node's fallback."""
        u, operator, turn, needs = s["understanding"], s["operator"], s["turn"], s["needs"]
        note, passages = s.get("note", ""), s["passages"]
        writer = FactWriter(self.templates, u.language, operator, lambda src: self._cite_source(operator, src))
        composed = compose_facts(writer, s["answers"], note, figure_wanted=asks_for(self.lexicon, "figure", u.text))
        for c in composed.citations if composed else []:
            turn.evidence.allow([(c.doc_id, c.clause_id)])
        if composed is not None and composed.status != ReplyStatus.CLARIFY:
            composed = self._see_also(composed, u, needs[0], passages)
        if composed is None and not self.llm_enabled:
            composed = self._next_need(u, operator, s["values"], turn, s.get("alternatives") or [], note)
        if composed is None:
            composed = self._fallback(u, needs[0], operator, passages, note)
        return {"composed": composed}

    def guard_step(self, s: AnswerState) -> dict[str, Any]:
        composed = s["composed"]
        assert composed is not None  # the compose step always leaves an answer
        return {"reply": self._finish(composed, s["understanding"], s["operator"], s["needs"][0].intent,
                                      s["turn"])}

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

    def operators(self) -> list[str]:
        return self.corpus.operators()

    def home_country(self, operator: str | None) -> str | None:
        """The country of the operator's documents (manifest), against which a move is a move abroad."""
        return next((doc.meta.country for doc in self.corpus.documents.values()
                     if operator and doc.meta.operator == operator), None)
