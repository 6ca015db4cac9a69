"""Terminal rendering of `assistant corpus --coverage` and `assistant corpus --health` (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from assistant.corpus.coverage import CLAUSE_MIN_CHARS, CoverageReport, Share
from assistant.corpus.health import HealthReport

KIND_LABELS = {"amount": "amounts (€)", "duration": "durations", "percent": "percentages", "any": "all figures"}


def _cell(share: Share) -> str:
    if not share.total:
        return "—"
    text = f"{share.covered}/{share.total} ({share.share():.0%})"
    if share.by_exclusion:
        text += f"\nrules {share.by_rules} ({share.share(rules_only=True):.0%}) + excl. {share.by_exclusion}"
    return text


def print_coverage(report: CoverageReport, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Figure sentences quoted by the rules (covered = by a rules quote or by an exclusion)")
    table.add_column("document")
    table.add_column("operator")
    for label in KIND_LABELS.values():
        table.add_column(label)
    for doc in report.documents:
        table.add_row(doc.doc_id, doc.operator, *(_cell(doc.shares[k]) for k in KIND_LABELS))
    table.add_row("overall", "", *(_cell(report.overall[k]) for k in KIND_LABELS), style="bold")
    console.print(table)
    total, cited = sum(d.clauses for d in report.documents), sum(d.clauses_cited for d in report.documents)
    console.print(f"Clauses of {CLAUSE_MIN_CHARS}+ characters cited by a rules fact: {cited}/{total} "
                  + ", ".join(f"{d.operator} {d.clauses_cited}/{d.clauses}" for d in report.documents))

    uncovered = report.uncovered
    if uncovered:
        t = Table(title=f"Uncovered figure sentences ({len(uncovered)})")
        for col in ("document", "clause", "figures", "sentence"):
            t.add_column(col)
        for s in uncovered:
            t.add_row(s.doc_id, s.ref, ", ".join(s.kinds), " ".join(s.text.split()))
        console.print(t)
    else:
        console.print("No uncovered figure sentence.")

    excluded = report.excluded
    if excluded:
        groups: dict[tuple[str, str], list] = {}
        for s in excluded:
            groups.setdefault((s.doc_id, s.reason), []).append(s)
        t = Table(title=f"Figure sentences excluded on purpose ({len(excluded)}; --json lists each)")
        for col in ("document", "clauses", "sentences", "first sentence", "reason"):
            t.add_column(col)
        for (doc_id, reason), rows in groups.items():
            refs = rows[0].ref if len(rows) == 1 else f"{rows[0].ref} .. {rows[-1].ref}"
            t.add_row(doc_id, refs, str(len(rows)), " ".join(rows[0].text.split())[:120], " ".join(reason.split()))
        console.print(t)
    for e in report.unused_exclusions:
        console.print(f"[yellow]unused exclusion[/yellow] {e.label}: {e.quote!r} matches no figure sentence")


def print_health(report: HealthReport, console: Console | None = None) -> None:
    console = console or Console()
    counts = report.counts()
    summary = Table(title="Knowledge health: findings per kind")
    summary.add_column("kind")
    summary.add_column("findings", justify="right")
    for kind, n in counts.items():
        summary.add_row(kind, str(n))
    summary.add_row("total", str(len(report.findings)), style="bold")
    console.print(summary)
    table = Table(title="Findings (quotes are exact substrings of the normalised documents)")
    for col in ("kind", "document", "clauses", "message", "quotes"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        quotes = "\n".join(f"« {' '.join(q.split())[:160]} »" for q in f.quotes[:3])
        if len(f.quotes) > 3:
            quotes += f"\n(+{len(f.quotes) - 3} more)"
        table.add_row(f.kind, f.doc_id, "\n".join(f.clause_ids), f.message, quotes)
    console.print(table)
