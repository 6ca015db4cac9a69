"""How much of what the documents state in figures the rules files quote.

Every sentence of every clause that states an amount in euros, a duration or deadline (days, weeks, months,
years, hours; digits or words) or a percentage is a *figure sentence*. A figure sentence is covered when a
rules quote overlaps it where the quote stands: the quote is looked up (ignoring whitespace) inside the clause
its source cites, and one of its occurrences lies inside the sentence or contains it (or, running across the
sentence's edge, shares with it the words that state the figure). Position matters: a short
quote of one clause ("la date d'émission de la facture constitue la date d'échéance") does not cover the same
words repeated in thirty other clauses. A sentence is covered by exclusion when
`knowledge/coverage_exclusions.yaml` puts it out of scope with a reason, and uncovered otherwise. Nothing here
knows an operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.corpus.figures import KINDS, Sentence, document_sentences, figure_spans
from assistant.corpus.loader import Corpus, fold
from assistant.errors import CorpusError

if TYPE_CHECKING:
    from assistant.models import Clause
    from assistant.tools.rules import RuleBook, Source

EXCLUSIONS_FILE = "coverage_exclusions.yaml"


def squash(text: str) -> str:
    """Whitespace-insensitive form used to compare quotes and sentences."""
    return "".join(ch for ch in text if not ch.isspace())


class Squashed:
    """A text without its whitespace, mapped back to the original offsets."""

    def __init__(self, text: str):
        self.keep = [i for i, ch in enumerate(text) if not ch.isspace()]
        self.text = "".join(text[i] for i in self.keep)
        self.length = len(text)

    def find(self, quote: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
        """Original (start, end) of every occurrence of `quote` (whitespace ignored) lying within [lo, hi)."""
        q = squash(quote)
        hi = self.length if hi is None else hi
        spans: list[tuple[int, int]] = []
        k = self.text.find(q) if q else -1
        while k >= 0:
            start, end = self.keep[k], self.keep[k + len(q) - 1] + 1
            if lo <= start and end <= hi:
                spans.append((start, end))
            k = self.text.find(q, k + 1)
        return spans


def overlaps(span: tuple[int, int], sentence: tuple[int, int], figures: list[tuple[int, int]] = ()) -> bool:
    """The quote's span inside the sentence's, or the sentence's inside the quote's; or, for a quote that runs
    across the sentence's edge, the part they share holds one of the sentence's figures (`figures`: absolute
    spans) - "... communications effectuées. Ce relevé est disponible gratuitement durant une période de 6 mois"
    covers the next sentence, whose own figure it quotes."""
    (qs, qe), (ss, se) = span, sentence
    if (ss <= qs and qe <= se) or (qs <= ss and se <= qe):
        return True
    lo, hi = max(qs, ss), min(qe, se)
    return lo < hi and any(lo <= fs and fe <= hi for fs, fe in figures)


# ------------------------------------------------------------------------------------------ exclusions


class Exclusion(BaseModel):
    """A figure sentence deliberately left out of the rules, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    doc_id: str
    clause_id: str  # as printed, or "A..B" for the consecutive clauses from A to B (a machine-repeated run)
    part: str | None = None
    quote: str = Field(min_length=3)  # a fragment of the sentence(s), verbatim up to whitespace
    reason: str = Field(min_length=3)

    @property
    def label(self) -> str:
        return f"{self.doc_id} {self.part + ' › ' if self.part else ''}{self.clause_id}"


class ExclusionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exclusions: list[Exclusion] = Field(default_factory=list)


def load_exclusions(path: Path) -> list[Exclusion]:
    """The exclusions of `path` (none when the file does not exist); a malformed file is one clear line."""
    if not path.is_file():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CorpusError(f"{path.name} is not readable YAML: {str(exc).splitlines()[0]}") from exc
    try:
        return ExclusionFile.model_validate(raw or {}).exclusions
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CorpusError(f"{path.name}: {where}: {first['msg']}") from exc


def _same_part(clause: Clause, part: str | None) -> bool:
    return part is None or (clause.part is not None and fold(clause.part).strip() == fold(part).strip())


