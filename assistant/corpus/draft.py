"""Draft a rules file from a T&C text: every figure sentence becomes a candidate open fact for a person to review.

`draft_rules(document, needs_path)` reads one normalised, segmented document (`assistant.corpus.loader`) and
returns a `Draft`: a mapping in the schema of `knowledge/rules/*.yaml` (validated with the same pydantic model
as the curated files) plus what it could not read. It never reads a rules file: what it proposes comes from the
document, its manifest entry and `knowledge/needs.yaml` alone.

- **Sentences**: the figure sentences of `assistant.corpus.figures` (a sentence of a clause that states an
  amount in euros, a duration or deadline, or a percentage); clauses that are machine-repeated copies are skipped.
- **Figures**: amounts (with HT/TTC and the unit "per ..." when printed), days / months / hours (weeks and years
  converted), percentages; numbers in words are read, and digits in brackets win over the words
  ("un (3) mois" is 3). Beyond the figure patterns of `figures.py`, a few amount forms are read here: the
  currency and tax printed before the number ("en € TTC 0,08 / appel + 0,02 / min", the "+" adding a second
  amount), the lower bound of a range ("entre quarante-cinq (45) et soixante (60) euros") and
  "40 (quarante) euros".
- **One candidate fact per distinct figure of a sentence** (a stated fact carries one figure): key, `need`
  guessed from the needs file (keyword phrases and the words of the examples, the retrieval hint and the label,
  weighted by rarity across needs; needs whose answer type fits the figure's kind are preferred), `label_fr`
  cut from the sentence, `label_en` = the French label prefixed "(to translate)", the value and its source
  (clause id, part, and a quote that is an exact substring of the clause, the sentence or a window of it
  around the figure), `draft: true`.
- **Services**: one per particular-conditions part of the document when it has parts, else one placeholder;
  their minimum term, renewal and notice are `not_stated` placeholders pointing to the review.
- **Customer types**: from the words "consommateur" / "professionnel" in the text; both when neither is found.

The result is a draft: labels are cut mechanically, needs are guesses, durations carry no condition
("jours ouvrables"...), and typed facts (fees, notice...) the calculators use are not written. A person turns
it into a rules file.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from assistant.corpus.figures import (
    AMOUNT,
    DURATION,
    NUMBER_WORDS,
    PERCENT,
    Sentence,
    clause_sentences,
    words_to_int,
)
from assistant.errors import CorpusError

if TYPE_CHECKING:
    from assistant.corpus.loader import Document

TO_TRANSLATE = "(to translate) "
REVIEW = "BROUILLON - à compléter à la relecture / DRAFT - to fill in at review"
QUOTE_LIMIT = 300  # longer sentences are quoted as a window of this size around the figure

# ------------------------------------------------------------------------------------------ reading figures

_NUM = r"\d{1,3}(?:[  .]\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"
_TAX = re.compile(r"[ \t ]*(?:\([^()\n]{1,40}\)[ \t ]*)?(?P<tax>HTVA|HT|TTC|TVAC|T\.V\.A\.C\.?|hors[ \t ]+T\.?V\.?A\.?"
                  r"|hors[ \t]+taxes?|toutes[ \t]+taxes[ \t]+comprises)(?![\w])", re.IGNORECASE)
_PER = re.compile(r"[ \t ]*(?:/|\bpar\b|\bla\b)[ \t ]*(?P<per>[^\W\d_]+(?:[ \t]*/[ \t]*[^\W\d_]+)?)", re.IGNORECASE)
_CURRENCY = r"(?:€|\bEUR\b|\beuros?\b)"
# "€ TTC 0,08": the currency and the tax before the number
TAX_FIRST = re.compile(rf"(?:€|\bEUR\b)[ \t ]*(?P<tax>HT|TTC)[ \t ]*(?P<n>{_NUM})", re.IGNORECASE)
# "40 (quarante) euros"
DIGITS_WORDS_CURRENCY = re.compile(rf"(?<![\w/.,])(?P<n>\d+)[ \t]*\([ \t]*(?:{NUMBER_WORDS})[ \t]*\)[ \t ]*{_CURRENCY}",
                                   re.IGNORECASE)
_BOUND = rf"(?:(?:{NUMBER_WORDS})[ \t]*\([ \t]*\d+[ \t]*\)|{_NUM}|{NUMBER_WORDS})"
# "entre quarante-cinq (45) et soixante (60) euros": the lower bound is an amount too
RANGE = re.compile(rf"\bentre[ \t]+(?P<low>{_BOUND})[ \t]+et[ \t]+(?P<high>{_BOUND})[ \t ]*{_CURRENCY}", re.IGNORECASE)
# "0,08 / appel + 0,02 / min": a second amount added to the first
PLUS = re.compile(rf"[ \t ]*\+[ \t ]*(?P<n>{_NUM})(?![ \t]*%)")
_BRACKET_DIGITS = re.compile(r"\([ \t]*(\d+)[ \t]*\)")
_LEADING_DIGITS = re.compile(r"\d+(?:[.,]\d+)?")
_DURATION_UNITS = (("sem", "days", 7), ("jour", "days", 1), ("mois", "months", 1), ("an", "months", 12),
                   ("heure", "hours", 1), ("h", "hours", 1))


@dataclass(frozen=True)
class Figure:
    kind: str  # amount | days | months | hours | percent
    number: Decimal
    start: int  # offsets in the sentence text
    end: int
    tax: str = ""  # HT / TTC, amounts only
    per: str = ""  # the unit an amount is "per", as printed (mois, facture, user/mois...)

    @property
    def key(self) -> tuple[str, Decimal, str]:
        return self.kind, self.number, self.per


def parse_number(text: str) -> Decimal | None:
    """'2.500,0' -> 2500.0, '200 000' -> 200000, '41.90' -> 41.90, '0,5' -> 0.5."""
    t = re.sub(r"[  \t]", "", text)
    if "," in t and "." in t:
        t = t.replace(".", "").replace(",", ".")
    elif "," in t:
        t = t.replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+", t):
        t = t.replace(".", "")
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def _bound_value(text: str) -> Decimal | None:
    """A number as printed: digits in brackets win ("quarante-cinq (45)"), else digits, else words."""
    if m := _BRACKET_DIGITS.search(text):
        return Decimal(m.group(1))
    if m := re.match(_NUM, text.strip()):
        return parse_number(m.group(0))
    n = words_to_int(text)
    return None if n is None else Decimal(n)


def _tax(text: str, pos: int) -> tuple[str, int]:
    m = _TAX.match(text, pos)
    if not m:
        return "", pos
    raw = m.group("tax").casefold()
    return ("HT" if raw.startswith(("ht", "hors")) else "TTC"), m.end()


def _per(text: str, pos: int) -> str:
    m = _PER.match(text, pos)
    return " ".join(m.group("per").casefold().replace(" ", "").split()) if m else ""


def _amount(text: str, number: str, start: int, end: int, tax: str = "") -> Figure | None:
    value = parse_number(number)
    if value is None:
        return None
    found, after = _tax(text, end)
    return Figure("amount", value, start, end, tax or found, _per(text, after if found else end))


def read_amounts(text: str) -> list[Figure]:
    """Amounts of a sentence: the `figures.AMOUNT` matches plus the forms listed in the module docstring."""
    out: list[Figure] = []
    for m in AMOUNT.finditer(text):
        numbers = list(re.finditer(_NUM, m.group(0)))
        if numbers and (f := _amount(text, numbers[-1].group(0) if m.group(0)[0] in "€Ee" else numbers[0].group(0),
                                     m.start(), m.end())):
            out.append(f)
    for m in DIGITS_WORDS_CURRENCY.finditer(text):
        if f := _amount(text, m.group("n"), m.start(), m.end()):
            out.append(f)
    for m in TAX_FIRST.finditer(text):
        tax = "HT" if m.group("tax").casefold() == "ht" else "TTC"
        first = Figure("amount", parse_number(m.group("n")) or Decimal(0), m.start(), m.end(), tax,
                       _per(text, m.end()))
        out.append(first)
        pos = m.end()
        while (p := _PER.match(text, pos)) or (p := PLUS.match(text, pos)):
            if "n" in p.groupdict() and p.group("n") and (v := parse_number(p.group("n"))) is not None:
                out.append(Figure("amount", v, p.start("n"), p.end(), tax, _per(text, p.end())))
            pos = p.end()
    for m in RANGE.finditer(text):
        low = _bound_value(m.group("low"))
        if low is not None:
            found, after = _tax(text, m.end())
            out.append(Figure("amount", low, m.start("low"), m.end("low"), found, _per(text, after)))
    return out


def read_durations(text: str) -> list[Figure]:
    out = []
    for m in DURATION.finditer(text):
        raw = m.group(0)
        bracket = _BRACKET_DIGITS.search(raw)
        lead = _LEADING_DIGITS.match(raw)
        if bracket:
            value: Decimal | None = Decimal(bracket.group(1))
        elif lead:
            value = parse_number(lead.group(0))
        else:
            words = re.match(NUMBER_WORDS, raw, re.IGNORECASE)
            n = words_to_int(words.group(0)) if words else None
            value = None if n is None else Decimal(n)
        unit = re.search(r"([^\W\d_]+)$", raw.casefold())
        if value is None or not unit or value != value.to_integral_value():
            continue  # "1,5 heure": not an integer number of units
        for prefix, kind, factor in _DURATION_UNITS:
            if unit.group(1).startswith(prefix) and (prefix != "h" or unit.group(1) == "h"):
                out.append(Figure(kind, value * factor, m.start(), m.end()))
                break
    return out


def read_percents(text: str) -> list[Figure]:
    out = []
    for m in PERCENT.finditer(text):
        digits = _LEADING_DIGITS.match(m.group(0))
        if digits:
            value = parse_number(digits.group(0))
            if value is not None:
                out.append(Figure("percent", value, m.start(), m.end()))
            continue
        # "cinquante (50) pour cent": the number is printed before the words "pour cent"
        before = re.search(rf"(?:(?:{NUMBER_WORDS})(?:[ \t]*\([ \t]*\d+[ \t]*\))?|\d+)[ \t]*$", text[: m.start()],
                           re.IGNORECASE)
        if before and (v := _bound_value(before.group(0))) is not None:
            out.append(Figure("percent", v, before.start(), m.end()))
    return out


def read_figures(text: str) -> list[Figure]:
    """Every figure of a sentence, one per distinct (kind, number, per), in reading order."""
    seen: set[tuple[str, Decimal, str]] = set()
    out = []
    for f in sorted([*read_amounts(text), *read_durations(text), *read_percents(text)], key=lambda f: f.start):
        if f.key not in seen:
            seen.add(f.key)
            out.append(f)
    return out


# ------------------------------------------------------------------------------------------ guessing the need


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_LETTERS = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer("french")


def stems(text: str) -> list[str]:
    tokens = _LETTERS.findall(text.casefold().replace("'", " ").replace("’", " "))
    return [fold(s) for s in _stemmer().stemWords(tokens)]


@dataclass
class NeedModel:
    id: str
    answer: str
    keywords: list[tuple[str, ...]]
    vocabulary: set[str]
    catch_all: bool = False  # serves a whole family of facts (a selector ending in ":*")


@dataclass
class NeedGuesser:
    """Scores the needs of `knowledge/needs.yaml` for a sentence; every word it uses comes from that file.

    Score = keyword phrases found (whole stems, in order) + `overlap_weight` x the summed rarity of the words the
    sentence shares with the need's examples, retrieval hint, label and keywords. The weights were set by reading
    the drafts of the five documents of `knowledge/` (eval/reports/rules_draft.md says how often it agrees)."""

    needs: list[NeedModel]
    idf: dict[str, float]
    keyword_weight: float = 1.0
    overlap_weight: float = 0.15  # x the rarity (idf across needs) of the words shared with the need's texts
    min_score: float = 1.0
    # weight of a need whose answer type does not fit the figure: an amount answers "how much" (amount needs
    # only), a duration is often a step of a procedure (suspension, changes...) as much as a "how long"
    other_answer_factor: dict[str, float] = field(default_factory=lambda: {"days": 0.7, "months": 0.7, "hours": 0.7})
    kind_answers: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "amount": ("amount",), "percent": ("amount",), "days": ("duration", "date"),
        "months": ("duration", "date"), "hours": ("duration", "date")})

    @classmethod
    def from_file(cls, path: Path) -> NeedGuesser:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CorpusError(f"cannot read needs file {path}: {str(exc).splitlines()[0]}") from exc
        stop = {s for w in raw.get("stop_words", []) for s in stems(str(w))}
        needs = []
        for n in raw.get("needs", []):
            if n.get("action", "answer") != "answer":
                continue
            keywords = [tuple(stems(k)) for k in n.get("keywords", {}).get("fr", []) if stems(k)]
            texts = [*n.get("examples", {}).get("fr", []), n.get("query_hint", ""), n.get("label", {}).get("fr", ""),
                     *n.get("keywords", {}).get("fr", [])]
            vocabulary = {s for t in texts for s in stems(t) if len(s) > 2 and s not in stop}
            catch_all = any(str(f).endswith(":*") for f in n.get("facts") or [])
            needs.append(NeedModel(n["id"], n.get("answer", ""), keywords, vocabulary, catch_all))
        if not needs:
            raise CorpusError(f"needs file {path} declares no need")
        df = Counter(s for n in needs for s in n.vocabulary)
        idf = {s: math.log(len(needs) / c) for s, c in df.items()}
        return cls(needs, idf)

    def scores(self, text: str) -> dict[str, float]:
        words = stems(text)
        present = set(words)
        joined = " " + " ".join(words) + " "
        out = {}
        for n in self.needs:
            hits = sum(1 for k in n.keywords if f" {' '.join(k)} " in joined)
            overlap = sum(self.idf.get(s, 0.0) for s in present & n.vocabulary)
            out[n.id] = self.keyword_weight * hits + self.overlap_weight * overlap
        return out

    def guess(self, text: str, kind: str) -> str:
        """The best-scoring need, needs whose answer type fits the figure's kind first (only those for an amount
        or a percentage). With weak evidence (below `min_score`: not even one keyword phrase), the catch-all need
        of that answer type the file declares (one serving a whole family of facts, `fee:*`) when there is one."""
        fits = [n for n in self.needs if n.answer in self.kind_answers.get(kind, ())]
        factor = self.other_answer_factor.get(kind, 0.0)
        scores = {k: v * (1.0 if k in {n.id for n in fits} else factor) for k, v in self.scores(text).items()}
        pool = [n for n in self.needs if scores[n.id] > 0] or fits or self.needs
        best = max(pool, key=lambda n: scores[n.id])  # max keeps the first (file order) among ties
        catch_all = next((n for n in fits if n.catch_all), None)
        if scores[best.id] < self.min_score and catch_all is not None:
            return catch_all.id
        return best.id


# ------------------------------------------------------------------------------------------ the draft


@dataclass
class DraftFact:
    sentence: Sentence
    figure: Figure
    quote: str
    need: str
    label_fr: str
    service: str | None = None
    start: int = 0  # offsets of the quote in the normalised document
    end: int = 0


@dataclass
class Draft:
    operator: str
    doc_id: str
    data: dict[str, Any]  # the rules mapping, in the order of the curated files
    facts: list[DraftFact]
    figure_sentences: int  # sentences with a figure (machine-repeated copies left out)
    unread: list[Sentence]  # figure sentences where no figure value could be read

    def to_yaml(self, source: str = "") -> str:
        header = (
            f"# DRAFT rules for {self.operator} ({self.doc_id}), written by `assistant rules draft`"
            f"{' from ' + source if source else ''}.\n"
            "# Every fact is a candidate to review: check the need, rewrite label_fr, translate label_en, merge or\n"
            "# drop facts, move fees, notice and terms into their typed sections, then remove `draft: true`.\n"
            "# Placeholders say so in their pointer. Quotes are exact substrings of the normalised document.\n")
        body = yaml.safe_dump(self.data, allow_unicode=True, sort_keys=False, width=120, default_flow_style=False)
        return header + body


def _slug(text: str, limit: int = 40) -> str:
    """'Service de téléphonie fixe › 1.1' -> 'service_de_telephonie_fixe_1_1' (at most `limit` characters)."""
    words = "".join(ch if ch.isalnum() else " " for ch in fold(text)).split()
    return "_".join(words)[:limit].strip("_")


def _number_out(value: Decimal, cents: bool = False) -> str | int:
    """12 -> 12, 12.5 -> '12.5' (or '12.50' for an amount), 0.125 -> '0.125'."""
    if value == value.to_integral_value():
        return int(value)
    text = format(value.normalize(), "f")
    return format(value.quantize(Decimal("0.01")), "f") if cents and len(text.split(".")[1]) < 2 else text


def _window(text: str, start: int, end: int, limit: int = QUOTE_LIMIT) -> tuple[int, int]:
    """The sentence itself, or a window of about `limit` characters around the figure, cut at spaces."""
    if len(text) <= limit:
        return 0, len(text)
    side = max(0, (limit - (end - start)) // 2)
    lo, hi = max(0, start - side), min(len(text), end + side)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space >= 0 else hi
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return lo, hi


_LEAD = re.compile(r"^(?:[-•–*]\s*)*(?:\d{1,3}(?:\.\d{1,3})*\.?\s+)?")


def _label(text: str, figure: Figure, title: str, several: bool, words: int = 12) -> str:
    """A short label: the sentence's first words, up to the figure when at least three words precede it; the
    clause title in front when the clause has one; the figure as printed after it when the sentence has several."""
    body = _LEAD.sub("", text.strip())
    offset = len(text) - len(text.lstrip()) + (len(text.strip()) - len(body))
    before = body[: max(0, figure.start - offset)]
    phrase = before.rstrip(" ,;:-(") if len(before.split()) >= 3 else body
    tokens = phrase.split()
    phrase = " ".join(tokens[:words]) + ("…" if len(tokens) > words else "")
    phrase = phrase[:1].upper() + phrase[1:]
    title = " ".join(title.split())
    if sum(c.isupper() for c in title) > 0.7 * max(1, sum(c.isalpha() for c in title)):
        title = title[:1] + title[1:].lower()  # "RESPONSABILITÉS DU CLIENT" -> "Responsabilités du client"
    if title and len(title) <= 60 and fold(title) not in fold(phrase):
        phrase = f"{title} – {phrase}"
    if several:
        phrase += f" ({' '.join(text[figure.start:figure.end].split())})"
    return phrase if len(phrase) >= 2 else f"Clause {figure.kind}"


def _customer_types(text: str) -> list[str]:
    folded = fold(text)
    types = [t for t, word in (("business", "professionnel"), ("consumer", "consommateur")) if word in folded]
    return types or ["business", "consumer"]


def _placeholder(anchor: str | None = None, mode: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": "not_stated", "pointer": REVIEW}
    if anchor:
        out = {"anchor": anchor, **out}
    if mode:
        out = {"mode": mode, **out}
    return out


def _service(key: str, name: str) -> dict[str, Any]:
    return {"key": key, "name": name, "minimum_term": _placeholder(), "renewal": _placeholder(mode="none"),
            "notice": _placeholder(anchor="none")}


def _services(document: Document) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One service per particular-conditions part, else a placeholder named after the document."""
    parts = document.segmentation.parts
    if parts:
        keys: dict[str, str] = {}
        out = []
        for part in parts:
            key = _slug(part, 30)
            key = key if key[:1].isalpha() else f"service_{key}"
            while key in keys.values():
                key += "_2"
            keys[part] = key
            out.append(_service(key, part))
        return out, keys
    title = document.meta.title.split("–")[-1].strip() or document.meta.operator
    return [_service("service", title)], {}


