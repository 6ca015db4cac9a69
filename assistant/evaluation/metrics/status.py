"""Behaviour: the right status (answered / clarify / refused / not_found), per reply and per turn."""

from __future__ import annotations

from assistant.evaluation.metrics.base import Metric, MetricContext, Sample


class StatusAccuracy(Metric):
    name = "status_accuracy"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        reply = sample.reply
        return 1.0 if reply is not None and reply.status == sample.item.expected_status else 0.0


class TurnStatusAccuracy(Metric):
    """Dialogues only: share of turns whose status matches `turn_expectations`."""

    name = "turn_status_accuracy"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        expected = sample.item.turn_expectations
        if not expected:
            return None
        got = [r.status for r in sample.replies]
        hits = sum(1 for i, exp in enumerate(expected) if i < len(got) and got[i] == exp.status)
        return hits / len(expected)


class NoWrongPhrase(Metric):
    """1 when the answer contains none of the phrases a wrong answer would contain."""

    name = "no_wrong_phrase"

    def score(self, sample: Sample, ctx: MetricContext) -> float | None:
        phrases = sample.item.wrong_phrases
        if not phrases:
            return None
        answer = (sample.reply.answer if sample.reply else "").casefold()
        return 0.0 if any(p.casefold() in answer for p in phrases) else 1.0
