"""The content-addressed embedding cache: hits and misses, what makes a key, bounds, corrupt files, and how
ingest uses it (a rebuild, a fresh data dir or an interrupted build reuse what was computed once).

A 64-dimension word-hashing embedder stands in for the model; two real documents (CE+T and Proximus)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time

import numpy as np
import pytest

from assistant.corpus import load_corpus_from
from assistant.index import ingest
from assistant.index.cache import FILE_NAME, CachedEmbeddings, EmbeddingCache, cache_key, open_cache
from assistant.index.ingest import embed_input
from assistant.index.store import Store
from tests.helpers_index import (
    DOCS,
    EmbedderFailure,
    HashEmbeddings,
    NamedHashEmbeddings,
    make_knowledge,
    make_settings,
    patch_embeddings,
    release_chroma,
)

CET, PROXIMUS = DOCS["cet"], DOCS["proximus"]
TEXTS = ["préavis de résiliation de trois mois", "frais de portabilité du numéro", "indemnité de rupture"]


@pytest.fixture
def cache(tmp_path):
    c = EmbeddingCache(tmp_path / "cache" / FILE_NAME, max_entries=1000)
    yield c
    c.close()


def test_first_call_misses_second_call_hits_with_the_same_vectors(cache):
    model = HashEmbeddings()
    cached = CachedEmbeddings(model, cache, "hash@1")
    first = cached.embed_documents(TEXTS)
    assert (cached.misses, cached.hits, model.embedded) == (3, 0, TEXTS)
    again = cached.embed_documents(TEXTS)
    assert (cached.misses, cached.hits, len(model.embedded)) == (3, 3, 3)  # the model was not called again
    # float32 round trip: what the cache returns is what the model gave (the models compute in float32)
    assert np.allclose(again, first, atol=1e-7)
    assert again == cached.embed_documents(TEXTS)


def test_a_changed_text_misses_and_the_others_hit(cache):
    model = HashEmbeddings()
    cached = CachedEmbeddings(model, cache, "hash@1")
    cached.embed_documents(TEXTS)
    changed = [TEXTS[0], TEXTS[1] + ".", TEXTS[2]]
    cached.embed_documents(changed)
    assert model.embedded[3:] == [TEXTS[1] + "."]
    assert (cached.hits, cached.misses) == (2, 4)


def test_a_changed_model_id_misses_everything(cache):
    CachedEmbeddings(HashEmbeddings(), cache, "hash@1").embed_documents(TEXTS)
    other = HashEmbeddings(dim=32)
    cached = CachedEmbeddings(other, cache, "hash@2")
    vectors = cached.embed_documents(TEXTS)
    assert (cached.hits, cached.misses, other.embedded) == (0, 3, TEXTS)
    assert all(len(v) == 32 for v in vectors)
    assert len(cache) == 6


def test_the_key_names_model_role_and_exact_text():
    base = cache_key("m@1", "passage", "texte")
    assert base == cache_key("m@1", "passage", "texte")
    assert len({base, cache_key("m@2", "passage", "texte"), cache_key("m@1", "query", "texte"),
                cache_key("m@1", "passage", "texte "), cache_key("m@1", "passage", "Texte")}) == 5


def test_a_text_repeated_in_one_call_is_embedded_once(cache):
    model = HashEmbeddings()
    cached = CachedEmbeddings(model, cache, "hash@1")
    vectors = cached.embed_documents([TEXTS[0], TEXTS[1], TEXTS[0]])
    assert model.embedded == [TEXTS[0], TEXTS[1]]
    assert vectors[0] == vectors[2]


def test_the_cache_is_bounded_and_keeps_the_recently_used(tmp_path):
    cache = EmbeddingCache(tmp_path / FILE_NAME, max_entries=10)
    cached = CachedEmbeddings(HashEmbeddings(), cache, "hash@1")
    old = [f"clause ancienne {i}" for i in range(8)]
    cached.embed_documents(old)
    time.sleep(0.01)
    cached.embed_documents(old[:2])  # used again: now the most recent of the old ones
    time.sleep(0.01)
    new = [f"clause nouvelle {i}" for i in range(6)]
    cached.embed_documents(new)
    assert len(cache) <= 10

    def kept(texts):
        return len(cache.get_many([cache_key("hash@1", "passage", t) for t in texts]))

    assert kept(new) == 6 and kept(old[:2]) == 2
    assert kept(old[2:]) <= 2  # the least recently used went first
    cache.close()


def test_a_corrupt_cache_file_is_ignored_and_rebuilt_with_a_log_line(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not a database at all" * 100)
    with caplog.at_level(logging.WARNING, logger="assistant.index.cache"):
        cache = EmbeddingCache(path, max_entries=100)
    assert cache.enabled and len(cache) == 0
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    cached = CachedEmbeddings(HashEmbeddings(), cache, "hash@1")
    cached.embed_documents(TEXTS)
    cache.close()
    reopened = EmbeddingCache(path, max_entries=100)
    assert len(reopened) == 3
    reopened.close()


def test_a_damaged_vector_row_is_a_miss(cache):
    CachedEmbeddings(HashEmbeddings(), cache, "hash@1").embed_documents(TEXTS)
    key = cache_key("hash@1", "passage", TEXTS[0])
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE vectors SET vector = ? WHERE key = ?", (b"\x01\x02\x03", key))
    model = HashEmbeddings()
    cached = CachedEmbeddings(model, cache, "hash@1")
    cached.embed_documents(TEXTS)
    assert model.embedded == [TEXTS[0]] and cached.hits == 2


def test_a_cache_of_another_schema_is_started_anew(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema', '0')")
    with caplog.at_level(logging.WARNING, logger="assistant.index.cache"):
        cache = EmbeddingCache(path, max_entries=100)
    assert cache.enabled and len(cache) == 0 and caplog.records
    cache.close()


def test_a_cache_that_cannot_be_created_is_switched_off(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="assistant.index.cache"):
        assert open_cache(blocker / "embeddings", max_entries=100) is None
    assert caplog.records
    assert open_cache(tmp_path / "off", max_entries=0) is None
    assert not (tmp_path / "off").exists()


# ---------------------------------------------------------------------------------------------- with ingest


@pytest.fixture
def knowledge(tmp_path):
    kd = make_knowledge(tmp_path / "knowledge", [CET, PROXIMUS])
    shutil.rmtree(kd / "rules")  # about the index only (see tests/test_ingest.py)
    yield kd
    release_chroma(tmp_path)


def vectors_of(settings) -> dict[str, list[float]]:
    col = Store(settings).active()
    got = col.get(include=["embeddings"])
    return {i: [float(x) for x in e] for i, e in zip(got["ids"], got["embeddings"], strict=True)}


def test_rebuild_and_fresh_data_dir_take_their_vectors_from_the_cache(knowledge, tmp_path, monkeypatch):
    model = patch_embeddings(monkeypatch, NamedHashEmbeddings())
    shared = tmp_path / "shared-cache"
    first_settings = make_settings(knowledge, tmp_path / "data-a", embedding_cache_dir=shared)
    first = ingest(first_settings, progress=False)
    assert first.embedded == first.chunks and first.cached == 0
    assert (shared / FILE_NAME).is_file()
    calls = model.document_calls

    rebuilt = ingest(first_settings, rebuild=True, progress=False)
    assert (rebuilt.embedded, rebuilt.cached, rebuilt.reused) == (0, first.chunks, 0)
    assert model.document_calls == calls  # not one text reached the model

    replica = make_settings(knowledge, tmp_path / "data-b", embedding_cache_dir=shared)
    fresh = ingest(replica, progress=False)
    assert (fresh.embedded, fresh.cached) == (0, first.chunks)
    assert model.document_calls == calls
    a, b = vectors_of(first_settings), vectors_of(replica)
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_new_model_id_embeds_again(knowledge, tmp_path, monkeypatch):
    shared = tmp_path / "shared-cache"
    patch_embeddings(monkeypatch, NamedHashEmbeddings("hash-64@1"))
    ingest(make_settings(knowledge, tmp_path / "data-a", embedding_cache_dir=shared), progress=False)
    patch_embeddings(monkeypatch, NamedHashEmbeddings("hash-64@2"))
    report = ingest(make_settings(knowledge, tmp_path / "data-b", embedding_cache_dir=shared), progress=False)
    assert report.cached == 0 and report.embedded == report.chunks


def test_an_interrupted_build_keeps_what_it_embedded(knowledge, tmp_path, monkeypatch):
    model = patch_embeddings(monkeypatch, NamedHashEmbeddings(fail_after=2))
    settings = make_settings(knowledge, tmp_path / "data")
    with pytest.raises(EmbedderFailure):
        ingest(settings, progress=False)
    done = len(model.embedded)
    model.fail_after = None
    report = ingest(settings, progress=False)
    assert report.cached == done > 0 and report.embedded == report.chunks - done


def test_an_embedder_without_a_model_id_never_writes_the_cache(knowledge, tmp_path, monkeypatch):
    patch_embeddings(monkeypatch, HashEmbeddings())
    settings = make_settings(knowledge, tmp_path / "data")
    report = ingest(settings, progress=False)
    assert report.embedded == report.chunks and report.cached == 0
    assert not settings.embedding_cache_path.exists()


def test_the_cache_can_be_switched_off(knowledge, tmp_path, monkeypatch):
    model = patch_embeddings(monkeypatch, NamedHashEmbeddings())
    settings = make_settings(knowledge, tmp_path / "data", embedding_cache_max_entries=0)
    ingest(settings, progress=False)
    calls = model.document_calls
    again = ingest(settings, rebuild=True, progress=False)
    assert again.embedded == again.chunks and model.document_calls > calls
    assert not settings.embedding_cache_path.exists()


# ---------------------------------------------------------------------------------------------- what is embedded


def test_embed_input_keeps_the_context_lines_and_the_opening_words(knowledge):
    chunks = load_corpus_from(knowledge).chunks
    long = max(chunks, key=lambda c: len(c.text.split()))
    assert embed_input(long, 0) == long.embed_text
    context = long.embed_text[: len(long.embed_text) - len(long.text)]
    cut = embed_input(long, 12)
    assert cut.startswith(context) and long.embed_text.startswith(cut)
    assert len(cut[len(context):].split()) == 12
    short = min(chunks, key=lambda c: len(c.text.split()))
    assert embed_input(short, 1000) == short.embed_text


def test_the_opening_words_setting_gets_its_own_collection(knowledge, tmp_path, monkeypatch):
    model = patch_embeddings(monkeypatch, NamedHashEmbeddings())
    whole = make_settings(knowledge, tmp_path / "data", embed_words=0)
    ingest(whole, progress=False)
    opening = make_settings(knowledge, tmp_path / "data", embed_words=20)
    assert Store(opening).key != Store(whole).key
    model.embedded.clear()
    report = ingest(opening, progress=False)
    assert not report.unchanged and report.reused == 0
    chunks = load_corpus_from(knowledge).chunks
    longer = {embed_input(c, 20) for c in chunks if len(c.text.split()) > 20}
    # a chunk longer than 20 words is a new text to embed; a shorter one is the same text: a cache hit
    assert set(model.embedded) == longer
    assert report.embedded == len(model.embedded) and report.cached == report.chunks - report.embedded > 0
