"""Corpus: normalisation, clause segmentation and chunking checked against the five real T&C texts.

Expected clause ids, titles and clause boundaries were read off the documents themselves
(knowledge/documents/*.txt), not copied from the segmenter's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import get_settings
from assistant.corpus import load_corpus_from
from assistant.corpus.normalise import normalise
from assistant.models import Clause
from tests.helpers_index import DOCS, KNOWLEDGE, edit_manifest, make_knowledge

CROSSING, LOL, CET, PROXIMUS, CMI = (DOCS[k] for k in ("crossing", "lol", "cet", "proximus", "cmi"))
MOBILE = "Service de téléphonie mobile"
FIXE = "Service de telephonie fixe"  # printed without accents in the CMI document
LOL_HEADER = "CONDITIONS GENERALES DES SERVICES LUXEMBOURG ONLINE"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus_from(KNOWLEDGE)


def raw(doc_id: str) -> str:
    return (KNOWLEDGE / "documents" / f"{doc_id}.txt").read_text(encoding="utf-8")


def top_article(clause: Clause) -> tuple[str | None, str]:
    m = re.match(r"\d+", clause.clause_id)
    return clause.part, (m.group(0) if m else clause.clause_id)


# ---------------------------------------------------------------------------------------------- clause ids

# (doc, clause id as printed, part, title as printed or "" when the clause prints none)
KNOWN_CLAUSES = [
    (CROSSING, "1", None, "OBJET DES CONDITIONS GENERALES"),
    (CROSSING, "4.2.1", None, "TELEPHONIE FIXE"),
    (CROSSING, "4.3", None, "RECONDUCTION"),
    (CROSSING, "8.5", None, "MODALITES DE PAIEMENT"),
    (CROSSING, "8.5.12", None, ""),
    (CROSSING, "11.3.1.1", None, "Téléphonie Fixe"),
    (CROSSING, "11.3.1.3", None, "Virtual PBX"),
    (CROSSING, "11.4", None, "RÉSILIATION ANTICIPÉE"),
    (CROSSING, "11.5", None, ""),
    (CROSSING, "14.1", None, "ETAPE 1"),
    (LOL, "4", None, "DUREE DU CONTRAT"),
    (LOL, "6D", None, "Modalités de paiement"),
    (LOL, "7B", None, "Portabilité"),
    (LOL, "8A", None, "Généralités"),
    (LOL, "8D", None, "Déménagement – Transfert des Services"),
    (LOL, "10H", None, "Droit de rétractation"),
    (CET, "11.1", None, ""),
    (CET, "11.2", None, ""),
    (CET, "11.4", None, ""),
    (CET, "12", None, None),  # title checked by the sentence-case test below
    (CET, "12.1", None, ""),
    (PROXIMUS, "57", None, ""),
    (PROXIMUS, "57 §2", None, ""),
    (PROXIMUS, "57 §3", None, ""),
    (PROXIMUS, "60 §2", None, ""),
    (PROXIMUS, "65", None, "Résiliation du contrat"),
    (PROXIMUS, "66", None, None),
    (PROXIMUS, "69", None, "Transfert et-Portabilité du numéro"),
    (PROXIMUS, "70", None, ""),
    (CMI, "7", None, "TARIFS ET RÉVISION DE PRIX"),
    (CMI, "8.6.1", None, "Clients Professionnels"),
    (CMI, "12.2.1", None, "Conditions de résiliation"),
    (CMI, "2", FIXE, "PORTABILITÉ DE NUMÉROS FRANÇAIS"),
    (CMI, "6", FIXE, "RÉSILIATION"),
    (CMI, "3", "Services internet", "DURÉE D’ENGAGEMENT"),
    (CMI, "7", MOBILE, "RÉSILIATION"),
    (CMI, "7.4", MOBILE, ""),
    (CMI, "9.2.7.3", MOBILE, ""),
]


@pytest.mark.parametrize(("doc_id", "clause_id", "part", "title"), KNOWN_CLAUSES,
                         ids=[f"{d[:3]}-{p or 'main'}-{c}" for d, c, p, _ in KNOWN_CLAUSES])
def test_known_clause_is_found_with_its_printed_title(corpus, doc_id, clause_id, part, title):
    clause = corpus.find_clause(doc_id, clause_id, part)
    assert clause is not None, f"{doc_id} {part or ''} {clause_id} not found"
    assert clause.clause_id == clause_id
    assert clause.doc_id == doc_id
    assert clause.part == part
    assert clause.operator == corpus.documents[doc_id].meta.operator
    if title is not None:
        assert clause.title == title
    # the clause text shows the number as printed (dotted ids, letters under an article, § paragraphs)
    printed = {"6D": "D.", "7B": "B.", "8A": "A.", "8D": "D.", "10H": "H.", "57 §2": "§2.", "57 §3": "§3.",
               "60 §2": "§2."}.get(clause_id)
    body = clause.text
    if printed:
        assert body.startswith(printed)
    elif clause.title and not body.lstrip("- ").startswith((clause_id, "ARTICLE")):
        # an unnumbered heading printed above the number ("Résiliation du contrat\n\n65. ...")
        assert body.startswith(clause.title) and f"\n{clause_id}." in body
    else:
        assert re.match(rf"^(?:- )?(?:ARTICLE )?{re.escape(clause_id)}\b", body), body[:60]


def test_cmi_parts_restart_their_numbering_and_are_kept_apart(corpus):
    doc = corpus.documents[CMI]
    assert doc.segmentation.parts == [
        FIXE, "Services internet", MOBILE, "Service fourniture de matériel",
        "Service d’installation sur site (iss)", "Service de support", "Service numéros spéciaux",
    ]
    cgv_7 = corpus.find_clause(CMI, "7", None)
    mobile_7 = corpus.find_clause(CMI, "7", MOBILE)
    assert cgv_7.part is None and mobile_7.part == MOBILE and cgv_7.start < mobile_7.start
    # the part is matched without regard to case or accents
    assert corpus.find_clause(CMI, "7.4", "service de telephonie MOBILE") == corpus.find_clause(CMI, "7.4", MOBILE)
    assert corpus.find_clause(CMI, "7.4", "Services internet") is None
    assert corpus.find_clause(CMI, "12.2.1", None).part is None
    # an unnumbered part ("SERVICE DE SUPPORT") and an article glued to a sentence ("... ARTICLE 5 - MAINTENANCE")
    support = corpus.find_clause(CMI, "SERVICE DE SUPPORT", "Service de support")
    assert support is not None and "Configuration Standard" in support.text
    iss = "Service d’installation sur site (iss)"
    assert corpus.find_clause(CMI, "5", iss).title == "MAINTENANCE"
    assert "MAINTENANCE" not in corpus.find_clause(CMI, "4", iss).text


def test_find_clause_section_one_falls_back_to_the_article(corpus):
    art = corpus.find_clause(PROXIMUS, "57")
    assert corpus.find_clause(PROXIMUS, "57 §1") == art
    assert art.text.startswith("57. § 1. Client ne peut céder le contrat")
    assert corpus.find_clause(PROXIMUS, "99") is None
    assert corpus.find_clause("no-such-doc", "1") is None


@pytest.mark.parametrize(("doc_id", "clause_id", "title"), [
    (CET, "1", "Définitions"),
    (CET, "11", "Durée"),
    (CET, "12", "Résiliation anticipée du contrat de Services"),
    (LOL, "11 §2", "Règlement amiable – Contestations"),
])
def test_sentence_case_heading_line_gives_the_clause_title(corpus, doc_id, clause_id, title):
    assert corpus.find_clause(doc_id, clause_id).title == title


# ---------------------------------------------------------------------------------------------- full texts

# (doc, clause id, part, printed start, printed last words): the clause runs to the next clause, no further
COMPLETE = [
    (CROSSING, "11.4", None, "11.4 RÉSILIATION ANTICIPÉE\n\nDans tous les cas,",
     "sauf dans les cas décrits à l'article 4.1 des présentes conditions générales."),
    (CROSSING, "11.5", None, "11.5 En cas de résiliation du contrat, le client s'oblige à restituer",
     "à régler l'intégralité des sommes encore dues à CT dès réception de la facture finale."),
    (CROSSING, "8.5.12", None, "8.5.12 En cas de retard de paiement, des frais de rappel",
     "à concurrence de 5,€ HT par rappel à partir du deuxième rappel de paiement."),
    (LOL, "8D", None, "D. Déménagement – Transfert des Services\n\nLes frais de déménagement",
     "jusqu'à la date de résiliation effective du Contrat."),
    (CET, "11.2", None, "- 11.2 En cas de rupture anticipée du Contrat de Services par le Client",
     "comme explicité à l'article 5.2 des présentes Conditions particulières."),
    (PROXIMUS, "66", None, "66. Indemnités en cas de résiliation anticipée par le Client",
     "par tout moyen écrit complété par un document justificatif."),
    (PROXIMUS, "57 §2", None, "§2. Le Client qui s'est vu interdire par jugement",
     "la personne qui occupe légalement le lieu de l'installation, si celle-ci en fait la demande."),
    (CMI, "12.2.1", None, "12.2.1. Conditions de résiliation : Le Client Professionnel peut résilier",
     "toute demande de résiliation prendra effet à date d’anniversaire du mois M+1."),
    (CMI, "2", FIXE, "ARTICLE 2 – PORTABILITÉ DE NUMÉROS FRANÇAIS\nLe Client, titulaire",
     "sera facturée au Client 250 eur HT par dossier de portabilité."),
    (CMI, "7.4", MOBILE, "7.4. Par dérogation à l’article 12.2. des CGV, et uniquement pour le Service de téléphonie mobile",
     "prend effet dans un délai de sept (7) jours ouvrés."),
]


@pytest.mark.parametrize(("doc_id", "clause_id", "part", "start", "end"), COMPLETE,
                         ids=[f"{d[:3]}-{c}" for d, c, *_ in COMPLETE])
def test_clause_text_is_complete(corpus, doc_id, clause_id, part, start, end):
    clause = corpus.find_clause(doc_id, clause_id, part)
    assert clause.text.startswith(start)
    assert clause.text.endswith(end)
    # and it is the document's own text
    assert corpus.documents[doc_id].text[clause.start:clause.end] == clause.text


def test_clause_spanning_a_page_break_is_rejoined(corpus):
    text = corpus.find_clause(CMI, "12.2.1").text
    assert "Page 8 sur 36" not in text
    assert "pour son compte. Toute demande de résiliation prendra effet à date d’anniversaire" in text
    assert "un préavis de trois (3) mois avant la date de fin de la première période d’engagement," in text


# ---------------------------------------------------------------------------------------------- normalisation


def test_page_lines_are_removed(corpus):
    page = re.compile(r"^\s*Page \d+ sur \d+\s*$", re.MULTILINE)
    assert len(page.findall(raw(CMI))) == 36
    for doc_id, doc in corpus.documents.items():
        assert not page.search(doc.text), doc_id


def test_running_header_removed_but_first_occurrence_kept(corpus):
    assert raw(LOL).count(LOL_HEADER) == 4
    text = corpus.documents[LOL].text
    assert text.count(LOL_HEADER) == 1
    # the kept occurrence is the real heading of the general conditions
    heading = corpus.find_clause(LOL, LOL_HEADER)
    assert heading is not None and heading.text.strip() == LOL_HEADER
    assert text.index(LOL_HEADER) < corpus.find_clause(LOL, "1").start


def test_sentence_cut_by_running_header_is_rejoined(corpus):
    broken = "travaux d'entretien ou de\n\nCONDITIONS GENERALES DES SERVICES LUXEMBOURG ONLINE\n\nrenforcement"
    assert broken in raw(LOL)
    text = corpus.documents[LOL].text
    joined = ("Luxembourg Online ne pourra être rendue responsable des perturbations causées par les travaux "
              "d'entretien ou de renforcement, de réaménagement, d'extension de ses installations techniques.")
    assert joined in text
    assert joined in corpus.find_clause(LOL, "5").text
    # the other two cut sentences too
    assert "de services haut débit, très haut débit ou la portabilité" in text.replace("\n", " ")
    assert "causé par la réception de messages indésirables" in text


def test_normalise_is_generic():
    """Furniture is recognised by its shape, not by one document's words."""
    header = "ACME TELECOM - CONDITIONS GENERALES"
    body = "x" * 45
    raw_text = (f"{header}\n\n1. Objet du contrat\n\nLe contrat entre ACME et le client couvre les services de\n\n"
                f"{header}\n\ntéléphonie fixe.\nPage 1 sur 3\n\n2. Durée\n\n{body}\r\n{header}\n\nPage 2 of 3\n"
                f"3. Prix\n\nVoir la liste des prix.\n")
    out = normalise(raw_text)
    assert out.count(header) == 1 and out.startswith(header)
    assert "les services de téléphonie fixe." in out
    assert "Page" not in out and "\r" not in out
    assert "\n3. Prix" in out  # a clause start is never glued to the previous line


