"""Fact-first replies: the first sentences answer the question asked, one per need, from calculator results
and rules facts, in the user's language; the quotes and the breakdown come after.

- a computed figure: "Coût de résiliation anticipée : **840,00 €** (art. 66)." then the breakdown;
- a stated fact: "Préavis de résiliation (VoIP) : **30 jours** à compter de la demande (art. 65)."
- a procedure / yes-no fact: its summary in the user's language, with the clause;
- conflicting facts: both values, both clauses, said plainly;
- a fact the documents only point to: "not stated", and where they point.
Nothing here decides *what* was asked (the router did); this only words the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from assistant.agent.compose import (
    Composed,
    Templates,
    calc_details,
    citation_label,
    fmt_money,
    fmt_result_value,
    localise,
    render_quotes,
)
from assistant.agent.facts import FactView
from assistant.agent.router import Need
from assistant.models import CalcResult, Citation, FactStatus, ReplyStatus
from assistant.tools.rules import Source, Value

MAX_FACTS_PER_NEED = 3


@dataclass
class NeedAnswer:
    """What was gathered for one need."""

    need: Need
    facts: list[FactView] = field(default_factory=list)
    results: list[tuple[str, str, CalcResult]] = field(default_factory=list)  # (calculator, title, result)
    missing: str | None = None  # the question to ask to compute the figure (already worded)
    missing_slot: str = ""  # the fact that question asks for
    must_ask: bool = True  # False: the rule answers; the question only offers to compute the figure
    companion: bool = False  # said after the answer (a need's `also`): never decides the reply's status


@dataclass
class Lead:
    sentence: str
    citations: list[Citation]
    status: ReplyStatus


class FactWriter:
    """Words facts and results as sentences; `cite` turns a rules source into a Citation."""

    def __init__(self, templates: Templates, language: str, operator: str, cite):  # noqa: ANN001 - a callable
        self.t = templates
        self.lang = language
        self.tl = templates.lang(language)
        self.operator = operator
        self.cite = cite

    def ref(self, sources: Sequence[Source]) -> tuple[str, list[Citation]]:
        cites = [self.cite(s) for s in sources]
        labels = list(dict.fromkeys(citation_label(c) for c in cites))
        return ", ".join(labels[:2]), cites

    def value_text(self, v: Value) -> str:
        if v.amount is not None:
            text = fmt_money(v.amount, self.lang)
            basis = self.tl["tax"].get(str(v.tax_basis), "")
            per = self.tl["per"].get(v.per, f"/{v.per}" if v.per else "")
            return " ".join(x for x in (text, basis, per) if x)
        unit = self.tl["units_one" if v.number == 1 else "units"].get(v.kind, "")
        number = f"{v.number.normalize():f}"
        if v.month_end:
            return self.t.get(self.lang, "month_end", n=number, unit=unit)
        return f"{number} {unit}" if v.kind != "percent" else f"{number} %"

    def services_text(self, services: Sequence[str]) -> str:
        """The services a fact holds for; beyond a few (`services_named`), the first ones and how many more."""
        named = int(self.tl.get("services_named", len(services)))
        if len(services) <= named + 1:
            return ", ".join(services)
        return self.t.get(self.lang, "services_more", named=", ".join(services[:named]), n=len(services) - named)

    def fact(self, view: FactView, services: Sequence[str] = ()) -> Lead:
        """One sentence for a fact; `services` names the services it holds for when it is per service."""
        fact = view.fact
        label = view.label(self.lang)
        if services:
            label = f"{label} ({self.services_text(services)})"
        if fact.status == FactStatus.CONFLICTING:
            items, cites = [], []
            for v in fact.distinct_values():
                ref, c = self.ref([v.source])
                items.append(self.t.get(self.lang, "fact_conflict_item", value=self.value_text(v), ref=ref))
                cites += c
            for w in fact.worded:
                ref, c = self.ref([w.source])
                items.append(self.t.get(self.lang, "fact_conflict_item", value=w.fr if self.lang == "fr" else w.en,
                                        ref=ref))
                cites += c
            if view.extra.get("mode") == "same_as_initial" and fact.sources:  # against a fixed renewal length
                ref, c = self.ref(fact.sources[:1])
                items.append(self.t.get(self.lang, "fact_conflict_item",
                                        value=self.tl["renewal_mode"]["same_as_initial"], ref=ref))
                cites += c
            alternatives = self.tl["fact_or"].join(items)
            sentence = self.t.get(self.lang, "fact_conflict", label=label, alternatives=alternatives,
                                  operator=self.operator)
            return Lead(sentence, cites + [self.cite(s) for s in fact.sources][:1], ReplyStatus.ANSWERED)
        if fact.status == FactStatus.NOT_STATED:
            ref, cites = self.ref(fact.sources)
            pointer = (fact.pointer or "").strip(" -")
            key = "fact_not_stated" if pointer else "fact_not_stated_plain"
            sentence = self.t.get(self.lang, key, operator=self.operator, label=label, pointer=pointer, ref=ref)
            return Lead(sentence, cites, ReplyStatus.NOT_FOUND)
        if view.summary(self.lang):
            ref, cites = self.ref(fact.all_sources)
            summary = view.summary(self.lang).rstrip(". ")
            figure = self.value_text(fact.value) if fact.value is not None else ""
            if figure and f"{fact.value.number.normalize():f}" not in summary.replace(",", "."):
                # the summary words the rule, the figure is the answer: a summary that omits it gets it first
                summary = self.t.get(self.lang, "fact_figure_then_summary", label=view.label(self.lang),
                                     value=figure, summary=summary)
            return Lead(self.t.get(self.lang, "fact_summary", summary=summary, ref=ref) + ".", cites,
                        ReplyStatus.ANSWERED)
        value = fact.value
        legal = view.extra.get("legal_multiple")
        if legal is not None:  # late interest as a multiple of the legal rate (the rate itself is not in the text)
            text = self.t.get(self.lang, "legal_rate_one" if legal == "1" else "legal_rate", n=legal)
            if value is not None:
                text = f"{self.value_text(value)}{self.tl['fact_or']}{text}"
            ref, cites = self.ref(fact.all_sources)
            return Lead(self.t.get(self.lang, "fact_value", label=label, value=text, condition="", ref=ref),
                        cites, ReplyStatus.ANSWERED)
        if value is None:  # a rule without a figure (renewal mode, pointer clause): say the mode if any
            mode = self.tl["renewal_mode"].get(view.extra.get("mode", ""), "")
            ref, cites = self.ref(fact.all_sources)
            if not mode:
                return Lead("", cites, ReplyStatus.ANSWERED)
            return Lead(self.t.get(self.lang, "fact_value", label=label, value=mode, condition="", ref=ref),
                        cites, ReplyStatus.ANSWERED)
        ref, cites = self.ref([value.source, *fact.sources][:2])
        text = self.value_text(value)
        if value.kind == "percent" and view.extra.get("period"):
            text = f"{text} {self.tl['per'].get(view.extra['period'], '')}".strip()
        anchor = self.tl["anchor"].get(view.extra.get("anchor", ""), "")
        condition = f" {anchor}" if anchor else ""
        if value.condition and self.lang == "fr":
            condition += f" ({value.condition})"
        return Lead(self.t.get(self.lang, "fact_value", label=label, value=text, condition=condition, ref=ref),
                    cites, ReplyStatus.ANSWERED)

    def result(self, title: str, result: CalcResult) -> Lead:
        """The headline of a calculator result: the figure, both figures when the documents disagree, or
        what is and is not stated."""
        value = fmt_result_value(result, self.lang, self.tl["tax"])
        if value and result.unit == "count":  # "3 utilisateurs", not a bare "3"
            value = f"{value} {self.tl.get('counted', {}).get(str(result.values.get('unit', '')), '')}".strip()
        labels = list(dict.fromkeys(citation_label(c) for c in result.citations))
        ref = ", ".join(labels[:2])
        cites = list(result.citations)
        if result.status == FactStatus.CONFLICTING:
            lead = self.t.get(self.lang, "calc_conflicting", operator=self.operator, title=title)
            return Lead(f"{lead} {value}" if value else lead, cites, ReplyStatus.ANSWERED)
        if value is not None and result.status == FactStatus.STATED:
            lead = self.t.get(self.lang, "calc_lead", title=title, value=value, ref=ref).replace(" ()", "")
            verdict = result.values.get("allowed")
            if isinstance(verdict, bool):  # the customer's own case checked against the limit: say it first
                lead = f"{self.t.get(self.lang, 'verdict_yes' if verdict else 'verdict_no')} {lead}"
            elif result.amount is not None and not result.amount and result.unit in ("EUR", result.currency):
                lead = f"{self.t.get(self.lang, 'nothing_due')} {lead}"  # a computed 0 € said in words first
            return Lead(lead, cites, ReplyStatus.ANSWERED)
        computed = [s for s in result.breakdown if any(ch.isdigit() for ch in s.value)]
        if computed or any(any(ch.isdigit() for ch in (s.value or s.formula)) for s in result.breakdown):
            lead = self.t.get(self.lang, "calc_partial", operator=self.operator, title=title)
            first = next((s for s in computed if localise(s.label, self.lang)), None)
            if first is not None:  # say the part that is computed, in the lead
                money = re.fullmatch(r"(\d+(?:\.\d+)?) EUR", first.value.strip())
                shown = fmt_money(Decimal(money.group(1)), self.lang) if money else first.value
                label = localise(first.label, self.lang) or ""
                lead = self.t.get(self.lang, "calc_lead", title=label[:1].upper() + label[1:], value=shown,
                                  ref="").replace(" ()", "") + " " + lead
            return Lead(lead, cites, ReplyStatus.ANSWERED)
        return Lead(self.t.get(self.lang, "calc_not_stated", operator=self.operator, title=title), cites,
                    ReplyStatus.NOT_FOUND)


def _merge_services(writer: FactWriter, facts: Sequence[FactView]) -> list[tuple[FactView, list[str]]]:
    """Per-service facts that say the same thing become one sentence naming the services."""
    merged: list[tuple[FactView, list[str]]] = []
    keys: dict[tuple, int] = {}
    for view in facts:
        service = view.extra.get("service_en" if writer.lang == "en" else "service")
        if not service:
            merged.append((view, []))
            continue
        key = _saying(view, writer.lang)
        if key in keys:
            merged[keys[key]][1].append(service)
        else:
            keys[key] = len(merged)
            merged.append((view, [service]))
    return merged


def _saying(view: FactView, language: str) -> tuple:
    """What a fact's sentence says, from its data (the figures, conditions, anchor or summary shown to a reader
    of `language`), not from its clause: two services' facts with the same saying are one sentence."""
    fact = view.fact
    shown = fact.distinct_values()  # a figure cited twice is said once
    conflict_refs = tuple(v.source.clause_id for v in shown) if fact.status == FactStatus.CONFLICTING else ()
    figures = tuple((v.figure_key, v.condition if language == "fr" else "") for v in shown)
    return (view.selector, view.label_fr, fact.status, figures, conflict_refs, fact.pointer,
            view.extra.get("anchor"), view.extra.get("mode"), view.summary(language))


