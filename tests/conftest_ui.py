"""Helpers for the UI and API tests: start the real app (`python app.py`) on a free port and stop it.

Not a conftest (the shared tests/conftest.py belongs to the lead): test modules import it. The app runs
in a subprocess exactly as a user starts it; its data dir is a temporary copy of the real one,
so the built index is reused while feedback written by the tests never lands in the QA database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assistant.config import ROOT, Settings

FEEDBACK_DB = "feedback.sqlite3"
CONVERSATION_STORE = "conversations.sqlite"
STARTUP_TIMEOUT_S = float(os.environ.get("UI_TEST_STARTUP_TIMEOUT", "900"))  # first start builds the index
# For developing the UI against stand-ins only: another launcher script with app.py's command line.
APP_SCRIPT = os.environ.get("UI_TEST_APP", str(ROOT / "app.py"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_pieces() -> str | None:
    """Why the real app cannot start yet (the agent, index or tools package is not there), or None."""
    if str(ROOT / "app.py") != APP_SCRIPT:
        return None
    try:
        from assistant.agent import Assistant  # noqa: F401
        from assistant.index import ensure_index  # noqa: F401
        from assistant.tools.registry import CALCULATORS  # noqa: F401
    except ImportError as error:
        return f"the real pipeline is not importable yet: {error}"
    return None


def isolated_data_dir(target: Path) -> Path:
    """A copy of the real data dir (the built index, ~25 MB) without its feedback and conversation stores: the
    app under test creates both, as on a new installation, and never sees a developer's conversations.

    A copy, not links: when the corpus or chunker changed, the app updates its index on start, and that
    update must not race with other processes using the shared one.
    """
    real = Settings().data_dir
    target.mkdir(parents=True, exist_ok=True)
    if real.is_dir():
        for entry in real.iterdir():
            if entry.name.startswith((FEEDBACK_DB, CONVERSATION_STORE)):
                continue
            if entry.is_dir():
                shutil.copytree(entry, target / entry.name)
            else:
                shutil.copy2(entry, target / entry.name)
    return target


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright: what each browser test module's fixture yields."""
    import pytest

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run scripts/install_browser.sh")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


BOT_MESSAGES = '#chatbot [data-testid="bot"]'


def send_chat(page: Any, text: str, settle_ms: int, timeout_ms: int = 120_000) -> str:
    """Type `text` in the customer chat, send it, wait until the new assistant message is final, then
    `settle_ms` more for the updates that follow it (sources, picker, language, scroll); that message."""
    before = page.locator(BOT_MESSAGES).count()
    page.locator("#message textarea").fill(text)
    page.click("#send")
    page.wait_for_function(
        """(n) => { const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
                   return bots.length > n && bots[bots.length - 1].innerText.trim() !== '…'; }""",
        arg=before, timeout=timeout_ms)
    page.wait_for_timeout(settle_ms)
    return page.locator(BOT_MESSAGES).last.inner_text()


@dataclass
class RunningApp:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def feedback_db(self) -> Path:
        return self.data_dir / FEEDBACK_DB

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def start_app(workdir: Path, env: dict[str, str] | None = None, data_dir: Path | None = None) -> RunningApp:
    """`python app.py` on a free loopback port, on `data_dir` (default: a fresh copy of the real one)."""
    port = free_port()
    data_dir = data_dir or isolated_data_dir(workdir / "data")
    log_path = workdir / "app.log"
    full_env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
                **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, APP_SCRIPT, "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    app = RunningApp(f"http://127.0.0.1:{port}", port, data_dir, process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{app.log_tail()}")
        try:
            if httpx.get(f"{app.url}/healthz", timeout=2).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_app(app)
    raise RuntimeError(f"app.py did not answer /healthz within {STARTUP_TIMEOUT_S:.0f} s:\n{app.log_tail()}")


def stop_app(app: RunningApp) -> None:
    """Stop the app's own process group (it was started in a new session), politely first."""
    if app.process.poll() is None:
        os.killpg(app.process.pid, signal.SIGTERM)
        try:
            app.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(app.process.pid, signal.SIGKILL)
            app.process.wait(timeout=5)


def running_app(tmp_path_factory: Any, name: str, env: dict[str, str] | None = None) -> Iterator[RunningApp]:
    """A module fixture's body: skip when the app cannot start, else start it, yield it, stop it."""
    import pytest

    reason = missing_pieces()
    if reason:
        pytest.skip(reason)
    running = start_app(tmp_path_factory.mktemp(name), env=env)
    yield running
    stop_app(running)
