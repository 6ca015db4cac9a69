"""`assistant rules draft`: figures read from a sentence, a draft that loads like a curated rules file, the CLI,
and the measured agreement with the curated rules (python -m assistant.corpus.draft_eval)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from assistant.cli import main
from assistant.corpus import load_corpus_from
from assistant.corpus.draft import TO_TRANSLATE, NeedGuesser, draft_rules, load_draft_document, read_figures
from assistant.errors import CorpusError
from assistant.tools.rules import OpenFact, parse_rules_file

ROOT = Path(__file__).resolve().parents[1] / "knowledge"
PROXIMUS = "003_3e031832c59a142d"


def _figures(text: str) -> list[tuple[str, Decimal, str, str]]:
    return [(f.kind, f.number, f.tax, f.per) for f in read_figures(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("dans un délai de trente (30) jours", [("days", 30, "", "")]),
    ("un préavis de un (3) mois", [("months", 3, "", "")]),  # digits in brackets win over the words
    ("pendant vingt- quatre (24) mois", [("months", 24, "", "")]),
    ("un préavis d'un mois", [("months", 1, "", "")]),
    ("pendant 1 an puis 2 semaines", [("months", 12, "", ""), ("days", 14, "", "")]),
    ("dans les 48 heures ouvrées", [("hours", 48, "", "")]),
    ("au tarif de 2.500,0€ (deux mille cinq cents euros) HT la journée",
     [("amount", Decimal("2500.0"), "HT", "journée")]),
    ("dépasse d'au moins € 125 hors T.V.A. le montant", [("amount", 125, "HT", "")]),
    ("un montant cumulé de 200 000 EUR par année calendrier", [("amount", 200000, "", "année")]),
    ("Frais de déménagement : 100,00 € (frais de déplacement en sus)", [("amount", 100, "", "")]),
    ("Câblage complexe (120€ ttc)", [("amount", 120, "TTC", "")]),
    ("Enterprise (9,90€ HT/User/mois)", [("amount", Decimal("9.90"), "HT", "user/mois")]),
    ("soit en € TTC 0,08 / appel + 0,02 / min", [("amount", Decimal("0.08"), "TTC", "appel"),
                                                ("amount", Decimal("0.02"), "TTC", "min")]),
    ("compris entre quarante-cinq (45) et soixante (60) Euros hors taxe",
     [("amount", 45, "HT", ""), ("amount", 60, "HT", "")]),
    ("une indemnité forfaitaire d'un montant de 40 (quarante) euros.", [("amount", 40, "", "")]),
    ("un intérêt de 1% par mois", [("percent", 1, "", "")]),
    ("une majoration de cinquante pour cent", [("percent", 50, "", "")]),
    ("réduit de 10 % au plus, puis de 10 % encore", [("percent", 10, "", "")]),  # one fact per distinct figure
    ("ouvert de 08h00 à 18h00", []),  # times of day are not durations
])
def test_figures_of_a_sentence(text: str, expected: list[tuple]):
    assert _figures(text) == [(k, Decimal(n), t, p) for k, n, t, p in expected]


def test_the_need_guess_reads_the_needs_file():
    guesser = NeedGuesser.from_file(ROOT / "needs.yaml")
    assert guesser.guess("Le Client peut résilier moyennant un préavis de trois mois.", "months") == "notice_period"
    assert guesser.guess("En cas de retard de paiement, un intérêt de retard de 1% par mois est dû.", "percent") \
        == "late_payment"
    # no keyword of any need: the file's catch-all need of amounts (the one serving every fee)
    catch_all = next(n.id for n in guesser.needs if n.catch_all and n.answer == "amount")
    assert guesser.guess("Option Hébergement 500Mb (+15€ HT/ mois)", "amount") == catch_all


@pytest.fixture(scope="module")
def proximus_draft():
    corpus = load_corpus_from(ROOT)
    return corpus, draft_rules(corpus.documents[PROXIMUS], ROOT / "needs.yaml")


def test_a_draft_loads_like_a_rules_file_and_quotes_its_clauses(proximus_draft, tmp_path: Path):
    corpus, draft = proximus_draft
    path = tmp_path / "proximus.yaml"
    path.write_text(draft.to_yaml(), encoding="utf-8")
    rules = parse_rules_file(path)
    assert rules.operator == "Proximus" and rules.doc_id == PROXIMUS and len(rules.services) == 1
    needs = {n["id"] for n in yaml.safe_load((ROOT / "needs.yaml").read_text(encoding="utf-8"))["needs"]}
    assert len(rules.facts) == len(draft.facts) >= 29  # at least one candidate per figure sentence
    for fact in rules.facts:
        assert fact.draft and fact.need in needs and fact.label_en == TO_TRANSLATE + fact.label_fr
        (value,) = fact.values
        clause = corpus.find_clause(value.source.doc_id, value.source.clause_id, value.source.part)
        assert clause is not None and value.source.quote in clause.text
    amounts = {(v.amount, v.source.clause_id, v.tax_basis.value) for f in rules.facts for v in f.values if v.amount}
    assert {(Decimal("125"), "40", "HT"), (Decimal("200000"), "52", "none"), (Decimal("0.50"), "37", "none")} <= amounts
    days = {(v.days, v.source.clause_id) for f in rules.facts for v in f.values if v.days}
    assert (30, "65") in days and (60, "22.3.8") in days


def test_the_draft_marker_is_an_optional_field_of_open_facts():
    src = {"doc_id": "d", "clause_id": "1", "quote": "abc"}
    fact = OpenFact(key="k", need="fee_amount", label_fr="xy", label_en="xy", values=[{"amount": "1", "source": src}])
    assert fact.draft is False
    assert OpenFact(**{**fact.model_dump(), "draft": True}).draft is True


def test_drafting_needs_no_rules_file(tmp_path: Path):
    """The draft tool sees the document, the manifest and the needs file: a knowledge dir without rules drafts."""
    for name in ("manifest.yaml", "needs.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "documents", tmp_path / "documents")
    doc = load_draft_document("001_bee30881f9f3c741", tmp_path)
    draft = draft_rules(doc, tmp_path / "needs.yaml")
    assert not (tmp_path / "rules").exists()
    assert {f.figure.number for f in draft.facts if f.figure.kind == "amount"} >= {100, 89, 46, 120, 240}


def test_a_document_with_parts_gets_one_service_per_part():
    corpus = load_corpus_from(ROOT)
    doc = corpus.documents["004_7074ea7ae08f5082"]
    draft = draft_rules(doc, ROOT / "needs.yaml")
    services = draft.data["services"]
    assert [s["name"] for s in services] == doc.segmentation.parts
    in_parts = [f for f in draft.data["facts"] if f["values"][0]["source"].get("part")]
    assert in_parts and all(f["services"] for f in in_parts)


# ------------------------------------------------------------------------------------------ command line


def test_cli_writes_a_draft_for_a_manifest_document(tmp_path: Path, capsys):
    out = tmp_path / "draft" / "lol.yaml"
    assert main(["rules", "draft", "001_bee30881f9f3c741", "--out", str(out)]) == 0
    assert "draft facts" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# DRAFT rules for Luxembourg Online")
    assert parse_rules_file(out).operator == "Luxembourg Online"


def test_cli_drafts_a_text_outside_the_manifest(tmp_path: Path, capsys):
    text = tmp_path / "nova.txt"
    text.write_text("ARTICLE 1 - FRAIS\nLes frais de rappel sont de 12,50 € HT par rappel.\n"
                    "ARTICLE 2 - RÉSILIATION\nLe Client peut résilier moyennant un préavis de trente (30) jours.\n",
                    encoding="utf-8")
    assert main(["rules", "draft", str(text)]) == 2
    assert "--operator" in capsys.readouterr().err
    assert main(["rules", "draft", str(text), "--operator", "Nova Tel"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["operator"] == "Nova Tel" and data["doc_id"] == "nova"
    values = [f["values"][0] for f in data["facts"]]
    assert {"amount": "12.50", "tax_basis": "HT", "per": "rappel"}.items() <= values[0].items()
    assert values[1]["days"] == 30 and values[1]["source"]["clause_id"] == "2"


@pytest.mark.parametrize(("argv", "message"), [
    (["rules", "draft", "no_such_doc"], "neither a document id of the manifest"),
    (["rules", "draft", PROXIMUS, "--out", str(ROOT / "rules" / "proximus.yaml")], "rules file in use"),
])
def test_cli_errors_are_one_line(argv: list[str], message: str, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_text_without_clauses_is_refused(tmp_path: Path):
    path = tmp_path / "plain.txt"
    path.write_text("juste une phrase sans article\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no clause"):
        draft_rules(load_draft_document(str(path), ROOT, "X"), ROOT / "needs.yaml")


# ------------------------------------------------------------------------------------------ measured


def test_drafted_amounts_agree_with_the_curated_rules():
    from assistant.corpus.draft_eval import evaluate

    results, checks = evaluate(ROOT)
    overall = results["amount"][-1]
    assert overall.recall >= 0.80 and overall.precision >= 0.80
    assert all(c.loads and c.quotes_in_clause == c.facts for c in checks)
