"""Personal data out of what the product keeps: e-mail addresses, IBANs, card numbers, postal addresses and
phone numbers.

`redact()` runs before anything reaches the feedback / hand-off store (assistant/ui/feedback.py) and, through
`RedactingFormatter`, before a log line is written. Each kind is replaced by a fixed placeholder
(`[EMAIL]`, `[IBAN]`, `[CARD]`, `[ADDRESS]`, `[PHONE]`) so QA still sees that the customer gave one.

Detection favours real identifiers over look-alikes that fill T&C questions (amounts, dates, clause numbers):
- IBAN: two letters and two check digits, then validated with `schwifty`; a well-formed IBAN whose check
  digits are wrong (a typo) is still someone's account and is redacted too.
- card: 13–19 digits (spaces or dashes allowed) passing the Luhn check.
- phone: candidates from `phonenumbers`' matcher, kept when written internationally (`+352…`, `0032…`),
  nationally with a trunk 0 and 9–10 digits (`06 12 34 56 78`, `02/123.45.67`), or as 8+ digits that form a
  valid Luxembourg, Belgian or French number; dates (`2024-01-01`, `01/04/2025`, `20240101`) never are.
  A 6–7 digit Luxembourg number written without its +352 is not recognised (too close to amounts).
- postal address: a street line — a house number next to a street word, in the orders the three countries and
  English use ("12 rue de la Gare", "Avenue Louise 54", "Wetstraat 16", "15 Main Street") — with the postcode
  and town that follow it. Street words, name particles and postcode formats are data
  (`knowledge/privacy.yaml`); a street word that is also an ordinary word ("place", "cours", "route") needs a
  capitalised name, and a number followed by a unit ("30 jours", "12 €") is never a house number. A postcode
  and town alone ("L-1234 Luxembourg") are not redacted: they identify nobody.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from schwifty import IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException

from assistant.errors import AssistantError

EMAIL = "[EMAIL]"
IBAN_TOKEN = "[IBAN]"
CARD = "[CARD]"
PHONE = "[PHONE]"
ADDRESS = "[ADDRESS]"

REGIONS = ("LU", "BE", "FR")  # the operators' countries: national formats are read as theirs

_EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_IBAN_START_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=[ \-]?[A-Za-z0-9])")
_IBAN_BODY_RE = re.compile(r"(?:[ \-]?[A-Za-z0-9]){1,32}")
_CARD_RE = re.compile(r"(?<![\d.,])\d(?:[ \-]?\d){12,18}(?![\d]|[.,]\d)")
_CURRENCY_AFTER_RE = re.compile(r"\s*(?:€|EUR\b|euros?\b|HT\b|TTC\b)", re.IGNORECASE)
_CURRENCY_BEFORE_RE = re.compile(r"(?:€|EUR)\s*$", re.IGNORECASE)
_DATE_RE = re.compile(r"^(?:\d{4}[-./ ]?\d{2}[-./ ]?\d{2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_end(text: str, start: int) -> int | None:
    """End offset of the IBAN starting at `start`, or None; tries the longest candidate first."""
    body = _IBAN_BODY_RE.match(text, start + 4)
    end_of_candidate = body.end() if body else start + 4
    positions = [i + 1 for i in range(start, end_of_candidate) if text[i].isalnum()]  # end after n-th alnum
    compact = "".join(char for char in text[start:end_of_candidate] if char.isalnum()).upper()
    typo_end = None
    for length in range(min(len(compact), 34), 11, -1):
        try:
            IBAN(compact[:length])
        except InvalidChecksumDigits:
            typo_end = typo_end or positions[length - 1]
            continue
        except (SchwiftyException, ValueError):
            continue
        return positions[length - 1]
    return typo_end


def _redact_ibans(text: str) -> str:
    out, position = [], 0
    for match in _IBAN_START_RE.finditer(text):
        if match.start() < position:
            continue
        end = _iban_end(text, match.start())
        if end is not None and (end >= len(text) or not text[end].isalnum()):
            out += [text[position:match.start()], IBAN_TOKEN]
            position = end
    out.append(text[position:])
    return "".join(out)


def _redact_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return CARD if _luhn_ok(digits) else match.group()

    return _CARD_RE.sub(replace, text)


def _is_phone(raw: str) -> bool:
    compact = re.sub(r"[\s().\-/]", "", raw)
    digits = re.sub(r"\D", "", compact)
    if _DATE_RE.match(raw.strip()) or not digits:
        return False
    try:
        if compact.startswith(("+", "00")):
            number = phonenumbers.parse("+" + compact.lstrip("+")[2:] if compact.startswith("00") else compact)
            return len(digits) >= 8 and phonenumbers.is_possible_number(number)
        if compact.startswith("0") and 9 <= len(digits) <= 10:
            return any(phonenumbers.is_possible_number(phonenumbers.parse(compact, region))
                       for region in ("FR", "BE"))
        if len(digits) >= 8:
            return any(phonenumbers.is_valid_number(phonenumbers.parse(compact, region)) for region in REGIONS)
    except phonenumbers.NumberParseException:
        return False
    return False


def _looks_like_amount(text: str, start: int, end: int) -> bool:
    """A number right before or after a currency ("12 345 678 €", "EUR 1 234 567") is money, not a phone."""
    return bool(_CURRENCY_AFTER_RE.match(text, end) or _CURRENCY_BEFORE_RE.search(text[max(0, start - 6):start]))


def _redact_phones(text: str) -> str:
    spans: list[tuple[int, int]] = []
    for region in REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            span = (match.start, match.end)
            if span in spans or any(s <= span[0] < e or s < span[1] <= e for s, e in spans):
                continue
            if _looks_like_amount(text, *span):
                continue
            if _is_phone(match.raw_string):
                spans.append(span)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + PHONE + text[end:]
    return text


# --------------------------------------------------------------------------- postal addresses


class PrivacyConfigError(AssistantError):
    """knowledge/privacy.yaml cannot be read: nothing is written unredacted, so the caller stops."""


class StreetTypes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before_name: list[str]
    after_name: list[str]
    suffixes: list[str]
    ambiguous: list[str]


class AddressData(BaseModel):
    """knowledge/privacy.yaml."""

    model_config = ConfigDict(extra="forbid")

    street_types: StreetTypes
    particles: list[str]
    quantity_words: list[str]
    postcodes: dict[str, str]

    @field_validator("postcodes")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for country, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"postcode pattern of {country} is not a regular expression: {error}") from error
        return value


def _words(items: list[str]) -> str:
    """Alternation of whole words, longest first (so "rue" never matches the start of "ruelle")."""
    return "|".join(sorted({re.escape(w) for w in items if w.strip()}, key=len, reverse=True)) or r"(?!)"


def address_patterns(data: AddressData) -> list[re.Pattern[str]]:
    """Street-line patterns, in the order they are applied (house number first, then after the name)."""
    letter = r"[^\W\d_]"
    cap = rf"[A-ZÀ-ÖØ-Þ]{letter}*(?:[-'’]{letter}+)*"
    low = rf"{letter}+(?:[-'’]{letter}+)*"
    spaced = [p for p in data.particles if not p.endswith(("'", "’"))]
    elided = [p for p in data.particles if p.endswith(("'", "’"))]
    # possessive: a particle is never given back to be read as a name word ("De" is both), which keeps
    # matching linear on hostile text ("rue De De De ...")
    prefix = rf"(?:(?i:{_words(spaced)})[ \t]+|(?i:{_words(elided)}))*+"
    name_cap = rf"{prefix}{cap}(?:[ \t]+{prefix}{cap}){{0,4}}"
    name_any = rf"(?:{name_cap}|{prefix}{low})"
    types = data.street_types
    strict_before = rf"(?i:{_words(types.before_name)})\.?(?![\w-])"
    loose = rf"(?i:{_words(types.ambiguous)})\.?(?![\w-])"
    street_first = rf"(?:{strict_before}[ \t]+{name_any}|{loose}[ \t]+{name_cap})"
    number = r"\d{1,4}(?:[ \t]*[-/][ \t]*\d{1,4})?(?:[ \t]?(?i:bis|ter|[a-z])(?![\w]))?"
    not_quantity = rf"(?!\d|[.,]\d)(?![ \t]*(?i:{_words(data.quantity_words)})(?![\w]))"
    postcode = rf"(?<![\w-])(?:{'|'.join(f'(?:{p})' for p in data.postcodes.values()) or '(?!)'})(?![\w-])"
    town = rf"(?:{cap}(?:[ \t-]+{prefix}{cap}){{0,2}}|{low})"
    tail = rf"(?:[ \t]*,?[ \t]*{postcode}[ \t]+{town})?"
    after = rf"(?i:{_words(types.after_name)})"
    after_loose = rf"(?i:{_words([*types.after_name, *types.ambiguous])})"
    start = r"(?<![\w.,/-])"
    return [re.compile(p) for p in (
        # "12 rue de la Gare, L-1611 Luxembourg", "3 boulevard Haussmann 75009 Paris"
        rf"{start}{number}[ \t]*,?[ \t]+{street_first}{tail}",
        # "15 Main Street", "221B Baker St."
        rf"{start}{number}[ \t]+(?:{cap}(?:[ \t]+{cap}){{0,2}}[ \t]+{after_loose}|{low}[ \t]+{after})\.?(?![\w-]){tail}",
        # "Avenue Louise 54, 1050 Bruxelles", "rue de la Loi 16"
        rf"(?<![\w-]){street_first}[ \t]*,?[ \t]*{number}{not_quantity}{tail}",
        # "Wetstraat 16, 1040 Brussel"
        rf"(?<![\w-]){letter}{{2,}}(?i:{_words(types.suffixes)})(?![\w-])[ \t]*,?[ \t]*{number}{not_quantity}{tail}",
    )]


@lru_cache(maxsize=4)
def _address_patterns(path: Path, mtime: float) -> tuple[re.Pattern[str], ...]:
    try:
        data = AddressData.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise PrivacyConfigError(f"{path}: cannot read the postal-address words: "
                                 f"{str(error).splitlines()[0]}") from error
    return tuple(address_patterns(data))


def load_address_patterns(knowledge_dir: Path | None = None) -> tuple[re.Pattern[str], ...]:
    """The patterns of knowledge/privacy.yaml in `knowledge_dir` (default: the configured one), or of the
    bundled file when that dir has none (a knowledge dir made for a new operator need not copy it).
    Raises PrivacyConfigError on a broken file; the app calls it at start-up so that shows at once."""
    from assistant.config import ROOT, get_settings

    configured = (knowledge_dir or get_settings().knowledge_dir) / "privacy.yaml"
    path = configured if configured.is_file() else ROOT / "knowledge" / "privacy.yaml"
    return _address_patterns(path, path.stat().st_mtime if path.is_file() else 0.0)


def redact_addresses(text: str, patterns: tuple[re.Pattern[str], ...] | None = None) -> str:
    for pattern in patterns if patterns is not None else load_address_patterns():
        text = pattern.sub(ADDRESS, text)
    return text


def redact(text: str | None) -> str | None:
    """`text` with e-mail addresses, IBANs, card numbers, postal addresses and phone numbers replaced by
    placeholders."""
    if not text:
        return text
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _redact_ibans(text)
    text = _redact_cards(text)
    text = redact_addresses(text)
    return _redact_phones(text)


def redact_obj(value: Any) -> Any:
    """`redact` applied to every string inside nested lists and dicts (keys are left alone)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_obj(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_obj(item) for key, item in value.items()}
    return value


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output (message, arguments and traceback alike) went through `redact`.

    It can wrap another formatter (uvicorn's coloured one, say) and redact what that one produces.
    """

    def __init__(self, fmt: str | None = None, inner: logging.Formatter | None = None):
        super().__init__(fmt)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner else super().format(record)
        try:
            return redact(text) or ""
        except Exception:  # a failing redaction must not lose the log line, nor leak it: say so instead
            return f"{record.levelname} {record.name}: [log line withheld: redaction failed]"


def install_log_redaction(*logger_names: str) -> None:
    """Make every handler of the root logger and of `logger_names` redact personal data.

    Adds one stderr handler to the root logger when it has none (so the app's warnings and tracebacks are
    still shown), and wraps the formatter of every handler already attached (uvicorn's, for instance).
    Call it after the server configured its logging.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for name in ("", *logger_names):
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, RedactingFormatter):
                handler.setFormatter(RedactingFormatter(inner=handler.formatter or logging.Formatter()))
