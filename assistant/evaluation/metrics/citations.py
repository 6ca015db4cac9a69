"""Citations: are the cited clauses the gold ones (precision/recall by clause), are quotes verbatim."""

from __future__ import annotations

from assistant.evaluation.metrics.base import Metric, MetricContext, Sample, clause_matches
from assistant.models import ReplyStatus

CITING_STATUSES = (ReplyStatus.ANSWERED, ReplyStatus.NOT_FOUND)


def _answered_with_gold(sample: Sample) -> bool:
    """Items whose reply must cite: answered ones, and not_found ones that point at a clause
    ("the amount is only in the price list", a cross-reference to a missing article)."""
    return bool(sample.item.gold) and sample.item.expected_status in CITING_STATUSES


class CitationPrecision(Metric):
    """Share of the reply's cited clauses that are gold (items with gold; no citation scores 0)."""

    name = "citation_precision"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        if not _answered_with_gold(sample):
            return None
        cited = {(c.doc_id, c.clause_id, c.part) for c in (sample.reply.citations if sample.reply else [])}
        if not cited:
            return 0.0
        good = sum(any(clause_matches(g, *key) for g in sample.item.gold) for key in cited)
        return good / len(cited)


class CitationRecall(Metric):
    """Share of the gold clauses that the reply cites."""

    name = "citation_recall"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        if not _answered_with_gold(sample):
            return None
        cited = [(c.doc_id, c.clause_id, c.part) for c in (sample.reply.citations if sample.reply else [])]
        gold = {g.key: g for g in sample.item.gold}.values()
        found = sum(any(clause_matches(g, *key) for key in cited) for g in gold)
        return found / len(gold)


class QuotesVerified(Metric):
    """Share of the reply's citation quotes that are exact substrings of the normalised document."""

    name = "quotes_verified"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        reply = sample.reply
        if reply is None or not reply.citations or not ctx.doc_texts:
            return None
        ok = sum(bool(c.quote.strip()) and c.quote in ctx.doc_texts.get(c.doc_id, "") for c in reply.citations)
        return ok / len(reply.citations)
