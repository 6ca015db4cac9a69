"""Retrieval benchmark: this pipeline against a naive LangChain baseline and BM25 alone, in one run.

A passage is a hit when it contains the gold quote (whitespace-insensitive) or is the gold clause
(or one of its sub-clauses). The naive baseline is what a new user would build: the raw files cut by
RecursiveCharacterTextSplitter(1000, 200), the same embedding model, Chroma, top-k by similarity.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from assistant.agent.text import squash
from assistant.config import Settings
from assistant.evaluation.dataset import DEFAULT_RETRIEVAL, RetrievalItem, load_retrieval_set
from assistant.index import Retriever
from assistant.index.embeddings import embeddings_name, get_embeddings
from assistant.index.store import make_client

REPORT = Path(__file__).resolve().parents[2] / "eval" / "reports" / "retrieval.md"


class Hit(BaseModel):
    doc_id: str
    clause_ids: list[str] = Field(default_factory=list)  # every clause the passage covers
    text: str


class SystemScore(BaseModel):
    hit_at_1: float
    hit_at_5: float
    mrr: float
    n: int
    hit_at_5_en: float | None = None
    mrr_en: float | None = None
    n_en: int = 0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    misses: list[str] = Field(default_factory=list)


class RetrievalReport(BaseModel):
    n: int
    embedding: str
    systems: dict[str, SystemScore]


def is_hit(item: RetrievalItem, hit: Hit) -> bool:
    if item.doc_id != hit.doc_id:
        return False
    if squash(item.quote) in squash(hit.text):
        return True
    return any(cid == gold or cid.startswith(gold + ".") for cid in hit.clause_ids for gold in item.clause_ids)


def _rank(item: RetrievalItem, hits: Sequence[Hit]) -> int | None:
    return next((r for r, h in enumerate(hits[:10], start=1) if is_hit(item, h)), None)


def _score(items: Sequence[RetrievalItem], search: Callable[[RetrievalItem], list[Hit]]) -> SystemScore:
    ranks: list[int | None] = []
    latencies: list[float] = []
    for item in items:
        t0 = time.perf_counter()
        hits = search(item)
        latencies.append((time.perf_counter() - t0) * 1000)
        ranks.append(_rank(item, hits))

    def agg(sel: list[int]) -> tuple[float, float, float]:
        rs = [ranks[i] for i in sel]
        if not rs:
            return 0.0, 0.0, 0.0
        return (sum(r == 1 for r in rs) / len(rs), sum(r is not None and r <= 5 for r in rs) / len(rs),
                sum(1 / r for r in rs if r) / len(rs))

    every = list(range(len(items)))
    english = [i for i, it in enumerate(items) if it.language == "en"]
    h1, h5, mrr = agg(every)
    _, h5_en, mrr_en = agg(english)
    ordered = sorted(latencies)
    return SystemScore(
        hit_at_1=round(h1, 3), hit_at_5=round(h5, 3), mrr=round(mrr, 3), n=len(items),
        hit_at_5_en=round(h5_en, 3) if english else None, mrr_en=round(mrr_en, 3) if english else None,
        n_en=len(english), latency_p50_ms=round(statistics.median(ordered), 1),
        latency_p95_ms=round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        misses=[items[i].id for i, r in enumerate(ranks) if r is None or r > 5])


def _pipeline(retriever: Retriever, mode: str) -> Callable[[RetrievalItem], list[Hit]]:
    def search(item: RetrievalItem) -> list[Hit]:
        return [Hit(doc_id=p.chunk.doc_id, clause_ids=p.chunk.clause_ids or [p.chunk.clause_id], text=p.chunk.text)
                for p in retriever.retrieve(item.question, k=10, operator=item.operator, mode=mode)]
    return search


def _naive(settings: Settings, retriever: Retriever) -> Callable[[RetrievalItem], list[Hit]]:
    """RecursiveCharacterTextSplitter(1000, 200) over the raw files, same embeddings, Chroma.
    Its vectors are kept in a collection named after the corpus hash, so reruns do not re-embed."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    corpus = retriever.corpus
    docs: list[tuple[str, str]] = []
    for doc_id, doc in corpus.documents.items():
        raw = (settings.corpus_dir / doc.meta.file).read_text(encoding="utf-8")
        docs.extend((doc_id, piece) for piece in splitter.split_text(raw))
    digest = hashlib.sha1("".join(t for _, t in docs).encode()).hexdigest()[:12]
    client = make_client(settings)
    name = f"baseline-naive-{embeddings_name(settings)}-{digest}"
    embedder = get_embeddings(settings)
    try:
        col = client.get_collection(name, embedding_function=None)
    except Exception:
        # build under a private name and rename when complete: a concurrent run never sees half of it
        building = client.create_collection(f"{name}-building-{os.getpid()}", embedding_function=None,
                                            metadata={"hnsw:space": "cosine"})
        for i in range(0, len(docs), 32):
            batch = docs[i:i + 32]
            building.add(ids=[f"n{i + j}" for j in range(len(batch))], documents=[t for _, t in batch],
                         metadatas=[{"doc_id": d} for d, _ in batch],
                         embeddings=embedder.embed_documents([t for _, t in batch]))
        try:
            building.modify(name=name)
            col = building
        except Exception:  # another run finished first: use its collection
            client.delete_collection(building.name)
            col = client.get_collection(name, embedding_function=None)

    def search(item: RetrievalItem) -> list[Hit]:
        where = None
        if item.operator:
            op = corpus.resolve_operator(item.operator)
            where = {"doc_id": {"$in": corpus.doc_ids_for(op)}} if op else None
        res = col.query(query_embeddings=[embedder.embed_query(item.question)], n_results=10, where=where,
                        include=["documents", "metadatas"])
        return [Hit(doc_id=str(m["doc_id"]), text=t)
                for t, m in zip(res["documents"][0], res["metadatas"][0], strict=True)]
    return search


