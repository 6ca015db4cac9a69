"""Throw-away PostgreSQL and `chroma run` servers on 127.0.0.1, for the multi-process tests and the load test.

PostgreSQL is Debian's `postgresql` (scripts/install_postgres.sh installs it): a fresh cluster in a temporary
directory with trust authentication on loopback only, stopped and deleted on exit. Chroma is the `chroma`
command installed with chromadb, next to this interpreter.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from assistant.errors import AssistantError

CHROMA_BIN = Path(sys.executable).parent / "chroma"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@contextmanager
def local_postgres(max_connections: int = 100) -> Iterator[str]:
    """A new PostgreSQL cluster listening on 127.0.0.1; yields its `postgresql://` URL."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise AssistantError("PostgreSQL is not installed: run scripts/install_postgres.sh")
    # not under a test's tmp dir: the server's user must be able to reach its data directory
    base = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    data, port = base / "data", free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "assistant", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections={max_connections}"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://assistant@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def chroma_server(base: Path) -> Iterator[int]:
    """`chroma run` on a free loopback port with its data under `base`; yields the port once it answers."""
    if not CHROMA_BIN.exists():
        raise AssistantError(f"chroma server binary not found next to the interpreter: {CHROMA_BIN}")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = base / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(CHROMA_BIN), "run", "--host", "127.0.0.1", "--port", str(port),
                                 "--path", str(base / "db")], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log_path, START_TIMEOUT_S)
        yield port
    finally:
        stop(proc)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    """Poll `url` until it answers 200; a clear error when the process exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssistantError(f"{proc.args[0]} exited with {proc.returncode}: "
                                 f"{log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise AssistantError(f"no answer from {url} within {timeout_s:.0f} s: "
                                 f"{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process started here (and wait for it); kill it if it does not stop."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
