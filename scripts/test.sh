#!/usr/bin/env bash
# The test job: set everything up, then run the whole test suite and the evaluation gate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
[ -f scripts/install_browser.sh ] && bash scripts/install_browser.sh
bash scripts/install_postgres.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False

echo "==> lint"
.venv/bin/ruff check assistant tests app.py

echo "==> tests"
.venv/bin/pytest -q -p no:cacheprovider

echo "==> evaluation gate (CI subset, thresholds in eval/gate.yaml)"
bash .ci/eval_gate
