"""Health of the knowledge base: what in the documents and the rules a reader (or an answer) may trip on.

`check(corpus, rules)` returns a `HealthReport` whose findings each name a kind, the document, the clauses, a
one-line message and quotes that are exact substrings of the normalised text (checked before a finding is
kept). Generic: nothing here knows an operator or a document.

Kinds
- numbering_gap      consecutive numbered clauses skip a number (from the segmenter's record of gaps)
- missing_article    whole top-level articles are absent from the numbering
- repeated_run       a machine-repeated run of near-identical clauses (the segmenter's collapsed runs)
- missing_reference  the text cites "article 11.3" / "l'article 16" / "art. 4.9" and the document has no such
                     clause (references to a code, a law, an ordinance... are not the document's own articles)
- empty_heading      a numbered heading with no text and no sub-clause under it
- price_list_only    a sentence that charges something "selon la liste des prix", "au tarif en vigueur"...
                     without a figure
- conflicting_fact   a rules fact marked conflicting, with each value and its clause
- words_digits       a number written in words that disagrees with the digits next to it ("un (3) mois")
- rules_mismatch     two facts of one operator's rules, of the same need (open facts) or fee kind, that state the
                     same thing with different figures: same label (French or English), same services, customer
                     types and conditions (item, first counted unit, hours...), same unit. Two facts quoting one
                     sentence are not enough: "200 € à distance et 300 € sur site" states two fees
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.corpus.figures import (
    AMOUNT,
    DIGITS_THEN_WORDS,
    PERCENT,
    WORDS_THEN_DIGITS,
    split_sentences,
    words_to_int,
)
from assistant.corpus.loader import Corpus, Document, fold
from assistant.models import Clause, FactStatus

if TYPE_CHECKING:
    from assistant.tools.rules import Fact, OperatorRules, RuleBook, Source, Value

Kind = Literal["numbering_gap", "missing_article", "repeated_run", "missing_reference", "empty_heading",
               "price_list_only", "conflicting_fact", "words_digits", "rules_mismatch"]
KIND_ORDER: list[str] = list(Kind.__args__)  # type: ignore[attr-defined]


class Finding(BaseModel):
    kind: Kind
    doc_id: str
    operator: str
    clause_ids: list[str] = Field(default_factory=list)  # as printed; "part › id" when the document has parts
    quotes: list[str] = Field(default_factory=list)  # exact substrings of the normalised document text
    message: str
    values: list[str] = Field(default_factory=list)  # the disagreeing figures, each with its clause


class HealthReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: sum(f.kind == k for f in self.findings) for k in KIND_ORDER}

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def for_document(self, doc_id: str) -> list[Finding]:
        return [f for f in self.findings if f.doc_id == doc_id]


# ------------------------------------------------------------------------------------------ helpers


def _ref(clause: Clause) -> str:
    return clause.ref


def _first_line(clause: Clause, limit: int = 160) -> str:
    return _trim(clause.text.split("\n", 1)[0], limit)


def _trim(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary: still an exact substring of `text`."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")].rstrip() if " " in cut else cut


def _around(text: str, start: int, end: int, width: int = 90) -> str:
    """The words around text[start:end] on its line, cut at word boundaries (an exact substring of `text`)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    lo, hi = max(line_start, start - width), min(line_end, end + width)
    if lo > line_start:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < line_end:
        space = text.rfind(" ", end, hi)
        hi = space if space >= 0 else hi
    return text[lo:hi].strip()


def _verified(doc: Document, quotes: list[str]) -> list[str]:
    out: list[str] = []
    for q in quotes:
        if q and q in doc.text and q not in out:
            out.append(q)
    return out


def _finding(doc: Document, kind: str, clauses: list[str], quotes: list[str], message: str,
             values: list[str] | None = None) -> Finding:
    return Finding(kind=kind, doc_id=doc.meta.doc_id, operator=doc.meta.operator, clause_ids=list(dict.fromkeys(clauses)),
                   quotes=_verified(doc, quotes), message=message, values=values or [])


def _ids(clause_id: str) -> list[int] | None:
    return [int(c) for c in clause_id.split(".")] if re.fullmatch(r"\d+(?:\.\d+)*", clause_id) else None


