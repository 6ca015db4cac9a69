"""The router's data must not be copied from the evaluation sets.

No example utterance of knowledge/needs.yaml (`needs[].examples.fr/en`), no keyword (`needs[].keywords.fr/en`) and
no question a fact answers (`asks` in knowledge/rules/*.yaml) may copy a question or a dialogue turn of
eval/dataset.jsonl, eval/blind_a.jsonl or eval/blind_b.jsonl: a phrase
copies a message when it is the same text, or when half or more of its word trigrams (at least two) occur in
that one message. Sharing one everyday trigram ("combien de temps", "is there a") is how both languages work,
not a copy. Words are compared case- and accent-folded; apostrophes and punctuation split words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from assistant.corpus.loader import fold
from assistant.evaluation.dataset import BLIND_DATASETS, DEFAULT_DATASET, ROOT, load_dataset

NEEDS = ROOT / "knowledge" / "needs.yaml"
RULES = ROOT / "knowledge" / "rules"
EVAL_FILES = (DEFAULT_DATASET, *BLIND_DATASETS)  # the tune split may be tuned on
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def trigrams(text: str) -> set[tuple[str, str, str]]:
    w = words(text)
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}  # type: ignore[misc]


def router_phrases(path: Path = NEEDS) -> Iterator[tuple[str, str]]:
    """(where, text) for every example utterance and every keyword of the needs file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for need in data.get("needs") or []:
        for field in ("examples", "keywords"):
            for lang, phrases in (need.get(field) or {}).items():
                for n, phrase in enumerate(phrases or []):
                    yield f"{need.get('id')}.{field}.{lang}[{n}]", str(phrase)


def fact_asks(rules_dir: Path = RULES) -> Iterator[tuple[str, str]]:
    """(where, text) for every question a fact of the rules files answers (`asks`, at any depth)."""
    def walk(node: object, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for n, ask in enumerate(node.get("asks") or []):
                yield f"{where}.{node.get('key', '')}.asks[{n}]", str(ask)
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, where)

    for path in sorted(rules_dir.glob("*.yaml")):
        yield from walk(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, path.stem)


def eval_messages() -> Iterator[tuple[str, str]]:
    """(where, text) for every question and dialogue turn of the evaluation sets."""
    for path in EVAL_FILES:
        for item in load_dataset(path):
            for n, message in enumerate(item.messages):
                where = f"{path.name}:{item.id}" + (f" turn {n + 1}" if item.is_dialogue else "")
                yield where, message


def find_overlaps() -> list[tuple[str, str, str, str, str]]:
    """(router place, router text, eval place, eval text, shared trigrams) for every overlapping pair."""
    index: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for where, text in eval_messages():
        for tri in trigrams(text):
            index.setdefault(tri, []).append((where, text))
    messages = {" ".join(words(text)): (where, text) for where, text in eval_messages()}
    overlaps = []
    for r_where, r_text in [*router_phrases(), *fact_asks()]:
        same = messages.get(" ".join(words(r_text)))
        if same is not None:
            overlaps.append((r_where, r_text, same[0], same[1], "identical"))
            continue
        own = trigrams(r_text)
        shared: dict[tuple[str, str], set[str]] = {}
        for tri in own:
            for e_where, e_text in index.get(tri, []):
                shared.setdefault((e_where, e_text), set()).add(" ".join(tri))
        for (e_where, e_text), tris in shared.items():
            if len(tris) >= 2 and len(tris) >= 0.5 * len(own):
                overlaps.append((r_where, r_text, e_where, e_text, ", ".join(sorted(tris))))
    return overlaps


def test_trigrams_fold_case_and_accents():
    assert trigrams("Quel est le PRÉAVIS ?") == {("quel", "est", "le"), ("est", "le", "preavis")}
    assert trigrams("d'un mois") == {("d", "un", "mois")}
    assert trigrams("deux mots") == set()


@pytest.mark.skipif(not NEEDS.is_file(), reason="knowledge/needs.yaml not there")
def test_router_examples_keywords_and_fact_asks_do_not_copy_eval_questions():
    overlaps = find_overlaps()
    # the knowledge side only, with where the evaluation item is: whoever rewords an example must not read the
    # evaluation text (it would leak into the rewording)
    report = "\n".join(f"{rw}: {rt!r}  (overlaps {ew})" for rw, rt, ew, _et, _tris in overlaps)
    assert not overlaps, f"{len(overlaps)} overlapping pairs:\n{report}"
