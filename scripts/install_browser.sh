#!/usr/bin/env bash
# Install Debian's headless Chromium for the Playwright browser tests (tests/test_ui_browser.py).
# Idempotent: does nothing when /usr/bin/chromium is already there. Never runs `playwright install`:
# the tests drive the system browser through `executable_path="/usr/bin/chromium"`.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

bash "$(dirname "$0")/apt_install.sh" chromium chromium-driver
/usr/bin/chromium --version
