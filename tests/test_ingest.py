"""Incremental, crash-safe ingest into embedded Chroma, with a deterministic fake embedder.

Two real documents (CE+T and Proximus) in a temporary knowledge dir, a temporary data dir; the embedder
is a 64-dimension word-hashing stand-in, so every test is fast and exact about what got embedded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from assistant.cli import main
from assistant.config import ROOT, get_settings
from assistant.corpus import load_corpus_from
from assistant.errors import QueryError
from assistant.index import Retriever, ingest
from assistant.index.ingest import embed_input
from assistant.index.store import STATE_COLLECTION, Store
from tests.helpers_index import (
    DOCS,
    EmbedderFailure,
    HashEmbeddings,
    chroma_client,
    edit_manifest,
    index_collections,
    make_knowledge,
    make_settings,
    patch_embeddings,
    release_chroma,
)

CET, PROXIMUS = DOCS["cet"], DOCS["proximus"]
QUERIES = [("préavis de résiliation anticipée", None), ("indemnités résiliation anticipée", "Proximus"),
           ("suspension des services en cas de non-paiement", "CE+T")]


@pytest.fixture(autouse=True)
def no_default_embedding_function(monkeypatch):
    """Chroma's default embedding function downloads a model: any call fails the test."""
    from chromadb.api.types import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    def forbidden(self, input):  # same signature: Chroma checks it
        raise AssertionError("Chroma's default embedding function was called")

    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", forbidden)


@pytest.fixture
def env(tmp_path, monkeypatch):
    kd = make_knowledge(tmp_path / "knowledge", [CET, PROXIMUS])
    # These tests rewrite document text freely (a new notice period, a renamed company), which would break the
    # rules' verbatim quotes: ingest would rightly refuse (tests/test_ingest_refusals.py). They are about the
    # index, so their knowledge has no rules files.
    shutil.rmtree(kd / "rules")
    settings = make_settings(kd, tmp_path / "data")
    embedder = patch_embeddings(monkeypatch, HashEmbeddings(dim=64))
    yield settings, embedder
    release_chroma(tmp_path)


def chunk_ids(settings) -> dict[str, str]:
    """chunk id -> doc id, as the corpus on disk cuts it now."""
    return {c.chunk_id: c.doc_id for c in load_corpus_from(settings.knowledge_dir).chunks}


