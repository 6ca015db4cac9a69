"""Ingest refuses broken knowledge with one line naming the file and the problem, and the index that was
serving keeps serving. The checks themselves run without any embedding model; the end-to-end test uses the
fake word-hashing embedder of tests/helpers_index.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import get_settings
from assistant.corpus.validate import check_knowledge
from assistant.errors import CorpusError
from assistant.index import ingest
from assistant.index.store import Store
from tests.helpers_index import (
    DOCS,
    KNOWLEDGE,
    HashEmbeddings,
    index_collections,
    make_knowledge,
    make_settings,
    patch_embeddings,
    release_chroma,
)

CET = DOCS["cet"]
RULES = "ce-t-telecommunications.yaml"
INTL = "Les numéros internationaux sont pris pour une durée minimale de 12 mois."


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def no_clause(kd: Path) -> None:
    (kd / "documents" / f"{CET}.txt").write_text(
        "le présent texte ne contient aucun article numéroté.\nil ne contient pas non plus de titre.\n",
        encoding="utf-8")


def invalid_rules(kd: Path) -> None:
    _edit(kd / "rules" / RULES, "anchor: before_term_end", "anchor: whenever")


def not_yaml(kd: Path) -> None:
    _edit(kd / "rules" / RULES, "customer_types: [business]", "customer_types: [business")


def quote_not_in_document(kd: Path) -> None:
    _edit(kd / "rules" / RULES, INTL, INTL.replace("12 mois", "18 mois"))


def clause_does_not_resolve(kd: Path) -> None:
    _edit(kd / "rules" / RULES, f'clause_id: "8.6", quote: "{INTL}"', f'clause_id: "8.60", quote: "{INTL}"')


def quote_in_another_clause(kd: Path) -> None:
    _edit(kd / "rules" / RULES, f'clause_id: "8.6", quote: "{INTL}"', f'clause_id: "8.5", quote: "{INTL}"')


def misnamed_rules_file(kd: Path) -> None:
    (kd / "rules" / RULES).rename(kd / "rules" / "cet.yaml")


BREAKAGES = [
    (no_clause, f"{CET}.txt", "segmentation found no clause"),
    (invalid_rules, RULES, "anchor"),
    (not_yaml, RULES, "is not valid YAML"),
    (quote_not_in_document, RULES, "quote not in document 002_af3c8ace0638ff50 (clause 8.6)"),
    (clause_does_not_resolve, RULES, "clause 8.60 does not resolve in document 002_af3c8ace0638ff50"),
    (quote_in_another_clause, RULES, "quote not in clause 8.5 of 002_af3c8ace0638ff50"),
    (misnamed_rules_file, "cet.yaml", "must be named ce-t-telecommunications.yaml"),
]
IDS = [b[0].__name__ for b in BREAKAGES]


def test_the_real_knowledge_passes():
    checked = check_knowledge(KNOWLEDGE)
    assert len(checked.rules_files) == 5 and not checked.skipped_rules
    assert set(checked.corpus.documents) == set(DOCS.values())


def test_rules_of_operators_without_documents_are_skipped_not_refused(tmp_path):
    checked = check_knowledge(make_knowledge(tmp_path / "knowledge", [CET]))
    assert checked.rules_files == [RULES]
    assert len(checked.skipped_rules) == 4


@pytest.mark.parametrize("breakage,file_name,problem", BREAKAGES, ids=IDS)
def test_broken_knowledge_is_one_line_naming_the_file(tmp_path, breakage, file_name, problem):
    kd = make_knowledge(tmp_path / "knowledge", [CET])
    breakage(kd)
    with pytest.raises(CorpusError) as exc:
        check_knowledge(kd)
    message = str(exc.value)
    assert "\n" not in message and file_name in message and problem in message, message


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A temporary knowledge base (CE+T only) indexed with the fake embedder, and the CLI pointed at it."""
    kd = make_knowledge(tmp_path / "knowledge", [CET])
    settings = make_settings(kd, tmp_path / "data")
    patch_embeddings(monkeypatch, HashEmbeddings(dim=64))
    report = ingest(settings, progress=False)
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(kd))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings, report
    get_settings.cache_clear()
    release_chroma(tmp_path)


@pytest.mark.parametrize("rebuild", [False, True], ids=["update", "rebuild"])
@pytest.mark.parametrize("breakage,file_name,problem", BREAKAGES, ids=IDS)
def test_refused_ingest_keeps_the_previous_index_serving(served, capsys, breakage, file_name, problem, rebuild):
    settings, first = served
    store = Store(settings)
    before = (store.active_name(), index_collections(settings), store.stored_ids())
    assert before[0] == first.collection and len(before[2]) == first.chunks
    breakage(settings.knowledge_dir)
    capsys.readouterr()
    code = main(["ingest", "--quiet", *(["--rebuild"] if rebuild else [])])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert file_name in lines[0] and problem in lines[0], lines[0]
    store = Store(settings)
    assert (store.active_name(), index_collections(settings), store.stored_ids()) == before


def test_a_clean_ingest_reports_what_it_checked(served, capsys):
    settings, first = served
    assert first.rules_checked == [RULES] and len(first.skipped_rules) == 4
    assert main(["ingest", "--quiet"]) == 0
    assert "index up to date" in capsys.readouterr().out