def test_normalised_text_keeps_every_unbroken_sentence(corpus):
    """Only furniture goes: a long line of the raw file that is not furniture survives verbatim."""
    for doc_id, doc in corpus.documents.items():
        for line in raw(doc_id).splitlines():
            line = line.strip()
            if len(line) > 200 and LOL_HEADER not in line:
                assert line in doc.text, (doc_id, line[:80])


# ---------------------------------------------------------------------------------------------- invariants


def test_every_clause_text_is_the_document_slice(corpus):
    for doc_id, doc in corpus.documents.items():
        assert doc.clauses, doc_id
        for clause in doc.clauses:
            assert clause.text == doc.text[clause.start:clause.end], (doc_id, clause.clause_id)
            assert clause.text.strip(), (doc_id, clause.clause_id)


def test_clauses_are_ordered_disjoint_and_uniquely_referenced(corpus):
    for doc_id, doc in corpus.documents.items():
        refs = [c.ref for c in doc.clauses]
        assert len(refs) == len(set(refs)), doc_id
        for a, b in zip(doc.clauses, doc.clauses[1:], strict=False):
            assert a.start < b.start and a.end <= b.start, (doc_id, a.clause_id, b.clause_id)


def test_every_chunk_is_an_exact_slice(corpus):
    ids = [c.chunk_id for c in corpus.chunks]
    assert len(ids) == len(set(ids))
    for doc_id, doc in corpus.documents.items():
        assert doc.chunks, doc_id
        for chunk in doc.chunks:
            assert chunk.doc_id == doc_id
            assert chunk.text == doc.text[chunk.start:chunk.end]
            assert chunk.text.strip() and chunk.text in chunk.embed_text
            assert corpus.verify_quote(doc_id, chunk.text)


