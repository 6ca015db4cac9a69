"""Retrieval quality seen through the reply's passages: hit@k and MRR against gold quotes or clauses."""

from __future__ import annotations

from assistant.agent.text import squash
from assistant.evaluation.metrics.base import Metric, MetricContext, Sample, clause_matches
from assistant.models import PassageOut


def passage_is_hit(sample: Sample, passage: PassageOut) -> bool:
    text = squash(passage.text)
    return any(squash(g.quote) in text or clause_matches(g, passage.doc_id, passage.clause_id, passage.part)
               for g in sample.item.gold)


def first_hit_rank(sample: Sample, limit: int = 10) -> int | None:
    reply = sample.reply
    if reply is None:
        return None
    for rank, passage in enumerate(reply.passages[:limit], start=1):
        if passage_is_hit(sample, passage):
            return rank
    return None


class _RetrievalMetric(Metric):
    def applies(self, sample: Sample) -> bool:
        return bool(sample.item.gold)  # an item that crashed (no reply) scores 0, it is not skipped


class HitAtK(_RetrievalMetric):
    def __init__(self, k: int):
        self.k = k
        self.name = f"hit@{k}"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        if not self.applies(sample):
            return None
        rank = first_hit_rank(sample, self.k)
        return 1.0 if rank is not None else 0.0


class MRR(_RetrievalMetric):
    name = "mrr"

    def __init__(self, limit: int = 10):
        self.limit = limit

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        if not self.applies(sample):
            return None
        rank = first_hit_rank(sample, self.limit)
        return 1.0 / rank if rank else 0.0
