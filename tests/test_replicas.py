"""Two app processes (`python app.py`) sharing a real PostgreSQL and a real `chroma run` server on loopback, as
replicas behind a load balancer would: a conversation started on one process is continued correctly on the
other, turn for turn the same as a conversation kept on one process, and both report the same index."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from assistant.config import ROOT
from tests.conftest_ui import RunningApp, isolated_data_dir, missing_pieces, start_app, stop_app

pytestmark = [pytest.mark.server, pytest.mark.slow]

TURNS = [
    "Quel préavis faut-il donner pour mettre fin au contrat ?",  # no operator: the assistant asks which one
    "Proximus",  # answers the waiting question
    "et quitter pendant l'engagement, ça coûte combien ?",
    "Moving my number elsewhere: what delay should I expect?",
]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, postgres_url: str,
             chroma_server: tuple[int, Path]) -> Iterator[tuple[RunningApp, RunningApp]]:
    reason = missing_pieces()
    if reason:
        pytest.skip(reason)
    port, _ = chroma_server
    env = {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(port),
           "ASSISTANT_DATABASE_URL": postgres_url, "ASSISTANT_HANDOFF_KEY": Fernet.generate_key().decode(),
           "ASSISTANT_CONVERSATION_STORE": "sqlite", "ASSISTANT_API_RATE_PER_MINUTE": "0"}
    base = tmp_path_factory.mktemp("replicas")
    # the index is built once into the Chroma server (vectors from the embedding cache), as a deployment's
    # ingest job would; each replica then only checks it at start-up
    data = [isolated_data_dir(base / f"data-{n}") for n in (1, 2)]
    subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--quiet"], cwd=ROOT, check=True,
                   env={**os.environ, **env, "ASSISTANT_DATA_DIR": str(data[0])}, timeout=900)
    for name in ("one", "two"):
        (base / name).mkdir()
    first = start_app(base / "one", env=env, data_dir=data[0])
    try:
        second = start_app(base / "two", env=env, data_dir=data[1])
    except Exception:
        stop_app(first)
        raise
    yield first, second
    stop_app(second)
    stop_app(first)


def _ask(app: RunningApp, text: str, session_id: str) -> dict[str, Any]:
    response = httpx.post(f"{app.url}/v1/chat/completions", timeout=120, json={
        "model": "telecom-assistant", "messages": [{"role": "user", "content": text}], "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()["assistant"]


def _essentials(reply: dict[str, Any]) -> tuple[Any, ...]:
    return (reply["status"], reply["operator"], reply["answer"],
            [(c["doc_id"], c["clause_id"]) for c in reply["citations"]])


def test_a_conversation_moves_between_processes_turn_by_turn(replicas):
    first, second = replicas
    alone = [_ask(first, text, "kept-on-one") for text in TURNS]
    moving = [_ask((first, second)[n % 2], text, "moving") for n, text in enumerate(TURNS)]
    assert alone[0]["status"] == "clarify"  # the question waits for the operator...
    assert moving[1]["status"] == "answered" and moving[1]["operator"] == "Proximus"  # ...answered on the other
    assert moving[1]["citations"]
    assert [_essentials(r) for r in moving] == [_essentials(r) for r in alone]
    assert not list(first.data_dir.glob("conversations.sqlite*"))  # PostgreSQL holds the conversations


def test_both_processes_serve_the_same_index_and_say_so(replicas):
    reports = [httpx.get(f"{app.url}/healthz", timeout=30).json()["index"] for app in replicas]
    assert reports[0] == reports[1]
    index = reports[0]
    assert index["current"] is True and index["chunks"] == index["collection_chunks"]
    assert index["collection"] and index["documents"]  # the collection queried and each document's version
