"""Understanding a turn: language, operator, intent and slots (amounts, dates, durations, counts...).

Shared by the offline and the LLM mode, so that both modes clarify, refuse and remember the same way.
Everything here is pattern matching over accent-folded text plus dateparser for dates: cheap (a few
milliseconds), deterministic and testable without a model.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.agent.calltime import PER_MINUTE, call_seconds
from assistant.agent.dates import DURATION_WORDS, counted_back, extract_dates, month_names
from assistant.agent.figures import Lexicon, current_lexicon
from assistant.agent.shorthand import expand_abbreviations
from assistant.agent.text import clean_input, fold, words
from assistant.corpus.operators import OperatorMatcher

Language = Literal["fr", "en"]


# --------------------------------------------------------------------------- language


def _wordset(blob: str) -> frozenset[str]:
    return frozenset(blob.split())


def _lexicon() -> Lexicon:
    return current_lexicon()


@lru_cache(maxsize=1)
def _language_words() -> tuple[frozenset[str], frozenset[str]]:
    """French and English marker words: the lexicon's lists (`language_words`) plus the words of the needs'
    example questions that only one language uses. A listed marker always wins over an example's word."""
    from assistant.agent.router import load_needs
    from assistant.config import get_settings

    listed = {lang: {w for entry in _lexicon().language_words.get(lang, []) for w in words(entry)}
              for lang in ("fr", "en")}
    examples: dict[str, set[str]] = {"fr": set(), "en": set()}
    for need in load_needs(get_settings().knowledge_dir / "needs.yaml").needs:
        for lang in ("fr", "en"):
            for example in need.examples.get(lang, []):  # type: ignore[union-attr]
                # longer words only: short ones ("eur", "ht", "km") are units, shared by both languages
                examples[lang].update(w for w in words(example) if len(w) > 3 and not w.isdigit())
    fr = (listed["fr"] | (examples["fr"] - examples["en"])) - listed["en"]
    en = (listed["en"] | (examples["en"] - examples["fr"])) - listed["fr"]
    return frozenset(fr), frozenset(en)


def detect_language(text: str, default: Language = "fr") -> Language:
    """Count French vs English marker words. Ties go to `default` (the corpus language or the session's)."""
    fr_words, en_words = _language_words()
    tokens = words(text)
    fr = sum(t in fr_words for t in tokens)
    en = sum(t in en_words for t in tokens)
    if fr == en:
        return default
    return "fr" if fr > en else "en"


# --------------------------------------------------------------------------- operators


# OperatorMatcher lives with the corpus (it is built from the manifest); re-exported for callers here.


# --------------------------------------------------------------------------- intents

class Guards(BaseModel):
    """knowledge/guards.yaml: the patterns of the guards that come before routing, and of customer types and
    service kinds (folded text)."""

    injection: list[str]       # attempts to override the assistant or to extract its instructions
    off_topic_task: list[str]  # requests that are not about contracts at all (a poem, a recipe, a translation)
    domain: list[str]          # telecom / contract vocabulary: without any (or an operator's name), out of scope
    smalltalk: str
    business: str
    consumer: str
    services: dict[str, str]


@lru_cache(maxsize=1)
def _guards() -> dict[str, re.Pattern[str]]:
    import yaml

    from assistant.config import get_settings

    path = get_settings().knowledge_dir / "guards.yaml"
    data = Guards.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))["guards"])
    compiled = {k: re.compile("|".join(getattr(data, k))) for k in ("injection", "off_topic_task", "domain")}
    compiled.update({k: re.compile(getattr(data, k)) for k in ("smalltalk", "business", "consumer")})
    compiled.update({f"service:{name}": re.compile(p) for name, p in data.services.items()})
    return compiled


