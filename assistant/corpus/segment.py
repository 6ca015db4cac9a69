"""Cut a normalised document into clauses, with ids exactly as the document prints them.

Handles, generically: `ARTICLE 12 - TITLE`, dotted numbers (`12.2.1.`, `8.5.12`), plain article
numbers (`66.`), `§1.` paragraphs, letter sections under a numbered article (cited `8A`), numbered
paragraphs that restart inside an article, particular-conditions parts whose ARTICLE numbering
restarts at 1 (the clause then carries its part), and unnumbered forms (a clause per heading line).
Machine-repeated runs of near-identical sibling clauses are collapsed: the copies stay available for
citation but are flagged so they are not indexed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.models import Clause, DocumentMeta

ARTICLE = re.compile(r"^(?P<prefix>.*?)\s*\bARTICLE\s+(?P<num>\d+(?:\.\d+)*)\.?\s*(?:[-–—:]\s*(?P<title>.*))?$")
NUMBERED = re.compile(r"^(?:[-•]\s*)?(?P<num>\d{1,3}(?:\.\d{1,3})*)(?P<dot>\.?)\s+(?P<rest>\S.*)$")
LETTER = re.compile(r"^(?P<letter>[A-Z])\.\s+(?P<rest>\S.*)$")
PARAGRAPH = re.compile(r"^§\s*(?P<num>\d+)\.?\s*(?P<rest>.*)$")
# A numbered line whose "title" starts like this is a quantity in running text, not a clause.
NOT_A_TITLE = re.compile(r"^(?:[\d%€$,]|mois\b|jours?\b|ans?\b|heures?\b|minutes?\b|x\b|h\b)", re.IGNORECASE)
TITLE_COLON = re.compile(r"^(?P<title>[^:.;]{2,80}?)\s*:\s")
MASK = re.compile(r"\d+")


def _upper_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _is_heading_line(line: str) -> bool:
    """A short standalone line that names what follows (upper case, or a short label)."""
    s = line.strip().strip("*").strip()
    if (not s or len(s) > 100 or s.startswith(("-", "•", "|", "(")) or s.endswith((".", ";", ","))
            or "__" in s or "|" in s or "\t" in s):
        return False
    letters = sum(c.isalpha() for c in s)
    if letters < 3:
        return False
    first = s.split()[0]
    short = len(s.split()) <= 6 and s[0].isupper()
    # "COÛTS (hors offre spéciale) :" — a label whose first word is in capitals
    label = short and s.endswith(":") and len(first) >= 3 and _upper_ratio(first) == 1.0
    return _upper_ratio(s) > 0.7 or label or (short and not s.endswith(":"))


def _sentence_case(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:].lower() if _upper_ratio(text) > 0.7 else text


def _split_title(rest: str) -> tuple[str, bool]:
    """Title of a numbered line and whether the whole line is the title (no body on it)."""
    rest = rest.strip()
    if _upper_ratio(rest) > 0.7 and len(rest) <= 140:
        return rest.rstrip(" :"), True
    m = TITLE_COLON.match(rest)
    if m and len(m.group("title").split()) <= 10:
        return m.group("title").strip(), False
    # "12. Résiliation anticipée du contrat de Services" alone on its line: a heading in sentence case
    if len(rest) <= 90 and len(rest.split()) <= 12 and not re.search(r"[.;,:!?)]$", rest) and rest[0].isupper():
        return rest, True
    return "", False


@dataclass
class _Open:
    clause_id: str
    part: str | None
    title: str
    start: int
    path: list[str]
    depth: int


@dataclass
class Segmentation:
    clauses: list[Clause]
    gaps: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    collapsed_runs: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)


class _Segmenter:
    def __init__(self, meta: DocumentMeta, text: str):
        self.meta, self.text = meta, text
        self.opened: list[_Open] = []
        self.part: str | None = None
        self.parts: list[str] = []
        self.top: int = 0  # current top-level number in this part
        self.article_mode = False  # the part numbers its articles "ARTICLE n"
        self.numbers: list[int] = []  # components of the current dotted number
        self.letter: str | None = None
        self.pending_heading: str | None = None
        self.pending_start = 0
        self.ids_in_part: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers
    def _unique(self, clause_id: str) -> str:
        n = self.ids_in_part.get(clause_id, 0) + 1
        self.ids_in_part[clause_id] = n
        return clause_id if n == 1 else f"{clause_id} ({n})"

    def _open(self, clause_id: str, title: str, start: int, depth: int) -> None:
        path = [o.clause_id + (f" {o.title}" if o.title else "") for o in self.opened if o.depth < depth]
        self.opened = [o for o in self.opened if o.depth < depth]
        if self.pending_heading and not title:
            # the heading printed above the number belongs to this clause, span included
            title, start = self.pending_heading, self.pending_start
        self.pending_heading = None
        clause = _Open(self._unique(clause_id), self.part, title, start, path, depth)
        self.opened.append(clause)
        self.starts.append(clause)

    def _new_part(self, name: str) -> None:
        self.part = _sentence_case(name)
        self.parts.append(self.part)
        self.top, self.numbers, self.letter = 0, [], None
        self.ids_in_part = {}
        self.opened = []

    # ------------------------------------------------------------------ line kinds
    def _article(self, line: str, start: int) -> bool:
        m = ARTICLE.match(line.strip())
        if not m or not m.group("num").split(".")[0].isdigit():
            return False
        prefix = m.group("prefix").strip(" -–*")
        num = int(m.group("num").split(".")[0])
        if prefix and _upper_ratio(prefix) < 0.7:
            return False  # "... conformément à l'ARTICLE 12" in running text
        restart = self.article_mode and 0 < num <= 1 and self.top >= 1
        if prefix or restart:
            self._new_part(prefix or self.pending_heading or f"Partie {len(self.parts) + 1}")
            self.pending_heading = None
        self.article_mode = True
        if num:
            self.top = max(num, self.top) if not restart else num
        self.numbers, self.letter = [num], None
        self._open(m.group("num"), (m.group("title") or "").strip(), start, 1)
        return True

    def _numbered(self, line: str, start: int) -> bool:
        m = NUMBERED.match(line.strip())
        if not m:
            return False
        rest, comps = m.group("rest"), [int(c) for c in m.group("num").split(".")]
        if NOT_A_TITLE.match(rest) and (len(comps) == 1 or not rest[0].isdigit()):
            return False
        if len(comps) == 1:
            if not m.group("dot"):
                return False
            n = comps[0]
            if self.article_mode or (self.top and n <= self.top):
                # a paragraph numbered inside the current article ("1.", "2." restarting)
                if not self.top:
                    return False
                title, _ = _split_title(rest)
                self._open(f"{self.top} §{n}" if not self.article_mode else f"{self.top}.{n}", title, start, 2)
                return True
            if self.top and n > self.top + 12:
                return False  # a far jump is a quantity in running text, not the next article
            self.top, self.numbers, self.letter = n, [n], None
            title, _ = _split_title(rest)
            self._open(str(n), title, start, 1)
            return True
        # dotted number: accept when it plausibly continues the current numbering
        if self.top and abs(comps[0] - self.top) > 12:
            return False
        if not self.top and comps[0] > 12:
            return False
        if comps[0] != self.top and not self.article_mode:
            self.top = comps[0]
        self.numbers, self.letter = comps, None
        title, _ = _split_title(rest)
        self._open(m.group("num"), title, start, len(comps))
        return True

    def _letter(self, line: str, start: int) -> bool:
        m = LETTER.match(line.strip())
        if not m or not self.top or len(self.numbers) != 1:
            return False
        expected = "A" if self.letter is None else chr(ord(self.letter) + 1)
        if m.group("letter") != expected:
            return False
        self.letter = expected
        title, _ = _split_title(m.group("rest"))
        self._open(f"{self.top}{expected}", title or m.group("rest").strip().rstrip(":"), start, 2)
        return True

    def _paragraph(self, line: str, start: int) -> bool:
        m = PARAGRAPH.match(line.strip())
        if not m or not self.top:
            return False
        self._open(f"{self.top} §{m.group('num')}", "", start, 3)
        return True

    def _banner(self, line: str, start: int) -> bool:
        """Once a document is in parts, an upper-case banner line ("SERVICE DE SUPPORT") opens the next
        part, even when that part has no numbered articles."""
        s = line.strip()
        if not (self.parts and self.article_mode and _is_heading_line(s) and _upper_ratio(s) > 0.8
                and len(s.split()) >= 2 and not s.endswith(":")):
            return False
        self._new_part(s)
        self.pending_heading = None
        self._open(s, "", start, 1)
        return True

    def _form_heading(self, line: str, start: int) -> bool:
        """Unnumbered text (forms, preambles): each heading line opens a clause named after it."""
        if self.top or not _is_heading_line(line):
            return False
        label = line.strip().strip("*").strip().rstrip(":").strip()
        self._open(label, "", start, 1)
        return True

    # ------------------------------------------------------------------ main loop
    def run(self) -> Segmentation:
        self.starts: list[_Open] = []
        offset = 0
        for line in self.text.split("\n"):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            if (self._article(line, start) or self._paragraph(line, start) or self._numbered(line, start)
                    or self._letter(line, start) or self._banner(line, start) or self._form_heading(line, start)):
                continue
            if self.article_mode and _is_heading_line(line) and _upper_ratio(line) > 0.8 and len(line.split()) >= 2:
                # before the first part, an upper-case banner names the part the next ARTICLE 1 opens
                self.pending_heading, self.pending_start = line.strip(), start
            elif _is_heading_line(line):
                self.pending_heading, self.pending_start = line.strip().strip("*").strip(), start
        return self._finish()

    def _finish(self) -> Segmentation:
        clauses: list[Clause] = []
        empty: list[str] = []
        text = self.text
        if self.starts and text[: self.starts[0].start].strip():
            self.starts.insert(0, _Open("préambule", None, "", 0, [], 1))
        # an unnumbered heading line right before an untitled numbered clause is that clause's title
        merged: list[_Open] = []
        for o in self.starts:
            prev = merged[-1] if merged else None
            if (prev and not o.title and o.clause_id[:1].isdigit() and not prev.clause_id[:1].isdigit()
                    and prev.clause_id != "préambule" and not self.text[prev.start:o.start].strip().count("\n")):
                merged.pop()
                o.title, o.start = prev.clause_id, prev.start
            merged.append(o)
        self.starts = merged
        for i, o in enumerate(self.starts):
            end = self.starts[i + 1].start if i + 1 < len(self.starts) else len(text)
            body = text[o.start:end].rstrip()
            end = o.start + len(body)
            first_line, _, remainder = body.partition("\n")
            if not remainder.strip() and len(first_line) <= len(o.title) + 20:
                empty.append(f"{o.part + ': ' if o.part else ''}{o.clause_id}")
            clauses.append(Clause(
                doc_id=self.meta.doc_id, operator=self.meta.operator, clause_id=o.clause_id, part=o.part,
                title=o.title, heading_path=([o.part] if o.part else []) + o.path, text=body,
                start=o.start, end=end,
            ))
        clauses, runs = collapse_repeats(clauses)
        return Segmentation(clauses, find_gaps(clauses), empty, runs, self.parts)


def find_gaps(clauses: list[Clause]) -> list[str]:
    """Numbering gaps between consecutive numbered clauses of one part (a missing sibling, a skipped
    article, a first child that is not 1)."""
    gaps: list[str] = []
    prev: tuple[str | None, list[int]] | None = None
    for clause in clauses:
        head = clause.clause_id.split(" ")[0]
        if not re.fullmatch(r"\d+(?:\.\d+)*", head) or head != clause.clause_id:
            continue
        comps = [int(c) for c in head.split(".")]
        if prev is None or prev[0] != clause.part:
            prev = (clause.part, comps)
            continue
        before = prev[1]
        where = f"{clause.part}: " if clause.part else ""
        jump = f"{where}{'.'.join(map(str, before))} -> {head}"
        if len(comps) == len(before) and comps[:-1] == before[:-1]:
            if comps[-1] > before[-1] + 1:
                gaps.append(jump)
        elif comps[0] > before[0] + 1 or (comps[0] == before[0] + 1 and any(c > 1 for c in comps[1:])) or len(comps) == len(before) + 1 and comps[:-1] == before and comps[-1] > 1:
            gaps.append(jump)
        prev = (clause.part, comps)
    return gaps


def _parent(clause_id: str) -> str:
    return clause_id.rsplit(".", 1)[0] if "." in clause_id else ""


def _shape(clause: Clause) -> str:
    parts = clause.text.split(None, 1)
    body = parts[1] if len(parts) > 1 else clause.text
    return MASK.sub("#", " ".join(body.split()))


def collapse_repeats(clauses: list[Clause], min_run: int = 3) -> tuple[list[Clause], list[str]]:
    """Fold runs of sibling clauses identical but for their numbers (e.g. the same late-payment
    sentence repeated for 25, 30, 45... days): the first is kept and counts the copies."""
    out = list(clauses)
    runs: list[str] = []
    i = 0
    while i < len(out):
        j = i + 1
        while (j < len(out) and out[j].part == out[i].part and _parent(out[j].clause_id) == _parent(out[i].clause_id)
               and _shape(out[j]) == _shape(out[i]) and len(out[i].text) > 80):
            j += 1
        if j - i >= min_run:
            head = out[i]
            out[i] = head.model_copy(update={"collapsed": j - i - 1})
            for k in range(i + 1, j):
                out[k] = out[k].model_copy(update={"duplicate_of": head.clause_id})
            runs.append(f"{head.clause_id}..{out[j - 1].clause_id} ({j - i} clauses)")
        i = max(j, i + 1)
    return out, runs


def segment(meta: DocumentMeta, text: str) -> Segmentation:
    return _Segmenter(meta, text).run()
