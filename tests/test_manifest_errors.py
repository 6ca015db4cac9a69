"""Bad input through the CLI: one line on stderr naming the problem, a non-zero exit, no traceback,
and the index that was serving keeps serving (or, on a fresh data dir, nothing is created).

Every case breaks a temporary copy of the knowledge dir; a small index is built once per module
with a deterministic fake embedder (no model is loaded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import ROOT, get_settings
from assistant.index import Retriever, ingest
from assistant.index.store import Store
from tests.helpers_index import (
    DOCS,
    HashEmbeddings,
    edit_manifest,
    index_collections,
    make_knowledge,
    make_settings,
    patch_embeddings,
    release_chroma,
)

CET, PROXIMUS = DOCS["cet"], DOCS["proximus"]
QUESTION = "préavis de résiliation anticipée"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A good knowledge dir (CE+T, Proximus) and a data dir whose index serves it."""
    base = tmp_path_factory.mktemp("errors")
    kd = make_knowledge(base / "knowledge", [CET, PROXIMUS])
    settings = make_settings(kd, base / "data")
    with pytest.MonkeyPatch.context() as mp:
        patch_embeddings(mp, HashEmbeddings())
        report = ingest(settings, progress=False)
        served = [p.chunk.chunk_id for p in Retriever(settings).retrieve(QUESTION, k=5)]
    yield settings, report.collection, served
    release_chroma(base)


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch):
    return patch_embeddings(monkeypatch, HashEmbeddings())


def run_cli(monkeypatch, capsys, argv: list[str], knowledge_dir: Path, data_dir: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(knowledge_dir))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ASSISTANT_CHROMA_HOST", raising=False)
    get_settings.cache_clear()
    try:
        code = main(argv)
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> str:
    assert code != 0
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    message = lines[0]
    assert message.startswith("error: ")
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def assert_index_untouched(built) -> None:
    settings, collection, served = built
    assert Store(settings).active_name() == collection
    assert index_collections(settings) == {collection}
    assert [p.chunk.chunk_id for p in Retriever(settings).retrieve(QUESTION, k=5)] == served


# ---------------------------------------------------------------------------------------------- broken knowledge


def _doc(kd: Path, doc_id: str = CET) -> Path:
    return kd / "documents" / f"{doc_id}.txt"


def _drop_file_field(kd: Path) -> None:
    def edit(m):
        del m["documents"][0]["file"]
    edit_manifest(kd, edit)


def _duplicate_entry(kd: Path) -> None:
    edit_manifest(kd, lambda m: m["documents"].append(dict(m["documents"][0])))


