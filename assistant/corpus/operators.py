"""Operator mentions in free text, from the manifest's names and aliases (no operator is named in code)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.corpus.loader import fold


class OperatorMatcher:
    """Finds operator mentions (names, aliases, product names) inside free text.

    Short aliases ("CT", "LOL", "CMI") are matched case-sensitively as printed, because their
    lowercase forms can be ordinary words; longer names match accent- and case-insensitively.
    """

    def __init__(self, names: dict[str, Iterable[str]], exact: bool = False):
        self._patterns: list[tuple[re.Pattern[str], bool, str]] = []
        for operator, aliases in names.items():
            for alias in {operator, *aliases}:
                alias = alias.strip()
                if not alias:
                    continue
                as_printed = exact or len(alias) <= 4
                needle = alias if as_printed else fold(alias)
                self._patterns.append((re.compile(rf"(?<![\w+-]){re.escape(needle)}(?![\w+-])"), as_printed,
                                       operator))
        # longest aliases first so that "Proximus VoIP" wins over "Proximus" at the same position
        self._patterns.sort(key=lambda p: -len(p[0].pattern))

    def find(self, text: str) -> list[str]:
        """Operators mentioned in `text`, in order of first mention."""
        folded = fold(text)
        hits: dict[str, int] = {}
        for pattern, exact, operator in self._patterns:
            m = pattern.search(text if exact else folded)
            if m and (operator not in hits or m.start() < hits[operator]):
                hits[operator] = m.start()
        return sorted(hits, key=hits.__getitem__)

    def strip(self, text: str) -> str:
        """`text` without operator mentions (they only add noise once retrieval is filtered by operator)."""
        folded = fold(text)
        if len(folded) != len(text):  # folding changed offsets: leave the text as it is
            return text
        spans: list[tuple[int, int]] = []
        for pattern, exact, _ in self._patterns:
            spans += [m.span() for m in pattern.finditer(text if exact else folded)]
        for start, end in sorted(set(spans), reverse=True):
            text = text[:start] + " " + text[end:]
        return re.sub(r"\s+", " ", text).strip()
