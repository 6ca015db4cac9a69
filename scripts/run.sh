#!/usr/bin/env bash
# The main job: set everything up (venv, dependencies, index) and start the web app on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python app.py "$@"
