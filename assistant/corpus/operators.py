"""Operator mentions in free text, from the manifest's names and aliases (no operator is named in code)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from assistant.corpus.normalise import fold

# A name is a whole word: no letter, digit, "+" or "-" may touch it on either side ("CE+T", "E2P-x").
_BEFORE = r"(?<![\w+-])"
_AFTER = r"(?![\w+-])"


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    return fold(char)


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """`fold(text)` and, for every folded character, the index of the original character it came from.

    Folding is per character (casefold, compatibility decomposition, combining marks dropped), so folding
    each character alone gives the same string as folding the whole text, and the offsets let a match in
    the folded text be cut out of the original even when folding changed its length ("ß" → "ss", "œ",
    decomposed accents).
    """
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = _fold_char(char)
        folded.append(piece)
        origin.extend([index] * len(piece))
    return "".join(folded), origin


def _alias_regex(needle: str) -> re.Pattern[str]:
    # Spaces inside a name match any run of whitespace ("Proximus\nVoIP" is still the product name).
    body = r"\s+".join(re.escape(word) for word in needle.split())
    return re.compile(_BEFORE + body + _AFTER)


# A product name is written like a brand: a capital inside the word ("CTExchange", "CTFibre") or letters and
# digits together ("Easy2Phone"); an ordinary word shouted in capitals never qualifies (see `product_names`).
_PRODUCT = re.compile(r"(?<![\w@.])[A-Za-z][A-Za-z0-9+]{3,}(?![\w@])")
_BRAND_SHAPE = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]|[A-Za-z]{2}\d|\d[A-Za-z]{2}")


def product_names(texts: dict[str, Iterable[str]]) -> dict[str, str]:
    """Folded product name -> operator, for names written like a brand in one operator's documents only.

    A token also written all in lower case somewhere in the corpus is an ordinary word ("PAiements" in a
    heading); a name found at two operators names neither (VoIP)."""
    owners: dict[str, set[str]] = {}
    lower: set[str] = set()
    for operator, docs in texts.items():
        for text in docs:
            for m in _PRODUCT.finditer(text):
                token = m.group()
                if token.islower():
                    lower.add(token)
                elif _BRAND_SHAPE.search(token):
                    owners.setdefault(fold(token), set()).add(operator)
    return {name: next(iter(ops)) for name, ops in owners.items() if len(ops) == 1 and name not in lower}


class Mention(NamedTuple):
    start: int  # offsets in the original text
    end: int
    operator: str


class OperatorMatcher:
    """Finds operator mentions (names, aliases, product names) inside free text.

    Short aliases ("CT", "LOL", "CMI") are matched case-sensitively as printed, because their
    lowercase forms can be ordinary words; longer names match accent- and case-insensitively.
    Overlapping candidates are resolved longest first, so "Proximus VoIP" is one mention (not "Proximus"
    plus a stray "VoIP") and a short alias inside a longer name never counts on its own.
    """

    def __init__(self, names: dict[str, Iterable[str]], exact: bool = False):
        self._patterns: list[tuple[re.Pattern[str], bool, str]] = []
        seen: set[tuple[str, bool, str]] = set()
        for operator, aliases in names.items():
            for alias in (operator, *aliases):
                alias = " ".join(alias.split())
                if not alias:
                    continue
                as_printed = exact or len(alias) <= 4
                needle = alias if as_printed else fold(alias)
                if (needle, as_printed, operator) in seen:
                    continue
                seen.add((needle, as_printed, operator))
                self._patterns.append((_alias_regex(needle), as_printed, operator))

    def mentions(self, text: str) -> list[Mention]:
        """Non-overlapping mentions in text order: the longest candidate wins, then the leftmost."""
        folded, origin = _fold_with_offsets(text)
        candidates: list[Mention] = []
        for pattern, exact, operator in self._patterns:
            if exact:
                candidates += [Mention(m.start(), m.end(), operator) for m in pattern.finditer(text)]
                continue
            for m in pattern.finditer(folded):
                if m.end() > m.start():
                    candidates.append(Mention(origin[m.start()], origin[m.end() - 1] + 1, operator))
        candidates.sort(key=lambda c: (-(c.end - c.start), c.start))
        chosen: list[Mention] = []
        for candidate in candidates:
            if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in chosen):
                chosen.append(candidate)
        return sorted(chosen)

    def find(self, text: str) -> list[str]:
        """Operators mentioned in `text`, in order of first mention."""
        found: list[str] = []
        for mention in self.mentions(text):
            if mention.operator not in found:
                found.append(mention.operator)
        return found

    def strip(self, text: str) -> str:
        """`text` without operator mentions (they only add noise once retrieval is filtered by operator).

        Only the mentioned names are cut; every other word, including the one right after a name, stays.
        """
        return self.replace(text, " ")

    def replace(self, text: str, word: str) -> str:
        """`text` with every operator mention replaced by `word` (a role word: "l'opérateur résilie")."""
        pieces: list[str] = []
        position = 0
        for mention in self.mentions(text):
            pieces += [text[position:mention.start], word]
            position = mention.end
        pieces.append(text[position:])
        return re.sub(r"\s+", " ", "".join(pieces)).strip()
