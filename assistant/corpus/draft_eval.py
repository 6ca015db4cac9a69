"""How close `assistant rules draft` comes to the curated rules files: `python -m assistant.corpus.draft_eval`.

Each document of the manifest is drafted as if it were new (the draft tool reads the document, its manifest
entry and the needs file, never a rules file), then its drafted facts are compared with the curated
`knowledge/rules/<operator>.yaml`:

- a curated **amount** (every value of every fact of the file that carries an amount, typed facts included;
  one per amount, clause and quote) is *recalled* when a drafted fact has the same amount and its quote overlaps
  the curated quote in the document or lies in the same clause;
- a drafted amount fact is *correct* (precision) when it recalls at least one curated amount;
- the guessed need is *right* when it is the need of the matched curated fact (for an open fact), or one of the
  needs `knowledge/needs.yaml` serves that typed fact with (a fee of kind k: the needs listing `fee:k` or
  `fee:*`; a notice: the needs listing `notice`...).

Durations (days, months, hours) and percentages are measured the same way, for information. The curated
files were written from these same documents by people, so "curated" is the reference, not ground truth
beyond doubt: a drafted amount the curators left out counts against precision.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from assistant.corpus.coverage import Squashed
from assistant.corpus.draft import Draft, DraftFact, draft_rules
from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.corpus.loader import Corpus
    from assistant.tools.rules import Fact, OperatorRules, Value

DURATIONS = ("days", "months", "hours")


@dataclass
class Curated:
    value: Value
    needs: set[str]
    clause_start: int | None
    spans: list[tuple[int, int]]

    @property
    def kind(self) -> str:
        return self.value.kind

    @property
    def number(self) -> Decimal:
        return self.value.number


@dataclass
class DocScore:
    doc_id: str
    operator: str
    kinds: tuple[str, ...]
    curated: int = 0
    recalled: int = 0
    recalled_by_quote: int = 0  # stricter: the drafted quote overlaps the curated quote
    drafted: int = 0
    correct: int = 0
    need_right: int = 0
    missed: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.correct / self.drafted if self.drafted else None

    @property
    def recall(self) -> float | None:
        return self.recalled / self.curated if self.curated else None

    @property
    def need_share(self) -> float | None:
        return self.need_right / self.correct if self.correct else None

    def add(self, other: DocScore) -> None:
        for name in ("curated", "recalled", "recalled_by_quote", "drafted", "correct", "need_right"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        return {"doc_id": self.doc_id, "operator": self.operator, "curated": self.curated, "recalled": self.recalled,
                "recall": self.recall, "recalled_by_quote": self.recalled_by_quote, "drafted": self.drafted, "correct": self.correct, "precision": self.precision,
                "need_right": self.need_right, "need_share": self.need_share, "missed": self.missed,
                "unmatched": self.unmatched}


def selector_needs(needs_path: Path) -> dict[str, set[str]]:
    """Fact selector of the needs file (notice, fee:kind, fee:*...) -> the needs it serves."""
    raw = yaml.safe_load(needs_path.read_text(encoding="utf-8")) or {}
    out: dict[str, set[str]] = {}
    for n in raw.get("needs", []):
        for selector in n.get("facts") or []:
            out.setdefault(str(selector), set()).add(n["id"])
    return out


def _typed_facts(rules: OperatorRules) -> list[tuple[Fact, str]]:
    """Every fact of a rules file with the selector of the needs file that reaches it."""
    out: list[tuple[Fact, str]] = [(f, f"need:{f.need}") for f in rules.facts]
    out += [(f, f"fee:{f.kind}") for f in rules.fees]
    for name in ("interest", "deposit", "outage", "call_rating", "liability", "interim_invoice", "reduction_limit"):
        out += [(f, name) for f in getattr(rules, name)]
    out += [(r.yearly_cap, "liability") for r in rules.liability if r.yearly_cap is not None]
    if rules.moving_recommitment is not None:
        out.append((rules.moving_recommitment, "moving_recommitment"))
    for s in rules.services:
        out += [(s.minimum_term, "minimum_term"), (s.renewal, "renewal"), (s.notice, "notice")]
        out += [(n, "notice") for n in (s.notice_renewed, s.notice_no_commitment) if n is not None]
    for c in rules.early_termination:
        out += [(f, "early_termination") for f in (c.cap_months, c.flat_fee) if f is not None]
    return out


def curated_values(rules: OperatorRules, corpus: Corpus, selectors: dict[str, set[str]]) -> list[Curated]:
    """One entry per figure, clause and quote of the curated file, with the needs that may answer it."""
    out: dict[tuple, Curated] = {}
    squashed: dict[str, Squashed] = {}
    for fact, selector in _typed_facts(rules):
        if selector.startswith("need:"):
            needs = {selector[5:]}
        elif selector.startswith("fee:"):
            needs = selectors.get(selector, set()) | selectors.get("fee:*", set())
        else:
            needs = selectors.get(selector, set())
        for v in fact.values:
            src = v.source
            clause = corpus.find_clause(src.doc_id, src.clause_id, src.part)
            doc = corpus.documents.get(src.doc_id)
            if doc is None:
                continue
            sq = squashed.setdefault(src.doc_id, Squashed(doc.text))
            spans = sq.find(src.quote, *((clause.start, clause.end) if clause else (0, None)))
            key = (v.kind, v.number, src.doc_id, clause.start if clause else None, src.quote)
            if key in out:
                out[key].needs |= needs
            else:
                out[key] = Curated(v, set(needs), clause.start if clause else None, spans)
    return list(out.values())


def _kind(f: DraftFact) -> str:
    return f.figure.kind


def matches(c: Curated, f: DraftFact, clause_start: int | None, quote_only: bool = False) -> bool:
    """Same figure, and the drafted quote overlaps the curated one or (unless `quote_only`) is in its clause."""
    if c.kind != _kind(f) or c.number != f.figure.number:
        return False
    if not quote_only and c.clause_start is not None and c.clause_start == clause_start:
        return True
    return any(s < f.end and f.start < e for s, e in c.spans)


def score(draft: Draft, curated: list[Curated], corpus: Corpus, kinds: tuple[str, ...], operator: str) -> DocScore:
    result = DocScore(draft.doc_id, operator, kinds)
    wanted = [c for c in curated if c.kind in kinds]
    facts = [f for f in draft.facts if _kind(f) in kinds]
    starts = {}
    for f in facts:
        clause = corpus.find_clause(draft.doc_id, f.sentence.clause_id, f.sentence.part)
        starts[id(f)] = clause.start if clause else None
    result.curated, result.drafted = len(wanted), len(facts)
    for c in wanted:
        if any(matches(c, f, starts[id(f)]) for f in facts):
            result.recalled += 1
            result.recalled_by_quote += any(matches(c, f, starts[id(f)], quote_only=True) for f in facts)
        else:
            result.missed.append(f"{c.number} {c.kind} [{c.value.source.part + ' › ' if c.value.source.part else ''}"
                                 f"{c.value.source.clause_id}] {' '.join(c.value.source.quote.split())[:90]}")
    for f in facts:
        hits = [c for c in wanted if matches(c, f, starts[id(f)])]
        if hits:
            result.correct += 1
            result.need_right += any(f.need in c.needs for c in hits)
        else:
            result.unmatched.append(f"{f.figure.number} {f.figure.kind} [{f.sentence.ref}] "
                                    f"{' '.join(f.quote.split())[:90]}")
    return result


@dataclass
class DraftCheck:
    """What the draft of one document holds, and whether it loads and cites like a curated file."""

    doc_id: str
    operator: str
    figure_sentences: int
    unread: int
    facts: int
    quotes_in_clause: int
    loads: bool


def check_draft(draft: Draft, corpus: Corpus, operator: str) -> DraftCheck:
    """Write the draft, load it with `parse_rules_file`, and look every quote up in the clause its id resolves to."""
    import tempfile

    from assistant.tools.rules import parse_rules_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "draft.yaml"
        path.write_text(draft.to_yaml(), encoding="utf-8")
        rules = parse_rules_file(path)
    verified = 0
    for fact in rules.facts:
        src = fact.values[0].source
        clause = corpus.find_clause(src.doc_id, src.clause_id, src.part)
        verified += clause is not None and src.quote in clause.text
    return DraftCheck(draft.doc_id, operator, draft.figure_sentences, len(draft.unread), len(rules.facts), verified,
                      all(f.draft for f in rules.facts))


def evaluate(knowledge_dir: Path) -> tuple[dict[str, list[DocScore]], list[DraftCheck]]:
    """Per measured kind ("amount", "duration", "percent"): one score per document, then the overall one; and
    per document, the check of its draft."""
    from assistant.corpus import load_corpus_from
    from assistant.tools.rules import load_rules

    corpus = load_corpus_from(knowledge_dir)
    needs_path = knowledge_dir / "needs.yaml"
    selectors = selector_needs(needs_path)
    book = load_rules(knowledge_dir / "rules")
    groups = {"amount": ("amount",), "duration": DURATIONS, "percent": ("percent",)}
    out: dict[str, list[DocScore]] = {g: [] for g in groups}
    checks = []
    for doc in corpus.documents.values():
        draft = draft_rules(doc, needs_path)  # the draft sees the document and the needs file only
        checks.append(check_draft(draft, corpus, doc.meta.operator))
        rules = book.for_operator(doc.meta.operator)
        curated = [c for c in curated_values(rules, corpus, selectors) if c.value.source.doc_id == doc.meta.doc_id]
        for g, kinds in groups.items():
            out[g].append(score(draft, curated, corpus, kinds, doc.meta.operator))
    for g, kinds in groups.items():
        total = DocScore("overall", "overall", kinds)
        for s in out[g]:
            total.add(s)
        out[g].append(total)
    return out, checks


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _table(scores: list[DocScore]) -> list[str]:
    lines = ["| document | curated | recalled | recall | recall, quotes overlapping | drafted | correct | precision "
             "| need guessed right |", "|---|---|---|---|---|---|---|---|---|"]
    for s in scores:
        name = "**overall**" if s.doc_id == "overall" else f"{s.operator} ({s.doc_id[:3]})"
        need = "—" if not s.correct else f"{s.need_right}/{s.correct} ({_pct(s.need_share)})"
        strict = _pct(s.recalled_by_quote / s.curated if s.curated else None)
        lines.append(f"| {name} | {s.curated} | {s.recalled} | {_pct(s.recall)} | {strict} | {s.drafted} | {s.correct} | "
                     f"{_pct(s.precision)} | {need} |")
    return lines


def report(results: dict[str, list[DocScore]], checks: list[DraftCheck]) -> str:
    lines = ["# Drafting rules from a document: `assistant rules draft` against the curated rules", "",
             "Generated by `python -m assistant.corpus.draft_eval --out eval/reports/rules_draft.md`. Each document "
             "is drafted as if new (the draft tool never reads a rules file), then compared with "
             "`knowledge/rules/<operator>.yaml`. A curated figure is recalled when a drafted fact has the same "
             "figure and its quote overlaps the curated quote or lies in the same clause; a drafted fact is correct "
             "when it recalls a curated figure. \"Need guessed right\" is over the correct drafted facts: the "
             "guessed need is the curated fact's need, or one the needs file serves that typed fact with.", "",
             "## The drafts", "",
             "| document | figure sentences | no figure read | drafted facts | quotes verbatim in their clause | "
             "loads with parse_rules_file |", "|---|---|---|---|---|---|",
             *[f"| {c.operator} ({c.doc_id[:3]}) | {c.figure_sentences} | {c.unread} | {c.facts} | "
               f"{c.quotes_in_clause}/{c.facts} | {'yes' if c.loads else 'no'} |" for c in checks], "",
             "## Amounts", "", *_table(results["amount"]), "",
             "## Durations (days, months, hours) and percentages, for information", "",
             "Durations:", "", *_table(results["duration"]), "", "Percentages:", "", *_table(results["percent"]), "",
             "## Limits of this measure", "",
             "- These five documents are the ones the tool was written against: the amount forms read beyond "
             "`assistant/corpus/figures.py` (currency and tax before the number, `+` chains, ranges, "
             "\"40 (quarante) euros\") and the weights of the need guess were chosen after reading them, so the "
             "figures above are optimistic; a new operator's text is the real test.",
             "- \"Same clause\" is lenient for long clauses; the stricter column (the drafted quote overlaps the "
             "curated quote) is shown next to it.",
             "- Precision counts drafted figures the curated files also hold. The curated files quote every amount "
             "sentence of the documents (`assistant corpus --coverage`), so a drafted amount without a match would "
             "be a misread figure. For durations and percentages an unmatched draft is mostly a figure the curated file "
             "holds outside `values` (outage tiers, `min_days`, `reference_months`), a figure it leaves out (times of "
             "day \"entre 22 h et 6 h\", \"24 heures sur 24\", backup retention of an order form) or a second "
             "mention of a figure quoted elsewhere.",
             "- \"Free\" (`gratuit`) is not read as an amount of 0; those are the misses below.",
             "- The draft writes open facts only: fees, notice periods, minimum terms and the other typed facts the "
             "calculators use are left to the reviewer (services are placeholders), labels are cut mechanically and "
             "`label_en` is the French label marked \"(to translate)\".", "",
             "## Amounts missed and amounts drafted without a curated match", ""]
    for s in results["amount"][:-1]:
        if s.missed or s.unmatched:
            lines.append(f"**{s.operator}**")
            lines.append("")
            lines += [f"- missed: {m}" for m in s.missed]
            lines += [f"- drafted, no curated match: {m}" for m in s.unmatched]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.corpus.draft_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, help="knowledge dir (default: the settings' knowledge dir)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of Markdown")
    args = parser.parse_args(argv)
    try:
        if args.knowledge is None:
            from assistant.config import get_settings

            args.knowledge = get_settings().knowledge_dir
        results, checks = evaluate(args.knowledge)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = report(results, checks)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        print(json.dumps({**{g: [s.as_dict() for s in scores] for g, scores in results.items()},
                          "drafts": [c.__dict__ for c in checks]}, ensure_ascii=False, indent=2, default=str))
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
