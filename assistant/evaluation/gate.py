"""CI gate: fail the build when the evaluation falls below its floors or regresses item by item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from assistant.errors import InputError
from assistant.evaluation.diff import RunDiff


def load_gate(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("gate", f"gate file not found: {path}", f"fichier de seuils introuvable : {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - {"min", "max", "regressions", "subset", "mode"}
    if unknown:
        raise InputError("gate", f"{path.name}: unknown keys {sorted(unknown)}")
    return data


def check_gate(gate: dict[str, Any], summary: dict[str, Any], diff: RunDiff) -> list[str]:
    """Human-readable reasons the gate fails (empty list: the build passes)."""
    failures: list[str] = []
    for name, floor in (gate.get("min") or {}).items():
        value = summary.get(name)
        if value is None or value < floor:
            failures.append(f"{name} = {value} is below the floor {floor}")
    for name, ceiling in (gate.get("max") or {}).items():
        value = summary.get(name)
        if value is not None and value > ceiling:
            failures.append(f"{name} = {value} is above the ceiling {ceiling}")
    allowed = (gate.get("regressions") or {}).get("max")
    if allowed is not None and diff.has_previous and len(diff.regressions) > allowed:
        ids = ", ".join(r["id"] for r in diff.regressions[:10])
        failures.append(f"{len(diff.regressions)} items regressed (allowed {allowed}): {ids}")
    return failures
