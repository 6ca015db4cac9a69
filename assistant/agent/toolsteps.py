"""The tools a turn calls, shared with the LLM path: retrieval, calculators, citations from passages (mixed into
`Assistant`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.agent.turn import Turn, jsonable
from assistant.errors import InputError
from assistant.models import (
    CalcResult,
    Citation,
    Passage,
    ToolTrace,
)

log = logging.getLogger(__name__)


class ToolSteps:
    # ------------------------------------------------------------------ tools (shared with the LLM path)

    def retrieve(self, query: str, operator: str | None, turn: Turn, k: int | None = None,
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
            return self.run_calculator(name, payload, turn)
        results: list[CalcResult] = []
        errors: list[InputError] = []
        for key in services:
            try:
                results.append(self.run_calculator(name, {**payload, "service": key}, turn))
            except InputError as exc:  # this service needs a fact the customer did not give: no figure to compare
                errors.append(exc)
        figures = {(r.amount, r.result_date, r.status, str(r.values.get("known_subtotal"))) for r in results}
        if errors and len(results) < len(errors) and all(e.field == errors[0].field for e in errors):
            raise errors[0]  # most services need one more fact of the customer's: ask it rather than guess the service
        if len(figures) == 1:  # every service that can be computed gives the same answer: no need to ask
            return results[0]
        with_figure = {(r.amount, r.result_date): r for r in results if r.amount is not None or r.result_date}
        if len(with_figure) == 1:  # only one service has this charge at all (the others state none)
            return next(iter(with_figure.values()))
        if not results and errors and all(e.field == errors[0].field for e in errors):
            raise errors[0]  # the same fact is missing whatever the service: ask for that fact
        raise InputError("service", "the answer depends on the service", "la réponse dépend du service")

    def run_calculator(self, name: str, payload: dict[str, Any], turn: Turn) -> CalcResult:
        trace = ToolTrace(name=name, input=jsonable(payload))
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

    def doc_title(self, doc_id: str) -> str:
        doc = self.corpus.documents.get(doc_id)
        return doc.meta.title if doc else doc_id

    def with_doc_title(self, citations: Sequence[Citation]) -> list[Citation]:
        return [c if c.doc_title else c.model_copy(update={"doc_title": self.doc_title(c.doc_id)}) for c in citations]

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
            doc_title=self.doc_title(chunk.doc_id), quote=quote,
        )
