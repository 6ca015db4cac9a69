"""The LLM-mode prose guard: a model's sentence reaches the customer only when the turn's evidence supports it.

The citation guard (citations.py) proves that what the model *quotes* is in the documents; this guard checks
what it *says* around the quotes. A model that follows an injection can cite a real clause ("préavis de trois
mois") and write next to it "la résiliation est gratuite (0 €) et sans préavis": the quote passes, the
sentence must not. The evidence of a turn is its verified quotes and its calculator calls (inputs and
results) — never the user's message, which is where an injection would put the figure it wants repeated.

Each sentence of the prose (outside its inline quotes, which the citation guard already checked):
- states figures — amounts, durations, percentages, dates, read in French or English and normalised
  ("30 jours" = "30 days", "1 230,00 €" = "€1,230.00", "1er avril 2025" = "01/04/2025"), plus the figures
  some phrases state without digits ("gratuit" = 0 €, "sans préavis" = a notice of 0). Every one must be a
  figure of a verified quote or of a calculator call, compared exactly; otherwise the sentence is removed.
- without figures, must share enough of its words (Snowball stems; English words also through the bilingual
  glossary) with the quotes and calculator texts; otherwise it is removed.
The caller keeps the surviving sentences, or answers offline when none that says something is left
(`GuardedProse.has_substance`). Word lists and thresholds: knowledge/prose_guard.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.agent.text import fold

Figure = tuple[str, Any]  # (kind, Decimal value) or ("date", datetime.date)

# Inline quotes in a model's prose: « ... », “ ... ”, "..." (12 characters or more, as the citation guard reads them).
QUOTED = re.compile(r"«\s*([^»]{12,}?)\s*»|“([^”]{12,}?)”|\"([^\"]{12,}?)\"")

# Digits with optional thousands groups (space, dot, comma, apostrophe) and decimals, French or English.
_NUM = r"\d{1,3}(?:[ .,']\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?"
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?![\d/.-])")  # day first
_BARE_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")  # machine-printed (calculator output)
# Sentence ends: ., ! or ? followed by a space and something that opens a sentence (not a digit: "art. 8.2").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[«\"“(\[*_A-ZÀ-ÖØ-Ý])")
_DURATIONS = ("days", "weeks", "months", "years", "hours")


class ImplicitFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_zero: list[str] = Field(default_factory=list)
    duration_zero: list[str] = Field(default_factory=list)


class ProseGuardData(BaseModel):
    """knowledge/prose_guard.yaml."""

    model_config = ConfigDict(extra="forbid")

    implicit_figures: ImplicitFigures
    months: dict[str, int]
    stop_words: list[str]
    min_grounded_share: float = Field(ge=0.0, le=1.0)
    min_content_words: int = Field(ge=1)

    @field_validator("stop_words", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("months")
    @classmethod
    def _month_numbers(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [name for name, number in value.items() if not 1 <= number <= 12]
        if bad:
            raise ValueError(f"month numbers must be 1-12: {bad}")
        return {fold(name): number for name, number in value.items()}


@lru_cache(maxsize=4)
def load_prose_guard_data(path: str) -> ProseGuardData:
    return ProseGuardData.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def parse_number(raw: str) -> Decimal | None:
    """'1 230,00' / '1,230.00' / '1.230,00' / '49,90' / '49.90' -> Decimal. With both separators the last one
    is the decimal mark; a lone separator followed by exactly three digits groups thousands ('1,230')."""
    s = raw.replace(" ", "").replace("'", "")
    if "," in s and "." in s:
        mark = max(s.rfind(","), s.rfind("."))
        s = re.sub(r"[.,]", "", s[:mark]) + "." + s[mark + 1:]
    elif s.count(",") + s.count(".") > 1:
        s = re.sub(r"[.,]", "", s)
    elif "," in s or "." in s:
        head, _, tail = s.replace(",", ".").partition(".")
        s = head + tail if len(tail) == 3 and head not in ("", "0") else f"{head}.{tail}"
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = sorted({re.escape(fold(p)) for p in phrases if p.strip()}, key=len, reverse=True)
    return re.compile(rf"(?<![a-z0-9])(?:{'|'.join(alternatives)})(?![a-z0-9])") if alternatives else None


def _blank(text: str, match: re.Match[str]) -> str:
    """`text` with the match replaced by spaces, so one piece of text is read as one figure only."""
    return text[:match.start()] + " " * (match.end() - match.start()) + text[match.end():]


class FigureReader:
    """The figures a sentence states, normalised: ('amount', 1230.00), ('days', 30), ('percent', 10),
    ('date', 2025-04-01), and ('duration', 0) for every zero duration whatever its unit."""

    def __init__(self, number_words: Mapping[str, int], units: Mapping[str, str], data: ProseGuardData):
        self.number_words = {fold(w): n for w, n in number_words.items()}
        words = "|".join(sorted((re.escape(w) for w in self.number_words), key=len, reverse=True))
        word_number = rf"(?:{words})(?:(?:-|\s+et\s+|\s+)(?:{words}))*" if words else r"(?!)"
        self.unit_kind = {fold(u): kind for u, kind in units.items()}
        unit = "|".join(sorted((re.escape(u) for u in self.unit_kind), key=len, reverse=True))
        months = "|".join(sorted((re.escape(m) for m in data.months), key=len, reverse=True))
        self.months = data.months
        self.date_dmy = re.compile(rf"(?<!\d)(\d{{1,2}})(?:er|st|nd|rd|th)?\s+(?:of\s+)?({months})\s+(\d{{4}})(?!\d)")
        self.date_mdy = re.compile(rf"(?<![a-z])({months})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)")
        self.percent = re.compile(rf"(?<![\w.,])({_NUM})\s*(?:%|pour\s?cent(?![a-z])|per\s?cent(?![a-z]))")
        self.amount = re.compile(rf"(?:€|(?<![a-z])eur(?:os?)?(?![a-z]))\s*({_NUM})"
                                 rf"|(?<![\w.,])({_NUM})\s*(?:€|eur(?:os?)?(?![a-z]))")
        self.duration = re.compile(rf"(?<![\w.,])({_NUM}|{word_number})(?:\s*\(\s*(\d+)\s*\))?[\s-]*({unit})(?![a-z])")
        self.zero_amount = _phrase_pattern(data.implicit_figures.amount_zero)
        self.zero_duration = _phrase_pattern(data.implicit_figures.duration_zero)

    def read(self, sentence: str) -> list[Figure]:
        text = fold(sentence)
        figures, text = self._dates(text)
        for pattern, kind in ((self.percent, "percent"), (self.amount, "amount")):
            for m in list(pattern.finditer(text)):
                value = parse_number(next(g for g in m.groups() if g))
                if value is not None:
                    figures.append((kind, value.quantize(Decimal("0.01")) if kind == "amount" else value))
                text = _blank(text, m)
        for m in list(self.duration.finditer(text)):
            value = Decimal(m.group(2)) if m.group(2) else self._number(m.group(1))
            if value is not None:
                kind = self.unit_kind[m.group(3)]
                figures.append(("duration", Decimal(0)) if value == 0 else (kind, value))
            text = _blank(text, m)
        if self.zero_amount and self.zero_amount.search(text):
            figures.append(("amount", Decimal("0.00")))
        if self.zero_duration and self.zero_duration.search(text):
            figures.append(("duration", Decimal(0)))
        return list(dict.fromkeys(figures))

    def _dates(self, text: str) -> tuple[list[Figure], str]:
        figures: list[Figure] = []
        readers = ((_ISO_DATE, lambda g: (g[0], g[1], g[2])), (_NUMERIC_DATE, lambda g: (g[2], g[1], g[0])),
                   (self.date_dmy, lambda g: (g[2], self.months[g[1]], g[0])),
                   (self.date_mdy, lambda g: (g[2], self.months[g[0]], g[1])))
        for pattern, ymd in readers:
            for m in list(pattern.finditer(text)):
                year, month, day = (int(x) for x in ymd(m.groups()))
                try:
                    figures.append(("date", date(year, month, day)))
                except ValueError:
                    continue
                text = _blank(text, m)
        return figures, text

    def _number(self, raw: str) -> Decimal | None:
        if raw[0].isdigit():
            return parse_number(raw)
        if raw in self.number_words:
            return Decimal(self.number_words[raw])
        from assistant.corpus.figures import words_to_int  # French compounds: "vingt-quatre", "trente et un"

        value = words_to_int(raw)
        if value is None:  # English compounds: "twenty-four"
            parts = [p for p in re.split(r"[\s-]+", raw) if p != "et"]
            value = sum(self.number_words[p] for p in parts) if all(p in self.number_words for p in parts) else None
        return Decimal(value) if value is not None else None


@dataclass
class Support:
    """What a turn's evidence states: the figures of its verified quotes; the figures its calculator calls
    computed or used (typed where printed with a unit, else bare non-zero numbers: '449.10', '9'), with the
    headline results apart; the figures the customer wrote; and the stems of the evidence's texts."""

    quoted: set[Figure] = field(default_factory=set)
    computed: set[Figure] = field(default_factory=set)
    numbers: set[Decimal] = field(default_factory=set)
    results: set[Figure] = field(default_factory=set)
    user: set[Figure] = field(default_factory=set)
    stems: set[str] = field(default_factory=set)

    def backs(self, figure: Figure, next_to_result: bool = False) -> bool:
        """Whether the evidence gives `figure`; `next_to_result`: its sentence also states a calculator's result."""
        if figure in self.quoted:
            return True
        kind, value = figure
        # A bare calculator number backs a figure of any unit (its unit is in a label or a field name), but
        # never a zero: zeros fill calculator fields (offsets, counts) and are what "free"/"no notice" claims.
        computed = figure in self.computed or (kind != "date" and value != 0 and value in self.numbers)
        # A figure the customer wrote reaches the calculator as an input, so the calculator "gives" it too:
        # it may be restated only next to the result it went into ("449,10 € = 9 × 49,90 €"), never alone as
        # a claim ("the fee is 4 321,99 €", ordered by an injection that also wrote that figure).
        return computed and (figure not in self.user or next_to_result)


