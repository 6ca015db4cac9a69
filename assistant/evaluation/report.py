"""The QA report: Markdown + HTML (same content), PNG plots, machine-readable results.json to diff against.

The report is built once as a list of sections (text, tables, images) and rendered twice, so the two
formats never drift apart.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.evaluation.diff import RESULTS_FILE, RunDiff
from assistant.evaluation.plots import plot_categories, plot_latency
from assistant.evaluation.runner import ItemResult

METRIC_COLUMNS = ("status_accuracy", "hit@1", "hit@5", "mrr", "citation_precision", "citation_recall",
                  "quotes_verified", "numeric_exact", "language_match", "turn_status_accuracy", "no_wrong_phrase")
SHORT = {"status_accuracy": "status", "citation_precision": "cit. P", "citation_recall": "cit. R",
         "quotes_verified": "quotes ok", "numeric_exact": "number", "language_match": "lang",
         "turn_status_accuracy": "turns", "no_wrong_phrase": "no wrong"}


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    table: Table | None = None
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _cut(text: str, n: int = 180) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


# --------------------------------------------------------------------------- sections


def _overall(summary: dict[str, Any], diff: RunDiff) -> Section:
    rows = []
    for name in (*METRIC_COLUMNS, "latency_p50_ms", "latency_p95_ms", "passed", "errors"):
        before, _ = diff.metric_deltas.get(name, (None, None))
        delta = "" if before is None or summary.get(name) is None else f"{summary[name] - before:+.3f}"
        rows.append([name, fmt(summary.get(name)), fmt(summary.get(f"{name}_n")), fmt(before), delta])
    return Section("Overall", [f"{summary['n']} items, {summary['passed']} passed, {summary['errors']} errors."],
                   Table(["metric", "value", "items scored", "previous", "Δ"], rows))


def _grouped(title: str, groups: dict[str, dict[str, Any]]) -> Section:
    headers = ["group", "n", "passed", *[SHORT.get(m, m) for m in METRIC_COLUMNS], "p50 ms", "p95 ms"]
    rows = [[name, fmt(s["n"]), fmt(s["passed"]), *[fmt(s.get(m)) for m in METRIC_COLUMNS],
             fmt(s.get("latency_p50_ms"), 0), fmt(s.get("latency_p95_ms"), 0)] for name, s in groups.items()]
    return Section(title, table=Table(headers, rows))


def _baselines(baselines: dict[str, Any] | None, note: str) -> Section:
    section = Section("Retrieval baselines (same run)")
    if not baselines:
        section.text.append(note or "Not measured in this run.")
        return section
    systems = baselines.get("systems", baselines)
    metrics = sorted({k for v in systems.values() if isinstance(v, dict) for k in v
                      if isinstance(v[k], int | float)})
    rows = [[name, *[fmt(v.get(m)) for m in metrics]] for name, v in systems.items() if isinstance(v, dict)]
    section.text.append(note or f"Retrieval set: {baselines.get('n', '?')} questions (eval/retrieval.jsonl).")
    section.table = Table(["system", *metrics], rows)
    return section


def _diff_sections(diff: RunDiff) -> list[Section]:
    if not diff.has_previous:
        return [Section("Diff against the previous report", ["No previous committed results.json: first run."])]
    head = Section("Diff against the previous report", [
        f"Compared with `{diff.baseline}`: {len(diff.regressions)} regressions, {len(diff.fixes)} fixes, "
        f"{len(diff.new_items)} new items, {len(diff.removed_items)} items not in this run."])
    out = [head]
    for title, rows in (("Regressions", diff.regressions), ("Fixes", diff.fixes)):
        table = Table(["id", "category", "status before → now", "failing before", "failing now", "answer now"],
                      [[r["id"], r["category"], f"{r['was']} → {r['now']}", ", ".join(r["failing_before"]),
                        ", ".join(r["failing_now"]), _cut(r["answer"], 120)] for r in rows])
        out.append(Section(f"{title} ({len(rows)})", [] if rows else ["None."], table if rows else None))
    return out


def _failures(results: Sequence[ItemResult], limit: int) -> Section:
    failed = [r for r in results if not r.passed]
    rows = []
    for r in failed[:limit]:
        expected = r.expected_status + (f" · {r.gold_number or r.gold_date}" if (r.gold_number or r.gold_date) else "")
        expected += f" · {', '.join(r.gold_clauses)}" if r.gold_clauses else ""
        given = f"{r.status} · {_cut(r.error or r.answer)}"
        bad = [k for k, v in r.scores.items() if v is not None and v < 1.0]
        rows.append([r.id, r.category, _cut(r.question, 120), expected, given, ", ".join(bad)])
    text = [f"{len(failed)} of {len(results)} items fail"
            + (f" (first {limit} shown; all are in results.json)." if len(failed) > limit else ".")]
    return Section("Failures", text, Table(["id", "category", "question", "expected", "given", "failing"], rows))


def build_sections(meta: dict[str, Any], summary: dict[str, Any], by_category: dict[str, dict[str, Any]],
                   by_language: dict[str, dict[str, Any]], results: Sequence[ItemResult], diff: RunDiff,
                   baselines: dict[str, Any] | None, baseline_note: str, failure_limit: int = 150) -> list[Section]:
    intro = Section("QA evaluation report", [
        " · ".join(f"**{k}**: {v}" for k, v in meta.items()),
        "An item passes when its status is right and its number, language, verified quotes, turn statuses "
        "and wrong-phrase checks are perfect. Retrieval and citation scores are reported but do not fail an item."])
    return [
        intro,
        _overall(summary, diff),
        _grouped("Per category", by_category),
        _grouped("Per language", by_language),
        Section("Plots", images=[("scores_by_category.png", "Scores per category"),
                                 ("latency_hist.png", "Latency histogram")]),
        _baselines(baselines, baseline_note),
        *_diff_sections(diff),
        _failures(results, failure_limit),
    ]


# --------------------------------------------------------------------------- renderers


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(sections: Sequence[Section]) -> str:
    lines: list[str] = []
    for i, s in enumerate(sections):
        lines += [f"{'#' if i == 0 else '##'} {s.title}", ""]
        for paragraph in s.text:
            lines += [paragraph, ""]
        if s.table:
            lines.append("| " + " | ".join(_md_cell(h) for h in s.table.headers) + " |")
            lines.append("|" + "---|" * len(s.table.headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in s.table.rows]
            lines.append("")
        for file, alt in s.images:
            lines += [f"![{alt}]({file})", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts)).replace("`", "")


def render_html(sections: Sequence[Section]) -> str:
    body: list[str] = []
    for i, s in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        body.append(f"<{tag}>{html.escape(s.title)}</{tag}>")
        body += [f"<p>{_inline(p)}</p>" for p in s.text]
        if s.table:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in s.table.headers)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in s.table.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        body += [f'<img src="{html.escape(f)}" alt="{html.escape(a)}">' for f, a in s.images]
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
             "th{background:#f3f3f3}img{max-width:100%;margin:1em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>QA evaluation report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


# --------------------------------------------------------------------------- writing


def write_report(out: Path, meta: dict[str, Any], summary: dict[str, Any], by_category: dict[str, dict[str, Any]],
                 by_language: dict[str, dict[str, Any]], results: Sequence[ItemResult], diff: RunDiff,
                 baselines: dict[str, Any] | None = None, baseline_note: str = "") -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "categories_png": plot_categories(by_category, out / "scores_by_category.png"),
        "latency_png": plot_latency([r.latency_ms for r in results if not r.error], out / "latency_hist.png",
                                    summary.get("latency_p50_ms"), summary.get("latency_p95_ms")),
    }
    sections = build_sections(meta, summary, by_category, by_language, results, diff, baselines, baseline_note)
    (out / "report.md").write_text(render_markdown(sections), encoding="utf-8")
    (out / "report.html").write_text(render_html(sections), encoding="utf-8")
    payload = {"meta": meta, "summary": {"overall": summary, "by_category": by_category, "by_language": by_language},
               "baselines": baselines, "items": [r.to_json() for r in results]}
    (out / RESULTS_FILE).write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str) + "\n",
                                    encoding="utf-8")
    files.update(md=out / "report.md", html=out / "report.html", results=out / RESULTS_FILE)
    return files
