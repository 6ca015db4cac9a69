#!/usr/bin/env bash
# Create or refresh the virtual environment with the pinned dependencies, then build the index if it
# is missing or stale. Idempotent: a second run installs nothing and embeds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False

PY=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

stamp=".venv/.installed-$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing pinned dependencies"
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned: the CPU wheel; an unpinned torch would pull gigabytes of CUDA packages
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -c requirements.lock -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

echo "==> index"
.venv/bin/assistant ingest
