"""Data contracts shared by every layer (corpus -> index -> retriever -> agent -> ui).

Every boundary of the product speaks these pydantic models, so that the CLI, the HTTP API and the
evaluation runner all see the same shapes.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


# --------------------------------------------------------------------------- corpus


class DocumentMeta(Frozen):
    """One manifest entry: what a text file is and whose it is."""

    doc_id: str
    file: str
    operator: str
    operator_aliases: list[str] = Field(default_factory=list)
    country: str
    language: str = "fr"
    title: str
    kind: str
    version: str | None = None


class Clause(Frozen):
    """A clause as the document prints it.

    `clause_id` is the number or letter as printed (``66``, ``8.5.12``, ``8A``, ``57 §2``); `part` names
    the particular-conditions part when ids restart inside one document, so `ref` is unique per document.
    `start`/`end` index the normalised document text: ``text == normalised[start:end]``.
    """

    doc_id: str
    operator: str
    clause_id: str
    part: str | None = None
    title: str = ""
    heading_path: list[str] = Field(default_factory=list)
    text: str
    start: int
    end: int
    collapsed: int = 0  # how many near-identical machine-repeated siblings were folded into this one
    duplicate_of: str | None = None  # set on a machine-repeated copy: kept for citation, never indexed

    @property
    def ref(self) -> str:
        return f"{self.part} › {self.clause_id}" if self.part else self.clause_id

    @property
    def label(self) -> str:
        """How a citation names the clause to a reader ("art. 8.5.12", "CP Téléphonie mobile, art. 7")."""
        return f"{self.part}, art. {self.clause_id}" if self.part else f"art. {self.clause_id}"


class Chunk(Frozen):
    """The unit that is indexed: a clause, a piece of a long clause, or a group of short siblings."""

    chunk_id: str  # content hash: identical text + metadata => identical id
    doc_id: str
    operator: str
    clause_id: str
    part: str | None = None
    title: str = ""
    heading_path: list[str] = Field(default_factory=list)
    clause_ids: list[str] = Field(default_factory=list)  # every clause the chunk covers
    text: str  # exact substring of the normalised document
    start: int
    end: int
    embed_text: str  # text + operator / heading context, what the embedding model sees


class Passage(Frozen):
    """A retrieved chunk with its score and rank."""

    chunk: Chunk
    score: float
    rank: int
    sources: list[str] = Field(default_factory=list)  # which retrievers found it: dense, lexical

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def clause_id(self) -> str:
        return self.chunk.clause_id


# --------------------------------------------------------------------------- citations and calculations


class Citation(Frozen):
    """A pointer to a clause with a quote that is an exact substring of the normalised source."""

    doc_id: str
    operator: str
    clause_id: str
    part: str | None = None
    title: str = ""
    doc_title: str = ""
    quote: str


class TaxBasis(StrEnum):
    HT = "HT"
    TTC = "TTC"
    NONE = "none"
    NOT_SUBJECT = "not_subject_to_vat"


class CalcStep(Frozen):
    label: str
    formula: str = ""
    value: str = ""


class FactStatus(StrEnum):
    STATED = "stated"
    NOT_STATED = "not_stated"
    CONFLICTING = "conflicting"


class CalcResult(Frozen):
    """What every calculator returns. `amount` is None when the documents do not give a figure."""

    tool: str
    amount: Decimal | None = None
    currency: str | None = "EUR"
    unit: str | None = None  # "EUR", "days", "date" ...
    tax_basis: TaxBasis = TaxBasis.NONE
    status: FactStatus = FactStatus.STATED
    result_date: str | None = None  # ISO date when the result is a date
    values: dict[str, Any] = Field(default_factory=dict)  # named secondary results (dates, alternatives)
    breakdown: list[CalcStep] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)


# --------------------------------------------------------------------------- the reply contract


class ReplyStatus(StrEnum):
    ANSWERED = "answered"
    CLARIFY = "clarify"
    REFUSED = "refused"
    NOT_FOUND = "not_found"


class ToolTrace(BaseModel):
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)


class PassageOut(BaseModel):
    doc_id: str
    clause_id: str
    part: str | None = None
    title: str = ""
    text: str
    score: float


class Reply(BaseModel):
    """What `assistant ask --json` prints and the HTTP API returns."""

    id: str | None = None
    answer: str
    language: Literal["fr", "en"] = "fr"
    operator: str | None = None
    intent: str = "other"
    status: ReplyStatus = ReplyStatus.ANSWERED
    citations: list[Citation] = Field(default_factory=list)
    tools: list[ToolTrace] = Field(default_factory=list)
    passages: list[PassageOut] = Field(default_factory=list)
    latency_ms: float = 0.0
    session_id: str | None = None
    reply_to_customer: str | None = None  # paste-ready text for call-centre agents