def excluded_clauses(corpus: Corpus, exclusion: Exclusion) -> list[Clause]:
    """The clauses an exclusion names (one clause, or a run "A..B" in document order); raises when unknown."""
    doc = corpus.documents.get(exclusion.doc_id)
    if doc is None:
        raise CorpusError(f"{EXCLUSIONS_FILE}: unknown document {exclusion.doc_id!r}")
    first, _, last = (p.strip() for p in exclusion.clause_id.partition(".."))
    clauses = [c for c in doc.clauses if _same_part(c, exclusion.part)]
    ids = [c.clause_id for c in clauses]
    if first not in ids or (last and last not in ids[ids.index(first):]):
        raise CorpusError(f"{EXCLUSIONS_FILE}: clause {exclusion.clause_id!r} not found in {exclusion.label}")
    i = ids.index(first)
    j = ids.index(last, i) if last else i
    return clauses[i:j + 1]


# ------------------------------------------------------------------------------------------ report

Status = Literal["rules", "excluded", "uncovered"]


class SentenceCoverage(BaseModel):
    doc_id: str
    clause_id: str
    part: str | None = None
    kinds: list[str]
    text: str
    start: int
    end: int
    status: Status
    reason: str = ""  # the exclusion's reason
    repeated_run: bool = False  # the clause is a machine-repeated copy (see `assistant corpus`)

    @property
    def ref(self) -> str:
        return f"{self.part} › {self.clause_id}" if self.part else self.clause_id


class Share(BaseModel):
    total: int = 0
    by_rules: int = 0
    by_exclusion: int = 0

    @property
    def uncovered(self) -> int:
        return self.total - self.by_rules - self.by_exclusion

    @property
    def covered(self) -> int:
        return self.by_rules + self.by_exclusion

    def share(self, rules_only: bool = False) -> float | None:
        if not self.total:
            return None
        return (self.by_rules if rules_only else self.covered) / self.total

    def add(self, status: Status) -> None:
        self.total += 1
        self.by_rules += status == "rules"
        self.by_exclusion += status == "excluded"

    def as_dict(self) -> dict[str, float | int | None]:
        share, rules = self.share(), self.share(rules_only=True)
        return {"total": self.total, "by_rules": self.by_rules, "by_exclusion": self.by_exclusion,
                "uncovered": self.uncovered, "share": None if share is None else round(share, 4),
                "share_rules_only": None if rules is None else round(rules, 4)}


def _shares(sentences: Iterable[SentenceCoverage]) -> dict[str, Share]:
    out = {k: Share() for k in (*KINDS, "any")}
    for s in sentences:
        for k in (*s.kinds, "any"):
            out[k].add(s.status)
    return out


# A clause this long says something a customer may ask about; shorter ones are titles and form fields.
CLAUSE_MIN_CHARS = 120


class DocumentCoverage(BaseModel):
    doc_id: str
    operator: str
    shares: dict[str, Share]
    clauses: int = 0  # clauses of at least CLAUSE_MIN_CHARS characters ...
    clauses_cited: int = 0  # ... that a rules fact cites: what the replies can say in words rather than quote


class CoverageReport(BaseModel):
    documents: list[DocumentCoverage]
    overall: dict[str, Share]
    sentences: list[SentenceCoverage]  # every figure sentence, in document order
    unused_exclusions: list[Exclusion] = Field(default_factory=list)  # match no figure sentence: stale?

    @property
    def uncovered(self) -> list[SentenceCoverage]:
        return [s for s in self.sentences if s.status == "uncovered"]

    @property
    def excluded(self) -> list[SentenceCoverage]:
        return [s for s in self.sentences if s.status == "excluded"]

    def as_json(self) -> dict:
        return {
            "overall": {k: v.as_dict() for k, v in self.overall.items()},
            "clauses": {"total": sum(d.clauses for d in self.documents),
                        "cited": sum(d.clauses_cited for d in self.documents)},
            "documents": [{"doc_id": d.doc_id, "operator": d.operator, "clauses": d.clauses,
                           "clauses_cited": d.clauses_cited,
                           **{k: v.as_dict() for k, v in d.shares.items()}} for d in self.documents],
            "uncovered": [_sentence_json(s) for s in self.uncovered],
            "excluded": [{**_sentence_json(s), "reason": s.reason} for s in self.excluded],
            "unused_exclusions": [e.model_dump() for e in self.unused_exclusions],
        }


def _sentence_json(s: SentenceCoverage) -> dict:
    return {"doc_id": s.doc_id, "clause_id": s.clause_id, "part": s.part, "kinds": s.kinds, "text": s.text,
            "start": s.start, "end": s.end, "repeated_run": s.repeated_run}


# ------------------------------------------------------------------------------------------ measure


def rule_sources(rules: RuleBook | None) -> dict[str, list[Source]]:
    """Every citation of every rules file, by document."""
    out: dict[str, list[Source]] = {}
    for op in rules.operators() if rules else []:
        for src in rules.for_operator(op).all_sources():
            out.setdefault(src.doc_id, []).append(src)
    return out


