"""Load test: N app processes sharing PostgreSQL and a `chroma run` server on loopback, driven by locust.

Starts a throw-away PostgreSQL cluster and a Chroma server (assistant/evaluation/services.py), builds the index
into the server once (vectors from the embedding cache), starts `python app.py` N times on free ports with the
shared database and index, then runs eval/load/locustfile.py headless at each number of concurrent users
(closed loop, no think time: each user holds one conversation after another, alternating processes turn by turn)
and records throughput, latency percentiles and errors per step, the CPU seconds each part used per answer (app
processes, PostgreSQL, Chroma, locust) and the 1-minute load average. The highest throughput of the steps is the
throughput at saturation.

    python -m assistant.evaluation.load_test [--processes 2] [--users 10,25,50] [--duration 60] [--write]

`--write` writes eval/reports/load.md and eval/reports/load.json. Needs locust (requirements-bench.txt, installed
by `make bench-load`) and PostgreSQL (scripts/install_postgres.sh).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from cryptography.fernet import Fernet

from assistant.config import ROOT, get_settings
from assistant.evaluation.services import chroma_server, free_port, local_postgres, stop, wait_until_up

LOCUSTFILE = ROOT / "eval" / "load" / "locustfile.py"
REPORT = ROOT / "eval" / "reports" / "load.md"
APP_START_S = 600.0


def _app_env(base: dict[str, str], data_dir: Path) -> dict[str, str]:
    return {**os.environ, **base, "ASSISTANT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False",
            "NO_PROXY": "127.0.0.1,localhost"}


def _data_dir(target: Path) -> Path:
    """A fresh data dir with this installation's router and fact-label caches (the index is in Chroma)."""
    (target / "cache").mkdir(parents=True)
    for cached in (get_settings().data_dir / "cache").glob("*.npy"):
        shutil.copy2(cached, target / "cache" / cached.name)
    return target


@contextmanager
def stack(processes: int, work: Path, extra_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """PostgreSQL + Chroma + `processes` app processes; yields their URLs and process ids."""
    with ExitStack() as stop_all:
        url = stop_all.enter_context(local_postgres(max_connections=200))
        chroma_port = stop_all.enter_context(chroma_server(work / "chroma"))
        env = {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(chroma_port),
               "ASSISTANT_DATABASE_URL": url, "ASSISTANT_HANDOFF_KEY": Fernet.generate_key().decode(),
               "ASSISTANT_API_RATE_PER_MINUTE": "0", **extra_env}
        first_data = _data_dir(work / "data-1")
        subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--quiet"], cwd=ROOT, check=True,
                       env=_app_env(env, first_data))
        apps = []
        for n in range(processes):
            port, data = free_port(), first_data if n == 0 else _data_dir(work / f"data-{n + 1}")
            log_path = work / f"app-{n + 1}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port",
                                         str(port)], cwd=ROOT, env=_app_env(env, data), stdout=log,
                                        stderr=subprocess.STDOUT)
            stop_all.callback(stop, proc)
            apps.append((f"http://127.0.0.1:{port}", proc, log_path))
        for app_url, proc, log_path in apps:
            wait_until_up(f"{app_url}/healthz", proc, log_path, APP_START_S)
        yield {"urls": [a[0] for a in apps], "apps": [a[1].pid for a in apps],
               "postgres": _pids_listening(url.rsplit(":", 1)[1].split("/")[0], "postgres"),
               "chroma": _pids_listening(str(chroma_port), "chroma")}


