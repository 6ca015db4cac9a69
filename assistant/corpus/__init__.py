"""Corpus: load and normalise the T&C texts, segment clauses, cut chunks (text in, Clause/Chunk out)."""

from assistant.corpus.loader import Corpus, Document, fold, load_corpus, load_corpus_from
from assistant.corpus.normalise import normalise

__all__ = ["Corpus", "Document", "fold", "load_corpus", "load_corpus_from", "normalise"]
