"""`assistant eval`: run a dataset through the product, write the report, optionally enforce the CI gate.

The lead's CLI calls `run_eval(...)`; `python -m assistant.evaluation.cli` gives the same entry point on
its own (used by .ci/run).

What runs: `--split dev` (the default, eval/dataset.jsonl, report in eval/reports/latest/), `--split blind`
(eval/blind_a.jsonl + eval/blind_b.jsonl, report in eval/reports/blind/; measured only, never used to tune
anything) or `--dataset X` (only X). The retrieval baselines run only with `--baselines`. A run is diffed
only against a previous report of the same dataset (same content hash).

`--via-api URL` sends the items through the HTTP API of a running app (`python app.py`) instead of calling
the assistant in this process, so the served path is what is measured; its report goes under
.data/eval/api-* unless --out is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from assistant.config import Settings, get_settings
from assistant.errors import AssistantError
from assistant.evaluation.dataset import ROOT, SPLITS, load_datasets, load_retrieval_set, load_subset
from assistant.evaluation.diff import comparable, dataset_fingerprint, diff_runs, load_previous
from assistant.evaluation.gate import check_gate, load_gate
from assistant.evaluation.metrics import MetricContext
from assistant.evaluation.report import write_report
from assistant.evaluation.runner import Asker, breakdown, evaluate, summarise

DEFAULT_REPORT_DIR = ROOT / "eval" / "reports" / "latest"
BLIND_REPORT_DIR = ROOT / "eval" / "reports" / "blind"
SPLIT_REPORT_DIRS = {"dev": DEFAULT_REPORT_DIR, "tune": DEFAULT_REPORT_DIR.parent / "tune", "blind": BLIND_REPORT_DIR}
console = Console(stderr=True)


log = logging.getLogger(__name__)


def _settings_for(mode: str, settings: Settings) -> Settings:
    if mode == "offline":
        return settings.model_copy(update={"llm_base_url": None})
    if mode == "llm":
        if not settings.llm_base_url:
            raise AssistantError("--mode llm needs ASSISTANT_LLM_BASE_URL (an OpenAI-compatible endpoint)")
        return settings
    raise AssistantError(f"unknown mode {mode!r} (offline or llm)")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _as_dict(report: Any) -> dict[str, Any]:
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    if isinstance(report, dict):
        return report
    return dict(getattr(report, "__dict__", {}))


def measure_baselines(settings: Settings) -> tuple[dict[str, Any] | None, str]:
    """Pipeline vs naive LangChain splitter + Chroma vs BM25 on eval/retrieval.jsonl (lead's benchmark)."""
    try:
        from assistant.evaluation.retrieval import run_retrieval_benchmark
    except ImportError:
        # TODO(lead): assistant/evaluation/retrieval.py (run_retrieval_benchmark) is not there yet;
        # the report shows this note instead of the baselines until it is.
        return None, "Baselines not measured: assistant.evaluation.retrieval.run_retrieval_benchmark is missing."
    try:
        return _as_dict(run_retrieval_benchmark(settings, load_retrieval_set())), ""
    except Exception as exc:  # the baselines must never sink the QA run
        return None, f"Baselines failed: {type(exc).__name__}: {exc}"


def _corpus_health(settings: Settings) -> Any:
    """The corpus health check for the report's last section; an evaluation never fails because of it."""
    try:
        from assistant.corpus import load_corpus
        from assistant.corpus.health import check
        from assistant.tools.rules import load_rules

        return check(load_corpus(settings), load_rules(settings.rules_dir))
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        log.warning("corpus health not included in the report: %s", exc)
        return None


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    table = Table(title=f"evaluation ({summary['n']} items) → {out}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if not key.endswith("_n"):
            table.add_row(key, "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)


def dataset_label(paths: list[Path]) -> str:
    """How results.json names the dataset (repo-relative when inside the repo): what the diff compares."""
    def rel(path: Path) -> str:
        resolved = path.resolve()
        try:
            return resolved.relative_to(ROOT.resolve()).as_posix()
        except ValueError:
            return str(resolved)

    return " + ".join(rel(p) for p in paths)


def _default_out(split: str | None, subset: str | None, settings: Settings, via_api: str | None = None) -> Path:
    if split and not subset and not via_api:
        return SPLIT_REPORT_DIRS[split]
    name = Path(subset).stem if subset else (split or "custom") if via_api else "custom"
    prefix = "api-" if via_api else f"{split}-" if split and split != "dev" else ""
    return settings.data_dir / "eval" / f"{prefix}{name}"


def _asker(settings: Settings, via_api: str | None, api_key: str | None) -> tuple[Asker, dict[str, str]]:
    """What answers the items: the running app's HTTP API, or the assistant built in this process."""
    if via_api:
        from assistant.evaluation.api_asker import ApiAsker

        asker = ApiAsker(via_api, api_key or os.environ.get("ASSISTANT_EVAL_API_KEY") or None)
        asker.check()
        return asker, {"path": "api", "via": via_api}
    from assistant.agent import Assistant

    return Assistant(settings).warm(), {"path": "in-process"}


def previous_report(out: Path, meta: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The report to diff against: the output directory's, else a committed split report of the same
    dataset content (a `--dataset eval/dataset.jsonl` or `--via-api` run is diffed against the dev report)."""
    for candidate in dict.fromkeys([out, *SPLIT_REPORT_DIRS.values()]):
        previous, source = load_previous(candidate)
        if previous is not None and comparable(previous, meta)[0]:
            return previous, source
    return load_previous(out)


def _prepare(dataset: Path | None, split: str | None, mode: str, settings: Settings | None, subset: str | None,
             gate: Path | None) -> tuple[list[Path], str | None, Settings, dict[str, Any] | None, str | None, list[Any]]:
    if split and dataset is not None:
        raise AssistantError("give either --split or --dataset, not both")
    if split and split not in SPLITS:
        raise AssistantError(f"unknown split {split!r} (use {' or '.join(SPLITS)})")
    if dataset is None:
        split = split or "dev"
    paths = list(SPLITS[split]) if split else [dataset]  # type: ignore[list-item]
    settings = _settings_for(mode, settings or get_settings())
    gate_cfg = load_gate(gate) if gate else None
    subset = subset or (gate_cfg or {}).get("subset")
    items = load_subset(load_datasets(paths), subset)
    return paths, split, settings, gate_cfg, subset, items


def run_eval(dataset: Path | None, mode: str, out: Path | None, settings: Settings | None = None,
             subset: str | None = None, gate: Path | None = None, baselines: bool | None = None,
             progress: bool = True, split: str | None = None, via_api: str | None = None,
             api_key: str | None = None) -> int:
    """Run, report, gate. Returns the process exit code (0 ok, 1 gate failed, 2 usage error).

    `split` (dev / tune / blind) and `dataset` (any file in the dataset format) are exclusive; neither = dev.
    """
    try:
        paths, split, settings, gate_cfg, subset, items = _prepare(dataset, split, mode, settings, subset, gate)
        out = out or _default_out(split, subset, settings, via_api)
        asker, path_meta = _asker(settings, via_api, api_key)
        from assistant.corpus import load_corpus

        ctx = MetricContext(doc_texts={d: doc.text for d, doc in load_corpus(settings).documents.items()})
    except AssistantError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": _git_commit(),
            "mode": "served" if via_api else mode, "split": split or "custom", "dataset": dataset_label(paths),
            "dataset_sha256": dataset_fingerprint(paths), "subset": subset or "all", "items": len(items), **path_meta}
    results = evaluate(asker, items, ctx, progress=progress)
    summary = summarise(results)
    previous, source = previous_report(out, meta)
    diff = diff_runs(previous, source, results, summary, meta)
    base, note = measure_baselines(settings) if baselines else (
        None, "Not measured in this run (pass --baselines, or see `assistant eval retrieval`).")
    write_report(out, meta, summary, breakdown(results, "category"), breakdown(results, "language"), results, diff,
                 base, note, health=_corpus_health(settings))
    return _conclude(summary, out, diff, gate_cfg)


def _conclude(summary: dict[str, Any], out: Path, diff: Any, gate_cfg: dict[str, Any] | None) -> int:
    _print_summary(summary, out)
    if diff.has_previous:
        console.print(f"regressions: {len(diff.regressions)} · fixes: {len(diff.fixes)} (vs {diff.baseline})")
    else:
        console.print(f"no diff: {diff.note or 'no previous report of this dataset'}")
    if gate_cfg is None:
        return 0
    failures = check_gate(gate_cfg, summary, diff)
    for failure in failures:
        console.print(f"[red]gate:[/red] {failure}")
    if not failures:
        console.print("[green]gate passed[/green]")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--split", choices=sorted(SPLITS), default=None,
                       help="dev = eval/dataset.jsonl (default; report in eval/reports/latest), blind = "
                            "eval/blind_a.jsonl + eval/blind_b.jsonl (report in eval/reports/blind)")
    which.add_argument("--dataset", type=Path, default=None, help="run only this JSONL (eval/dataset.jsonl format)")
    parser.add_argument("--mode", choices=["offline", "llm"], default="offline")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default: the split's, eval/reports/latest or eval/reports/blind)")
    parser.add_argument("--subset", default=None, help="ci, a category, or a file of item ids")
    parser.add_argument("--gate", type=Path, default=None, help="thresholds file (eval/gate.yaml) for CI")
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=None,
                        help="also measure the retrieval baselines (a few minutes; off unless asked)")
    parser.add_argument("--via-api", metavar="URL", default=None,
                        help="send the items through the HTTP API of the app running at URL "
                             "(e.g. http://127.0.0.1:7860) instead of this process")
    parser.add_argument("--api-key", default=None,
                        help="API key for --via-api (default: $ASSISTANT_EVAL_API_KEY; an agent key, so that "
                             "passages are returned for the retrieval metrics)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    return run_eval(args.dataset, args.mode, args.out, subset=args.subset, gate=args.gate, baselines=args.baselines,
                    progress=not args.no_progress, split=args.split, via_api=args.via_api, api_key=args.api_key)


if __name__ == "__main__":
    sys.exit(main())
