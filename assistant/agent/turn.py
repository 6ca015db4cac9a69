"""What one `ask` call accumulates (tool traces, passages, what it may cite) and how its payloads are logged."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from assistant.agent.citations import TurnEvidence
from assistant.models import Passage, ToolTrace


class Turn:
    """Everything one `ask` call accumulates: traces, passages and what it may cite."""

    def __init__(self) -> None:
        self.tools: list[ToolTrace] = []
        self.passages: list[Passage] = []
        self.evidence = TurnEvidence()


def jsonable(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in payload.items():
        out[k] = v.isoformat() if isinstance(v, date) else (str(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
    return out