def classify_intent(text: str, has_operator: bool = False) -> tuple[str, str | None, bool]:
    """Guards that come before any routing: (kind, None, injection) where kind is "out_of_scope" for an
    attempt to override the assistant, an unrelated task or a message without any contract vocabulary,
    "smalltalk" for a bare greeting, else "other" (the need router decides what is asked)."""
    folded = fold(text)
    guards = _guards()
    if guards["injection"].search(folded):
        return "out_of_scope", None, True
    if guards["off_topic_task"].search(folded):
        return "out_of_scope", "task", False  # an explicit unrelated task: refused whatever else it says
    domain = bool(guards["domain"].search(folded)) or has_operator
    if guards["smalltalk"].search(folded) and len(words(text)) <= 6 and not domain:
        return "smalltalk", None, False
    if not domain:
        return "out_of_scope", None, False
    return "other", None, False


# --------------------------------------------------------------------------- slots


class Slots(BaseModel):
    """Facts the user gave. Everything optional; the session merges them across turns. Assignments are
    validated: a value of the wrong kind fails the turn loudly instead of corrupting the conversation."""

    model_config = ConfigDict(validate_assignment=True)

    customer_type: Literal["business", "consumer"] | None = None
    commitment_start: date | None = None
    commitment_months: int | None = None
    termination_date: date | None = None  # when the customer wants the contract to end
    request_date: date | None = None  # when the customer sends the termination request (or notice)
    term_end_date: date | None = None  # last day of the current term ("échéance du contrat")
    renewal_date: date | None = None  # the day the contract renews
    due_date: date | None = None
    payment_date: date | None = None
    move_date: date | None = None
    other_dates: list[date] = Field(default_factory=list)
    monthly_fee: Decimal | None = None
    monthly_fee_per_line: bool | None = None  # "25 € HT/mois par ligne", "per line"
    remaining_months: int | None = None  # "14 mois restants", "7 months left"
    commitment_over: bool | None = None  # "sans engagement", "my commitment is over": notice from the request
    amount: Decimal | None = None
    tax_basis: Literal["HT", "TTC"] | None = None
    number_count: int | None = None
    days_late: int | None = None
    months_late: int | None = None
    hours: Decimal | None = None
    average_monthly_bill: Decimal | None = None  # "ma moyenne est de 200 €", "on average 80 EUR"
    distance_km: Decimal | None = None
    outage_days: int | None = None  # "3 jours sans service", "down for 10 days"
    call_seconds: int | None = None  # "6 min 20 s": the length of one call
    price_per_minute: Decimal | None = None  # "0,17 € la minute"
    quantities: dict[str, int] = Field(default_factory=dict)  # "3 postes" -> {"poste": 3}; noun singular, folded
    service: str | None = None

    def filled(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v not in (None, [], "", {})}

    def dates(self) -> list[date]:
        """Every date held, in whatever role (or none)."""
        return [d for d in (getattr(self, s) for s in DATE_SLOTS) if d is not None] + list(self.other_dates)


# Cue words before a date tell its role; the nearest cue wins. The cues are data (knowledge/lexicon.yaml).
@lru_cache(maxsize=1)
def _date_cues() -> list[tuple[str, re.Pattern[str]]]:
    return [(role, re.compile("|".join(cues))) for role, cues in _lexicon().date_roles.items()]


@lru_cache(maxsize=1)
def _no_commitment() -> re.Pattern[str] | None:
    """Phrases saying no commitment is running (lexicon `no_commitment`)."""
    cues = _lexicon().no_commitment
    return re.compile(r"\b(" + "|".join(cues) + r")") if cues else None


@lru_cache(maxsize=1)
def _remaining_cues() -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Words around a duration that make it the time left to run (lexicon `remaining`)."""
    before, after = _lexicon().remaining.get("before", []), _lexicon().remaining.get("after", [])
    return (re.compile(r"\b(" + "|".join(before) + r")\W*(\w+\W+)?$") if before else None,
            re.compile(r"^\W*(" + "|".join(after) + r")") if after else None)


@lru_cache(maxsize=1)
def _late() -> re.Pattern[str]:
    """A number of days, weeks or months a payment is late by (lexicon `late` cues around it)."""
    cues = _lexicon().late
    unit = r"jours?|days?|semaines?|weeks?|mois|months?"
    after, before = "|".join(cues.get("after", [])) or "(?!)", "|".join(cues.get("before", [])) or "(?!)"
    return re.compile(rf"\b(?P<n1>\d{{1,4}})\s*(?P<u1>{unit})\s*(?:{after})"
                      rf"|\b(?:{before})\s*(?P<n2>\d{{1,4}})\s*(?P<u2>{unit})")


def _elapsed(before: str) -> bool:
    """A duration something takes ("le portage prend trois semaines", "the move lasts 3 months") is not the
    contract's term (lexicon `elapsed_cues`)."""
    cues = _lexicon().elapsed_cues
    return bool(cues) and re.search(rf"\b(?:{'|'.join(cues)})\W+(?:\w+\W+)?$", before) is not None


