"""Retrieval quality on the real index (default settings, the repo's .data, the real embedding model).

`ensure_index` is a cheap no-op when the index is current, and builds it otherwise. These checks can
fail: each one is a question a customer or an agent asks, with the clause that answers it.
"""

from __future__ import annotations

import pytest
from langchain_core.documents import Document as LCDocument

from assistant.config import get_settings
from assistant.errors import QueryError
from assistant.index import Retriever, as_langchain_retriever, ensure_index
from assistant.index.text import analyse

slow = pytest.mark.slow
CROSSING, CMI = "000_98e5614dbf169973", "004_7074ea7ae08f5082"


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    get_settings.cache_clear()
    settings = get_settings()
    ensure_index(settings, progress=False)
    return Retriever(settings)


def clause_ids(passages) -> list[str]:
    return [p.clause_id for p in passages]


# ---------------------------------------------------------------------------------------------- French questions


@slow
@pytest.mark.parametrize("question", [
    "Je veux résilier ma ligne fixe, quel préavis ?",
    "Combien de jours avant l'échéance dois-je résilier mon contrat Crossing ?",
    "Dans quel délai dois-je prévenir Crossing avant l'échéance pour résilier ?",
])
def test_crossing_notice_period_question_finds_11_3_1(retriever, question):
    passages = retriever.retrieve(question, k=5, operator="Crossing Telecom")
    assert any(cid.startswith("11.3.1.") for cid in clause_ids(passages)), clause_ids(passages)
    assert {p.doc_id for p in passages} == {CROSSING}


@slow
def test_plain_crossing_notice_question_finds_11_3_1(retriever):
    passages = retriever.retrieve("Quel est le délai de préavis pour résilier mon contrat chez Crossing ?", k=5,
                                  operator="Crossing Telecom")
    assert any(cid.startswith("11.3.1.") for cid in clause_ids(passages)), clause_ids(passages)


@slow
def test_proximus_early_termination_fees(retriever):
    passages = retriever.retrieve("indemnités en cas de résiliation anticipée d'un contrat à durée déterminée",
                                  k=5, operator="Proximus")
    assert "66" in clause_ids(passages)


# ---------------------------------------------------------------------------------------------- English over French


@slow
def test_english_porting_cancellation_fee_at_cmi(retriever):
    passages = retriever.retrieve("how much does it cost to cancel a number porting request with CMI?", k=5,
                                  operator="CMI")
    assert any("250 eur HT" in p.chunk.text for p in passages), clause_ids(passages)


@slow
def test_french_porting_cancellation_fee_at_cmi(retriever):
    passages = retriever.retrieve("combien coûte l'annulation d'une demande de portabilité chez CMI ?", k=5,
                                  operator="CMI")
    assert any("250 eur HT" in p.chunk.text for p in passages), clause_ids(passages)


@pytest.mark.parametrize(("participle", "noun"), [("annulée", "annulation"), ("facturée", "facturation"),
                                                  ("résiliée", "résiliation")])
def test_french_word_forms_share_a_stem(participle, noun):
    assert analyse(participle) == analyse(noun)


# ---------------------------------------------------------------------------------------------- filters and errors


@slow
@pytest.mark.parametrize("operator", ["Crossing Telecom", "LOL", "CE+T", "belgacom", "CMI Services"])
def test_operator_filter_returns_only_that_operators_documents(retriever, operator):
    name = retriever.corpus.resolve_operator(operator)
    allowed = set(retriever.corpus.doc_ids_for(name))
    passages = retriever.retrieve("résiliation du contrat et frais", k=10, operator=operator)
    assert passages
    assert {p.doc_id for p in passages} <= allowed
    assert {p.chunk.operator for p in passages} == {name}


@slow
def test_doc_filter_and_passages_quote_the_source(retriever):
    passages = retriever.retrieve("portabilité du numéro", k=5, doc_ids=[CMI])
    assert passages and {p.doc_id for p in passages} == {CMI}
    for p in passages:
        assert retriever.corpus.verify_quote(p.doc_id, p.chunk.text)
        assert retriever.corpus.find_clause(p.doc_id, p.clause_id, p.chunk.part) is not None
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


@slow
@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_refused(retriever, query):
    with pytest.raises(QueryError, match="empty query"):
        retriever.retrieve(query)


@slow
def test_unknown_operator_is_refused(retriever):
    with pytest.raises(QueryError, match="unknown operator 'Orange'"):
        retriever.retrieve("résiliation", operator="Orange")
    with pytest.raises(QueryError, match="unknown document id"):
        retriever.retrieve("résiliation", doc_ids=["999_nope"])


# ---------------------------------------------------------------------------------------------- LangChain


@slow
def test_langchain_adapter_returns_documents_with_clause_metadata(retriever):
    docs = as_langchain_retriever(retriever, k=3, operator="Proximus").invoke("résiliation anticipée indemnités")
    assert len(docs) == 3
    for doc in docs:
        assert isinstance(doc, LCDocument)
        assert doc.metadata["operator"] == "Proximus"
        assert doc.metadata["doc_id"] == "003_3e031832c59a142d"
        assert doc.metadata["clause_id"]
        assert retriever.corpus.verify_quote(doc.metadata["doc_id"], doc.page_content)
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3]


@slow
def test_dense_vector_reuses_the_question_embedding_and_leans_towards_the_glossary_terms(retriever):
    import numpy as np

    from assistant.index.embeddings import get_embeddings

    model = get_embeddings(retriever.settings)
    plain = "Bonjour, une question sur mon contrat"
    assert retriever.glossary.expand(plain) == plain  # no glossary phrase: the question's own vector
    assert np.allclose(retriever.dense_vector(plain), model.embed_query(plain))
    english = "What notice do I have to give to cancel?"
    terms = retriever.glossary.expand(english)[len(english):].strip()
    assert terms  # "notice" -> "préavis" ...
    mixed, own, french = (np.asarray(v) for v in (retriever.dense_vector(english), model.embed_query(english),
                                                  model.embed_query(terms)))
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(mixed, french) > cos(own, french)
