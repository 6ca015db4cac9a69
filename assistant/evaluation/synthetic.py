"""Synthetic operators for the scale benchmark: rewritten copies of the knowledge base's documents.

Copy i of a document gets a new operator name (every name and alias of the original operator, as printed in
the manifest, is replaced by it) and new figures: every duration written in digits ("30 jours", "24 mois") and
every amount in euros ("250,00 €") is multiplied by the copy's factor. The same rewrite is applied to the
document and to every string of the operator's rules file (quotes, clause ids, labels), so each quote is still
verbatim in its clause; a rules value (days, months, hours, an amount) is scaled only when its own quote now
states the scaled figure, so values and quotes agree. Each copy is a manifest entry, a text file and a rules
file, checked by the project's own validation (`check_knowledge`) before it is used.

Questions about the copies come from their rules labels: one naming the operator ("<label> — <operator>"),
and, when the quote states a figure, one without the operator but with the copy's figure, which only the
right copy's clause states.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from assistant.corpus.loader import Corpus, load_corpus_from
from assistant.corpus.manifest import read_manifest
from assistant.models import DocumentMeta
from assistant.tools.rules import file_slug

STEMS = ("Arvelia", "Bravonet", "Celtivo", "Doranel", "Elvisio", "Fjordane", "Galenis", "Helvaro", "Iridane",
         "Jovalis")
KINDS = ("Télécom", "Networks", "Connect", "Mobile", "Fibre")
UNITS = r"(?:jours?|mois|semaines?|heures?|ans|années?)"
DURATION = re.compile(rf"(?<![\d.,])(\d{{1,4}})(\)?\s?)({UNITS})\b")
MONEY = re.compile(r"(?<![\d.,])(\d+)(?:([.,])(\d{2}))?(\s?)(€|EUR\b|euros?\b)")
VALUE_KEYS = {"days": "jour", "months": "mois", "hours": "heure"}


@dataclass(frozen=True)
class Copy:
    index: int
    source: DocumentMeta
    operator: str
    doc_id: str
    factor: int


@dataclass(frozen=True)
class Question:
    operator: str
    doc_id: str
    clause_id: str
    part: str | None
    text: str
    named: bool  # the question names the operator (the retriever then searches its documents only)


def plan_copies(sources: list[DocumentMeta], count: int) -> list[Copy]:
    """`count` copies, round-robin over the source documents so any prefix covers every kind of document;
    copies of one document get different factors (2, 3, ...), so their figures differ."""
    copies = []
    for i in range(count):
        src = sources[i % len(sources)]
        name = f"{STEMS[(i // len(KINDS)) % len(STEMS)]} {KINDS[i % len(KINDS)]}"
        if i >= len(STEMS) * len(KINDS):
            name += f" {i // (len(STEMS) * len(KINDS)) + 1}"
        digest = hashlib.sha1(f"{src.doc_id}|{name}".encode()).hexdigest()[:16]
        copies.append(Copy(i, src, name, f"s{i:03d}_{digest}", 2 + i // len(sources)))
    return copies


def _money(m: re.Match[str], factor: int) -> str:
    whole, sep, cents, space, unit = m.groups()
    value = Decimal(f"{whole}.{cents or '00'}") * factor
    text = f"{value:.2f}".replace(".", sep) if sep else str(int(value))
    return f"{text}{space}{unit}"


class Rewriter:
    """The rewrite of one copy: operator names, then figures. A pure function of the string, so a quote
    rewritten alone equals its rewritten span in the document."""

    def __init__(self, copy: Copy):
        self.copy = copy
        names = sorted({copy.source.operator, *copy.source.operator_aliases}, key=len, reverse=True)
        self._names = re.compile(r"(?<![\w+-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w+-])")

    def __call__(self, text: str) -> str:
        text = self._names.sub(self.copy.operator, text)
        text = DURATION.sub(lambda m: f"{int(m[1]) * self.copy.factor}{m[2]}{m[3]}", text)
        return MONEY.sub(lambda m: _money(m, self.copy.factor), text)


def _quotes(node: dict[str, Any]) -> list[str]:
    sources = [node.get("source"), *(node.get("sources") or [])]
    return [s["quote"] for s in sources if isinstance(s, dict) and isinstance(s.get("quote"), str)]


def _scaled_value(key: str, value: Any, quotes: list[str], factor: int, force: bool = False) -> Any:
    """The value times the factor when one of its quotes states that scaled figure (or `force`), else the value."""
    if key in VALUE_KEYS and isinstance(value, int) and not isinstance(value, bool):
        new = value * factor
        stated = re.compile(rf"(?<![\d.,]){new}\)?\s?{VALUE_KEYS[key]}")
        return new if force or any(stated.search(q) for q in quotes) else value
    if key == "amount" and isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value):
        new = (Decimal(value) * factor).quantize(Decimal(value))
        forms = {f"{new}", f"{new}".replace(".", ","), f"{int(new)}" if new == int(new) else ""} - {""}
        numbers = {n for q in quotes for n in re.findall(r"\d+(?:[.,]\d+)?", q)}
        return f"{new}" if force or forms & numbers else value
    return value


def _rewrite_rules(node: Any, rewrite: Rewriter, old_doc: str) -> Any:
    """Every string rewritten (the document id replaced), `x-` blocks (YAML anchors, expanded on load) dropped."""
    if isinstance(node, str):
        return rewrite.copy.doc_id if node == old_doc else rewrite(node)
    if isinstance(node, list):
        return [_rewrite_rules(v, rewrite, old_doc) for v in node]
    if isinstance(node, dict):
        return {k: _rewrite_rules(v, rewrite, old_doc) for k, v in node.items() if not str(k).startswith("x-")}
    return node


def _figures(node: Any) -> set[tuple[str, Any]]:
    return {(k, v) for k, v in node.items() if k in (*VALUE_KEYS, "amount")} if isinstance(node, dict) else set()


def _scale(node: Any, factor: int) -> Any:
    """Values scaled where their quote states the scaled figure; two citations of one figure in a list stay
    one figure (scaled together when one of them is)."""
    if isinstance(node, list):
        out = [_scale(v, factor) for v in node]
        scaled = {f for old, new in zip(node, out, strict=True) for f in _figures(old) - _figures(new)}
        return [{k: _scaled_value(k, v, [], factor, force=isinstance(v, int | str) and (k, v) in scaled) for k, v in new.items()}
                if isinstance(new, dict) and _figures(old) == _figures(new) and _figures(old) & scaled else new
                for old, new in zip(node, out, strict=True)]
    if not isinstance(node, dict):
        return node
    quotes = _quotes(node)
    return {k: _scaled_value(str(k), _scale(v, factor), quotes, factor) for k, v in node.items()}


def write_corpus(knowledge: Path, target: Path, copies: list[Copy]) -> None:
    """A knowledge dir holding only `copies` (documents, manifest, rules), with the original's other files."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(knowledge, target, ignore=shutil.ignore_patterns("documents", "rules", "manifest.yaml"))
    (target / "documents").mkdir()
    (target / "rules").mkdir()
    manifest = read_manifest(knowledge / "manifest.yaml", knowledge / "documents")
    rules_of = {}
    for path in sorted((knowledge / "rules").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules_of[raw["doc_id"]] = raw
    entries = []
    for c in copies:
        rewrite = Rewriter(c)
        text = (knowledge / "documents" / c.source.file).read_text(encoding="utf-8")
        (target / "documents" / f"{c.doc_id}.txt").write_text(rewrite(text), encoding="utf-8")
        entries.append({**c.source.model_dump(), "doc_id": c.doc_id, "file": f"{c.doc_id}.txt",
                        "operator": c.operator, "operator_aliases": [], "title": rewrite(c.source.title)})
        if c.source.doc_id in rules_of:
            rules = _scale(_rewrite_rules(rules_of[c.source.doc_id], rewrite, c.source.doc_id), c.factor)
            (target / "rules" / f"{file_slug(c.operator)}.yaml").write_text(
                yaml.safe_dump(rules, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")
    (target / "manifest.yaml").write_text(yaml.safe_dump(
        {"other_operators": manifest.other_operators, "documents": entries}, allow_unicode=True, sort_keys=False),
        encoding="utf-8")


def _labelled(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """(label, source) pairs: every rules entry with a French label and a quoted source."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, list):
        for v in node:
            found += _labelled(v)
    elif isinstance(node, dict):
        label = node.get("label_fr") or node.get("name")
        sources = [node.get("source"), *(node.get("sources") or [])]
        sources += [v.get("source") for v in node.get("values") or [] if isinstance(v, dict)]
        for src in sources:
            if isinstance(label, str) and isinstance(src, dict) and src.get("quote"):
                found.append((label, src))
                break
        for v in node.values():
            found += _labelled(v)
    return found


def questions(knowledge: Path, corpus: Corpus, copies: list[Copy], per_copy: int, seed: int = 13) -> list[Question]:
    """Per copy up to `per_copy` named questions and as many figure questions, from its rules labels."""
    rng = random.Random(seed)
    out: list[Question] = []
    for c in copies:
        path = knowledge / "rules" / f"{file_slug(c.operator)}.yaml"
        if not path.is_file():
            continue
        pairs = _labelled(yaml.safe_load(path.read_text(encoding="utf-8")))
        rng.shuffle(pairs)
        named, figures = [], []
        for label, src in pairs:
            clause = corpus.find_clause(c.doc_id, str(src["clause_id"]), src.get("part"))
            if clause is None:
                continue
            gold = dict(operator=c.operator, doc_id=c.doc_id, clause_id=clause.clause_id, part=clause.part)
            if len(named) < per_copy:
                named.append(Question(**gold, text=f"{label} — {c.operator} ?", named=True))
            figure = DURATION.search(src["quote"]) or MONEY.search(src["quote"])
            if figure and len(figures) < per_copy and not corpus.mentioned_operators(label):
                figures.append(Question(**gold, text=f"{label} : {figure[0]} ?", named=False))
        out += named + figures
    return out


def load(target: Path) -> Corpus:
    return load_corpus_from(target)