def _remaining(before: str, after: str) -> bool:
    cue_before, cue_after = _remaining_cues()
    return bool((cue_before and cue_before.search(before)) or (cue_after and cue_after.search(after)))


# "1 200,50", "1.200", "49,90", "120": thousands groups must have exactly three digits, so "2024, 120" is two numbers.
_NUMBER = (r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?![\d,])"  # 1,200.50 (English thousands)
           r"|\d{1,3}(?:[ .\u202f]\d{3})+(?:,\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d))")
_MONEY = re.compile(
    rf"(?P<cur1>€|eur\b|euros?\b)\s*(?P<n1>{_NUMBER})|(?P<n2>{_NUMBER})\s*(?P<cur2>€|eur\b|euros?\b)"
)
_TAX_WORDS = r"(ht|ttc|htva|tvac|hors tva|tva comprise|excl\.? vat|incl\.? vat|ex vat|inc vat|excluding vat|including vat|\+ ?vat)"
_PER_UNIT = r"(?:(?:/|par|per|each|chaque)\s*(?:ligne|line|numero|number|sim|poste|user|utilisateur)s?\s*)?"
_PER_MONTH = re.compile(rf"^\s*{_TAX_WORDS}?\s*{_PER_UNIT}(/|par|per|a|an|each|chaque)\s*(mois|month|mo)\b"
                        rf"|^\s*{_TAX_WORDS}?\s*mensuel"
                        rf"|^\s*{_TAX_WORDS}?\s*monthly")
# "25 € HT/mois par ligne", "10 EUR per line a month", "/numéro": the fee is per line, not for the contract
_PER_LINE = re.compile(r"^[^\d]{0,25}?((par|per|/|each|chaque|pour chaque)\s*(ligne|line|numero|number|sim|poste|user|utilisateur)s?\b"
                       r"|chacun|chacune|each\b|apiece\b)")
_MONTHLY_BEFORE = re.compile(r"(mensualite|abonnement|redevance|monthly|per month|par mois|loyer)[^\d]{0,20}$")
_AVERAGE_BEFORE = re.compile(r"(moyenne|average|en moyenne|on average)[^\d]{0,30}$")
_TAX = re.compile(rf"^\s*{_TAX_WORDS}(?!\w)")
_DURATION = re.compile(r"(\d{1,3})[\s-]*(mois|months?|ans?|annees?|years?)\b")
# "8 numéros", "5 of the office lines": up to three words between the count and what it counts, none of them a
# unit of time or money ("24 mois pour deux lignes" counts no lines)
_COUNT = re.compile(r"(?<![\w.,/])(\d{1,4})(?![\d.,]|\s*(?:€|eur\b|euros?\b))\s*"
                    rf"(?:(?!(?:{DURATION_WORDS}|eur|euros?)\b)"
                    r"[a-z+][a-z0-9+]*\s+){0,3}"
                    r"(numeros?|nums?|numbers?|lignes?|lines?|postes?|sim|cartes? sim|extensions?|users?|utilisateurs?)\b")
