"""Injected stand-ins for the agent tests: a tiny two-operator corpus, a lexical retriever, calculators.

They speak the same contracts as assistant.corpus / assistant.index / assistant.tools, so the agent is
tested without the embedding model, the index or the rules files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from assistant.agent.text import words
from assistant.corpus.operators import OperatorMatcher
from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, Chunk, Citation, Clause, DocumentMeta, FactStatus, Passage

ALPHA_TEXT = (
    "Conditions générales Alpha Télécom\n\n"
    "8. Résiliation\n\n"
    "8.1 Le Client peut résilier le contrat par lettre recommandée moyennant un préavis d'un mois.\n\n"
    "8.2 En cas de résiliation anticipée avant la fin de la période d'engagement, le Client reste redevable "
    "des mensualités restant dues jusqu'à l'expiration de cette période.\n\n"
    "9. Frais\n\n"
    "9.1 Les frais de déménagement sont facturés selon la liste des prix en vigueur.\n\n"
    "9.2 Tout retard de paiement entraîne des intérêts de retard au taux légal.\n\n"
    "10. Portabilité\n\n"
    "10.1 Le Client qui demande la portabilité de son numéro conserve son numéro chez le nouvel opérateur.\n"
)
BETA_TEXT = (
    "Conditions Beta Mobile\n\n"
    "ARTICLE 3 - DURÉE\n\n"
    "Le contrat est conclu pour une durée de 24 mois puis reconduit tacitement.\n\n"
    "ARTICLE 4 - RÉSILIATION\n\n"
    "Le Client peut résilier le contrat moyennant un préavis de trois mois avant l'échéance.\n\n"
    "ARTICLE 5 - FORCE MAJEURE\n\n"
    "Beta Mobile n'est pas responsable des interruptions dues à un cas de force majeure.\n"
)


def _clauses(doc_id: str, operator: str, text: str, ids: list[tuple[str, str]]) -> list[Clause]:
    out = []
    for clause_id, needle in ids:
        start = text.index(needle)
        end = text.find("\n\n", start)
        end = len(text) if end < 0 else end
        out.append(Clause(doc_id=doc_id, operator=operator, clause_id=clause_id, text=text[start:end],
                          start=start, end=end, title=""))
    return out


@dataclass
class FakeDocument:
    meta: DocumentMeta
    text: str
    clauses: list[Clause] = field(default_factory=list)


class FakeCorpus:
    def __init__(self) -> None:
        alpha = DocumentMeta(doc_id="alpha", file="alpha.txt", operator="Alpha Télécom", operator_aliases=["ALT", "Alpha"],
                             country="LU", title="Alpha Télécom – Conditions générales", kind="general conditions")
        beta = DocumentMeta(doc_id="beta", file="beta.txt", operator="Beta Mobile", operator_aliases=["BM"],
                            country="BE", title="Beta Mobile – Conditions", kind="general conditions")
        self.documents = {
            "alpha": FakeDocument(alpha, ALPHA_TEXT, _clauses("alpha", alpha.operator, ALPHA_TEXT, [
                ("8.1", "8.1 Le Client"), ("8.2", "8.2 En cas"), ("9.1", "9.1 Les frais"), ("9.2", "9.2 Tout retard"),
                ("10.1", "10.1 Le Client")])),
            "beta": FakeDocument(beta, BETA_TEXT, _clauses("beta", beta.operator, BETA_TEXT, [
                ("ARTICLE 3", "Le contrat est conclu"), ("ARTICLE 4", "Le Client peut résilier le contrat moyennant un préavis de trois"),
                ("ARTICLE 5", "Beta Mobile n'est")])),
        }

    def operators(self) -> list[str]:
        return sorted({d.meta.operator for d in self.documents.values()})

    @property
    def matcher(self) -> OperatorMatcher:
        return OperatorMatcher({d.meta.operator: d.meta.operator_aliases for d in self.documents.values()})

    @property
    def other_matcher(self) -> OperatorMatcher:
        return OperatorMatcher({"Orange": [], "Vodafone": []}, exact=True)

    def resolve_operator(self, name: str | None) -> str | None:
        if not name:
            return None
        for d in self.documents.values():
            if name.lower() in {n.lower() for n in (d.meta.operator, *d.meta.operator_aliases)}:
                return d.meta.operator
        return None

    def clause_at(self, doc_id: str, start: int) -> Clause | None:
        return next((c for c in self.documents[doc_id].clauses if c.start <= start < c.end), None)

    @property
    def chunks(self) -> list[Chunk]:
        out = []
        for d in self.documents.values():
            for c in d.clauses:
                out.append(Chunk(chunk_id=hashlib.sha1(c.text.encode()).hexdigest()[:12], doc_id=c.doc_id,
                                 operator=c.operator, clause_id=c.clause_id, clause_ids=[c.clause_id], text=c.text,
                                 start=c.start, end=c.end, embed_text=c.text))
        return out


class FakeRetriever:
    """Word-overlap ranking over the fake corpus; records every call."""

    def __init__(self, corpus: FakeCorpus):
        self.corpus = corpus
        self.calls: list[tuple[str, str | None]] = []

    def retrieve(self, query: str, k: int = 5, operator: str | None = None,
                 doc_ids: list[str] | None = None, hints: str = "") -> list[Passage]:
        self.calls.append((query, operator))
        query = f"{query} {hints}".strip()
        q = {w[:6] for w in words(query) if len(w) > 3}
        scored = []
        for chunk in self.corpus.chunks:
            if operator and chunk.operator != operator:
                continue
            overlap = len(q & {w[:6] for w in words(chunk.text) if len(w) > 3})
            scored.append((overlap, chunk))
        scored.sort(key=lambda x: -x[0])
        return [Passage(chunk=c, score=float(s), rank=i + 1) for i, (s, c) in enumerate(scored[:k])]


class ETCInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: str
    commitment_start: date
    termination_date: date
    monthly_fee: Decimal
    commitment_months: int = 24


class FakeETC:
    """Early-termination cost: remaining whole months x monthly fee, citing Alpha 8.2."""

    name = "early_termination_cost"
    title_fr = "Coût de la résiliation anticipée"
    title_en = "Early termination cost"
    description = "Remaining monthly fees until the end of the commitment."
    input_model = ETCInput

    def __init__(self, corpus: FakeCorpus, status: FactStatus = FactStatus.STATED):
        self.corpus = corpus
        self.status = status
        self.payloads: list[dict[str, Any]] = []

    def run(self, payload: dict[str, Any]) -> CalcResult:
        self.payloads.append(payload)
        for f, info in ETCInput.model_fields.items():
            if info.is_required() and f not in payload:
                raise InputError(f, "missing", "manquant")
        p = ETCInput.model_validate(payload)
        elapsed = (p.termination_date.year - p.commitment_start.year) * 12 + p.termination_date.month - p.commitment_start.month
        remaining = max(0, p.commitment_months - elapsed)
        quote = "le Client reste redevable des mensualités restant dues jusqu'à l'expiration de cette période"
        citation = Citation(doc_id="alpha", operator="Alpha Télécom", clause_id="8.2", quote=quote)
        if self.status == FactStatus.CONFLICTING:
            other = Citation(doc_id="beta", operator="Beta Mobile", clause_id="ARTICLE 3",
                             quote="Le contrat est conclu pour une durée de 24 mois")
            return CalcResult(tool=self.name, amount=None, status=self.status,
                              values={"min_total": "100.00", "max_total": "200.00"}, citations=[citation, other],
                              breakdown=[CalcStep(label="Selon 8.2", formula="4 x 25.00", value="100.00 EUR"),
                                         CalcStep(label="Selon ARTICLE 3", formula="8 x 25.00", value="200.00 EUR")])
        if self.status == FactStatus.NOT_STATED:
            return CalcResult(tool=self.name, amount=None, status=self.status, citations=[citation])
        amount = (p.monthly_fee * remaining).quantize(Decimal("0.01"))
        return CalcResult(
            tool=self.name, amount=amount, unit="EUR",
            breakdown=[CalcStep(label="Mois restants", formula=f"{p.commitment_months} - {elapsed}", value=str(remaining)),
                       CalcStep(label="Total", formula=f"{remaining} x {p.monthly_fee}", value=f"{amount} EUR")],
            citations=[citation],
        )