def test_no_chunk_spans_two_parts_or_two_articles(corpus):
    for doc_id, doc in corpus.documents.items():
        for chunk in doc.chunks:
            covered = [c for c in doc.clauses if c.start < chunk.end and c.end > chunk.start]
            assert covered, (doc_id, chunk.chunk_id)
            assert len({c.part for c in covered}) == 1, (doc_id, chunk.clause_ids)
            assert len({top_article(c) for c in covered}) == 1, (doc_id, chunk.clause_ids)
            assert chunk.part == covered[0].part
            assert chunk.clause_id == chunk.clause_ids[0]


def test_every_live_clause_is_indexed(corpus):
    for doc_id, doc in corpus.documents.items():
        chunked = {(ch.part, cid) for ch in doc.chunks for cid in ch.clause_ids}
        for clause in doc.clauses:
            if clause.duplicate_of is None:
                assert (clause.part, clause.clause_id) in chunked, (doc_id, clause.ref)


# ---------------------------------------------------------------------------------------------- collapsed runs and gaps


def test_machine_repeated_run_is_collapsed_but_still_citable(corpus):
    doc = corpus.documents[CROSSING]
    assert doc.segmentation.collapsed_runs == ["8.5.14..8.5.45 (32 clauses)"]
    head = corpus.find_clause(CROSSING, "8.5.14")
    assert head.duplicate_of is None and head.collapsed == 31
    copies = [f"8.5.{n}" for n in range(15, 46)]
    indexed_ids = {cid for ch in doc.chunks for cid in ch.clause_ids}
    assert "8.5.14" in indexed_ids
    for cid in copies:
        clause = corpus.find_clause(CROSSING, cid)
        assert clause is not None, cid
        assert clause.duplicate_of == "8.5.14"
        assert clause.text.startswith(f"{cid} En cas de retard de paiement supérieur à")
        assert cid not in indexed_ids
        assert not any(ch.start < clause.end and ch.end > clause.start for ch in doc.chunks), cid
    # the neighbours are not part of the run
    for cid in ("8.5.13", "8.5.46"):
        clause = corpus.find_clause(CROSSING, cid)
        assert clause.duplicate_of is None and clause.collapsed == 0