_HOURS = re.compile(r"\b(\d{1,3})\s*(?:working |business |ouvrees? )?(?:h|heures?|hours?|hrs?)\s*(\d{2})?\b")
_KM = re.compile(r"\b(\d{1,5}(?:[.,]\d{1,2})?)\s*(?:km|kilometres?|kilometers?)\b")
_OUTAGE_DAYS = re.compile(r"(\d{1,3})\s*(?:jours?|days?)\s*(?:sans (service|internet|ligne|connexion|telephone)|without (service|internet|a line|connection)|de (panne|coupure|interruption)|of (outage|downtime))"
                          r"|(?:panne|coupure|interruption|outage|down|sans service|without service)\D{0,20}?(\d{1,3})\s*(?:jours?|days?)")
def _in_a_date(folded: str, start: int, end: int) -> bool:
    """The number at folded[start:end] is a day or a year of a written date ("1 March 2024"): a month name
    comes right before or after it."""
    before = re.search(r"([a-z]+)\W{0,2}$", folded[max(0, start - 20):start])
    after = re.match(r"\W{0,2}([a-z]+)", folded[end:end + 20])
    return any(m is not None and m.group(1) in month_names() for m in (before, after))


_ORDINAL_COUNT = re.compile(r"\b(\d{1,3})\s?(?:e|eme|ieme|er|re|nd|rd|th|st)\b")
# a number that ends a written date ("15/01/2025 date de début", "1.3.2024 ...") counts nothing
_QUANTITY = re.compile(r"(?<![/.\-])\b(\d{1,4})\s+([a-z]{2,20})(?:\s+([a-z]{2,20}))?")
# Nouns after a number that are units, not countable items.
_NOT_ITEMS = _wordset(
    "mois month months jour jours day days ans annee annees year years semaine semaines week weeks heure heures "
    "hour hours min minute minutes seconde secondes second seconds eur euro euros ht ttc km pour per par fois time "
    "working business ouvrees ouvres kilometres kilometers "
    "times des les aux avec dans sur"
)


@lru_cache(maxsize=256)
def _counted_fields(noun: str) -> frozenset[str]:
    """The calculator quantities a noun counts (lexicon `calculator_inputs.quantity_fields`)."""
    fields = _lexicon().calculator_inputs.get("quantity_fields", {}) or {}
    return frozenset(f for f, nouns in fields.items() if noun in nouns)


def _names_a_guarantee(folded: str, m: re.Match[str]) -> bool:
    """A duration written next to a guarantee's name ("GTR 4h", "4h GTR") names the guarantee, not how long
    anything lasted (lexicon `guarantee_words`)."""
    words = "|".join(re.escape(w) for w in _lexicon().guarantee_words)
    if not words:
        return False
    before, after = folded[max(0, m.start() - 20):m.start()], folded[m.end():m.end() + 20]
    return bool(re.search(rf"(?<!\w)(?:{words})\s*(?:de |of |en |in )?$", before)
                or re.match(rf"\s*(?:{words})(?!\w)", after))


def _decimal(raw: str) -> Decimal | None:
    raw = raw.replace(" ", "").replace("\u202f", "")
    if "," in raw and "." in raw:  # "1.234,56" or "1,234.56": the last separator is the decimal one
        dec = "," if raw.rfind(",") > raw.rfind(".") else "."
        raw = raw.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = f"{head.replace(',', '')}.{tail}" if len(tail) <= 2 else raw.replace(",", "")
    elif raw.count(".") == 1 and len(raw.rpartition(".")[2]) == 3:
        raw = raw.replace(".", "")  # "1.200 €" is a thousands separator in French usage
    try:
        return Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _date_role(before: str) -> str | None:
    best: tuple[int, str] | None = None
    for role, pattern in _date_cues():
        for m in pattern.finditer(before):
            if best is None or m.end() > best[0]:
                best = (m.end(), role)
    return best[1] if best else None


def _date_role_after(after: str) -> str | None:
    """A date with no cue before it takes the role of the cue right after it ("le 30 juin pour résilier"), in the
    same clause (up to a comma, a conjunction or another date) and within a few words; the nearest cue wins."""
    clause = re.split(r"[,;.?!]|\d{1,2}[/ ]|\b(?:et|and|mais|but|puis|then|alors|so)\b", after)[0][:15]
    best: tuple[int, str] | None = None
    for role, pattern in _date_cues():
        m = pattern.search(clause)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), role)
    return best[1] if best else None


