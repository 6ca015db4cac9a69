"""Shared helpers for the corpus / index tests (not a conftest: test modules import it).

- `HashEmbeddings`: a fast, deterministic LangChain `Embeddings` (bag of hashed words, 64 dimensions)
  that records what it embedded and can be told to fail after N calls (an interrupted ingest);
- `make_knowledge`: a temporary copy of knowledge/ holding only some documents, manifest edited to match;
- `make_settings`: Settings pointing at a temporary knowledge dir and data dir;
- `patch_embeddings`: route ingest and retrieval to a fake embedder;
- `collection_names` / `chroma_client`: look at what the store left in Chroma.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import math
import re
import shutil
from pathlib import Path
from typing import Any

import yaml
from langchain_core.embeddings import Embeddings

from assistant.config import ROOT, Settings
from assistant.index.chroma_server import free_port  # noqa: F401 - the tests import it from here

KNOWLEDGE = ROOT / "knowledge"
DOCS = {
    "crossing": "000_98e5614dbf169973",
    "lol": "001_bee30881f9f3c741",
    "cet": "002_af3c8ace0638ff50",
    "proximus": "003_3e031832c59a142d",
    "cmi": "004_7074ea7ae08f5082",
}
WORD = re.compile(r"\w+", re.UNICODE)


class EmbedderFailure(RuntimeError):
    """Raised by HashEmbeddings when told to fail: stands for a crash or a killed model mid-ingest."""


class HashEmbeddings(Embeddings):
    """Bag of words hashed into `dim` signed buckets, L2-normalised. Same text => same vector.
    It declares no `cache_id`, so ingest never puts its vectors in the embedding cache (NamedHashEmbeddings does)."""

    def __init__(self, dim: int = 64, fail_after: int | None = None):
        self.dim = dim
        self.fail_after = fail_after  # embed_documents calls allowed before raising
        self.document_calls = 0
        self.query_calls = 0
        self.embedded: list[str] = []  # every text passed to embed_documents, in order

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in WORD.findall(text.casefold()):
            h = hashlib.sha1(word.encode()).digest()
            vec[h[0] % self.dim] += 1.0 if h[1] % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0:
            vec[0], norm = 1.0, 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.fail_after is not None and self.document_calls >= self.fail_after:
            raise EmbedderFailure(f"fake embedder told to fail after {self.fail_after} calls")
        self.document_calls += 1
        self.embedded.extend(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_calls += 1
        return self._vector(text)


class NamedHashEmbeddings(HashEmbeddings):
    """HashEmbeddings with a model id: ingest caches its vectors under that id."""

    def __init__(self, cache_id: str = "hash-64@1", dim: int = 64, fail_after: int | None = None):
        super().__init__(dim=dim, fail_after=fail_after)
        self.cache_id = cache_id


def patch_embeddings(monkeypatch: Any, embedder: Embeddings) -> Embeddings:
    """Make ingest and the retriever use `embedder` (never the real model)."""
    # `assistant.index.ingest` is also the name of a function re-exported by the package: import the modules
    ingest_mod = importlib.import_module("assistant.index.ingest")
    retriever_mod = importlib.import_module("assistant.index.retriever")
    monkeypatch.setattr(ingest_mod, "get_embeddings", lambda settings: embedder)
    monkeypatch.setattr(retriever_mod, "get_embeddings", lambda settings: embedder)
    return embedder


def make_knowledge(dest: Path, doc_ids: list[str] | None = None) -> Path:
    """Copy knowledge/ to `dest` keeping only `doc_ids` (all when None); the manifest lists exactly them."""
    shutil.copytree(KNOWLEDGE, dest)
    manifest_path = dest / "manifest.yaml"
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    if doc_ids is not None:
        manifest["documents"] = [d for d in manifest["documents"] if d["doc_id"] in doc_ids]
        for path in (dest / "documents").glob("*.txt"):
            if path.stem not in doc_ids:
                path.unlink()
        manifest_path.write_text(yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def edit_manifest(knowledge_dir: Path, edit: Any) -> None:
    """Load the manifest of a temporary knowledge dir, let `edit(dict)` change it, write it back."""
    path = knowledge_dir / "manifest.yaml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), encoding="utf-8")


def make_settings(knowledge_dir: Path, data_dir: Path, **overrides: Any) -> Settings:
    """Settings on temporary dirs; the embedding cache too sits next to the data dir, never in the repo's."""
    overrides.setdefault("embedding_cache_dir", data_dir.parent / "embedding-cache")
    return Settings(knowledge_dir=knowledge_dir, data_dir=data_dir, chroma_host=None, **overrides)


def chroma_client(settings: Settings) -> Any:
    from assistant.index.store import make_client

    return make_client(settings)


def collection_names(settings: Settings) -> set[str]:
    cols = chroma_client(settings).list_collections()
    return {c if isinstance(c, str) else c.name for c in cols}


def index_collections(settings: Settings) -> set[str]:
    """The clause collections (not the state record) that exist for these settings."""
    from assistant.index.store import STATE_COLLECTION

    return {n for n in collection_names(settings) if n != STATE_COLLECTION}


def release_chroma(under: Path) -> None:
    """Stop and forget the embedded Chroma systems opened on paths under `under` (a test's temporary
    dir) — and only those: other tests' clients on other paths keep working."""
    from chromadb.api.shared_system_client import SharedSystemClient

    prefix = str(under)
    for identifier in [i for i in SharedSystemClient._identifier_to_system if i.startswith(prefix)]:
        system = SharedSystemClient._identifier_to_system.pop(identifier)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        with contextlib.suppress(Exception):  # already stopped: nothing to release
            system.stop()