def _value(figure: Figure, clause_id: str, part: str | None, quote: str) -> dict[str, Any]:
    source: dict[str, Any] = {"clause_id": clause_id}
    if part:
        source["part"] = part
    source["quote"] = quote
    number = _number_out(figure.number, cents=figure.kind == "amount")
    value: dict[str, Any] = {figure.kind: str(number) if figure.kind in ("amount", "percent") else number}
    if figure.tax:
        value["tax_basis"] = figure.tax
    if figure.per:
        value["per"] = figure.per
    value["source"] = source
    return value


def draft_rules(document: Document, needs_path: Path, operator: str | None = None) -> Draft:
    """The draft rules of one document (see the module docstring); validated before it is returned."""
    from assistant.corpus.loader import Corpus
    from assistant.tools.rules import OperatorRules, _fill_doc_ids

    operator = operator or document.meta.operator
    doc_id = document.meta.doc_id
    if not document.clauses:
        raise CorpusError(f"document {document.meta.file}: segmentation found no clause (no numbered article, no "
                          f"heading line): nothing could be cited")
    guesser = NeedGuesser.from_file(needs_path)
    services, part_keys = _services(document)
    resolver = Corpus({doc_id: document})
    facts: list[DraftFact] = []
    unread: list[Sentence] = []
    figure_sentences = 0
    for clause in document.clauses:
        if clause.duplicate_of is not None:
            continue  # a machine-repeated copy: its figures are the run's first clause's
        if resolver.find_clause(doc_id, clause.clause_id, clause.part) is not clause:
            continue  # the id does not resolve to this clause: a citation of it could not be checked
        for sentence in clause_sentences(clause):
            figures = read_figures(sentence.text)
            if not sentence.kinds and not figures:
                continue
            figure_sentences += 1
            if not figures:
                unread.append(sentence)
                continue
            context = f"{clause.title} {sentence.text}"
            for figure in figures:
                lo, hi = _window(sentence.text, figure.start, figure.end)
                quote = sentence.text[lo:hi]
                facts.append(DraftFact(sentence, figure, quote, guesser.guess(context, figure.kind),
                                       _label(sentence.text, figure, clause.title, len(figures) > 1),
                                       part_keys.get(clause.part or ""), sentence.start + lo, sentence.start + hi))
    keys: set[str] = set()
    out_facts = []
    for f in facts:
        key = base = f"{f.need}_{_slug(f.sentence.ref, 30)}".rstrip("_")
        n = 1
        while key in keys:
            n += 1
            key = f"{base}_{n}"
        keys.add(key)
        fact: dict[str, Any] = {"key": key, "need": f.need, "draft": True, "label_fr": f.label_fr,
                                "label_en": TO_TRANSLATE + f.label_fr}
        if f.service:
            fact["services"] = [f.service]
        fact["values"] = [_value(f.figure, f.sentence.clause_id, f.sentence.part, f.quote)]
        out_facts.append(fact)
    data: dict[str, Any] = {
        "x-draft": {"document": doc_id, "title": document.meta.title, "sha1": document.sha,
                    "figure_sentences": figure_sentences, "facts": len(out_facts),
                    "unread_sentences": [f"{s.ref}: {s.text[:120]}" for s in unread]},
        "operator": operator, "doc_id": doc_id, "customer_types": _customer_types(document.text),
        "services": services, "facts": out_facts,
    }
    body = {k: v for k, v in data.items() if not k.startswith("x-")}
    try:  # the draft must load like a curated file
        OperatorRules.model_validate(_fill_doc_ids(body, doc_id))
    except ValidationError as exc:  # a bug of this module, said in one line
        first = exc.errors()[0]
        raise CorpusError(f"draft of {doc_id} does not validate: {'.'.join(map(str, first['loc']))}: "
                          f"{first['msg']}") from exc
    return Draft(operator, doc_id, data, facts, figure_sentences, unread)


# ------------------------------------------------------------------------------------------ loading the text


def load_draft_document(doc: str, knowledge_dir: Path, operator: str | None = None) -> Document:
    """A document of the manifest by doc id or file path, or any text file (then `operator` is required)."""
    from assistant.corpus.loader import load_document
    from assistant.corpus.manifest import read_manifest
    from assistant.models import DocumentMeta

    corpus_dir = knowledge_dir / "documents"
    manifest = read_manifest(knowledge_dir / "manifest.yaml", corpus_dir)
    path = Path(doc)
    for meta in manifest.documents:
        if doc == meta.doc_id or (path.is_file() and path.resolve() == (corpus_dir / meta.file).resolve()):
            return load_document(meta, corpus_dir)
    if not path.is_file():
        known = ", ".join(m.doc_id for m in manifest.documents)
        raise CorpusError(f"{doc!r} is neither a document id of the manifest ({known}) nor a readable file")
    if not operator:
        raise CorpusError(f"{path.name} is not in the manifest: give the operator's name with --operator")
    meta = DocumentMeta(doc_id=path.stem, file=path.name, operator=operator, country="", title=path.stem,
                        kind="draft")
    return load_document(meta, path.parent)