BROKEN: dict[str, tuple[Callable[[Path], object], tuple[str, ...]]] = {
    "missing document file": (lambda kd: _doc(kd).unlink(), ("points to a missing file", CET)),
    "empty document": (lambda kd: _doc(kd).write_bytes(b""), (f"{CET}.txt", "is empty")),
    "whitespace-only document": (lambda kd: _doc(kd).write_text(" \n\n\t\n", encoding="utf-8"),
                                 (f"{CET}.txt", "is empty")),
    "non-UTF-8 document": (lambda kd: _doc(kd).write_bytes("Résiliation à tout moment.\n".encode("latin-1")),
                           (f"{CET}.txt", "not UTF-8")),
    "binary document (NUL bytes)": (lambda kd: _doc(kd).write_bytes(b"\x00\x01\x02PK\x03\x04 data\x00"),
                                    (f"{CET}.txt", "binary")),
    "binary document (image)": (lambda kd: _doc(kd).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8"),
                                (f"{CET}.txt",)),
    "manifest entry without file field": (_drop_file_field, ("documents.0.file", "Field required")),
    "file without manifest entry": (lambda kd: (kd / "documents" / "999_extra.txt").write_text(
        "1. Objet\n\nUn document que personne n'a décrit.\n", encoding="utf-8"), ("999_extra.txt", "no manifest entry")),
    "invalid manifest YAML": (lambda kd: (kd / "manifest.yaml").write_text(
        "documents:\n  - doc_id: x\n    file: [unclosed\n", encoding="utf-8"), ("manifest", "not valid YAML")),
    "manifest not a mapping": (lambda kd: (kd / "manifest.yaml").write_text("- just\n- a list\n", encoding="utf-8"),
                               ("manifest",)),
    "missing manifest": (lambda kd: (kd / "manifest.yaml").unlink(), ("manifest not found",)),
    "empty manifest": (lambda kd: (kd / "manifest.yaml").write_text("documents: []\n", encoding="utf-8"),
                       ("lists no documents",)),
    "duplicate manifest entry": (_duplicate_entry, (CET, "twice")),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_knowledge_is_named_and_leaves_the_index_alone(case, built, tmp_path, monkeypatch, capsys):
    settings, _, _ = built
    kd = tmp_path / "knowledge"
    shutil.copytree(settings.knowledge_dir, kd)
    breaker, needles = BROKEN[case]
    breaker(kd)
    if case == "empty manifest":
        for path in (kd / "documents").glob("*.txt"):
            path.unlink()  # no document without an entry either: only the emptiness is wrong

    # ingest against the data dir that serves the good corpus: refused before anything is written
    message = assert_one_line_error(*run_cli(monkeypatch, capsys, ["ingest", "--quiet"], kd, settings.data_dir),
                                    *needles)
    assert_index_untouched(built)

    # the same problem, named the same way, by `corpus` and `retrieve`
    assert assert_one_line_error(*run_cli(monkeypatch, capsys, ["corpus", "--json"], kd, settings.data_dir)) == message
    assert assert_one_line_error(*run_cli(monkeypatch, capsys, ["retrieve", QUESTION], kd, settings.data_dir),
                                 *needles) == message

    # on a fresh data dir nothing is created
    fresh = tmp_path / "fresh-data"
    assert_one_line_error(*run_cli(monkeypatch, capsys, ["ingest", "--quiet"], kd, fresh), *needles)
    assert not (fresh / "chroma").exists()


# ---------------------------------------------------------------------------------------------- bad queries


@pytest.mark.parametrize(("argv", "needles"), [
    (["retrieve", ""], ("empty query",)),
    (["retrieve", "   \n\t "], ("empty query",)),
    (["retrieve", "préavis", "--operator", "Orange"], ("unknown operator", "Orange", "Proximus")),
    (["retrieve", "préavis", "--operator", "   "], ("operator",)),
    (["retrieve", "préavis", "--operator", "Orange", "-k", "3"], ("unknown operator",)),
], ids=["empty", "whitespace", "unknown-operator", "blank-operator", "unknown-operator-with-k"])
def test_bad_query_is_named(argv, needles, built, monkeypatch, capsys):
    settings, _, _ = built
    code, out, err = run_cli(monkeypatch, capsys, argv, settings.knowledge_dir, settings.data_dir)
    message = assert_one_line_error(code, out, err, *needles)
    if "empty query" in needles:
        assert message == "error: empty query: ask a question about a contract, a fee or a termination"
    assert_index_untouched(built)


def test_retrieve_before_any_ingest_says_to_ingest(built, tmp_path, monkeypatch, capsys):
    settings, _, _ = built
    code, out, err = run_cli(monkeypatch, capsys, ["retrieve", QUESTION], settings.knowledge_dir, tmp_path / "empty")
    assert_one_line_error(code, out, err, "not built", "assistant ingest")
    release_chroma(tmp_path)


def test_negative_k_is_refused(built, monkeypatch, capsys):
    settings, _, _ = built
    code, out, err = run_cli(monkeypatch, capsys, ["retrieve", QUESTION, "-k", "-1"], settings.knowledge_dir,
                             settings.data_dir)
    assert_one_line_error(code, out, err, "k")


# ---------------------------------------------------------------------------------------------- real processes


def _run_process(args: list[str], knowledge_dir: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_KNOWLEDGE_DIR": str(knowledge_dir), "ASSISTANT_DATA_DIR": str(data_dir)}
    env.pop("ASSISTANT_CHROMA_HOST", None)
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_process_reports_a_broken_manifest_in_one_line(built, tmp_path):
    settings, _, _ = built
    kd = tmp_path / "knowledge"
    shutil.copytree(settings.knowledge_dir, kd)
    (kd / "manifest.yaml").write_text("documents:\n  - doc_id: [\n", encoding="utf-8")
    proc = _run_process(["ingest", "--quiet"], kd, settings.data_dir)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "not valid YAML" in proc.stderr
    assert_index_untouched(built)

