#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the durable-conversation tests (tests/test_conversations.py
# starts its own throw-away server on 127.0.0.1). Idempotent: does nothing when initdb is already there.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "postgresql already installed"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
