"""The offline extractive composer on hand-made passages (no embedding model, no index).

The operator and the texts are invented: the scoring must work from the question's concepts, the glossary
and the retrieval rank, never from knowing an operator, a document or a clause number.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assistant.agent.compose import (
    Templates,
    best_sentences,
    is_heading,
    query_terms,
    score_sentences,
)
from assistant.index.text import Glossary
from assistant.models import Chunk, Citation, Passage

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = Glossary.load(ROOT / "knowledge" / "glossary.yaml")
OPERATOR = "Gamma Télécom"

# One document, as a retriever would return it for "I want to terminate, what notice?": the clause about
# early-termination indemnities (a heading line, then its text) ranks first, the notice rule third.
INDEMNITY = (
    "66. Indemnités en cas de résiliation anticipée par le Client d'un contrat à durée déterminée :\n"
    "Pour les Clients qui résilient anticipativement leur contrat, Gamma se réserve le droit de réclamer une "
    "indemnité équivalente aux redevances mensuelles restant dues jusqu'au terme de la période d'engagement."
)
CHANGES = (
    "9. Le Client qui n'accepte pas les nouvelles conditions peut résilier son contrat sans indemnité au plus "
    "tard le dernier jour du mois suivant l'entrée en vigueur des modifications."
)
NOTICE = (
    "65. Le Client peut résilier son contrat par écrit à tout moment sans devoir en indiquer les motifs. "
    "Gamma envoie au Client une confirmation écrite de la date de résiliation. "
    "À défaut d'une date de fin spécifiée par le Client, le contrat sera résilié moyennant un préavis de 30 jours."
)
PAYMENT = "42. Les délais de paiement de ce montant sont précisés dans la lettre portant décision de Gamma."
PORTING = "70. Le Client qui souhaite porter son numéro auprès d'un autre opérateur doit s'adresser à ce dernier."
DOCUMENT = "\n\n".join([INDEMNITY, CHANGES, NOTICE, PAYMENT, PORTING])

ETC_HINTS = "résiliation anticipée indemnité période d'engagement mensualités restantes"  # planner hints
NOTICE_HINTS = "préavis de résiliation délai"


def passage(text: str, rank: int, clause_id: str | None = None, doc: str = DOCUMENT) -> Passage:
    start = doc.index(text)
    cid = clause_id or text.split(".")[0]
    chunk = Chunk(chunk_id=hashlib.sha1(f"{rank}{text}".encode()).hexdigest()[:12], doc_id="gamma",
                  operator=OPERATOR, clause_id=cid, clause_ids=[cid], text=text, start=start,
                  end=start + len(text), embed_text=text)
    return Passage(chunk=chunk, score=1.0 / rank, rank=rank)


def retrieved(*texts: str) -> list[Passage]:
    return [passage(t, i) for i, t in enumerate(texts, 1)]


def cite(p: Passage, quote: str) -> Citation:
    return Citation(doc_id=p.doc_id, operator=p.chunk.operator, clause_id=p.clause_id, title="",
                    doc_title="Gamma – Conditions générales", quote=quote)


@pytest.fixture
def templates() -> Templates:
    return Templates(ROOT / "prompts")


@pytest.mark.parametrize("question,hints", [
    ("Je veux résilier mon contrat , quel préavis dois-je respecter ?", ETC_HINTS),
    ("What notice do I have to give to cancel my contract?", NOTICE_HINTS),
    ("client veut résilier, préavis ?", NOTICE_HINTS),
    ("How much notice before I terminate?", NOTICE_HINTS),
])
def test_the_question_concept_beats_word_overlap_and_rank(question, hints):
    passages = retrieved(INDEMNITY, CHANGES, NOTICE)
    chosen = best_sentences(question, passages, glossary=GLOSSARY, hints=hints)
    assert chosen[0].text == "À défaut d'une date de fin spécifiée par le Client, le contrat sera résilié moyennant un préavis de 30 jours."
    assert chosen[0].passage.clause_id == "65"


def test_quotes_are_exact_slices_never_headings_never_twice():
    passages = retrieved(INDEMNITY, CHANGES, NOTICE, NOTICE)  # the same chunk retrieved twice
    scored = score_sentences("indemnité de résiliation anticipée ?", passages, glossary=GLOSSARY, hints=ETC_HINTS)
    texts = [s.text for s in scored]
    assert len(texts) == len(set(texts))
    assert not any(t.startswith("Indemnités en cas de résiliation anticipée") for t in texts)
    for s in scored:
        assert s.text in s.passage.chunk.text
    chosen = best_sentences("indemnité de résiliation anticipée ?", passages, glossary=GLOSSARY, hints=ETC_HINTS)
    assert chosen[0].passage.clause_id == "66" and chosen[0].text.startswith("Pour les Clients")
    assert len({s.text for s in chosen}) == len(chosen)


@pytest.mark.parametrize("text, heading", [
    ("Indemnités en cas de résiliation anticipée par le Client d'un contrat à durée déterminée :", True),
    ("66. Indemnités en cas de résiliation anticipée :", True),
    ("MODIFICATIONS DES CONDITIONS DU CONTRAT", True),
    ("Suspension et dissolution du contrat", True),
    ("Le Client peut résilier son contrat par écrit à tout moment.", False),
    ("Téléphonie Fixe : 30 jours avant l'échéance", False),  # a list item with a figure says something
])
def test_headings(text, heading):
    assert is_heading(text) is heading


def test_answer_kind_words_do_not_outweigh_the_topic():
    """'how long' asks for a duration; the topic is porting, not any sentence saying 'délai'."""
    terms = query_terms("How long does it take to port my number?", GLOSSARY, hints="portabilité du numéro portage",
                        answer="duration")
    assert terms.wants_figure
    assert terms.weights["portabl"] > terms.weights["del"]
    chosen = best_sentences("How long does it take to port my number?", retrieved(PAYMENT, PORTING), glossary=GLOSSARY,
                            hints="portabilité du numéro portage", answer="duration")
    assert chosen[0].passage.clause_id == "70"


def test_a_figure_wins_when_the_question_asks_how_long():
    text = ("Le Client peut résilier le contrat par lettre recommandée. "
            "Le Client peut résilier le contrat moyennant un préavis de deux (2) mois.")
    p = passage(text, 1, "8", doc=text)
    assert best_sentences("Combien de temps de préavis pour résilier ?", [p], glossary=GLOSSARY,
                          answer="duration")[0].text.endswith("(2) mois.")
    # the kind of figure wanted is the need's answer type, decided once by the router
    assert query_terms("Dans quel délai dois-je prévenir ?", GLOSSARY, answer="duration").wants_figure
    assert not query_terms("Puis-je résilier par e-mail ?", GLOSSARY, answer="procedure").wants_figure


def test_rank_breaks_ties_between_equal_sentences():
    a = "1. Le Client peut résilier le contrat par écrit."
    b = "2. Le Client peut résilier le contrat par courrier."
    doc = f"{a}\n\n{b}"
    chosen = best_sentences("résilier par écrit ou courrier ?", [passage(b, 1, doc=doc), passage(a, 2, doc=doc)],
                            glossary=GLOSSARY)
    assert chosen[0].passage.clause_id == "2"


def test_a_charge_without_figure_is_a_pointer_but_a_stated_amount_is_not():
    from assistant.agent.compose import is_pointer

    assert is_pointer("Cette modification a lieu contre paiement.")
    assert is_pointer("Des frais de blocage sont facturés selon les conditions précisées dans la Liste des Prix.")
    assert not is_pointer("Le changement de numéro est facturé 25 € contre paiement.")
    assert not is_pointer("Le Client peut demander à modifier son numéro d'appel.")


def test_a_price_question_is_covered_only_by_a_sentence_about_its_subject():
    from assistant.agent.compose import covers_topic, topic_stems

    assert not topic_stems("Combien ça coûte ?")  # nothing but "how much": any amount may answer
    assert not covers_topic("Combien coûte un iPhone 16 ?", "Les frais de déménagement sont de 100,00 €.")
    assert covers_topic("combien coûte le déménagement ?", "Frais de déménagement : 100,00 €.")
    # English words reach the French text through the glossary
    assert covers_topic("how much does moving cost?", "Frais de déménagement : 100,00 €.")


def _need_answer(summary_fr: str, values: list | None = None):
    from assistant.agent.answer import NeedAnswer
    from assistant.agent.facts import FactView
    from assistant.agent.router import Need
    from assistant.tools.rules import Fact, Source

    src = Source(doc_id="d1", clause_id="9", quote="une phrase citée du document")
    fact = Fact(values=values or [], sources=[] if values else [src])
    view = FactView(operator="Op", selector="need:x", label_fr="Règle", label_en="Rule", fact=fact,
                    summary_fr=summary_fr, summary_en=summary_fr)
    need = Need.model_validate({"id": "x", "intent": "other", "answer": "procedure", "facts": [],
                                "label": {"fr": "x", "en": "x"}, "examples": {"fr": ["x"], "en": ["x"]}})
    return NeedAnswer(need=need, facts=[view])


def test_a_figure_asked_and_none_given_is_said_not_stated(templates):
    from assistant.agent.answer import FactWriter, compose_facts
    from assistant.models import Citation, ReplyStatus

    def cite(src):
        return Citation(doc_id=src.doc_id, operator="Op", clause_id=src.clause_id, quote=src.quote)

    writer = FactWriter(templates, "fr", "Op", cite)
    procedure = [_need_answer("Adressez la demande au nouvel opérateur, qui s'occupe des démarches")]
    asked = compose_facts(writer, procedure, figure_wanted=True)
    assert asked.status == ReplyStatus.NOT_FOUND and "pas précisé" in asked.answer.split("**Sources**")[0]
    plain = compose_facts(writer, procedure)
    assert plain.status == ReplyStatus.ANSWERED
    dated = compose_facts(writer, [_need_answer("Le transfert se fait en 10 jours au plus")], figure_wanted=True)
    assert dated.status == ReplyStatus.ANSWERED


def test_a_note_is_shown_in_the_language_of_its_own_words_not_of_what_it_quotes():
    from assistant.agent.compose import localise

    note = 'Article 9 allows a refund "conformément au contrat souscrit" for proven faults.'
    assert localise(note, "fr") is None
    assert localise(note, "en") == note
    french = "Le délai court « from the request » selon la traduction fournie."
    assert localise(french, "fr") == french and localise(french, "en") is None