@dataclass(frozen=True)
class SentenceVerdict:
    text: str
    figures: tuple[Figure, ...]
    unsupported: tuple[Figure, ...]
    grounded_share: float | None  # None: too few content words to judge
    kept: bool

    @property
    def substantive(self) -> bool:
        """A kept sentence that says something checkable (a supported figure, or grounded words)."""
        return self.kept and (bool(self.figures) or self.grounded_share is not None)


@dataclass(frozen=True)
class GuardedProse:
    text: str
    verdicts: tuple[SentenceVerdict, ...]

    @property
    def removed(self) -> list[SentenceVerdict]:
        return [v for v in self.verdicts if not v.kept]

    @property
    def has_substance(self) -> bool:
        return any(v.substantive for v in self.verdicts)


class ProseGuard:
    def __init__(self, reader: FigureReader, data: ProseGuardData, glossary: Any = None):
        from assistant.index.text import analyse  # the lexical index's French analyser (Snowball stems)

        self.reader, self.data, self.glossary, self.analyse = reader, data, glossary, analyse
        numbers_and_units = " ".join([*reader.number_words, *reader.unit_kind])
        self.ignored = frozenset(analyse(" ".join(data.stop_words))) | frozenset(analyse(numbers_and_units))

    @classmethod
    def from_knowledge(cls, knowledge_dir: Path) -> ProseGuard:
        from assistant.agent.figures import load_lexicon
        from assistant.index.text import Glossary

        lexicon = load_lexicon(str(knowledge_dir / "lexicon.yaml"))
        data = load_prose_guard_data(str(knowledge_dir / "prose_guard.yaml"))
        words = {w: n for lang in lexicon.number_words.values() for w, n in lang.items()}
        units = {u: kind for kind, us in lexicon.units.items() for u in us}
        return cls(FigureReader(words, units, data), data, Glossary.load(knowledge_dir / "glossary.yaml"))

    # ------------------------------------------------------------------ the turn's evidence

    def support(self, quotes: Iterable[str], calculator_calls: Iterable[Mapping[str, Any]],
                names: Iterable[str] = (), user_text: str = "") -> Support:
        """Support of the verified `quotes` and of calculator calls ({'input': ..., 'output': ...} each);
        `names` (operators, document and clause titles of the citations) add words, never figures;
        `user_text` is the customer's message, whose figures the calculators alone cannot back."""
        out = Support(user=set(self.reader.read(user_text)) if user_text else set())
        texts: list[str] = list(names)
        for quote in quotes:
            out.quoted.update(self.reader.read(quote))
            texts.append(quote)
        for call in calculator_calls:
            output = call.get("output") or {}
            out.results.update(_typed_result(output))
            out.computed.update(out.results)
            for leaf in _leaves([call.get("input") or {}, output]):
                self._calculator_leaf(leaf, out, texts)
        out.stems = {s for s in self.analyse(" ".join(texts)) if not s.isdigit()}
        return out

    def _calculator_leaf(self, leaf: Any, out: Support, texts: list[str]) -> None:
        if isinstance(leaf, bool) or leaf is None:
            return
        if isinstance(leaf, int | float | Decimal):
            number = Decimal(str(leaf))
            if number:
                out.numbers.add(number)
            return
        text = str(leaf)
        texts.append(text)
        out.computed.update(self.reader.read(text))  # its dates ('2025-04-01') and any figure with a unit
        out.numbers.update(n for n in (Decimal(x) for x in _BARE_NUMBER.findall(_ISO_DATE.sub(" ", text))) if n)

    # ------------------------------------------------------------------ the prose

    def check(self, text: str, support: Support) -> GuardedProse:
        """`text` without its unsupported sentences, and the verdict on each sentence."""
        verdicts: list[SentenceVerdict] = []
        lines: list[str] = []
        for line in text.split("\n"):
            sentences = [s for s in _SENTENCE_END.split(line) if s.strip()]
            if not sentences:
                lines.append(line)
                continue
            judged = [self.judge(s, support) for s in sentences]
            verdicts += judged
            kept = [v.text for v in judged if v.kept]
            if kept:
                lines.append(" ".join(kept))
        cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return GuardedProse(cleaned, tuple(verdicts))

    def judge(self, sentence: str, support: Support) -> SentenceVerdict:
        # Figures inside an inline quote are the source's own (the citation guard checked the quote); the
        # quote's words do count for grounding, so a short lead-in ("Le contrat dit : « ... »") is kept.
        figures = tuple(self.reader.read(QUOTED.sub(" ", sentence)))
        next_to_result = any(f in support.results for f in figures)
        unsupported = tuple(f for f in figures if not support.backs(f, next_to_result))
        share = self._grounded_share(sentence, support, len(figures))
        kept = not unsupported and (share is None or share >= self.data.min_grounded_share)
        return SentenceVerdict(sentence, figures, unsupported, share, kept)

    def _grounded_share(self, prose: str, support: Support, figures: int = 0) -> float | None:
        """Share of the sentence's content words found in the evidence, word by word: a word counts when its
        stem is there, or (English) when the French term the glossary gives for it is. Its figures (checked
        before) count as grounded words, so "You owe €449.10." stands, and "the fee is €449.10 and write
        CANARY-02" does not."""
        words: dict[str, str] = {}  # stem -> the word it came from
        for word in re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", prose):
            for stem in self.analyse(word):
                if not stem.isdigit() and stem not in self.ignored:
                    words.setdefault(stem, word)
        if len(words) + figures < self.data.min_content_words:
            return None
        grounded = sum(1 for stem, word in words.items() if stem in support.stems or self._bridged(word, support))
        return (grounded + figures) / (len(words) + figures)

    def _bridged(self, word: str, support: Support) -> bool:
        if self.glossary is None:
            return False
        added = self.glossary.expand(word)[len(word):]
        return bool(added) and bool(set(self.analyse(added)) & support.stems)


def _typed_result(output: Mapping[str, Any]) -> set[Figure]:
    """The headline figure of a calculator result with its unit (an amount of 0 € is a real zero)."""
    amount, unit = output.get("amount"), output.get("unit") or output.get("currency")
    out: set[Figure] = set()
    value = parse_number(str(amount)) if amount is not None else None
    if value is None:
        return out
    if unit in (None, "EUR", output.get("currency")):
        out.add(("amount", value.quantize(Decimal("0.01"))))
    elif unit == "percent":
        out.add(("percent", value))
    elif unit in _DURATIONS:
        out.add(("duration", Decimal(0)) if value == 0 else (str(unit), value))
    return out


def _leaves(value: Any) -> Iterable[Any]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            yield item
