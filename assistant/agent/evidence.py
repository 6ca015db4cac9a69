"""Which fact answers the question: the router, the retriever and the fact's own wording, heard together.

The router alone decides the need from the question's phrasing; when it picks a neighbouring need, the fact that
answers is filtered out before anything looks at it. Three independent signals about every fact of the operator
are fused into one score instead:

- how close the fact's label and summary are to the question (the shipped embedding model, cosine);
- where the fact's clause came in the retrieval of the question (hybrid BM25 + dense: another view of the text);
- how strongly the router believes in the need(s) the fact serves;
- how many of the question's content words the fact speaks.

The weights are data (`fact_fusion` in knowledge/needs.yaml). The fused score orders the facts of a need and
lets the best-supported fact choose the need when the router's choice has clearly weaker support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from assistant.agent.facts import FactView, serves
from assistant.agent.router import FusionWeights, Need


class PassageLike(Protocol):
    doc_id: str
    clause_id: str

    @property
    def chunk(self) -> object: ...


def clause_rank(view: FactView, passages: Sequence[PassageLike]) -> int | None:
    """Rank of the first retrieved passage holding one of the fact's source clauses, a sub-clause of one or a
    clause holding one (numbering nests: a fact on 12.2 is supported by a passage of 12.2.1 and the reverse)."""
    return _PassageRanks(passages).rank(view)


def needs_served(view: FactView, needs: Sequence[Need]) -> list[Need]:
    return [n for n in needs if n.action == "answer" and serves(n, view)]


def _ancestors(clause_id: str) -> list[str]:
    """12.2.1 -> 12, 12.2, 12.2.1: the clauses a clause sits in, itself included."""
    parts = clause_id.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


class _PassageRanks:
    """The first rank at which each clause is retrieved, looked up instead of scanning the passages for every
    fact, once per turn."""

    def __init__(self, passages: Sequence[PassageLike]):
        self.exact: dict[tuple[str, str], int] = {}  # (doc, clause a passage holds) -> first rank
        self.within: dict[tuple[str, str], int] = {}  # (doc, clause holding a passage's clause) -> first rank
        for rank, p in enumerate(passages):
            for pc in {p.clause_id, *getattr(p.chunk, "clause_ids", ())}:
                self.exact.setdefault((p.doc_id, pc), rank)
                for outer in _ancestors(pc):
                    self.within.setdefault((p.doc_id, outer), rank)

    def rank(self, view: FactView) -> int | None:
        found = [r for s in view.sources()
                 for r in (self.within.get((s.doc_id, s.clause_id)),
                           *(self.exact.get((s.doc_id, outer)) for outer in _ancestors(s.clause_id)))
                 if r is not None]
        return min(found, default=None)


def fused_scores(views: Sequence[FactView], similarity: np.ndarray, lexical: Sequence[float],
                 passages: Sequence[PassageLike], need_scores: Mapping[str, float], needs: Sequence[Need],
                 weights: FusionWeights) -> np.ndarray:
    """One score per fact: cosine + retrieval support + router belief + shared words."""
    out = np.array(similarity, dtype=float)
    needs = [n for n in needs if n.action == "answer" and n.id in need_scores]  # the others add nothing
    ranks = _PassageRanks(passages)
    for i, view in enumerate(views):
        rank = ranks.rank(view)
        support = 0.0 if rank is None else 1.0 / (1 + rank)
        belief = max((need_scores.get(n.id, 0.0) for n in needs_served(view, needs)), default=0.0)
        out[i] += weights.retrieval * support + weights.need * belief + weights.lexical * lexical[i]
    return out
