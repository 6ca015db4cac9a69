"""Throw-away PostgreSQL and `chroma run` servers on 127.0.0.1, for the multi-process tests and the load test.

PostgreSQL is Debian's `postgresql` (scripts/install_postgres.sh installs it): a fresh cluster in a temporary
directory with trust authentication on loopback only, stopped and deleted on exit. Chroma is the `chroma`
command installed with chromadb, next to this interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.errors import AssistantError
from assistant.index.chroma_server import chroma_run, free_port, stop, wait_until_up  # noqa: F401 - shared

START_TIMEOUT_S = 60.0


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
    base.mkdir(parents=True, exist_ok=True)
    with chroma_run(base / "db", base / "server.log", START_TIMEOUT_S) as (port, _pid):
        yield port