def measure(corpus: Corpus, rules: RuleBook | None, exclusions: list[Exclusion] | None = None) -> CoverageReport:
    sources = rule_sources(rules)
    exclusions = exclusions or []
    rows: list[SentenceCoverage] = []
    documents: list[DocumentCoverage] = []
    excluded_spans = _exclusion_spans(corpus, exclusions)
    used: set[int] = set()
    for doc in corpus.documents.values():
        squashed = Squashed(doc.text)
        quoted: list[tuple[int, int]] = []
        for src in sources.get(doc.meta.doc_id, []):
            clause = corpus.find_clause(src.doc_id, src.clause_id, src.part)
            quoted += squashed.find(src.quote, *((clause.start, clause.end) if clause else (0, None)))
        doc_rows: list[SentenceCoverage] = []
        for clause in doc.clauses:
            for sentence in document_sentences([clause]):
                if sentence.kinds:
                    doc_rows.append(_judge(sentence, quoted, excluded_spans.get(doc.meta.doc_id, []), exclusions, used))
        rows += doc_rows
        long = [c for c in doc.clauses if len(c.text) >= CLAUSE_MIN_CHARS]
        cited = {(src.part, src.clause_id) for src in sources.get(doc.meta.doc_id, [])}
        documents.append(DocumentCoverage(doc_id=doc.meta.doc_id, operator=doc.meta.operator,
                                          shares=_shares(doc_rows), clauses=len(long),
                                          clauses_cited=sum(_cited(c, cited) for c in long)))
    unused = [e for i, e in enumerate(exclusions) if i not in used]
    return CoverageReport(documents=documents, overall=_shares(rows), sentences=rows, unused_exclusions=unused)


def _cited(clause: Clause, cited: set[tuple[str | None, str]]) -> bool:
    """A rules source cites the clause or one of its sub-clauses (8.5 -> 8.5.12), in the same part."""
    own = fold(clause.part or "").strip()
    return any(fold(part or "").strip() == own and (cid == clause.clause_id or cid.startswith(f"{clause.clause_id}."))
               for part, cid in cited)


def _exclusion_spans(corpus: Corpus, exclusions: list[Exclusion]) -> dict[str, list[tuple[int, int, int]]]:
    """doc id -> (start, end, exclusion index) of every occurrence of an exclusion's fragment in its clauses."""
    out: dict[str, list[tuple[int, int, int]]] = {}
    for i, e in enumerate(exclusions):
        if e.doc_id not in corpus.documents:
            continue  # a document this knowledge dir does not hold: the entry is reported as unused
        squashed = Squashed(corpus.documents[e.doc_id].text)
        spans = [span for c in excluded_clauses(corpus, e) for span in squashed.find(e.quote, c.start, c.end)]
        if not spans:
            raise CorpusError(f"{EXCLUSIONS_FILE}: quote {e.quote[:50]!r} is not in {e.label}")
        out.setdefault(e.doc_id, []).extend((s, t, i) for s, t in spans)
    return out


def _judge(sentence: Sentence, quoted: list[tuple[int, int]], excluded: list[tuple[int, int, int]],
           exclusions: list[Exclusion], used: set[int]) -> SentenceCoverage:
    where = (sentence.start, sentence.end)
    figures = [(sentence.start + a, sentence.start + b) for a, b in figure_spans(sentence.text)]
    status: Status = "uncovered"
    reason = ""
    if any(overlaps(span, where, figures) for span in quoted):
        status = "rules"
    for start, end, i in excluded:
        if overlaps((start, end), where):
            used.add(i)
            if status == "uncovered":
                status, reason = "excluded", exclusions[i].reason
    return SentenceCoverage(doc_id=sentence.doc_id, clause_id=sentence.clause_id, part=sentence.part,
                            kinds=list(sentence.kinds), text=sentence.text, start=sentence.start, end=sentence.end,
                            status=status, reason=reason, repeated_run=sentence.duplicate_of is not None)


def measure_knowledge(knowledge_dir: Path) -> CoverageReport:
    """Coverage of the knowledge dir as it is on disk (documents, rules, exclusions)."""
    from assistant.corpus import load_corpus_from
    from assistant.tools.rules import load_rules

    corpus = load_corpus_from(knowledge_dir)
    return measure(corpus, load_rules(knowledge_dir / "rules"), load_exclusions(knowledge_dir / EXCLUSIONS_FILE))