def _pids_listening(port: str, name: str) -> list[int]:
    """The server started on `port` (found by its command line) and its children."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if name in (proc.info["name"] or "") + cmdline and f" {port}" in cmdline and "pg_ctl" not in cmdline:
            return [proc.pid]
    return []


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their children, dead children included where known."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def run_step(users: int, duration: int, urls: list[str], parts: dict[str, list[int]], out: Path) -> dict[str, Any]:
    """One locust run at `users` concurrent users; the aggregated stats and CPU used per part."""
    prefix = out / f"users-{users}"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r",
               str(users), "--run-time", f"{duration}s", "--csv", str(prefix), "--host", urls[0], "--reset-stats",
               "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    before = {name: _cpu_seconds(pids) for name, pids in parts.items()}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    locust = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "LOAD_HOSTS": ",".join(urls)},
                              stdout=subprocess.DEVNULL, stderr=(out / f"users-{users}.log").open("wb"))
    locust_cpu = 0.0
    while locust.poll() is None:  # sampled while it runs: its children are gone once it exits
        locust_cpu = max(locust_cpu, _cpu_seconds([locust.pid]))
        time.sleep(1.0)
    wall = time.perf_counter() - started
    cpu = {name: round(_cpu_seconds(pids) - before[name], 1) for name, pids in parts.items()}
    cpu["locust"] = round(locust_cpu, 1)
    row = _aggregated(Path(f"{prefix}_stats.csv"))
    answers = row["requests"] - row["failures"]
    per_answer = {name: round(1000 * seconds / max(1, answers), 1) for name, seconds in cpu.items()}
    return {"users": users, **row, "load_1m_before": round(load_before, 2), "load_1m_after":
            round(os.getloadavg()[0], 2), "wall_s": round(wall, 1), "cpu_s": cpu, "cpu_ms_per_answer": per_answer}


def _aggregated(path: Path) -> dict[str, Any]:
    with path.open(newline="") as handle:
        for line in csv.DictReader(handle):
            if line["Name"] == "Aggregated":
                return {"requests": int(line["Request Count"]), "failures": int(line["Failure Count"]),
                        "rps": round(float(line["Requests/s"]), 1), "p50_ms": float(line["50%"]),
                        "p95_ms": float(line["95%"]), "p99_ms": float(line["99%"]),
                        "max_ms": round(float(line["Max Response Time"]))}
    raise SystemExit(f"no aggregated row in {path}: did locust start? see {path.parent}")


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "system": platform.platform(terse=True)}


TARGET_RPS = 35.4  # issue 13: 1.7 x the 20.8 answers/s one process served behind a global lock
NOTES = ("<!-- notes:start -->", "<!-- notes:end -->")


def render(result: dict[str, Any], notes: str) -> str:
    steps = result["steps"]
    best = max(steps, key=lambda s: s["rps"])
    errors = sum(s["failures"] for s in steps)
    verdict = "met" if best["rps"] >= TARGET_RPS and errors == 0 else "**not met**"
    lines = [
        "# Load test: two app processes sharing PostgreSQL and a Chroma server", "",
        f"Command: `{result['command']}` ({result['date']}, commit {result['commit']}).", "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_gb']} GB, Python {result['machine']['python']}. "
        f"1-minute load average just before the run: **{result['load_1m_idle']}** (other users of the cores).", "",
        f"Set-up: {result['processes']} `python app.py` processes, one throw-away PostgreSQL (conversations, "
        "feedback, conversation locks) and one `chroma run` server on 127.0.0.1; locust "
        f"{result['locust']} drives the OpenAI-compatible API with the multi-turn French and English conversations "
        "of `eval/load/conversations.yaml` (placeholders filled at random), each turn sent to the next process, no "
        f"think time; {result['duration_s']} s per step after all users started.", "",
        f"**Throughput at saturation: {best['rps']} answers/s** at {best['users']} users (p50 {best['p50_ms']:.0f} ms, "
        f"p95 {best['p95_ms']:.0f} ms), {errors} errors over {sum(s['requests'] for s in steps)} requests. "
        f"Target {TARGET_RPS} answers/s with 0 errors: {verdict}.", "",
        "| users | answers/s | p50 ms | p95 ms | p99 ms | max ms | requests | errors | load 1m before / after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {s['users']} | {s['rps']} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | {s['p99_ms']:.0f} | "
              f"{s['max_ms']} | {s['requests']} | {s['failures']} | {s['load_1m_before']} / {s['load_1m_after']} |"
              for s in steps]
    parts = list(steps[0]["cpu_ms_per_answer"])
    cores = result["machine"]["cores"]
    lines += ["", "Where the CPU goes (CPU milliseconds per answer, user + system, per part of the set-up). The last "
              f"column is an estimate, not a measurement: the answers/s {cores} cores would serve at that cost if "
              "nothing else ran on them.", "",
              "| users | " + " | ".join(parts) + " | total | estimate on idle cores |",
              "|---|" + "---|" * (len(parts) + 2)]
    for s in steps:
        total = round(sum(s["cpu_ms_per_answer"].values()), 1)
        lines.append(f"| {s['users']} | " + " | ".join(str(s["cpu_ms_per_answer"][p]) for p in parts)
                     + f" | {total} | {round(cores * 1000 / total, 1) if total else '–'} |")
    lines += ["", NOTES[0], notes.strip(), NOTES[1], ""]
    return "\n".join(lines)


def _kept_notes() -> str:
    if not REPORT.exists():
        return ""
    text = REPORT.read_text(encoding="utf-8")
    if NOTES[0] in text and NOTES[1] in text:
        return text.split(NOTES[0], 1)[1].split(NOTES[1], 1)[0]
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--users", default="10,25,50", help="comma-separated concurrent users, one step each")
    parser.add_argument("--duration", type=int, default=60, help="seconds per step, after all users started")
    parser.add_argument("--warmup", type=int, default=15, help="seconds of unrecorded load first (0: none)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the app processes (e.g. OMP_NUM_THREADS=1)")
    parser.add_argument("--write", action="store_true", help="write eval/reports/load.md and load.json")
    args = parser.parse_args(argv)
    from importlib.metadata import version

    extra = dict(item.split("=", 1) for item in args.env)
    load_idle = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    try:
        with stack(args.processes, work, extra) as running:
            parts = {"apps": running["apps"], "postgres": running["postgres"], "chroma": running["chroma"]}
            if args.warmup:  # first answers of a process are slower (lazy imports, caches): not measured
                run_step(10, args.warmup, running["urls"], parts, work)
            steps = []
            for users in (int(u) for u in args.users.split(",")):
                steps.append(run_step(users, args.duration, running["urls"], parts, work))
                print(json.dumps(steps[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    command = "python -m assistant.evaluation.load_test " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": command.strip(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": commit, "machine": machine(), "load_1m_idle": load_idle, "processes": args.processes,
              "app_env": extra, "duration_s": args.duration, "locust": version("locust"), "steps": steps}
    if args.write:
        REPORT.write_text(render(result, _kept_notes()), encoding="utf-8")
        REPORT.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(render(result, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
