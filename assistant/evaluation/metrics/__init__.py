"""Metric families (one module each) and the registry the runner and the report use."""

from __future__ import annotations

from assistant.evaluation.metrics.answer import AnswerCorrect, FigureStated, answer_issues
from assistant.evaluation.metrics.base import Metric, MetricContext, Sample, clause_matches
from assistant.evaluation.metrics.citations import CitationPrecision, CitationRecall, QuotesVerified
from assistant.evaluation.metrics.hygiene import internal_tokens, own_text
from assistant.evaluation.metrics.language import LanguageMatch
from assistant.evaluation.metrics.latency import item_latency_ms, percentile
from assistant.evaluation.metrics.numeric import NumericExact
from assistant.evaluation.metrics.retrieval import MRR, HitAtK
from assistant.evaluation.metrics.status import NoWrongPhrase, StatusAccuracy, TurnStatusAccuracy


def default_metrics() -> list[Metric]:
    return [AnswerCorrect(), FigureStated(), HitAtK(1), HitAtK(5), MRR(10), CitationPrecision(), CitationRecall(), QuotesVerified(),
            NumericExact(), StatusAccuracy(), TurnStatusAccuracy(), LanguageMatch(), NoWrongPhrase()]


def score_sample(sample: Sample, ctx: MetricContext, metrics: list[Metric] | None = None) -> dict[str, float | None]:
    return {m.name: m.score(sample, ctx) for m in (metrics or default_metrics())}


__all__ = ["Metric", "MetricContext", "Sample", "clause_matches", "default_metrics", "score_sample",
           "item_latency_ms", "percentile", "HitAtK", "MRR", "CitationPrecision", "CitationRecall",
           "QuotesVerified", "NumericExact", "StatusAccuracy", "TurnStatusAccuracy", "LanguageMatch",
           "NoWrongPhrase", "AnswerCorrect", "FigureStated", "answer_issues", "internal_tokens", "own_text"]
