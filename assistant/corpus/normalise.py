"""Turn a raw T&C extraction into the faithful text that every quote is checked against.

Only page furniture is removed; the words of the contract are never rewritten, so any sentence of
the raw file that does not straddle a page break survives unchanged (quotes stay exact).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from assistant.errors import CorpusError

PAGE_LINE = re.compile(r"^\s*(?:Page|p\.)\s*\d+\s*(?:sur|/|of)\s*\d+\s*$", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?:;»)\]]\s*$")
# A line that starts a new clause must never be glued to the previous paragraph.
CLAUSE_START = re.compile(r"^\s*(?:[-•]\s*)?(?:ARTICLE\b|\d+(?:\.\d+)*\.?\s|§\s*\d|[A-Z]\.\s)")


def read_document(path: Path) -> str:
    """Read a document as strict UTF-8; a file that is missing, empty or not UTF-8 is named."""
    if not path.is_file():
        raise CorpusError(f"document not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"document {path.name} is unreadable: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"document {path.name} is not UTF-8 text (byte {exc.start})") from exc
    if not text.strip():
        raise CorpusError(f"document {path.name} is empty")
    if "\x00" in text:
        raise CorpusError(f"document {path.name} looks binary (contains NUL bytes)")
    return text


def _is_running_header(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    if len(line) < 10 or len(line) > 150 or len(letters) < 8:
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return upper > 0.8 and not SENTENCE_END.search(line)


def _furniture(lines: list[str]) -> set[int]:
    """Indices of page-number lines and of running headers (an upper-case line repeated 3+ times;
    its first occurrence is kept because it is the real heading)."""
    drop = {i for i, line in enumerate(lines) if PAGE_LINE.match(line)}
    counts = Counter(line.strip() for line in lines if line.strip())
    headers = {text for text, n in counts.items() if n >= 3 and _is_running_header(text)}
    seen: set[str] = set()
    for i, line in enumerate(lines):
        key = line.strip()
        if key in headers:
            if key in seen:
                drop.add(i)
            seen.add(key)
    return drop


def _should_join(previous: str, following: str) -> bool:
    """A paragraph cut by removed furniture continues on the next line: glue them back."""
    prev = previous.rstrip()
    if len(prev) < 40 or SENTENCE_END.search(prev) or CLAUSE_START.match(following):
        return False
    first = following.lstrip()[:1]
    return bool(first) and (first.islower() or prev[-1:] in ",-(" or prev[-1:].isalpha())


# "... hors câblage. ARTICLE 5 - MAINTENANCE": an article heading glued to the end of a sentence
INLINE_ARTICLE = re.compile(r"(?<=[.;:!?]) (?=ARTICLE \d+ [-–—] [A-ZÀ-Ý])")


def normalise(raw: str) -> str:
    """NFC, unified newlines, page furniture removed and the paragraphs it cut re-joined, article
    headings glued to a previous sentence put back on their own line (a space becomes a newline)."""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = INLINE_ARTICLE.sub("\n", text)
    lines = text.split("\n")
    drop = _furniture(lines)
    out: list[str] = []
    pending_join = False
    for i, line in enumerate(lines):
        if i in drop:
            pending_join = True
            continue
        if pending_join and line.strip():
            pending_join = False
            # the last kept non-blank line, skipping blank lines around the furniture
            j = len(out) - 1
            while j >= 0 and not out[j].strip():
                j -= 1
            if j >= 0 and _should_join(out[j], line):
                del out[j + 1:]
                out[j] = out[j].rstrip() + " " + line.lstrip()
                continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def fold(text: str) -> str:
    """Case- and accent-insensitive form ("Télécom" == "telecom"); shared by corpus, index and evaluation."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
