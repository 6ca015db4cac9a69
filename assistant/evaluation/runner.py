"""Run evaluation items through the same `Assistant.ask` path users get, and score them.

Each item gets a fresh session; a dialogue sends its turns in order in that session. A failure of one
item is recorded (error + zero scores), never fatal to the run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm import tqdm

from assistant.evaluation.dataset import EvalItem
from assistant.evaluation.metrics import (
    Metric,
    MetricContext,
    Sample,
    answer_issues,
    default_metrics,
    item_latency_ms,
    percentile,
    score_sample,
)
from assistant.models import Reply


class Asker(Protocol):
    def ask(self, question: str | None, session_id: str | None = None, operator: str | None = None) -> Reply: ...


@dataclass
class ItemResult:
    """What the report and the diff need about one item (serialised into results.json)."""

    id: str
    category: str
    language: str
    persona: str
    expected_status: str
    status: str | None
    question: str
    answer: str
    scores: dict[str, float | None]
    latency_ms: float
    error: str | None = None
    gold_number: str | None = None
    gold_date: str | None = None
    gold_clauses: list[str] = field(default_factory=list)
    cited_clauses: list[str] = field(default_factory=list)
    turn_statuses: list[str] = field(default_factory=list)
    turn_latency_ms: list[float] = field(default_factory=list)  # each reply's own (an answer, not an item)
    dialogue: bool = False
    answer_issues: list[str] = field(default_factory=list)  # why `answer_correct` fails (empty: it passes)

    @property
    def passed(self) -> bool:
        """An item passes when its status is right and every applicable answer metric is perfect."""
        if self.error:
            return False
        keys = ("status_accuracy", "numeric_exact", "language_match", "no_wrong_phrase", "quotes_verified",
                "turn_status_accuracy")
        return all(self.scores.get(k) in (None, 1.0) for k in keys)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["passed"] = self.passed
        return data


def _clause_label(doc_id: str, clause_id: str, part: str | None) -> str:
    return f"{doc_id[:3]}:{part + ' › ' if part else ''}{clause_id}"


def run_sample(asker: Asker, item: EvalItem, run_id: str) -> Sample:
    session_id = f"eval-{run_id}-{item.id}"
    sample = Sample(item=item)
    started = time.perf_counter()
    try:
        for message in item.messages:
            sample.replies.append(asker.ask(message, session_id=session_id, operator=item.operator))
    except Exception as exc:  # one broken item must not stop the QA run
        sample.error = f"{type(exc).__name__}: {exc}"
    sample.wall_ms = round((time.perf_counter() - started) * 1000, 1)
    return sample


def to_result(sample: Sample, scores: dict[str, float | None]) -> ItemResult:
    item, reply = sample.item, sample.reply
    return ItemResult(
        id=item.id, category=item.category, language=item.language, persona=item.persona,
        expected_status=str(item.expected_status), status=str(reply.status) if reply else None,
        question=" ⏎ ".join(item.messages), answer=reply.answer if reply else "", scores=scores,
        latency_ms=item_latency_ms(sample), error=sample.error,
        gold_number=str(item.gold_number) if item.gold_number is not None else None,
        gold_date=item.gold_date.isoformat() if item.gold_date else None,
        gold_clauses=[_clause_label(g.doc_id, g.clause_id, g.part) for g in item.gold],
        cited_clauses=[_clause_label(c.doc_id, c.clause_id, c.part) for c in reply.citations] if reply else [],
        turn_statuses=[str(r.status) for r in sample.replies],
        turn_latency_ms=[r.latency_ms for r in sample.replies if r.latency_ms > 0],
        dialogue=item.is_dialogue, answer_issues=answer_issues(sample),
    )


def evaluate(asker: Asker, items: Sequence[EvalItem], ctx: MetricContext, *, metrics: list[Metric] | None = None,
             progress: bool = True, on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
    metrics = metrics or default_metrics()
    run_id = uuid.uuid4().hex[:8]
    results: list[ItemResult] = []
    for item in tqdm(items, desc="eval", unit="item", disable=not progress):
        sample = run_sample(asker, item, run_id)
        result = to_result(sample, score_sample(sample, ctx, metrics))
        results.append(result)
        if on_result:
            on_result(result)
    return results


# --------------------------------------------------------------------------- aggregation


def summarise(results: Sequence[ItemResult], metric_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean of each metric over the items it applies to, the number of items, and latency p50/p95."""
    names = list(metric_names or (results[0].scores.keys() if results else []))
    out: dict[str, Any] = {"n": len(results), "passed": sum(r.passed for r in results)}
    for name in names:
        values = [r.scores[name] for r in results if r.scores.get(name) is not None]
        out[name] = round(sum(values) / len(values), 4) if values else None
        out[f"{name}_n"] = len(values)
    latencies = [r.latency_ms for r in results if not r.error]
    out["latency_p50_ms"] = percentile(latencies, 50)
    out["latency_p95_ms"] = percentile(latencies, 95)
    # per answer: a conversation of four turns is four answers, each of which the customer waits for
    answers = [ms for r in results if not r.error for ms in r.turn_latency_ms]
    out["answer_p50_ms"] = percentile(answers, 50)
    out["answer_p95_ms"] = percentile(answers, 95)
    out["errors"] = sum(1 for r in results if r.error)
    return out


def breakdown(results: Sequence[ItemResult], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(str(getattr(r, key)), []).append(r)
    return {name: summarise(group) for name, group in sorted(groups.items())}


def breakdown_by_kind(results: Sequence[ItemResult]) -> dict[str, dict[str, Any]]:
    """Dialogues vs single questions."""
    groups = {"dialogue": [r for r in results if r.dialogue], "single question": [r for r in results if not r.dialogue]}
    return {name: summarise(group) for name, group in groups.items() if group}
