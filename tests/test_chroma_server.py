"""The opt-in Chroma server deployment against a real `chroma run` process on 127.0.0.1.

Ingest and retrieval go through chromadb's HttpClient exactly as in a deployment with
ASSISTANT_CHROMA_HOST/PORT set; the embedder is the deterministic fake (no model is loaded).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from assistant.config import ROOT, Settings
from assistant.errors import AssistantError
from assistant.index import Retriever, ingest
from assistant.index.chroma_server import chroma_run
from assistant.index.store import STATE_COLLECTION, Store
from tests.helpers_index import DOCS, HashEmbeddings, free_port, make_knowledge, patch_embeddings

pytestmark = pytest.mark.server

CET = DOCS["cet"]
HEARTBEAT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("chroma-server")
    try:
        with chroma_run(base / "db", base / "server.log", timeout_s=HEARTBEAT_TIMEOUT_S) as (port, _pid):
            yield port, base
    except AssistantError as exc:  # no binary, an early exit or no heartbeat: the message says which
        pytest.fail(str(exc))


@pytest.fixture
def server_settings(chroma_server, tmp_path, monkeypatch):
    port, _ = chroma_server
    kd = make_knowledge(tmp_path / "knowledge", [CET])
    # a prefix per test keeps tests independent on the shared server
    settings = Settings(chroma_host="127.0.0.1", chroma_port=port, data_dir=tmp_path / "data", knowledge_dir=kd,
                        collection_prefix=f"t{tmp_path.name[-12:].replace('_', '-')}")
    embedder = patch_embeddings(monkeypatch, HashEmbeddings())
    return settings, embedder


def test_ingest_and_retrieve_through_the_server(server_settings):
    settings, embedder = server_settings
    report = ingest(settings, progress=False)
    assert report.embedded == report.chunks > 0 and not report.unchanged
    store = Store(settings)
    assert type(store.client).__name__ != "PersistentClient"  # really talking HTTP
    assert store.active_name() == report.collection
    assert store.active().count() == report.chunks
    # nothing was written locally: the data lives in the server
    assert not (settings.data_dir / "chroma").exists()
    col = store.client.get_collection(report.collection, embedding_function=None)
    assert col.configuration.get("embedding_function") is None

    passages = Retriever(settings).retrieve("résiliation anticipée du contrat", k=5, operator="Easy2Phone")
    assert passages
    assert {p.doc_id for p in passages} == {CET}
    assert all(p.clause_id and p.chunk.text for p in passages)
    assert any("dense" in p.sources for p in passages)  # the vector side answered through the server

    again = ingest(settings, progress=False)
    assert again.unchanged and again.collection == report.collection and again.embedded == 0


def test_rebuild_through_the_server_switches_and_drops_the_old_collection(server_settings):
    settings, _ = server_settings
    first = ingest(settings, progress=False)
    second = ingest(settings, rebuild=True, progress=False)
    assert second.collection != first.collection
    names = {c if isinstance(c, str) else c.name for c in Store(settings).client.list_collections()}
    mine = {n for n in names if n.startswith(f"{settings.collection_prefix}-")}
    assert mine == {second.collection}
    assert STATE_COLLECTION in names


def test_unreachable_server_is_a_clear_error(tmp_path):
    port = free_port()  # nothing listens there
    settings = Settings(chroma_host="127.0.0.1", chroma_port=port, data_dir=tmp_path, knowledge_dir=tmp_path)
    with pytest.raises(AssistantError, match=f"cannot reach the Chroma server at 127.0.0.1:{port}"):
        Store(settings)


def test_unreachable_server_through_the_cli(tmp_path):
    port = free_port()
    kd = make_knowledge(tmp_path / "knowledge", [CET])
    env = {**os.environ, "ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(port),
           "ASSISTANT_KNOWLEDGE_DIR": str(kd), "ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Chroma server at 127.0.0.1:")
    assert str(port) in lines[0]
