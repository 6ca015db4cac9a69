"""What a reply says in its own words, and whether those words leak the product's internals.

`own_text` drops what the reply quotes from the documents (block quotes and quoted passages), so that a
figure or a fact counts only when the assistant states it itself. `internal_tokens` lists what must never
reach a customer outside quotes: snake_case identifiers, raw enum values, a bare "none", and whole lines
in the other language (English template lines in a French reply, and vice versa).
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- quotes

_BLOCK_QUOTE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
# the source line under a quote: "— art. 8C, *Luxembourg Online – formulaires ...*" (a document title, not prose)
_ATTRIBUTION = re.compile(r"^[ \t]*[—–][ \t].*\*[^*\n]+\*[ \t.]*$", re.MULTILINE)
_QUOTED = (
    re.compile(r"«.*?»", re.DOTALL),
    re.compile(r"“.*?”", re.DOTALL),
    re.compile(r'"[^"\n]*"'),  # straight quotes: one line at most, so a stray `"` cannot swallow the reply
)


def own_text(text: str | None) -> str:
    """The reply without what it quotes: lines starting with ">", text inside « », “ ” and "...", and the
    source line under a quote ("— art. 8C, *document title*")."""
    out = _ATTRIBUTION.sub("", _BLOCK_QUOTE.sub("", text or ""))
    for pattern in _QUOTED:
        out = pattern.sub(" ", out)
    return out


# --------------------------------------------------------------------------- internal tokens

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_SNAKE = re.compile(r"(?<!\w)[^\W_]+(?:_[^\W_]+)+(?!\w)")
# Raw enum values of the data contracts (assistant.models, knowledge/rules) that are single words: a French
# reply never uses them; in an English reply they are raw only in a value position (see _VALUE_POSITION).
# Multi-word values (not_stated, customer_request, not_subject_to_vat, remaining_periods, ...) are snake_case
# and always caught by _SNAKE.
RAW_ENUM_WORDS = ("stated", "conflicting", "none", "answered", "clarify", "refused")
_ENUM_WORD = re.compile(r"(?<![\w-])(" + "|".join(RAW_ENUM_WORDS) + r")(?![\w-])", re.IGNORECASE)
_WORDS = "|".join(RAW_ENUM_WORDS)
_VALUE_POSITION = re.compile(
    r"(?:(?:[:=→]|->|\bEUR\b|€|\bHT\b|\bTTC\b|\d)\s*\**\s*(?P<a>" + _WORDS + r")(?![\w-])"  # "= stated", "89 EUR none"
    r"|(?<![\w-])(?P<b>" + _WORDS + r")\s+per\b"  # "none per month"
    r"|[(`]\s*(?P<c>" + _WORDS + r")\s*[)`]"  # "(none)", "`conflicting`"
    r"|^[\s*•-]*(?P<d>" + _WORDS + r")[\s.*]*$)",  # the whole line
    re.IGNORECASE | re.MULTILINE,
)

# Common function words: enough to tell which language a template line is written in.
_EN_TEXT = (
    "the of to in for with from by is are was were be been this that these those it its not you your we our they "
    "their which who what when if then than but has have had will would can could should must there after before "
    "per any all only also does do yet without into or and at no as such how each other here may")
_FR_TEXT = (
    "le la les un une des du de et ou où est sont pour par avec sans dans sur au aux que qui ne pas vous votre vos "
    "nous il elle ils elles ce cette ces ses leur leurs mais si en à être été avant après selon lorsque")
_EN_WORDS, _FR_WORDS = frozenset(_EN_TEXT.split()), frozenset(_FR_TEXT.split())
_FR_ELISION = re.compile(r"(?<![\w])(?:d|l|qu|n|j|c)['’](?=\w)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_CLAUSE_REF = re.compile(r"\([^()\n]*\bart\.[^()\n]*\)", re.IGNORECASE)


def _line_counts(line: str) -> tuple[int, int]:
    """(English, French) function words in one line."""
    words = _WORD.findall(line.casefold())
    en = sum(w in _EN_WORDS for w in words)
    fr = sum(w in _FR_WORDS for w in words) + len(_FR_ELISION.findall(line))
    return en, fr


def foreign_line(line: str, language: str) -> bool:
    """Is this line (or one side of a bilingual "English / français" template line) in the other language?

    Its function words must clearly be the other language's: at least 3 and more than twice the own language's,
    or 2 with none of the own language's (4+ words), or 1 with none of the own language's (6+ words).
    """
    for segment in line.split(" / "):
        en, fr = _line_counts(segment)
        other, own = (en, fr) if language == "fr" else (fr, en)
        words = len(_WORD.findall(segment))
        if (other >= 3 and other > 2 * own) or (own == 0 and ((other >= 2 and words >= 4) or (other >= 1 and words >= 6))):
            return True
    return False


def _cut(text: str, n: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def internal_tokens(text: str | None, language: str) -> list[str]:
    """The internal tokens in a reply, outside what it quotes (empty list: the reply is clean).

    - snake_case identifiers (`remaining_periods`, `not_subject_to_vat`, a doc id such as `003_3e03…`);
    - raw single-word enum values (`stated`, `conflicting`, `none`, ...): anywhere in a French reply, in a value
      position in an English one ("= stated", "89.00 EUR none per move", "(none)", a line of its own);
    - whole lines in the other language (`en-line: …` in a French reply, `fr-line: …` in an English one).
    URLs and e-mail addresses are ignored. `language` is the item's language (`fr` or `en`).
    """
    own = _URL.sub(" ", own_text(text))
    found: list[str] = [m.group(0) for m in _SNAKE.finditer(own)]
    if language == "fr":
        found += [m.group(1) for m in _ENUM_WORD.finditer(own)]
    else:
        found += [next(g for g in m.groups() if g) for m in _VALUE_POSITION.finditer(own)]
    other = "en" if language == "fr" else "fr"
    # identifiers are reported above (their parts are not words of either language); a clause reference names
    # the document's own (French) part or heading: "(Service de telephonie fixe, art. 2)"
    prose = _CLAUSE_REF.sub(" ", _SNAKE.sub(" ", own))
    found += [f"{other}-line: {_cut(line)}" for line in prose.splitlines() if line.strip() and foreign_line(line, language)]
    seen: set[str] = set()
    return [t for t in found if not (t.casefold() in seen or seen.add(t.casefold()))]
