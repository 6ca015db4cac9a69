"""A call's length and its price per minute in a message ("6 min 20 s", "250 secondes", "0,17 € la minute"):
the inputs of the call-charge calculator. Compared on folded text (lowercase, no accents)."""

from __future__ import annotations

import re

MINUTE_WORDS = r"min|mn|minutes?"
SECOND_WORDS = r"s|sec|secs|secondes?|seconds?"
# "6 min 20 s", "6 minutes et 20 secondes", "3 min", "250 s"; never inside a longer word or a price ("0,17 €/min")
_CALL = re.compile(rf"(?<![\w.,/])(?:(\d{{1,3}})\s*(?:{MINUTE_WORDS})\b(?:\s*(?:et|and)?\s*(\d{{1,2}})\s*(?:{SECOND_WORDS})\b)?"
                   rf"|(\d{{1,5}})\s*(?:{SECOND_WORDS})\b)")
# after an amount: "/min", "la minute", "par minute", "per minute", "a minute"
PER_MINUTE = re.compile(r"^\s*(?:ht|ttc|htva|excl\.? vat)?\s*(?:/|la|par|per|a|each)\s*(?:min|mn|minute)\b")


def call_seconds(folded: str) -> int | None:
    """The first call length written in minutes and/or seconds, in seconds."""
    m = _CALL.search(folded)
    if m is None:
        return None
    if m.group(3):
        return int(m.group(3))
    return int(m.group(1)) * 60 + int(m.group(2) or 0)
