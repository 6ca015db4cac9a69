#!/usr/bin/env bash
# Install Debian packages non-interactively (through sudo when not root): scripts/install_*.sh call it once
# they have found their program missing.
set -euo pipefail

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "$@"