def stored(settings) -> dict[str, dict]:
    col = Store(settings).active()
    got = col.get(include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


def results(settings) -> list[list[tuple[str, str, float]]]:
    retriever = Retriever(settings)
    return [[(p.chunk.chunk_id, p.chunk.clause_id, p.score) for p in retriever.retrieve(q, k=5, operator=op)]
            for q, op in QUERIES]


def edit_document(settings, doc_id: str, old: str, new: str) -> None:
    path = settings.knowledge_dir / "documents" / f"{doc_id}.txt"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- builds


def test_first_ingest_embeds_every_chunk_with_our_embedder(env):
    settings, embedder = env
    ids = chunk_ids(settings)
    report = ingest(settings, progress=False)
    assert not report.unchanged
    assert report.chunks == report.embedded == len(ids) == len(embedder.embedded)
    assert report.reused == report.removed == 0
    store = Store(settings)
    assert store.active_name() == report.collection
    assert index_collections(settings) == {report.collection}
    meta = stored(settings)
    assert set(meta) == set(ids)
    assert {m["doc_id"] for m in meta.values()} == {CET, PROXIMUS}
    assert all(m["clause_id"] and m["operator"] for m in meta.values())
    # vectors are ours (64 dims), and no collection carries an embedding function of Chroma's
    vec = store.vectors([next(iter(ids))])
    assert len(next(iter(vec.values()))) == 64
    client = chroma_client(settings)
    for name in [report.collection, STATE_COLLECTION]:
        assert client.get_collection(name, embedding_function=None).configuration.get("embedding_function") is None


def test_reingest_unchanged_embeds_nothing(env):
    settings, embedder = env
    first = ingest(settings, progress=False)
    calls = embedder.document_calls
    again = ingest(settings, progress=False)
    assert again.unchanged and again.embedded == 0 and again.reused == first.chunks
    assert again.collection == first.collection
    assert embedder.document_calls == calls
    assert index_collections(settings) == {first.collection}


def test_changed_document_reembeds_only_its_new_chunks(env):
    settings, embedder = env
    ingest(settings, progress=False)
    before = chunk_ids(settings)
    # CE+T 11.4: the renewal notice, near the end of the document
    edit_document(settings, CET, "moyennant un préavis de trois (3) mois.", "moyennant un préavis de six (6) mois.")
    after = chunk_ids(settings)
    new = set(after) - set(before)
    assert new and {after[c] for c in new} == {CET}
    assert len(new) < sum(1 for d in after.values() if d == CET)  # not the whole document
    embedder.embedded.clear()
    report = ingest(settings, progress=False)
    assert report.embedded == len(new)
    assert report.reused == len(set(after) & set(before))
    assert report.removed == len(set(before) - set(after))
    by_id = {c.chunk_id: c for c in load_corpus_from(settings.knowledge_dir).chunks}
    assert sorted(embedder.embedded) == sorted(embed_input(by_id[c], settings.embed_words) for c in new)
    assert set(stored(settings)) == set(after)
    passage = Retriever(settings).retrieve("préavis de six (6) mois non-renouvellement", k=3, operator="CE+T")[0]
    assert "préavis de six (6) mois" in passage.chunk.text
    assert index_collections(settings) == {report.collection}


def test_removed_document_loses_its_chunks(env):
    settings, embedder = env
    ingest(settings, progress=False)
    proximus_chunks = [c for c, d in chunk_ids(settings).items() if d == PROXIMUS]
    edit_manifest(settings.knowledge_dir,
                  lambda m: m.update(documents=[d for d in m["documents"] if d["doc_id"] != PROXIMUS]))
    (settings.knowledge_dir / "documents" / f"{PROXIMUS}.txt").unlink()
    calls = embedder.document_calls
    report = ingest(settings, progress=False)
    assert report.removed == len(proximus_chunks) > 0
    assert report.embedded == 0 and embedder.document_calls == calls
    meta = stored(settings)
    assert {m["doc_id"] for m in meta.values()} == {CET}
    assert not set(proximus_chunks) & set(meta)
    with pytest.raises(QueryError, match="unknown operator"):
        Retriever(settings).retrieve("résiliation", operator="Proximus")
    assert index_collections(settings) == {report.collection}


def test_rebuild_from_the_cli_writes_a_new_collection_and_switches(env, monkeypatch, capsys):
    settings, embedder = env
    first = ingest(settings, progress=False)
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(settings.knowledge_dir))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        assert main(["ingest", "--rebuild", "--json", "--quiet"]) == 0
    finally:
        get_settings.cache_clear()
    report = json.loads(capsys.readouterr().out)
    assert report["collection"] != first.collection
    assert report["embedded"] == report["chunks"] == first.chunks and report["reused"] == 0
    assert Store(settings).active_name() == report["collection"]
    assert index_collections(settings) == {report["collection"]}  # the old one is gone
    assert set(stored(settings)) == set(chunk_ids(settings))


# ---------------------------------------------------------------------------------------------- interruptions


def test_interrupted_rebuild_keeps_the_previous_collection_serving(env):
    settings, embedder = env
    first = ingest(settings, progress=False)
    served = results(settings)
    assert all(served)
    embedder.fail_after = embedder.document_calls + 2  # two batches land, the third one crashes
    with pytest.raises(EmbedderFailure):
        ingest(settings, rebuild=True, progress=False)
    assert Store(settings).active_name() == first.collection
    assert index_collections(settings) == {first.collection}  # the half-written one was dropped
    assert results(settings) == served
    embedder.fail_after = None
    again = ingest(settings, rebuild=True, progress=False)
    assert index_collections(settings) == {again.collection} and again.collection != first.collection


