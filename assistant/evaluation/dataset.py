"""The evaluation set: schema, loader and checks against the corpus.

One JSON object per line (`eval/dataset.jsonl`). Every item is written by hand from the documents;
`gold` quotes are exact substrings of the normalised source, and calculation gold numbers are worked
out from the clause wording (the arithmetic is in `notes`). Any file in this format can be evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import InputError
from assistant.models import ReplyStatus

Category = Literal[
    "termination", "notice", "early_termination_cost", "portability", "fees", "payment", "moving",
    "calculation", "missing_info", "contradiction", "out_of_scope", "injection", "other",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Language = Literal["fr", "en"]
Persona = Literal["customer", "agent"]
Unit = Literal["EUR", "days", "months", "date", "percent", "hours", "count"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATASET = ROOT / "eval" / "dataset.jsonl"
DEFAULT_RETRIEVAL = ROOT / "eval" / "retrieval.jsonl"
BLIND_DATASETS = (ROOT / "eval" / "blind_a.jsonl", ROOT / "eval" / "blind_b.jsonl")
TUNE_DATASETS = tuple(ROOT / "eval" / f"tune_{x}.jsonl" for x in "abcd")
# Named splits: `dev` (the original hand-written set) and `tune` (a second set written from the documents by
# writers who saw no code) are what the product is tuned against; `blind` is only ever measured, never used to
# tune anything. A split's files are concatenated in memory, in this order.
SPLITS: dict[str, tuple[Path, ...]] = {"dev": (DEFAULT_DATASET,), "tune": TUNE_DATASETS, "blind": BLIND_DATASETS}


T = TypeVar("T", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GoldRef(_Strict):
    """A clause the answer must rest on, with a quote taken verbatim from it."""

    doc_id: str
    clause_id: str
    part: str | None = None  # particular-conditions part when clause numbers restart (CMI)
    quote: str = Field(min_length=8)

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.doc_id, self.clause_id, self.part)


class TurnExpectation(_Strict):
    status: ReplyStatus
    note: str = ""


class EvalItem(_Strict):
    """One question (or dialogue) with what a right answer looks like."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: Category
    language: Language
    persona: Persona = "customer"
    question: str | None = None
    turns: list[str] | None = None  # a dialogue: expectations below apply to the last turn
    turn_expectations: list[TurnExpectation] | None = None
    operator: str | None = None  # fixed by the UI (operator's own web site); None = not given
    expected_status: ReplyStatus
    gold: list[GoldRef] = Field(default_factory=list)
    gold_number: Decimal | None = None
    gold_unit: Unit | None = None
    gold_date: date | None = None
    wrong_phrases: list[str] = Field(default_factory=list)
    # What a right reply must state in its own sentences: every group must be matched by one of its
    # alternative surface forms (e.g. [["registered", "recommandée"], ["signed", "signature"]]).
    key_facts: list[list[str]] | None = None
    expected_answer: str | None = None  # a model answer written by hand (for reading the report, not scored)
    tags: list[str] = Field(default_factory=list)
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> EvalItem:
        if (self.question is None) == (self.turns is None):
            raise ValueError("give exactly one of `question` or `turns`")
        if self.turns is not None:
            if len(self.turns) < 2 or any(not t.strip() for t in self.turns):
                raise ValueError("`turns` needs at least two non-empty user messages")
            if self.turn_expectations is not None and len(self.turn_expectations) != len(self.turns):
                raise ValueError("`turn_expectations` must have one entry per turn")
        elif self.turn_expectations is not None:
            raise ValueError("`turn_expectations` only applies to `turns`")
        if self.question is not None and not self.question.strip():
            raise ValueError("`question` is empty")
        if self.gold_number is not None and self.gold_unit is None:
            raise ValueError("`gold_number` needs `gold_unit`")
        if self.gold_number is not None and not self.notes.strip():
            raise ValueError("a calculation item must show its arithmetic in `notes`")
        needs_gold = self.category not in ("out_of_scope", "injection")
        if self.expected_status == ReplyStatus.ANSWERED and needs_gold and not self.gold:
            raise ValueError("an answered item needs at least one gold clause")
        if self.category == "injection" and self.expected_status != ReplyStatus.REFUSED:
            raise ValueError("injection items must expect `refused`")
        if self.key_facts and any(not group or any(not alt.strip() for alt in group) for group in self.key_facts):
            raise ValueError("every `key_facts` group needs at least one non-empty surface form")
        return self

    @property
    def messages(self) -> list[str]:
        """The user messages in order (one for a single question)."""
        return list(self.turns) if self.turns is not None else [self.question or ""]

    @property
    def last_message(self) -> str:
        return self.messages[-1]

    @property
    def is_dialogue(self) -> bool:
        return self.turns is not None

    @property
    def gold_clause_keys(self) -> set[tuple[str, str, str | None]]:
        return {g.key for g in self.gold}


