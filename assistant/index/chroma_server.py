"""A `chroma run` server on loopback for tests and benchmarks (the deployment's Chroma, started locally), and the
small process helpers the other loopback services share (assistant/evaluation/services.py).

The binary is the one installed next to the interpreter by the `chromadb` package; the server listens on
127.0.0.1 only, on a free port, keeps its data under `path`, and is stopped when the context ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from assistant.errors import AssistantError

CHROMA_BIN = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def chroma_run(path: Path, log_path: Path, timeout_s: float = 60.0) -> Iterator[tuple[int, int]]:
    """(port, pid) of a running `chroma run` whose data lives under `path`; its output goes to `log_path`."""
    if not CHROMA_BIN.exists():
        raise AssistantError(f"chroma server binary not found next to the interpreter: {CHROMA_BIN}")
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(CHROMA_BIN), "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                                 str(path)], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log_path, timeout_s)
        yield port, proc.pid
    finally:
        stop(proc)