# ------------------------------------------------------------------------------------------ numbering

GAP = re.compile(r"(?:(?P<part>.*): )?(?P<a>\d+(?:\.\d+)*) -> (?P<b>\d+(?:\.\d+)*)")


def _gap_findings(doc: Document) -> Iterator[Finding]:
    """One finding per gap the segmenter recorded, with what is missing when it can be named."""
    for gap in doc.segmentation.gaps:
        m = GAP.fullmatch(gap)
        if not m:
            continue
        part, a, b = m.group("part"), m.group("a"), m.group("b")
        pool = [c for c in doc.clauses if c.part == part or (part and c.part and fold(c.part) == fold(part))]
        ids = {c.clause_id for c in pool}
        after = next((i for i, c in enumerate(pool) if c.clause_id == b
                      and any(p.clause_id == a for p in pool[:i])), None)
        if after is None:
            continue
        before = max(i for i, c in enumerate(pool[:after]) if c.clause_id == a)
        ca, cb = _ids(a) or [], _ids(b) or []
        articles = [str(n) for n in range(ca[0] + 1, cb[0])
                    if str(n) not in ids and not any(i.startswith(f"{n}.") for i in ids)]
        siblings: list[str] = []
        if len(ca) == len(cb) and ca[:-1] == cb[:-1]:
            siblings = [".".join(map(str, [*ca[:-1], n])) for n in range(ca[-1] + 1, cb[-1])]
        elif len(cb) == len(ca) + 1 and cb[:-1] == ca:
            siblings = [".".join(map(str, [*ca, n])) for n in range(1, cb[-1])]
        elif cb[0] == ca[0] + 1 and len(cb) > 1:
            siblings = [".".join(map(str, cb[:k])) for k in range(1, len(cb))]
            siblings += [".".join(map(str, [*cb[:-1], n])) for n in range(1, cb[-1])]
        missing = [s for s in siblings if s not in ids]
        # "... conformément à l'article 1.4.4. 1.4.2. Résiliation : ..." - a number printed inside a paragraph
        between = doc.text[pool[before].start:pool[after].start]
        inline = [s for s in missing if re.search(rf"(?<![\d.]){re.escape(s)}\.?\s+[A-ZÀ-Ý]", between)]
        missing = [s for s in missing if s not in inline]
        where = f"{part}: " if part else ""
        if articles:
            kind = "missing_article"
            what = f"article{'s' if len(articles) > 1 else ''} {', '.join(articles)} missing"
        elif missing or inline:
            kind = "numbering_gap"
            what = "; ".join(filter(None, [f"{', '.join(missing)} missing" if missing else "",
                                           f"{', '.join(inline)} printed inside the text of {a}, not as a clause"
                                           if inline else ""]))
        else:
            kind = "numbering_gap"
            what = "the numbers in between are printed elsewhere (out of order)"
        yield _finding(doc, kind, [_ref(pool[before]), _ref(pool[after])],
                       [_first_line(pool[before]), _first_line(pool[after])],
                       f"{where}numbering jumps from {a} to {b}: {what}")


def _run_findings(doc: Document) -> Iterator[Finding]:
    clauses = doc.clauses
    for i, head in enumerate(clauses):
        if not head.collapsed:
            continue
        copies = [c for c in clauses[i + 1:i + 1 + head.collapsed] if c.duplicate_of == head.clause_id]
        if not copies:
            continue
        last = copies[-1]
        yield _finding(doc, "repeated_run", [_ref(head), _ref(last)], [_first_line(head), _first_line(last)],
                       f"{len(copies) + 1} clauses {head.clause_id}..{last.clause_id} repeat one text with only its "
                       f"numbers changed (machine-repeated; the copies are kept for citation, not indexed)")


def _heading_only(clause: Clause) -> bool:
    """Nothing but the printed number and title: "2.9.2 VOIES LOUEES", "ARTICLE 6 - GARANTIE"."""
    first, _, rest = clause.text.partition("\n")
    if rest.strip():
        return False
    line = re.sub(r"^\s*[-•]?\s*(?:ARTICLE\s+)?" + re.escape(clause.clause_id.split(" (")[0]) + r"\.?", "", first.strip())
    if clause.title:
        line = line.replace(clause.title, "", 1)
    return not re.search(r"\w", line)