def test_numbering_gaps_are_recorded(corpus):
    crossing = corpus.documents[CROSSING].segmentation
    assert "8.5.46 -> 11.3.1.1" in crossing.gaps
    assert corpus.find_clause(CROSSING, "8.5.46").text.strip() == "8.5.46 En cas de retard de paiement supérieur à 4"
    cet = corpus.documents[CET].segmentation
    assert "11.2 -> 11.4" in cet.gaps  # 11.3 is cited by 12.3 but never printed
    assert corpus.find_clause(CET, "11.3") is None
    cmi = corpus.documents[CMI].segmentation
    masked = corpus.find_clause(CMI, "0")
    assert masked is not None and masked.title == "XXXXX XX XXXXXXX DE SERVICE"
    assert masked.text.startswith("ARTICLE 0 - XXXXX XX XXXXXXX DE SERVICE\nLe Contrat de Service est conclu")
    assert "0 -> 6" in cmi.gaps
    assert not [c for c in corpus.documents[CMI].clauses if c.part is None and c.clause_id == "5"]
    # documents numbered without holes report none
    assert corpus.documents[PROXIMUS].segmentation.gaps == []


def test_headings_without_text_are_listed(corpus):
    empty = corpus.documents[CROSSING].segmentation.empty
    assert {"4.2", "8.5", "6.1"} <= set(empty)
    assert "11.4" not in empty and "8.5.12" not in empty


