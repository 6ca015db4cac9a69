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
from assistant.evaluation.runner import ItemResult, breakdown, breakdown_by_kind

METRIC_COLUMNS = ("answer_correct", "figure_stated", "status_accuracy", "hit@1", "hit@5", "mrr", "citation_precision", "citation_recall",
                  "quotes_verified", "numeric_exact", "language_match", "turn_status_accuracy", "no_wrong_phrase")
SHORT = {"answer_correct": "correct", "figure_stated": "figure", "status_accuracy": "status", "citation_precision": "cit. P", "citation_recall": "cit. R",
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

ANSWER_RULE = ("**answer_correct** (strict): the last reply has the expected status; states every key fact in its own "
               "sentences, quotes removed (items without key facts: the gold figure, when they have one); cites a "
               "gold clause when the item has gold and expects answered/not_found; and shows no internal token "
               "(snake_case, raw enum values, a bare \"none\", lines in the other language) outside quotes.")
ISSUE_KINDS = (("status", "status"), ("key fact missing", "key fact missing"), ("figure not stated", "figure not stated"),
               ("no gold clause cited", "no gold clause cited"), ("internal tokens", "internal tokens"),
               ("error", "error / no reply"), ("no reply", "error / no reply"))


def _rate(s: dict[str, Any], name: str) -> str:
    value, n = s.get(name), s.get(f"{name}_n") or 0
    if value is None or not n:
        return "–"
    return f"{value:.1%} ({round(value * n)}/{n})"


def _answer_correctness(summary: dict[str, Any], groups: Sequence[tuple[str, dict[str, dict[str, Any]]]],
                        results: Sequence[ItemResult]) -> Section:
    """The headline: answer_correct overall, by language, persona and dialogue, and calculation figures."""
    rows = [["all items", "", _rate(summary, "answer_correct"), _rate(summary, "figure_stated")]]
    for label, by in groups:
        rows += [[label, name, _rate(s, "answer_correct"), _rate(s, "figure_stated")] for name, s in by.items()]
    text = [f"**answer_correct: {_rate(summary, 'answer_correct')}** · calculation items (gold_number) with the "
            f"right figure stated outside quotes: **{_rate(summary, 'figure_stated')}**", ANSWER_RULE]
    counts: dict[str, int] = {}
    for r in results:
        kinds = {label for prefix, label in ISSUE_KINDS for issue in r.answer_issues if issue.startswith(prefix)}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
    if counts:
        text.append("Items failing each check (an item may fail several): "
                    + " · ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) + ".")
    return Section("Answer correctness (strict)", text,
                   Table(["breakdown", "group", "answer_correct", "figure stated (calculation items)"], rows))



def _overall(summary: dict[str, Any], diff: RunDiff) -> Section:
    rows = []
    for name in (*METRIC_COLUMNS, "latency_p50_ms", "latency_p95_ms", "answer_p50_ms", "answer_p95_ms", "passed",
                 "errors"):
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
        return [Section("Diff against the previous report",
                        [diff.note or "No previous results.json of the same dataset: no diff."])]
    head = Section("Diff against the previous report", [
        f"Compared with `{diff.baseline}`: {len(diff.regressions)} regressions, {len(diff.fixes)} fixes, "
        f"{len(diff.new_items)} new items, {len(diff.removed_items)} items not in this run."
        + (f" {diff.note}" if diff.note else "")])
    out = [head]
    for title, rows in (("Regressions", diff.regressions), ("Fixes", diff.fixes)):
        table = Table(["id", "category", "status before → now", "failing before", "failing now", "answer now"],
                      [[r["id"], r["category"], f"{r['was']} → {r['now']}", ", ".join(r["failing_before"]),
                        ", ".join(r["failing_now"]), _cut(r["answer"], 120)] for r in rows])
        out.append(Section(f"{title} ({len(rows)})", [] if rows else ["None."], table if rows else None))
    return out


def _failures(results: Sequence[ItemResult], limit: int) -> Section:
    failed = [r for r in results if not r.passed or r.scores.get("answer_correct") == 0.0]
    rows = []
    for r in failed[:limit]:
        expected = r.expected_status + (f" · {r.gold_number or r.gold_date}" if (r.gold_number or r.gold_date) else "")
        expected += f" · {', '.join(r.gold_clauses)}" if r.gold_clauses else ""
        given = f"{r.status} · {_cut(r.error or r.answer)}"
        bad = [k for k, v in r.scores.items() if v is not None and v < 1.0]
        rows.append([r.id, r.category, _cut(r.question, 120), expected, given, ", ".join(bad),
                     "; ".join(r.answer_issues)])
    n_pass_rule = sum(not r.passed for r in results)
    n_strict = sum(r.scores.get("answer_correct") == 0.0 for r in results)
    text = [f"{n_pass_rule} of {len(results)} items fail the pass rule and {n_strict} fail answer_correct; "
            f"{len(failed)} fail either"
            + (f" (first {limit} shown; all are in results.json)." if len(failed) > limit else ".")]
    return Section("Failures", text, Table(["id", "category", "question", "expected", "given", "failing metrics",
                                            "answer_correct issues"], rows))


def build_sections(meta: dict[str, Any], summary: dict[str, Any], by_category: dict[str, dict[str, Any]],
                   by_language: dict[str, dict[str, Any]], results: Sequence[ItemResult], diff: RunDiff,
                   baselines: dict[str, Any] | None, baseline_note: str, failure_limit: int = 150,
                   by_persona: dict[str, dict[str, Any]] | None = None,
                   by_kind: dict[str, dict[str, Any]] | None = None, health: Any = None) -> list[Section]:
    by_persona = by_persona if by_persona is not None else breakdown(results, "persona")
    by_kind = by_kind if by_kind is not None else breakdown_by_kind(results)
    intro = Section("QA evaluation report", [
        " · ".join(f"**{k}**: {str(v)[:12] if k == 'dataset_sha256' else v}" for k, v in meta.items()),
        "An item passes when its status is right and its number, language, verified quotes, turn statuses "
        "and wrong-phrase checks are perfect (the `passed` count, used by the diff and the gate); answer_correct "
        "is the stricter rule above it. Retrieval and citation scores are reported but do not fail an item."])
    return [
        intro,
        _answer_correctness(summary, [("language", by_language), ("persona", by_persona), ("kind", by_kind)],
                            results),
        _overall(summary, diff),
        _grouped("Per category", by_category),
        _grouped("Per language", by_language),
        _grouped("Per persona", by_persona),
        _grouped("Dialogues vs single questions", by_kind),
        Section("Plots", images=[("scores_by_category.png", "Scores per category"),
                                 ("latency_hist.png", "Latency histogram")]),
        _baselines(baselines, baseline_note),
        *_diff_sections(diff),
        _failures(results, failure_limit),
        *([_health(health)] if health is not None else []),
    ]


def _health(health: Any) -> Section:
    """The corpus health check (contradictions first): what the answers rest on, found automatically."""
    from assistant.corpus.health_view import counts_rows, finding_rows

    counts = ", ".join(f"{label}: {n}" for label, n in counts_rows(health))
    rows = finding_rows(health)
    return Section("Corpus health", text=[f"Found automatically in the documents ({counts}). Contradictions and "
                                          "references to missing articles (answers relying on a conflicting "
                                          "fact state both values):"],
                   table=Table(["finding", "operator", "clauses", "what", "quote"], rows) if rows else None)


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
                 baselines: dict[str, Any] | None = None, baseline_note: str = "",
                 health: Any = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    by_persona, by_kind = breakdown(results, "persona"), breakdown_by_kind(results)
    files = {
        "categories_png": plot_categories(by_category, out / "scores_by_category.png"),
        "latency_png": plot_latency([r.latency_ms for r in results if not r.error], out / "latency_hist.png",
                                    summary.get("latency_p50_ms"), summary.get("latency_p95_ms")),
    }
    sections = build_sections(meta, summary, by_category, by_language, results, diff, baselines, baseline_note,
                              by_persona=by_persona, by_kind=by_kind, health=health)
    (out / "report.md").write_text(render_markdown(sections), encoding="utf-8")
    (out / "report.html").write_text(render_html(sections), encoding="utf-8")
    payload = {"meta": meta, "summary": {"overall": summary, "by_category": by_category, "by_language": by_language,
                                         "by_persona": by_persona, "by_kind": by_kind},
               "baselines": baselines, "items": [r.to_json() for r in results]}
    (out / RESULTS_FILE).write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str) + "\n",
                                    encoding="utf-8")
    files.update(md=out / "report.md", html=out / "report.html", results=out / RESULTS_FILE)
    return files