@lru_cache(maxsize=1)
def _number_words() -> tuple[re.Pattern[str], dict[str, int]] | None:
    """Number words of both languages (lexicon `number_words`), for "un an", "two years"."""
    table = {fold(w): n for lang in _lexicon().number_words.values() for w, n in lang.items()}
    if not table:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(table, key=len, reverse=True))
    # counted units too ("les deux services", "three lines"), from two on: "un"/"one" are mostly articles there
    counted = sorted({fold(n) for nouns in _lexicon().unit_nouns.values() for n in nouns}, key=len, reverse=True)
    many = "|".join(re.escape(w) for w in sorted((w for w, n in table.items() if n > 1), key=len, reverse=True))
    units = r"mois|months?|ans?|annees?|years?|jours?|days?|semaines?|weeks?"
    nouns = "|".join(re.escape(n) for n in counted)
    pattern = rf"\b({alternatives})(?=[\s-]*(?:{units})\b)"
    if nouns and many:
        pattern += rf"|\b({many})(?=\s+(?:{nouns})[sx]?\b)"
    ordinals = {fold(w): n for lang in _lexicon().ordinal_words.values() for w, n in lang.items()}
    if nouns and ordinals:  # "troisième rappel" reads "3e rappel"
        table = {**table, **ordinals}
        words = "|".join(re.escape(w) for w in sorted(ordinals, key=len, reverse=True))
        pattern += rf"|\b({words})(?=\s+(?:{nouns})[sx]?\b)"
    return re.compile(pattern), table


def _with_digits(folded: str) -> str:
    """"un an", "deux ans", "two-year": the number word before a unit as digits, so durations read the same."""
    found = _number_words()
    if found is None:
        return folded
    pattern, table = found
    def digits(m: re.Match[str]) -> str:
        if m.group(3):
            return f"{table[m.group(3)]}e"
        return str(table[m.group(1) or m.group(2)])

    return pattern.sub(digits, folded)