class RetrievalItem(_Strict):
    """A retrieval question: the clause(s) that must come back, and one quote from them."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    language: Language
    persona: Persona = "customer"
    question: str
    operator: str | None = None
    doc_id: str
    clause_ids: list[str] = Field(min_length=1)
    part: str | None = None
    quote: str = Field(min_length=8)
    notes: str = ""

    @property
    def gold(self) -> list[GoldRef]:
        return [GoldRef(doc_id=self.doc_id, clause_id=c, part=self.part, quote=self.quote)
                for c in self.clause_ids]


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    if not path.is_file():
        raise InputError("dataset", f"file not found: {path}", f"fichier introuvable : {path}")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError("dataset", f"{path.name}:{n}: invalid JSON ({exc.msg})") from exc


def _load(path: Path, model: type[T]) -> list[T]:
    items: list[T] = []
    seen: set[str] = set()
    for n, raw in _read_jsonl(path):
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "item"
            raise InputError("dataset", f"{path.name}:{n}: {where}: {first['msg']}") from exc
        item_id = item.id  # type: ignore[attr-defined]
        if item_id in seen:
            raise InputError("dataset", f"{path.name}:{n}: duplicate id {item_id!r}")
        seen.add(item_id)
        items.append(item)
    if not items:
        raise InputError("dataset", f"{path.name} holds no items", f"{path.name} ne contient aucun élément")
    return items


def load_dataset(path: Path | None = None) -> list[EvalItem]:
    return _load(path or DEFAULT_DATASET, EvalItem)


def load_datasets(paths: Iterable[Path]) -> list[EvalItem]:
    """Several dataset files concatenated in memory, in order; an id may appear only once across them."""
    items: list[EvalItem] = []
    seen: dict[str, str] = {}
    for path in paths:
        for item in load_dataset(path):
            if item.id in seen:
                raise InputError("dataset", f"{path.name}: id {item.id!r} is already in {seen[item.id]}")
            seen[item.id] = path.name
            items.append(item)
    return items


def load_split(name: str) -> list[EvalItem]:
    """`dev` (eval/dataset.jsonl), `tune` (eval/tune_a.jsonl ... tune_d.jsonl) or `blind` (blind_a + blind_b)."""
    if name not in SPLITS:
        raise InputError("split", f"unknown split {name!r} (use {' or '.join(SPLITS)})")
    return load_datasets(SPLITS[name])


def load_retrieval_set(path: Path | None = None) -> list[RetrievalItem]:
    return _load(path or DEFAULT_RETRIEVAL, RetrievalItem)


def load_subset(items: list[EvalItem], subset: str | None, root: Path | None = None) -> list[EvalItem]:
    """`subset` is None (all), `ci` (ids in eval/ci_subset.txt), a path to an id list, or a category."""
    if not subset:
        return items
    if subset in CATEGORIES:
        return [i for i in items if i.category == subset]
    path = Path(subset)
    if subset == "ci":
        path = (root or ROOT) / "eval" / "ci_subset.txt"
    if not path.is_file():
        raise InputError("subset", f"unknown subset {subset!r} (use ci, a category or an id-list file)")
    wanted = [ln.split("#")[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    wanted = [w for w in wanted if w]
    by_id = {i.id: i for i in items}
    missing = [w for w in wanted if w not in by_id]
    if missing:
        raise InputError("subset", f"ids not in the dataset: {', '.join(missing[:5])}")
    return [by_id[w] for w in wanted]


def operator_names(manifest: Path | None = None) -> dict[str, list[str]]:
    """Operator -> its name and aliases, from the manifest (so a new operator needs no code change)."""
    import yaml

    data = yaml.safe_load((manifest or ROOT / "knowledge" / "manifest.yaml").read_text(encoding="utf-8"))
    names: dict[str, list[str]] = {}
    for doc in data.get("documents", []):
        names.setdefault(doc["operator"], []).extend([doc["operator"], *doc.get("operator_aliases", [])])
    return names


def mentions_operator(text: str, manifest: Path | None = None) -> bool:
    """Does the message name an operator (case- and accent-insensitive, whole words)?"""
    import re
    import unicodedata

    def fold(s: str) -> str:
        d = unicodedata.normalize("NFKD", s.casefold())
        return "".join(c for c in d if not unicodedata.combining(c))

    folded = fold(text)
    for aliases in operator_names(manifest).values():
        for alias in aliases:
            if re.search(rf"(?<![\w+]){re.escape(fold(alias))}(?![\w+])", folded):
                return True
    return False
