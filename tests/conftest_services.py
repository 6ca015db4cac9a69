"""Fixtures for the tests that need real servers on loopback: a PostgreSQL cluster and a `chroma run` server,
each started once per test module (assistant/evaluation/services.py starts them; the load test uses the same
code). Test modules import the fixtures they use from here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import AssistantError
from assistant.evaluation.services import chroma_server as start_chroma
from assistant.evaluation.services import local_postgres


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 (Debian's `postgresql`, installed by the test set-up)."""
    try:
        with local_postgres() as url:
            yield url
    except AssistantError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """`chroma run` on a free loopback port: (port, its base directory)."""
    base = tmp_path_factory.mktemp("chroma-server")
    try:
        with start_chroma(base) as port:
            yield port, base
    except AssistantError as error:
        pytest.fail(str(error))
