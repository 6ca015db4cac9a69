"""Load the knowledge base: manifest + documents -> normalised texts, clauses and chunks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config import Settings, get_settings
from assistant.corpus.chunk import chunk_document
from assistant.corpus.manifest import read_manifest
from assistant.corpus.normalise import fold, normalise, read_document
from assistant.corpus.segment import Segmentation, segment
from assistant.models import Chunk, Clause, DocumentMeta

if TYPE_CHECKING:
    from assistant.corpus.operators import OperatorMatcher


@dataclass
class Document:
    meta: DocumentMeta
    text: str  # normalised: every quote must be a substring of this
    sha: str
    segmentation: Segmentation
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def clauses(self) -> list[Clause]:
        return self.segmentation.clauses


@dataclass
class Corpus:
    documents: dict[str, Document]
    other_operators: list[str] = field(default_factory=list)  # no documents here: "not found"
    _matcher: OperatorMatcher | None = field(default=None, repr=False)
    _other_matcher: OperatorMatcher | None = field(default=None, repr=False)
    _products: dict[str, str] | None = field(default=None, repr=False)

    @property
    def clauses(self) -> list[Clause]:
        return [c for d in self.documents.values() for c in d.clauses]

    @property
    def chunks(self) -> list[Chunk]:
        return [c for d in self.documents.values() for c in d.chunks]

    @property
    def matcher(self) -> OperatorMatcher:
        if self._matcher is None:
            names: dict[str, list[str]] = {}
            for d in self.documents.values():
                names.setdefault(d.meta.operator, []).extend(d.meta.operator_aliases)
            from assistant.corpus.operators import OperatorMatcher

            self._matcher = OperatorMatcher(names)
        return self._matcher

    @property
    def other_matcher(self) -> OperatorMatcher:
        """Mentions of operators the knowledge base has no documents for, matched as printed."""
        if self._other_matcher is None:
            from assistant.corpus.operators import OperatorMatcher

            self._other_matcher = OperatorMatcher({name: [] for name in self.other_operators}, exact=True)
        return self._other_matcher

    @property
    def products(self) -> dict[str, str]:
        """Product names each written in one operator's documents only (folded name -> operator)."""
        if self._products is None:
            from assistant.corpus.operators import product_names

            texts: dict[str, list[str]] = {}
            for d in self.documents.values():
                texts.setdefault(d.meta.operator, []).append(d.text)
            self._products = product_names(texts)
        return self._products

    def mentioned_operators(self, text: str) -> list[str]:
        return self.matcher.find(text)

    def operators(self) -> list[str]:
        return sorted({d.meta.operator for d in self.documents.values()})

    def resolve_operator(self, name: str | None) -> str | None:
        """Map an operator name or alias (any case, with or without accents) to the manifest name."""
        if not name or not name.strip():
            return None
        key = fold(name).strip()
        for doc in self.documents.values():
            if key in {fold(n).strip() for n in (doc.meta.operator, *doc.meta.operator_aliases)}:
                return doc.meta.operator
        return None

    def doc_ids_for(self, operator: str) -> list[str]:
        return [d for d, doc in self.documents.items() if doc.meta.operator == operator]

    def find_clause(self, doc_id: str, clause_id: str, part: str | None = None) -> Clause | None:
        """Resolve a citation. `57 §1` falls back to `57` (the first paragraph is the article itself);
        the part is compared case- and accent-insensitively."""
        doc = self.documents.get(doc_id)
        if doc is None:
            return None
        wanted = [clause_id.strip()]
        if " §1" in clause_id:
            wanted.append(clause_id.split(" §")[0])
        same_part = [c for c in doc.clauses if (c.part and part and fold(c.part).strip() == fold(part).strip()) or c.part == part]
        for pool in (same_part, doc.clauses if part is None else []):
            for cid in wanted:
                for c in pool:
                    if c.clause_id == cid:
                        return c
        return None

    def clause_at(self, doc_id: str, start: int) -> Clause | None:
        for c in self.documents[doc_id].clauses:
            if c.start <= start < max(c.end, c.start + 1):
                return c
        return None

    def verify_quote(self, doc_id: str, quote: str) -> bool:
        doc = self.documents.get(doc_id)
        return bool(doc and quote and quote.strip() and quote in doc.text)


def load_document(meta: DocumentMeta, corpus_dir: Path) -> Document:
    raw = read_document(corpus_dir / meta.file)
    text = normalise(raw)
    seg = segment(meta, text)
    doc = Document(meta=meta, text=text, sha=hashlib.sha1(text.encode()).hexdigest(), segmentation=seg)
    doc.chunks = chunk_document(meta, seg.clauses, text)
    return doc


def load_corpus_from(knowledge_dir: Path) -> Corpus:
    corpus_dir = knowledge_dir / "documents"
    manifest = read_manifest(knowledge_dir / "manifest.yaml", corpus_dir)
    return Corpus({m.doc_id: load_document(m, corpus_dir) for m in manifest.documents},
                  other_operators=manifest.other_operators)


@lru_cache(maxsize=4)
def _cached(knowledge_dir: Path, stamp: tuple[tuple[str, float], ...]) -> Corpus:
    return load_corpus_from(knowledge_dir)


def load_corpus(settings: Settings | None = None) -> Corpus:
    """The corpus for these settings, cached until a file in the knowledge dir changes."""
    settings = settings or get_settings()
    kd = settings.knowledge_dir
    files = [kd / "manifest.yaml", *sorted((kd / "documents").glob("*"))]
    stamp = tuple((str(p), p.stat().st_mtime) for p in files if p.exists())
    return _cached(kd, stamp)