def _empty_heading_findings(doc: Document) -> Iterator[Finding]:
    """A numbered heading with no body whose next clause is not one of its sub-clauses."""
    clauses = doc.clauses
    for i, clause in enumerate(clauses):
        if not clause.clause_id[:1].isdigit():
            continue  # unnumbered labels of forms ("DATE", "SIGNATURE") are blank fields, not headings
        if not _heading_only(clause):
            continue
        nxt = clauses[i + 1] if i + 1 < len(clauses) else None
        cid = clause.clause_id
        if nxt is not None and nxt.part == clause.part and (
                nxt.clause_id.startswith((f"{cid}.", f"{cid} §")) or re.fullmatch(rf"{re.escape(cid)}[A-Z]", nxt.clause_id)):
            continue
        yield _finding(doc, "empty_heading", [_ref(clause)], [_first_line(clause)],
                       f"heading {cid} has no text and no sub-clause under it")


# ------------------------------------------------------------------------------------------ references

REFERENCE = re.compile(
    r"\b(?:articles?|art\.)\s+(?:articles?\s+)?(?P<list>\d+(?:\.\d+)*[A-Z]?(?:\.(?!\d))?"
    r"(?:\s*(?:,|et|ou|à|au)\s*\d+(?:\.\d+)*[A-Z]?(?:\.(?!\d))?)*)", re.IGNORECASE)
# "article 1347 du Code civil", "article 19 de l'ordonnance 2009-866", "article L. 121-84 de la loi": not ours
FOREIGN = re.compile(r"^[\s,]*(?:alinéa\s+\d+\s*,?\s*)?(?:du|de\s+la|de\s+l['’]|des|de)\s+(?:nouveau\s+)?"
                     r"(?:code|loi|ordonnance|décret|directive|règlement|arrêté|convention|traité|rgpd)\b",
                     re.IGNORECASE)


def _resolves(number: str, ids: set[str]) -> bool:
    return number in ids or any(i.startswith((f"{number}.", f"{number} ")) or re.fullmatch(rf"{re.escape(number)}[A-Z]", i)
                                for i in ids)


def _reference_findings(corpus: Corpus, doc: Document) -> Iterator[Finding]:
    ids = {c.clause_id for c in doc.clauses}
    missing: dict[str, list[tuple[Clause | None, str]]] = {}
    for m in REFERENCE.finditer(doc.text):
        if FOREIGN.match(doc.text[m.end():m.end() + 60]):
            continue
        for number in re.findall(r"\d+(?:\.\d+)*[A-Z]?", m.group("list")):
            if not _resolves(number, ids):
                clause = corpus.clause_at(doc.meta.doc_id, m.start())
                missing.setdefault(number, []).append((clause, _around(doc.text, m.start(), m.end())))
    for number, mentions in missing.items():
        clauses = [_ref(c) for c, _ in mentions if c is not None]
        yield _finding(doc, "missing_reference", clauses, [q for _, q in mentions],
                       f"the text refers to article {number} ({len(mentions)}×) but the document has no clause {number}")


# ------------------------------------------------------------------------------------------ price list

POINTER = re.compile(r"liste\s+des?\s+prix|grille\s+tarifaire|fiche\s+tarifaire|brochure\s+tarifaire|"
                     r"tarifs?\s+(?:en\s+vigueur|publiés?)|prix\s+en\s+vigueur|conditions\s+tarifaires\s+"
                     r"(?:en\s+vigueur|particulières)", re.IGNORECASE)
# billing words ("facturé", "frais", "montant"...), not the invoice itself ("le calcul des factures")
CHARGE = re.compile(r"factur(?:é|ée|és|ées|er|ation)|frais|pa(?:yer|iement|yable)|redevable|montant|co[uû]ts?\b|"
                    r"redevance|prix", re.IGNORECASE)