def extract_slots(text: str, today: date | None = None, reference: date | None = None) -> Slots:
    folded = _with_digits(fold(text))
    slots = Slots()
    # --- dates, with their role from the words just before them
    for matched, value, pos in extract_dates(text, today, reference):
        before = fold(text[max(0, pos - 40):pos])
        # Only the text since the previous date or comma-separated fact counts as context.
        before = re.split(r"[,;]|\d{1,2}/\d{1,2}", before)[-1] if before else before
        # the words after a date start after its last figure: a match may end with a word ("... 2024 and")
        tail = re.search(r"\d(\D*)$", matched)
        after = (tail.group(1) if tail else "") + text[pos + len(matched):pos + len(matched) + 30]
        role = _date_role(before + " " + fold(matched)) or _date_role_after(fold(after))
        if role and getattr(slots, role) is None:
            setattr(slots, role, value)
        else:
            slots.other_dates.append(value)
    # --- money: a monthly fee when followed by "/mois", "per month"..., else a plain amount
    for m in _MONEY.finditer(folded):
        value = _decimal(m.group("n1") or m.group("n2"))
        if value is None:
            continue
        after, before = folded[m.end():m.end() + 20], folded[max(0, m.start() - 30):m.start()]
        tax = _TAX.match(after)
        if tax:
            slots.tax_basis = "HT" if re.match(r"ht|hors|ex", tax.group(1)) else "TTC"
        if PER_MINUTE.match(after):  # a call's price, not a fee
            slots.price_per_minute = slots.price_per_minute or value
        elif _AVERAGE_BEFORE.search(before) and slots.average_monthly_bill is None:
            slots.average_monthly_bill = value
        elif _PER_MONTH.match(after) or _MONTHLY_BEFORE.search(before):
            if slots.monthly_fee is None:
                slots.monthly_fee = value
                slots.monthly_fee_per_line = bool(_PER_LINE.search(folded[m.end():m.end() + 40])) or None
        else:
            slots.amount = slots.amount or value
            if slots.monthly_fee is None and _PER_LINE.search(folded[m.end():m.end() + 40]):
                slots.monthly_fee_per_line = True  # "2 lignes à 30 € chacune": if it is the fee, it is per line
    # --- durations and counts; a delay of payment is not a contract's term
    late = list(_late().finditer(folded))
    late_at = {m.start("n1") if m.group("n1") else m.start("n2") for m in late}
    for m in _DURATION.finditer(folded):
        n = int(m.group(1))
        months = n if m.group(2).startswith(("mois", "month")) else n * 12
        after = folded[m.end():m.end() + 12]
        if 0 < months <= 120 and _remaining(folded[max(0, m.start() - 25):m.start()], after):
            slots.remaining_months = slots.remaining_months or months
        elif (0 < months <= 120 and not after.lstrip().startswith(("de preavis", "notice", "preavis"))
              and m.start() not in late_at and not _elapsed(folded[max(0, m.start() - 20):m.start()])
              and not counted_back(folded[max(0, m.start() - 15):m.start()], folded[m.end():m.end() + 10])):
            slots.commitment_months = slots.commitment_months or months
    for m in late:
        n, unit = int(m.group("n1") or m.group("n2")), (m.group("u1") or m.group("u2"))
        if unit.startswith(("mois", "month")):
            slots.months_late = slots.months_late or n
        else:
            slots.days_late = slots.days_late or n * (7 if unit.startswith(("semaine", "week")) else 1)
    # several distances ("35 km away, 70 km round trip"): the distance travelled is the longest one
    distances = [d for d in (_decimal(m.group(1)) for m in _KM.finditer(folded)) if d is not None]
    if distances:
        slots.distance_km = max(distances)
    slots.call_seconds = call_seconds(folded) if slots.price_per_minute is not None else None
    outage = _OUTAGE_DAYS.search(folded)
    if outage:
        slots.outage_days = int(outage.group(1) or outage.group(6))
    hours = next((m for m in _HOURS.finditer(folded) if not _names_a_guarantee(folded, m)), None)
    if hours:
        minutes = Decimal(hours.group(2) or 0) / 60
        slots.hours = (Decimal(hours.group(1)) + minutes).quantize(Decimal("0.01"))
    # "le 3e rappel", "the third reminder": the n-th unit means n of them so far
    counted_text = _ORDINAL_COUNT.sub(lambda m: m.group(1) if int(m.group(1)) > 1 else m.group(0), folded)
    for m in _QUANTITY.finditer(counted_text):
        # "3 postes", "2 porting files": the count goes to the noun and to a following noun or adjective, once
        # per thing counted ("2 postes téléphone" are two phones, not two postes and two phones)
        counted_as: set[str] = set()
        for word in filter(None, (m.group(2), m.group(3))):
            noun = word[:-1] if word.endswith("s") and len(word) > 3 else word
            if (word in _NOT_ITEMS or word in month_names() or len(word) <= 3
                    or _counted_fields(noun) & counted_as):
                break
            slots.quantities.setdefault(noun, int(m.group(1)))
            counted_as |= _counted_fields(noun)
    count = next((m for m in _COUNT.finditer(folded) if not _in_a_date(folded, m.start(1), m.end(1))), None)
    if count:
        slots.number_count = int(count.group(1))
    guards = _guards()
    if guards["business"].search(folded):
        slots.customer_type = "business"
    elif guards["consumer"].search(folded):
        slots.customer_type = "consumer"
    slots.service = next((key.removeprefix("service:") for key, p in guards.items()
                          if key.startswith("service:") and p.search(folded)), None)
    no_commitment = _no_commitment()
    if no_commitment is not None and no_commitment.search(folded):
        slots.commitment_over = True
    return slots


# Which roles bare dates (no cue word) fill, per intent, in chronological order.
_DATE_ROLES_BY_INTENT: dict[str, tuple[str, ...]] = {
    "early_termination_cost": ("commitment_start", "termination_date"),
    "termination": ("termination_date",),
    "notice": ("termination_date",),
    "payment": ("due_date", "payment_date"),
    "moving": ("move_date",),
}


