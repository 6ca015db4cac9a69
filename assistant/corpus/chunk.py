"""Chunks aligned to clauses: what the index stores and the retriever returns.

A long clause is split at sentence boundaries with one sentence of overlap; short sibling clauses of
one article are grouped (never across articles or parts). Every chunk's text is an exact slice of the
normalised document, so anything quoted from a chunk is quotable from the source.
"""

from __future__ import annotations

import hashlib
import re

from assistant.models import Chunk, Clause, DocumentMeta

MAX_CHARS = 1100
TARGET_CHARS = 700
SHORT_CHARS = 350
SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-Ý«\"(•\-\d])|\n\s*\n")


def _article_of(clause: Clause) -> tuple[str | None, str]:
    head = re.split(r"[.\s§A-Z(]", clause.clause_id, maxsplit=1)[0] or clause.clause_id
    return clause.part, head


def _pieces(text: str, base: int) -> list[tuple[int, int]]:
    """Split an over-long span into sentence windows of about TARGET_CHARS, one sentence overlap.
    Paragraphs repeated word for word inside one clause are skipped (machine-repeated extraction)."""
    bounds = [0] + [m.end() for m in SENTENCE.finditer(text)] + [len(text)]
    sentences = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if text[bounds[i]:bounds[i + 1]].strip()]
    seen: set[str] = set()
    unique: list[list[tuple[int, int]]] = [[]]
    for s, e in sentences:
        key = " ".join(text[s:e].split())
        if len(key) > 60 and key in seen:
            if unique[-1]:
                unique.append([])  # a repeated sentence breaks the run: chunks stay contiguous
            continue
        seen.add(key)
        unique[-1].append((s, e))
    windows: list[tuple[int, int]] = []
    for run in filter(None, unique):
        i = 0
        while i < len(run):
            j = i
            while j + 1 < len(run) and run[j + 1][1] - run[i][0] <= TARGET_CHARS:
                j += 1
            windows.append((base + run[i][0], base + run[j][1]))
            if j + 1 >= len(run):
                break
            i = j if j > i else j + 1  # overlap by one sentence
    return windows


def _make(meta: DocumentMeta, clauses: list[Clause], start: int, end: int, doc_text: str) -> Chunk:
    first = clauses[0]
    text = doc_text[start:end].strip()
    start = doc_text.index(text, start)
    end = start + len(text)
    context = " > ".join([*first.heading_path, f"{first.clause_id} {first.title}".strip()])
    embed_text = f"{meta.operator} ({meta.country}) — {meta.title}\n{context}\n{text}"
    digest = hashlib.sha1(f"{meta.doc_id}|{embed_text}".encode()).hexdigest()[:20]
    return Chunk(
        chunk_id=f"{meta.doc_id}:{digest}", doc_id=meta.doc_id, operator=meta.operator,
        clause_id=first.clause_id, part=first.part, title=first.title, heading_path=first.heading_path,
        clause_ids=[c.clause_id for c in clauses], text=text, start=start, end=end, embed_text=embed_text,
    )


def _heading_only(clause: Clause) -> bool:
    """A clause that is only its printed heading ("12. Résiliation anticipée"): it belongs with what follows."""
    first, _, rest = clause.text.partition("\n")
    return not rest.strip() and len(first) < 160


def chunk_document(meta: DocumentMeta, clauses: list[Clause], doc_text: str) -> list[Chunk]:
    live = [c for c in clauses if c.duplicate_of is None and c.text.strip()]
    chunks: list[Chunk] = []
    group: list[Clause] = []

    def flush() -> None:
        if group:
            chunks.append(_make(meta, list(group), group[0].start, group[-1].end, doc_text))
            group.clear()

    for clause in live:
        same_article = bool(group) and _article_of(group[0]) == _article_of(clause)
        headings = same_article and all(_heading_only(c) for c in group)
        if len(clause.text) > MAX_CHARS:
            pieces = _pieces(clause.text, clause.start)
            if headings:
                # the pending headings open the first piece, so it carries its article title
                pieces[0] = (group[0].start, pieces[0][1])
                first_clauses = [*group, clause]
                group.clear()
            else:
                flush()
                first_clauses = [clause]
            for n, (s, e) in enumerate(pieces):
                chunks.append(_make(meta, first_clauses if n == 0 else [clause], s, e, doc_text))
            continue
        too_big = clause.end - group[0].start > TARGET_CHARS or len(clause.text) > SHORT_CHARS if group else False
        if group and (not same_article or (too_big and not headings)):
            flush()
        group.append(clause)
        if len(clause.text) > SHORT_CHARS:
            flush()
    flush()
    # identical text twice in one document (repeated boilerplate) keeps distinct ids
    seen: dict[str, int] = {}
    for i, chunk in enumerate(chunks):
        n = seen[chunk.chunk_id] = seen.get(chunk.chunk_id, 0) + 1
        if n > 1:
            chunks[i] = chunk.model_copy(update={"chunk_id": f"{chunk.chunk_id}-{n}"})
    return chunks
