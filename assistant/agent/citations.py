"""Quote verification and the citation guard.

Nothing leaves the assistant with a quote that is not an exact substring of the normalised source, or
with a citation of a clause that was not retrieved or computed in the same turn. Quotes that differ from
the source only by whitespace, surrounding quote marks or ellipses are repaired to the source's own
characters (the shown text is then the source span); anything else is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from assistant.models import Citation

_TRIM = " \t\n\"'«»“”‘’…."
ClauseKey = tuple[str, str]  # (doc_id, clause_id)


class QuoteVerifier:
    """Checks quotes against the normalised document texts (doc_id -> text)."""

    def __init__(self, texts: Mapping[str, str]):
        self._texts = texts

    def locate(self, doc_id: str, quote: str) -> str | None:
        """The source span equal to `quote` (possibly repaired), or None when the source does not hold it."""
        text = self._texts.get(doc_id)
        if not text or not quote or not quote.strip():
            return None
        if quote in text:
            return quote
        core = quote.strip(_TRIM).replace("...", " ").replace("…", " ")
        if len(core) < 8:
            return None
        if core in text:
            return core
        tokens = core.split()
        if not tokens:
            return None
        # Whitespace-tolerant: the model (or a template) may have re-flowed line breaks.
        pattern = r"\s+".join(re.escape(t) for t in tokens)
        m = re.search(pattern, text)
        return m.group(0) if m else None

    def verify(self, citation: Citation) -> Citation | None:
        span = self.locate(citation.doc_id, citation.quote)
        if span is None:
            return None
        return citation if span == citation.quote else citation.model_copy(update={"quote": span})


@dataclass
class TurnEvidence:
    """What a turn is allowed to cite: clauses retrieved or used by a calculator in this turn."""

    clauses: set[ClauseKey] = field(default_factory=set)

    def allow(self, keys: Iterable[ClauseKey]) -> None:
        self.clauses.update(keys)

    def allows(self, citation: Citation) -> bool:
        return (citation.doc_id, citation.clause_id) in self.clauses


def guard(citations: Iterable[Citation], evidence: TurnEvidence, verifier: QuoteVerifier) -> list[Citation]:
    """Keep only citations of this turn's evidence whose quotes verify; deduplicate, keep order."""
    kept: list[Citation] = []
    seen: set[tuple[str, str, str]] = set()
    for citation in citations:
        if not evidence.allows(citation):
            continue
        verified = verifier.verify(citation)
        if verified is None:
            continue
        key = (verified.doc_id, verified.clause_id, verified.quote)
        if key not in seen:
            seen.add(key)
            kept.append(verified)
    return kept
