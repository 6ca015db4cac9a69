#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the durable-conversation tests (tests/test_conversations.py
# starts its own throw-away server on 127.0.0.1). Idempotent: does nothing when initdb is already there.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "postgresql already installed"
  exit 0
fi

bash "$(dirname "$0")/apt_install.sh" postgresql