def _price_list_findings(corpus: Corpus, doc: Document) -> Iterator[Finding]:
    for clause in doc.clauses:
        if clause.duplicate_of:
            continue
        for s, e in split_sentences(clause.text):
            sentence = clause.text[s:e]
            pointer = POINTER.search(sentence)
            if not pointer or AMOUNT.search(sentence) or PERCENT.search(sentence):
                continue
            if not CHARGE.search(POINTER.sub(" ", sentence)):
                continue  # names the price list (a list of contract documents) without charging anything
            yield _finding(doc, "price_list_only", [_ref(clause)], [_trim(sentence, 300)],
                           f"a charge whose amount is only \"{' '.join(pointer.group(0).split())}\" (no figure in "
                           f"the document)")


# ------------------------------------------------------------------------------------------ words vs digits


def _words_digits_findings(corpus: Corpus, doc: Document) -> Iterator[Finding]:
    for rx, words_first in ((WORDS_THEN_DIGITS, True), (DIGITS_THEN_WORDS, False)):
        for m in rx.finditer(doc.text):
            value, digits = words_to_int(m.group("words")), int(m.group("digits"))
            if value is None or value == digits:
                continue
            unit = re.match(r"[ \t]*[\w’']+", doc.text[m.end():m.end() + 30])
            quote = doc.text[m.start():m.end() + (unit.end() if unit else 0)].strip()
            clause = corpus.clause_at(doc.meta.doc_id, m.start())
            words = " ".join(m.group("words").split())
            yield _finding(doc, "words_digits", [_ref(clause)] if clause else [],
                           [quote, _around(doc.text, m.start(), m.end())],
                           f"\"{quote}\": {words!r} in words is {value} but the digits say {digits}"
                           + ("" if words_first else " (digits first)"),
                           values=[f"{value} (words)", f"{digits} (digits)"])


# ------------------------------------------------------------------------------------------ rules


def _named_facts(rules: OperatorRules) -> Iterator[tuple[str, Fact]]:
    for s in rules.services:
        for attr in ("minimum_term", "renewal", "notice", "notice_renewed", "notice_no_commitment"):
            fact = getattr(s, attr)
            if fact is not None:
                yield f"{s.key}.{attr}", fact
    for c in rules.early_termination:
        for attr in ("cap_months", "flat_fee"):
            if getattr(c, attr) is not None:
                yield f"{c.key}.{attr}", getattr(c, attr)
    for section in ("fees", "facts", "interest", "outage"):
        for f in getattr(rules, section):
            yield f"{section}.{f.key}", f
    for section in ("deposit", "call_rating", "liability", "interim_invoice", "reduction_limit"):
        for i, f in enumerate(getattr(rules, section)):
            yield f"{section}[{i}]", f
            if section == "liability" and f.yearly_cap is not None:
                yield f"{section}[{i}].yearly_cap", f.yearly_cap
    if rules.moving_recommitment is not None:
        yield "moving_recommitment", rules.moving_recommitment


def figure_text(value: Value) -> str:
    if value.amount is not None:
        tax = "" if value.tax_basis.value in ("none", "") else f" {value.tax_basis.value}"
        return f"{value.amount} €{tax}" + (f" per {value.per}" if value.per else "")
    unit = "%" if value.kind == "percent" else value.kind[:-1] if value.number == 1 else value.kind
    return f"{value.number} {unit}" + (f" per {value.per}" if value.per else "")


def _where(corpus: Corpus, src: Source) -> str:
    clause = corpus.find_clause(src.doc_id, src.clause_id, src.part)
    return clause.ref if clause else (f"{src.part} › {src.clause_id}" if src.part else src.clause_id)