# ---------------------------------------------------------------------------------------------- CLI


def test_corpus_json_lists_every_document(corpus, capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(KNOWLEDGE))
    get_settings.cache_clear()
    try:
        assert main(["corpus", "--json"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    rows = {r["doc_id"]: r for r in json.loads(out)}
    assert list(rows) == list(corpus.documents)
    for doc_id, doc in corpus.documents.items():
        row = rows[doc_id]
        assert row["operator"] == doc.meta.operator
        assert row["clauses"] == len(doc.clauses) > 0
        assert row["chunks"] == len(doc.chunks) > 0
        assert row["parts"] == doc.segmentation.parts
        assert row["gaps"] == doc.segmentation.gaps
        assert row["collapsed_runs"] == doc.segmentation.collapsed_runs
        assert row["clauses_without_text"] == doc.segmentation.empty
    assert rows[CROSSING]["collapsed_runs"] == ["8.5.14..8.5.45 (32 clauses)"]
    assert len(rows[CMI]["parts"]) == 7
    assert rows[PROXIMUS]["operator"] == "Proximus"


def test_new_operator_needs_only_a_file_and_a_manifest_entry(tmp_path):
    kd = make_knowledge(tmp_path / "knowledge", [CET])
    (kd / "documents" / "900_new.txt").write_text(
        "CONDITIONS GENERALES NOUVEL OPERATEUR\n\nARTICLE 1 - OBJET\nLe présent contrat régit les services.\n"
        "ARTICLE 2 - RESILIATION\n2.1. Préavis : le client résilie avec un préavis d'un mois.\n"
        "2.2. Frais : des frais de 50 € HT sont dus.\n", encoding="utf-8")
    edit_manifest(kd, lambda m: m["documents"].append({
        "doc_id": "900_new", "file": "900_new.txt", "operator": "Nouvel Opérateur", "country": "FR",
        "title": "Conditions générales", "kind": "general conditions"}))
    corpus = load_corpus_from(Path(kd))
    assert corpus.operators() == ["CE+T Télécommunications", "Nouvel Opérateur"]
    assert corpus.resolve_operator("nouvel operateur") == "Nouvel Opérateur"
    clause = corpus.find_clause("900_new", "2.1")
    assert clause.title == "Préavis" and clause.text.endswith("préavis d'un mois.")
    assert corpus.find_clause("900_new", "2").title == "RESILIATION"
