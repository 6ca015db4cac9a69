"""The manifest: which text files make up the knowledge base, and whose they are."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from assistant.errors import CorpusError
from assistant.models import DocumentMeta


class Manifest(BaseModel):
    documents: list[DocumentMeta]
    other_operators: list[str] = []  # operators without documents here (questions about them: not found)


def load_manifest(manifest_path: Path, corpus_dir: Path) -> list[DocumentMeta]:
    return read_manifest(manifest_path, corpus_dir).documents


def read_manifest(manifest_path: Path, corpus_dir: Path) -> Manifest:
    """Read and cross-check the manifest against the files on disk.

    Every entry must have its file and every text file must have an entry: a document nobody
    described would be indexed without an operator, and an entry without a file would silently
    leave an operator without terms.
    """
    if not manifest_path.is_file():
        raise CorpusError(f"manifest not found: {manifest_path}")
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"manifest {manifest_path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    try:
        manifest = Manifest.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CorpusError(f"manifest {manifest_path}: {where}: {first['msg']}") from exc

    seen: set[str] = set()
    for meta in manifest.documents:
        if meta.doc_id in seen:
            raise CorpusError(f"manifest lists document {meta.doc_id!r} twice")
        seen.add(meta.doc_id)
        if not (corpus_dir / meta.file).is_file():
            raise CorpusError(f"manifest entry {meta.doc_id!r} points to a missing file: {corpus_dir / meta.file}")
    described = {m.file for m in manifest.documents}
    for path in sorted(corpus_dir.glob("*.txt")):
        if path.name not in described:
            raise CorpusError(f"document {path.name} has no manifest entry in {manifest_path}")
    if not manifest.documents:
        raise CorpusError(f"manifest {manifest_path} lists no documents")
    return manifest