def _conflict_findings(corpus: Corpus, rules: RuleBook) -> Iterator[Finding]:
    seen: dict[tuple, Finding] = {}
    for op in rules.operators():
        for name, fact in _named_facts(rules.for_operator(op)):
            if fact.status != FactStatus.CONFLICTING:
                continue
            alternatives = [(figure_text(v), v.source) for v in fact.distinct_values()]
            alternatives += [(w.en, w.source) for w in fact.worded]
            if getattr(fact, "mode", None) == "same_as_initial" and fact.sources:
                alternatives.append(("same length as the initial term", fact.sources[0]))
            sources = [v.source for v in fact.values] + [w.source for w in fact.worded] + list(fact.sources)
            key = (op, tuple(sorted((t, s.doc_id, s.quote) for t, s in alternatives)))
            if key in seen:  # one fact shared by several services (YAML anchors): list it once
                seen[key].message = seen[key].message.replace(": ", f", {name}: ", 1)
                continue
            doc = corpus.documents.get(sources[0].doc_id)
            if doc is None:
                continue
            values = [f"{t} ({_where(corpus, s)})" for t, s in alternatives]
            note = f" — {' '.join(fact.note.split())}" if fact.note else ""
            seen[key] = _finding(doc, "conflicting_fact", [_where(corpus, s) for s in sources],
                                 [s.quote for s in sources], f"{op} {name}: {' vs '.join(values)}{note}", values)
    yield from seen.values()


def _subject(fact: Fact) -> tuple:
    """What must agree for two facts to be 'the same thing' (besides their need / fee kind)."""
    return tuple(getattr(fact, a, None) for a in ("item", "applies_from", "applies_after_days", "above_hours",
                                                   "below_hours", "supplement"))


def _overlap(a: list[str], b: list[str]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def _mismatch_findings(corpus: Corpus, rules: RuleBook) -> Iterator[Finding]:
    for op in rules.operators():
        r = rules.for_operator(op)
        groups: dict[tuple[str, str], list[Fact]] = {}
        for fee in r.fees:
            groups.setdefault(("fee kind", fee.kind), []).append(fee)
        for fact in r.facts:
            groups.setdefault(("need", fact.need), []).append(fact)
        for (label, group_key), facts in groups.items():
            for i, a in enumerate(facts):
                for b in facts[i + 1:]:
                    finding = _mismatch(corpus, op, label, group_key, a, b)
                    if finding is not None:
                        yield finding


def _mismatch(corpus: Corpus, op: str, label: str, group_key: str, a: Fact, b: Fact) -> Finding | None:
    if _subject(a) != _subject(b) or not _overlap(a.services, b.services) or not _overlap(
            a.customer_types, b.customer_types):
        return None
    same_label = fold(a.label_fr).strip() == fold(b.label_fr).strip() or fold(a.label_en).strip() == fold(b.label_en).strip()
    if {v.figure_key for v in a.values} & {v.figure_key for v in b.values}:
        return None  # they share a figure: a conflicting fact already holds the other value, or they agree
    for va in a.distinct_values():
        for vb in b.distinct_values():
            if (va.kind, va.per) != (vb.kind, vb.per) or va.number == vb.number:
                continue
            if not same_label:
                continue
            sa, sb = va.source, vb.source
            doc = corpus.documents.get(sa.doc_id)
            if doc is None:
                return None
            values = [f"{figure_text(va)} ({a.key}, {_where(corpus, sa)})", f"{figure_text(vb)} ({b.key}, {_where(corpus, sb)})"]
            return _finding(doc, "rules_mismatch", [_where(corpus, sa), _where(corpus, sb)], [sa.quote, sb.quote],
                            f"{op} {label} {group_key}: {a.key} and {b.key} (same label) give {values[0]} vs "
                            f"{values[1]}", values)
    return None


# ------------------------------------------------------------------------------------------ entry point


def check(corpus: Corpus, rules: RuleBook | None = None) -> HealthReport:
    """Every finding on the documents of `corpus` and, when given, the rules files."""
    findings: list[Finding] = []
    for doc in corpus.documents.values():
        findings += _gap_findings(doc)
        findings += _run_findings(doc)
        findings += _reference_findings(corpus, doc)
        findings += _empty_heading_findings(doc)
        findings += _price_list_findings(corpus, doc)
        findings += _words_digits_findings(corpus, doc)
    if rules is not None:
        findings += _conflict_findings(corpus, rules)
        findings += _mismatch_findings(corpus, rules)
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    docs = {d: i for i, d in enumerate(corpus.documents)}
    findings.sort(key=lambda f: (order[f.kind], docs.get(f.doc_id, len(docs))))
    return HealthReport(findings=findings)