def test_interrupted_update_keeps_the_old_chunks_serving(env):
    settings, embedder = env
    first = ingest(settings, progress=False)
    before = chunk_ids(settings)
    served = results(settings)
    # a new version of CE+T's terms that renames the company throughout: more than one batch to embed
    path = settings.knowledge_dir / "documents" / f"{CET}.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("CE+T Télécommunications", "CE+T Telecom SA"),
                    encoding="utf-8")
    assert len(set(chunk_ids(settings)) - set(before)) > 32
    embedder.fail_after = embedder.document_calls + 1
    with pytest.raises(EmbedderFailure):
        ingest(settings, progress=False)
    assert Store(settings).active_name() == first.collection
    assert set(stored(settings)) == set(before)
    assert index_collections(settings) == {first.collection}
    # the old collection still answers (chunks whose text changed are simply not found in the new corpus)
    retriever = Retriever(settings)
    assert retriever.retrieve("indemnités résiliation anticipée", k=5, operator="Proximus")
    assert served[1] == results(settings)[1]  # Proximus untouched: same answers
    embedder.fail_after = None
    report = ingest(settings, progress=False)
    assert report.embedded == len(set(chunk_ids(settings)) - set(before))
    assert index_collections(settings) == {report.collection}
    assert set(stored(settings)) == set(chunk_ids(settings))


KILLED_INGEST = textwrap.dedent("""
    import importlib, sys, time
    from pathlib import Path
    ingest_mod = importlib.import_module("assistant.index.ingest")
    from tests.helpers_index import HashEmbeddings, make_settings

    class Hang(HashEmbeddings):
        def embed_documents(self, texts):
            if self.document_calls >= 2:
                Path(sys.argv[3]).write_text("hanging")
                time.sleep(600)
            return super().embed_documents(texts)

    embedder = Hang()
    ingest_mod.get_embeddings = lambda settings: embedder
    ingest_mod.ingest(make_settings(Path(sys.argv[1]), Path(sys.argv[2])), rebuild=True, progress=False)
""")


def _killed_mid_rebuild(settings, tmp_path) -> None:
    """Run a rebuild in another process and SIGKILL it once it is half-way: no except clause runs."""
    script = tmp_path / "killed_ingest.py"
    script.write_text(KILLED_INGEST, encoding="utf-8")
    marker = tmp_path / "hanging"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(settings.knowledge_dir), str(settings.data_dir),
                             str(marker)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the ingest subprocess never reached its third batch"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_killed_ingest_leaves_previous_collection_serving_and_next_ingest_cleans_up(env, tmp_path):
    settings, embedder = env
    first = ingest(settings, progress=False)
    served = results(settings)
    release_chroma(tmp_path)  # let the other process own the database while it runs
    _killed_mid_rebuild(settings, tmp_path)
    assert Store(settings).active_name() == first.collection
    assert len(index_collections(settings)) == 2  # the orphan of the killed build is there
    assert results(settings) == served
    edit_document(settings, CET, "moyennant un préavis de trois (3) mois.", "moyennant un préavis de six (6) mois.")
    report = ingest(settings, progress=False)
    assert index_collections(settings) == {report.collection}


def test_orphan_of_a_killed_build_is_dropped_by_the_next_ingest_even_when_nothing_changed(env):
    settings, embedder = env
    first = ingest(settings, progress=False)
    # what a build killed half-way leaves behind (see the SIGKILL test above): a partial new collection
    orphan = Store(settings).new_collection()
    orphan.add(ids=["x:1"], embeddings=[[1.0] + [0.0] * 63], metadatas=[{"doc_id": CET}], documents=["partial"])
    assert len(index_collections(settings)) == 2
    report = ingest(settings, progress=False)
    assert report.unchanged and report.collection == first.collection
    assert index_collections(settings) == {first.collection}


def test_retrieval_on_the_fake_index_returns_clause_coordinates(env):
    settings, embedder = env
    ingest(settings, progress=False)
    passages = Retriever(settings).retrieve("indemnités en cas de résiliation anticipée", k=5, operator="Belgacom")
    assert passages and {p.doc_id for p in passages} == {PROXIMUS}
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert all(p.clause_id for p in passages)
    assert embedder.query_calls >= 1
