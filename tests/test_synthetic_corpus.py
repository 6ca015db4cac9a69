"""The scale benchmark's synthetic operators: every copy passes the project's own knowledge check, with its new
name and figures in the text and in the rules alike, and the questions point at clauses that exist."""

from __future__ import annotations

import re

import yaml

from assistant.config import get_settings
from assistant.corpus.manifest import read_manifest
from assistant.corpus.validate import check_knowledge
from assistant.evaluation import synthetic
from assistant.tools.rules import file_slug


def test_copies_are_valid_operators_with_new_names_and_figures(tmp_path):
    knowledge = get_settings().knowledge_dir
    sources = read_manifest(knowledge / "manifest.yaml", knowledge / "documents").documents
    copies = synthetic.plan_copies(sources, len(sources) + 1)  # the last one: a second copy of the first document
    target = tmp_path / "knowledge"
    synthetic.write_corpus(knowledge, target, copies)

    checked = check_knowledge(target)  # raises on a quote that is not verbatim or a clause id that does not resolve
    assert sorted(checked.rules_files) == sorted(f"{file_slug(c.operator)}.yaml" for c in copies)
    assert not checked.skipped_rules
    assert sorted(checked.corpus.operators()) == sorted(c.operator for c in copies)
    assert len({c.operator for c in copies}) == len(copies) and len({c.factor for c in copies[::len(sources)]}) == 2

    first, again = copies[0], copies[-1]
    original = (knowledge / "documents" / first.source.file).read_text(encoding="utf-8")
    text = (target / "documents" / f"{first.doc_id}.txt").read_text(encoding="utf-8")
    names = [first.source.operator, *first.source.operator_aliases]
    assert not any(re.search(rf"(?<![\w+-]){re.escape(n)}(?![\w+-])", text) for n in names)
    assert first.operator in text
    days = [int(n) for n in re.findall(r"(?<![\d.,])(\d{1,3}) jours\b", original)]
    assert days and [int(n) for n in re.findall(r"(?<![\d.,])(\d{1,3}) jours\b", text)] == [
        d * first.factor for d in days]
    other = (target / "documents" / f"{again.doc_id}.txt").read_text(encoding="utf-8")
    assert other != text and again.factor != first.factor

    rules = yaml.safe_load((target / "rules" / f"{file_slug(first.operator)}.yaml").read_text(encoding="utf-8"))
    assert rules["operator"] == first.operator and rules["doc_id"] == first.doc_id
    scaled = [v for v in _values(rules, "days") if re.search(rf"(?<![\d.,]){v}\)? ?jour", _quote_text(rules))]
    assert scaled, "some notice values follow their quotes' scaled figures"

    items = synthetic.questions(target, checked.corpus, copies, per_copy=2)
    assert {q.named for q in items} == {True, False}
    for q in items:
        assert checked.corpus.find_clause(q.doc_id, q.clause_id, q.part) is not None
        assert (q.operator in q.text) == q.named


def _values(node, key):
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key] + [x for v in node.values() for x in _values(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _values(v, key)]
    return []


def _quote_text(node) -> str:
    return " ".join(str(q) for q in _values(node, "quote"))
