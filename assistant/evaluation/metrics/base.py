"""Shared base for every metric: a metric scores one evaluated sample (0..1) or says it does not apply.

Modelled on ragas' metric collections: one module per metric family, all speaking `Sample` and
`MetricContext`, registered in `assistant.evaluation.metrics.ALL_METRICS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.corpus.loader import fold as corpus_fold
from assistant.evaluation.dataset import EvalItem, GoldRef
from assistant.models import Reply


@dataclass
class Sample:
    """One dataset item after it went through the product: the final reply plus every turn's reply."""

    item: EvalItem
    replies: list[Reply] = field(default_factory=list)
    error: str | None = None
    wall_ms: float = 0.0  # measured by the runner around all turns

    @property
    def reply(self) -> Reply | None:
        return self.replies[-1] if self.replies else None


@dataclass
class MetricContext:
    """What metrics may need beyond the sample: the normalised text of each document."""

    doc_texts: Mapping[str, str] = field(default_factory=dict)


class Metric(ABC):
    name: str = ""
    higher_is_better: bool = True

    @abstractmethod
    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        """A score in [0, 1], or None when the metric does not apply to this sample."""


def fold(text: str | None) -> str:
    return corpus_fold(text or "").strip()


def _canonical_clause(clause_id: str) -> str:
    """`57 §1` is the article `57` itself; compare ids without stray spaces or a trailing dot."""
    cid = " ".join(clause_id.split()).rstrip(".")
    return cid[: -len(" §1")] if cid.endswith(" §1") else cid


def clause_matches(gold: GoldRef, doc_id: str, clause_id: str, part: str | None) -> bool:
    """Same document, same clause (or a child of it: 8.5 -> 8.5.12), same part when both name one."""
    if doc_id != gold.doc_id:
        return False
    if gold.part and part and fold(gold.part) != fold(part):
        return False
    want, got = _canonical_clause(gold.clause_id), _canonical_clause(clause_id)
    return got == want or got.startswith(want + ".") or got.startswith(want + " §")
