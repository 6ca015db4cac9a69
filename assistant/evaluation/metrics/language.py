"""The reply speaks the customer's language."""

from __future__ import annotations

from assistant.evaluation.metrics.base import Metric, MetricContext, Sample


class LanguageMatch(Metric):
    name = "language_match"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        reply = sample.reply
        return 1.0 if reply is not None and reply.language == sample.item.language else 0.0