DATE_SLOTS = ("commitment_start", "termination_date", "request_date", "term_end_date", "renewal_date", "due_date",
              "payment_date", "move_date")


def assign_unlabelled_dates(slots: Slots, intent: str, preferred: str | None = None) -> None:
    """Give dates without a cue word the roles the intent needs, earliest date to the earliest role.

    `preferred` is the slot the assistant just asked for: a bare date in the answer fills it first.
    """
    roles = list(_DATE_ROLES_BY_INTENT.get(intent, ()))
    if preferred in DATE_SLOTS:  # the assistant asked for a date; a bare date never fills another kind of fact
        roles = [preferred] + [r for r in roles if r != preferred]
    missing = [r for r in roles if getattr(slots, r, "absent") is None]
    if not missing or not slots.other_dates:
        return
    dates = sorted(slots.other_dates)
    if preferred in missing and len(dates) == 1:
        setattr(slots, preferred, dates.pop())
    elif len(dates) >= len(missing) or len(missing) == 1:
        # With fewer dates than roles and some roles already known, keep chronology with the known ones.
        for role in [r for r in roles if r in missing][: len(dates)]:
            setattr(slots, role, dates.pop(0))
    slots.other_dates = dates


# --------------------------------------------------------------------------- the whole turn


class Understanding(BaseModel):
    text: str  # cleaned input
    language: Language = "fr"
    operators: list[str] = Field(default_factory=list)  # mentioned in this turn, in order
    intent: str = "other"
    topic: str | None = None
    injection: bool = False
    junk: bool = False  # nothing usable (empty, binary junk, only emoji/punctuation)
    other_operator: str | None = None  # a telecom operator this corpus has no documents for
    articles: list[str] = Field(default_factory=list)  # article numbers the user names ("article 9", "art. 4.9")
    slots: Slots = Field(default_factory=Slots)

    @property
    def operator(self) -> str | None:
        return self.operators[0] if self.operators else None


def _is_junk(text: str) -> bool:
    """True when there is no real word to work with (empty, punctuation, emoji, binary noise)."""
    tokens = [t for t in words(text) if len(t) > 1 or t.isdigit()]
    if not tokens:
        return True
    letters = sum(c.isalpha() for c in text)
    return letters < 0.3 * len(text) and len(tokens) < 3


_ARTICLE = re.compile(r"\b(?:article|art\.?)\s*(\d{1,3}(?:\.\d{1,3})*[a-z]?)\b")
MAX_CHARS = 2000  # longer messages are cut: a support question is never that long, and it bounds latency


def understand(raw: str, matcher: OperatorMatcher, default_language: Language = "fr",
               today: date | None = None, others: OperatorMatcher | None = None,
               reference: date | None = None) -> Understanding:
    """`matcher` finds the operators we have documents for; `others` the telecom operators we have none
    for (a question about them is "not found"); `reference` is the conversation's latest date (the year of a
    date written without one)."""
    text = expand_abbreviations(clean_input(raw or ""))[:MAX_CHARS]
    if _is_junk(text):
        return Understanding(text=text, language=default_language, junk=True, intent="other")
    language = detect_language(text, default_language)
    operators = matcher.find(text)
    intent, topic, injection = classify_intent(text, has_operator=bool(operators))
    # Slots even for "out of scope": a bare "01/03/2024" answers a question asked in the previous turn.
    slots = extract_slots(text, today, reference) if not injection else Slots()
    # Which need the message expresses is the router's decision (assistant/agent/router.py); dates without a
    # cue word are given their roles once it has decided (assign_unlabelled_dates).
    other = next(iter(others.find(text)), None) if others and not operators else None
    articles = [m.group(1) for m in _ARTICLE.finditer(fold(text))]
    return Understanding(text=text, language=language, operators=operators, intent=intent,
                         other_operator=other, articles=articles,
                         topic=topic, injection=injection, slots=slots)