def _dedupe(citations: Sequence[Citation]) -> list[Citation]:
    out: list[Citation] = []
    seen: set[tuple[str, str, str | None, str]] = set()
    for c in citations:
        key = (c.doc_id, c.clause_id, c.part, c.quote)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _gives_figure(view: FactView, language: str) -> bool:
    """The fact states a figure: a value, or a number in the words of its summary."""
    return bool(view.fact.values) or any(ch.isdigit() for ch in view.summary(language))


def compose_facts(writer: FactWriter, answers: Sequence[NeedAnswer], note: str = "",
                  figure_wanted: bool = False) -> Composed | None:
    """The fact-first reply for the routed needs, or None when no fact or result serves any of them. When the
    question asks for a figure and nothing said gives one, the reply says first that the terms do not state
    it (the rules shown are what they provide instead), and is "not found"."""
    leads: list[Lead] = []
    own = 0  # leads of the needs asked (before any companion's)
    details: list[str] = []
    asks: list[str] = []
    for ans in answers:
        need_leads: list[Lead] = []
        for _name, title, result in ans.results[:1]:
            computed = any(any(ch.isdigit() for ch in (st.value or st.formula)) for st in result.breakdown)
            if result.amount is None and result.status == FactStatus.NOT_STATED and ans.facts and not computed:
                continue  # the calculator found no figure: the facts say what the documents do provide
            need_leads.append(writer.result(title, result))
            details.extend(calc_details(writer.t, writer.lang, result))
        derived = {title for name, title, _ in ans.results[:1] if name == "apply_figure"}
        if not need_leads or derived:  # a rule applied to the customer's figures: the need's other rules follow
            # the applied rule's own sentence is said again only when it words conditions (a summary), not a bare figure
            facts = [v for v in ans.facts if v.label(writer.lang) not in derived or v.summary(writer.lang)]
            for view, services in _merge_services(writer, facts)[:MAX_FACTS_PER_NEED - len(need_leads)]:
                lead = writer.fact(view, services)
                if lead.sentence:
                    need_leads.append(lead)
        if ans.missing:
            asks.append(ans.missing if ans.must_ask else writer.t.get(writer.lang, "offer_compute", ask=ans.missing))
        leads.extend(need_leads)
        own = own if ans.companion else len(leads)
    first = answers[0] if answers else None
    uncovered = bool(leads) and first is not None and not (first.facts or first.results or first.missing
                                                          or first.companion)
    if uncovered:
        # the need asked first has nothing in these terms: say so, rather than let the other needs' facts pass
        # for its answer (with nothing else to say, the extractive fallback frames what the text holds instead)
        leads.insert(0, Lead(writer.t.get(writer.lang, "need_not_covered", operator=writer.operator,
                                          label=first.need.label(writer.lang)), [], ReplyStatus.NOT_FOUND))
        own += 1
    if not leads and asks:  # nothing to say yet, but one fact would let us compute it: ask for it
        return Composed("\n\n".join([p for p in (note, *asks) if p]), "\n".join(asks), ReplyStatus.CLARIFY, [])
    if not leads:
        return None
    # "not found" only when nothing said is stated: a reply that states a figure or a rule after saying what the
    # documents leave open answers in part (measured on the dev and tune splits: such replies were expected to
    # answer twice as often as not)
    decisive = leads[:own] or leads
    status = next((lead.status for lead in decisive if lead.status == ReplyStatus.ANSWERED), leads[0].status)
    if uncovered or (figure_wanted and leads[0].status == ReplyStatus.NOT_FOUND):
        # the need asked first is not in these terms, or its figure is left open: what follows is context
        status = ReplyStatus.NOT_FOUND
    if any(ans.missing and ans.must_ask for ans in answers) and not any(ans.results for ans in answers):
        status = ReplyStatus.CLARIFY
    shown = [v for ans in answers if not ans.companion for v in ans.facts[:MAX_FACTS_PER_NEED]]
    no_figure = (figure_wanted and status == ReplyStatus.ANSWERED
                 and not any(ans.results for ans in answers if not ans.companion)
                 and not any(_gives_figure(v, writer.lang) for v in shown))
    if no_figure:
        status = ReplyStatus.NOT_FOUND
    citations = _dedupe([c for lead in leads for c in lead.citations])
    lead_text = "\n".join(f"- {lead.sentence}" if len(leads) > 1 else lead.sentence for lead in leads)
    if no_figure:
        lead_text = writer.t.get(writer.lang, "no_figure", operator=writer.operator) + "\n" + lead_text
    parts = [p for p in (note, lead_text) if p]
    parts.extend(asks)
    parts.extend(details)
    if citations:
        parts.append("\n\n".join([writer.t.get(writer.lang, "sources_heading"),
                                  *render_quotes(writer.t, writer.lang, citations)]))
    reply = "\n".join([*(lead.sentence.replace("**", "") for lead in leads), *asks])
    labels = "; ".join(dict.fromkeys(f"{citation_label(c)} ({c.doc_title})" for c in citations))
    if labels:
        reply += "\n" + writer.t.get(writer.lang, "customer_sources", labels=labels)
    return Composed("\n\n".join(parts), reply, status, citations)
