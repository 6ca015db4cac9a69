"""Rules files: valid, operators match the manifest, every quote is verbatim and every clause id resolves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The package is not installed in the venv: make the repo root importable from any working directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import re  # noqa: E402

from assistant.config import get_settings  # noqa: E402
from assistant.errors import InputError  # noqa: E402
from assistant.models import FactStatus  # noqa: E402
from assistant.tools.rules import KEY_PATTERN, file_slug, load_manifest, load_rules  # noqa: E402

RULES_DIR = get_settings().rules_dir


@pytest.fixture(scope="module")
def book():
    return load_rules(RULES_DIR)


@pytest.fixture(scope="module")
def corpus():
    from assistant.corpus import load_corpus

    return load_corpus()


def test_one_rules_file_per_manifest_operator(book):
    manifest = load_manifest(get_settings().manifest_path)
    assert set(book.operators()) == set(manifest.aliases.values())
    for op in book.operators():
        assert (RULES_DIR / f"{file_slug(op)}.yaml").exists()


@pytest.mark.parametrize("alias,operator", [("CT", "Crossing Telecom"), ("lol", "Luxembourg Online"),
                                            ("CE+T", "CE+T Télécommunications"), ("Belgacom", "Proximus"),
                                            ("cmi services sas", "CMI Services"), ("Crossing Télécom", "Crossing Telecom")])
def test_operator_aliases_from_manifest(book, alias, operator):
    assert book.for_operator(alias).operator == operator


def test_unknown_operator_and_service_are_input_errors(book):
    with pytest.raises(InputError) as exc:
        book.for_operator("Orange")
    assert exc.value.field == "operator"
    with pytest.raises(InputError) as exc:
        book.for_operator("Proximus").service("television")
    assert exc.value.field == "service"


def test_every_quote_is_verbatim_and_every_clause_resolves(book, corpus):
    problems = []
    for op in book.operators():
        for src in book.for_operator(op).all_sources():
            text = corpus.documents[src.doc_id].text
            if src.quote not in text:
                problems.append(f"{op}: quote not in {src.doc_id}: {src.quote[:60]!r}")
                continue
            clause = corpus.find_clause(src.doc_id, src.clause_id, src.part)
            if clause is None:
                problems.append(f"{op}: clause {src.part!r} {src.clause_id!r} not found")
            elif src.quote not in clause.text:
                problems.append(f"{op}: quote not in clause {src.clause_id!r}: {src.quote[:60]!r}")
    assert not problems, "\n".join(problems)


def test_every_open_fact_answers_a_declared_need(book):
    from assistant.agent.router import load_needs

    needs = load_needs(get_settings().knowledge_dir / "needs.yaml").ids
    unknown = [(op, f.key, f.need) for op in book.operators() for f in book.for_operator(op).facts
               if f.need not in needs]
    assert not unknown, unknown


def test_a_malformed_rules_file_is_one_clear_line(tmp_path: Path):
    from assistant.errors import CorpusError
    from assistant.tools.rules import parse_rules_file

    bad = tmp_path / "x.yaml"
    bad.write_text("operator: X\ndoc_id: d\ncustomer_types: [consumer]\nservices: []\n"
                   "fees:\n  - {key: k, kind: Not A Key, label_fr: a, label_en: a, sources: []}\n", encoding="utf-8")
    with pytest.raises(CorpusError) as exc:
        parse_rules_file(bad)
    assert "x.yaml" in str(exc.value) and "kind" in str(exc.value) and "\n" not in str(exc.value)


def test_fee_kinds_and_statuses(book):
    for op in book.operators():
        for fee in book.for_operator(op).fees:
            assert re.match(KEY_PATTERN, fee.kind) and fee.label_fr and fee.label_en
            if fee.status == FactStatus.NOT_STATED:
                # a fee the terms charge without an amount: where they point (a price list) or, when they point
                # nowhere ("montant non indiqué" is no document), at least the clause that charges it
                assert (fee.pointer or fee.sources) and not fee.values
            if fee.status == FactStatus.CONFLICTING:
                assert len(fee.distinct_values()) >= 2


def test_known_conflicts_are_marked(book):
    ct = book.for_operator("Crossing Telecom")
    assert {f.key: f.status for f in ct.fees}["paper_invoice"] == FactStatus.CONFLICTING
    assert {f.key: f.status for f in ct.fees}["payment_method_surcharge"] == FactStatus.CONFLICTING
    cet = book.for_operator("CE+T")
    assert cet.service("easy2phone").minimum_term.status == FactStatus.CONFLICTING
    assert sorted(v.months for v in cet.service("easy2phone").minimum_term.values) == [36, 60]
    cmi = book.for_operator("CMI")
    assert cmi.service("internet").notice_renewed.status == FactStatus.CONFLICTING
    # a contradiction between two rules rather than two figures: each side worded, with its own clause
    billing = next(f for f in cet.facts if f.key == "billing_schedule")
    assert billing.status == FactStatus.CONFLICTING and [w.source.clause_id for w in billing.worded] == ["5.2", "8.1"]


def test_worded_sides_belong_to_a_conflict():
    from pydantic import ValidationError

    from assistant.tools.rules import Fact

    side = {"fr": "facturé d'avance", "en": "billed in advance",
            "source": {"doc_id": "d", "clause_id": "1", "quote": "d'avance"}}
    with pytest.raises(ValidationError):
        Fact(status=FactStatus.STATED, worded=[side], sources=[side["source"]])
    with pytest.raises(ValidationError):  # one side is no contradiction
        Fact(status=FactStatus.CONFLICTING, worded=[side])
    assert Fact(status=FactStatus.CONFLICTING, worded=[side, {**side, "fr": "à terme échu", "en": "in arrears"}])


def test_pointer_only_amounts_are_not_stated(book):
    lol = book.for_operator("LOL")
    fee = lol.fees_of_kind("cancellation_before_activation")[0]
    assert fee.status == FactStatus.NOT_STATED and "liste des prix" in fee.pointer


def test_a_new_operator_needs_no_code(tmp_path: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (tmp_path / "manifest.yaml").write_text(
        "documents:\n  - {doc_id: d1, file: d1.txt, operator: New Op, operator_aliases: [NewOp], country: LU,"
        " title: t, kind: k}\n", encoding="utf-8")
    (rules / "new-op.yaml").write_text(
        "operator: New Op\ndoc_id: d1\ncustomer_types: [consumer]\nservices:\n  - key: net\n    name: Internet\n"
        "    minimum_term: {values: [{months: 12, source: {clause_id: '1', quote: 'douze mois'}}]}\n"
        "    renewal: {mode: indefinite, sources: [{clause_id: '1', quote: 'indéterminée'}]}\n"
        "    notice: {anchor: from_request, values: [{months: 1, source: {clause_id: '2', quote: 'un mois'}}]}\n"
        "early_termination:\n  - {key: rest, label_fr: r, label_en: r, formula: remaining_periods,"
        " sources: [{clause_id: '3', quote: 'mensualités restantes'}]}\n", encoding="utf-8")
    from assistant.tools.registry import CALCULATORS

    book = load_rules(rules)
    res = CALCULATORS["early_termination_cost"].run(
        {"operator": "newop", "service": "internet", "monthly_fee": "10", "start_date": "2025-01-01",
         "termination_date": "2025-03-10", "customer_type": "consumer"}, book)
    assert res.amount == 90  # periods starting Apr..Dec


def test_every_pointer_is_written_in_the_documents_language():
    # a pointer is said inside replies ("le texte renvoie à ..."): English wording would leak into French replies
    from assistant.agent.understanding import detect_language

    pointers = [m.group(1).strip().strip('"') for path in RULES_DIR.glob("*.yaml")
                for m in re.finditer(r"\bpointer: (.+)", path.read_text(encoding="utf-8"))]
    assert pointers and all(detect_language(p, default="fr") == "fr" for p in pointers), \
        [p for p in pointers if detect_language(p, default="fr") != "fr"]


def test_a_term_stated_in_words_is_said_and_still_asked_for_a_computation(book):
    # Proximus: an indefinite duration unless stated otherwise (4): a rule the customer is told, not a figure a
    # calculator may count with
    term = book.for_operator("Proximus").service("voip").minimum_term
    assert term.status == FactStatus.STATED and not term.values and "indéterminée" in term.summary_fr
    from assistant.tools.registry import CALCULATORS

    with pytest.raises(InputError) as exc:
        CALCULATORS["termination_timeline"].run({"operator": "Proximus", "service": "voip", "start_date": "2024-01-01",
                                                 "request_date": "2024-06-01"})
    assert exc.value.field == "commitment_months"