def run_retrieval_benchmark(settings: Settings, items: Sequence[RetrievalItem] | None = None,
                            with_naive: bool = True) -> RetrievalReport:
    from assistant.index import ensure_index

    items = list(items if items is not None else load_retrieval_set(DEFAULT_RETRIEVAL))
    ensure_index(settings, progress=False)
    retriever = Retriever(settings).warm()
    systems = {
        "hybrid (this pipeline)": _score(items, _pipeline(retriever, "hybrid")),
        "dense only (clause chunks)": _score(items, _pipeline(retriever, "dense")),
        "BM25 alone (French analysis)": _score(items, _pipeline(retriever, "lexical")),
    }
    if with_naive:
        systems["naive LangChain (splitter 1000/200 + Chroma)"] = _score(items, _naive(settings, retriever))
    return RetrievalReport(n=len(items), embedding=embeddings_name(settings), systems=systems)


def render_markdown(report: RetrievalReport) -> str:
    lines = [
        "# Retrieval benchmark", "",
        f"{report.n} questions from `eval/retrieval.jsonl`; embedding model: `{report.embedding}`. "
        "Produced by `assistant eval retrieval`.", "",
        "| system | hit@1 | hit@5 | MRR | hit@5 (EN) | MRR (EN) | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report.systems.items():
        lines.append(f"| {name} | {s.hit_at_1:.3f} | {s.hit_at_5:.3f} | {s.mrr:.3f} | "
                     f"{s.hit_at_5_en if s.hit_at_5_en is not None else '–'} | "
                     f"{s.mrr_en if s.mrr_en is not None else '–'} | {s.latency_p50_ms} | {s.latency_p95_ms} |")
    lines += ["", f"English subset: {next(iter(report.systems.values())).n_en} questions.", "",
              "## Misses (gold not in top 5)", ""]
    for name, s in report.systems.items():
        lines.append(f"- {name}: {', '.join(s.misses) or 'none'}")
    return "\n".join(lines) + "\n"


def run_retrieval_cli(settings: Settings, dataset: Path | None, out: Path | None) -> int:
    report = run_retrieval_benchmark(settings, load_retrieval_set(dataset or DEFAULT_RETRIEVAL))
    text = render_markdown(report)
    target = out or REPORT
    if target.suffix != ".md":
        target = target / "retrieval.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.with_suffix(".json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    print(text)
    print(f"written to {target}")
    return 0
