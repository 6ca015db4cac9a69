"""Where the time goes: latency per item (sum of turns) and percentiles over a group."""

from __future__ import annotations

import math
from collections.abc import Sequence

from assistant.evaluation.metrics.base import Sample


def item_latency_ms(sample: Sample) -> float:
    """Sum of the replies' own latency; the runner's wall clock when replies do not report one."""
    reported = sum(r.latency_ms for r in sample.replies)
    return reported if reported > 0 else sample.wall_ms


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for an empty list."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
