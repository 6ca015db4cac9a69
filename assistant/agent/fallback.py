"""When no fact or calculator serves the need: the next-ranked need with a clearly matching fact, or the closest
sentences framed as what they are, or "not stated" (mixed into `Assistant`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.agent.answer import FactWriter, compose_facts
from assistant.agent.compose import (
    Composed,
    best_sentences,
    clause_ref,
    compose_not_found,
    covers_topic,
    customer_reply,
    fmt_money,
    has_figure,
    is_pointer,
    render_quotes,
)
from assistant.agent.figures import Lexicon, load_lexicon, read_figures
from assistant.agent.router import Need
from assistant.agent.session import SessionState
from assistant.agent.turn import Turn
from assistant.agent.understanding import (
    Understanding,
)
from assistant.models import (
    Citation,
    Passage,
    Reply,
    ReplyStatus,
)

log = logging.getLogger(__name__)


class FallbackSteps:
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

    def _unrouted(self, u: Understanding, state: SessionState, operator: str | None, note: str) -> Reply | Need:
        """The router abstained: refuse what is plainly off-topic, answer honestly from the closest clause
        when the operator is known, otherwise ask what the customer wants to know; or the need the evidence
        clearly points to, which the answer steps then answer."""
        if u.intent == "out_of_scope" and not u.operators:
            return self._simple(u.language, "refuse", ReplyStatus.REFUSED, "out_of_scope")
        if operator is None:
            return self._simple(u.language, "abstain", ReplyStatus.CLARIFY, "other")
        turn = Turn()
        query = self.matcher.strip(u.text) or u.text
        passages = self.retrieve(query, operator, turn)
        need = self._evidence_need(u, operator, passages)
        if need is not None:
            return need
        return self._finish(self._fallback(u, None, operator, passages, note), u, operator, "other", turn)
