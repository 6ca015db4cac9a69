"""Compare this run with the previous committed one, item by item: what regressed, what got fixed."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.evaluation.runner import ItemResult

RESULTS_FILE = "results.json"


@dataclass
class RunDiff:
    baseline: str  # where the previous results came from ("git HEAD:…", a path, or "none")
    regressions: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[dict[str, Any]] = field(default_factory=list)
    new_items: list[str] = field(default_factory=list)
    removed_items: list[str] = field(default_factory=list)
    metric_deltas: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    note: str = ""  # why there is no diff, or what to keep in mind reading it

    @property
    def has_previous(self) -> bool:
        return self.baseline != "none"


def _git_root(path: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True,
                             check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip())


def load_previous(report_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The committed results.json of this report dir (git HEAD), else the file on disk, else None."""
    target = report_dir / RESULTS_FILE
    root = _git_root(report_dir if report_dir.exists() else report_dir.parent)
    if root is not None:
        try:
            rel = target.resolve().relative_to(root.resolve())
            out = subprocess.run(["git", "show", f"HEAD:{rel.as_posix()}"], cwd=root, capture_output=True,
                                 text=True, timeout=10)
            if out.returncode == 0:
                return json.loads(out.stdout), f"git HEAD:{rel.as_posix()}"
        except (ValueError, OSError, subprocess.SubprocessError, json.JSONDecodeError):
            pass
    if target.is_file():
        try:
            return json.loads(target.read_text(encoding="utf-8")), str(target)
        except json.JSONDecodeError:
            return None, "none"
    return None, "none"


def dataset_fingerprint(paths: list[Path]) -> str:
    """sha256 over the dataset files' bytes, in order (what `meta.dataset_sha256` records)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def comparable(previous: dict[str, Any] | None, meta: dict[str, Any]) -> tuple[bool, str]:
    """May this run be diffed against `previous`? Only when both ran the same dataset, identified by the
    content hash (`meta.dataset_sha256`): a 10-item file is never diffed against the 230-item dev report,
    and an edited file is another dataset. A report from before the hash existed is matched by its
    `meta.dataset` label; a report that records neither is never diffed against.
    """
    if not previous:
        return False, ""
    before = previous.get("meta") or {}
    old_sha, new_sha = before.get("dataset_sha256"), meta.get("dataset_sha256")
    if old_sha and new_sha:
        if old_sha == new_sha:
            return True, ""
        label = before.get("dataset") or "unnamed"
        return False, f"The previous report ran another dataset ({label}, content hash {old_sha[:12]}): no diff."
    if not before.get("dataset"):
        return False, "The previous report does not record its dataset: no diff."
    if before["dataset"] != meta.get("dataset"):
        return False, f"The previous report ran another dataset ({before['dataset']}): no diff."
    return True, "The previous report records no content hash: matched by the dataset's name."


def _failing_metrics(scores: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in scores.items() if v is not None and v < 1.0)


def diff_runs(previous: dict[str, Any] | None, baseline: str, results: list[ItemResult],
              summary: dict[str, Any], meta: dict[str, Any] | None = None) -> RunDiff:
    """Item-by-item diff; with `meta`, only when `previous` ran the same dataset (see `comparable`)."""
    note = ""
    if previous and meta is not None:
        ok, note = comparable(previous, meta)
        if not ok:
            return RunDiff(baseline="none", note=note)
    if not previous:
        return RunDiff(baseline="none")
    before = {r["id"]: r for r in previous.get("items", [])}
    now = {r.id: r for r in results}
    diff = RunDiff(baseline=baseline, note=note)
    for item_id, res in now.items():
        old = before.get(item_id)
        if old is None:
            diff.new_items.append(item_id)
            continue
        row = {"id": item_id, "category": res.category, "was": old.get("status"), "now": res.status,
               "failing_before": _failing_metrics(old.get("scores", {})),
               "failing_now": _failing_metrics(res.scores), "answer": res.answer}
        if old.get("passed") and not res.passed:
            diff.regressions.append(row)
        elif not old.get("passed") and res.passed:
            diff.fixes.append(row)
    # items dropped from the run (only meaningful when the same dataset was run in full)
    diff.removed_items = sorted(set(before) - set(now))
    old_meta = previous.get("meta") or {}
    if meta is not None and old_meta.get("subset", "all") != meta.get("subset", "all"):
        # overall scores of another selection of items (e.g. the full run vs the CI subset) are not comparable
        return diff
    old_summary = previous.get("summary", {}).get("overall", {})
    for key, value in summary.items():
        if isinstance(value, float | int) and not key.endswith("_n"):
            diff.metric_deltas[key] = (old_summary.get(key), value)
    return diff
