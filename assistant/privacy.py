"""Personal data out of what the product keeps: e-mail addresses, IBANs, card numbers and phone numbers.

`redact()` runs before anything reaches the feedback / hand-off store (assistant/ui/feedback.py) and, through
`RedactingFormatter`, before a log line is written. Each kind is replaced by a fixed placeholder
(`[EMAIL]`, `[IBAN]`, `[CARD]`, `[PHONE]`) so QA still sees that the customer gave one.

Detection favours real identifiers over look-alikes that fill T&C questions (amounts, dates, clause numbers):
- IBAN: two letters and two check digits, then validated with `schwifty`; a well-formed IBAN whose check
  digits are wrong (a typo) is still someone's account and is redacted too.
- card: 13–19 digits (spaces or dashes allowed) passing the Luhn check.
- phone: candidates from `phonenumbers`' matcher, kept when written internationally (`+352…`, `0032…`),
  nationally with a trunk 0 and 9–10 digits (`06 12 34 56 78`, `02/123.45.67`), or as 8+ digits that form a
  valid Luxembourg, Belgian or French number; dates (`2024-01-01`, `01/04/2025`, `20240101`) never are.
  A 6–7 digit Luxembourg number written without its +352 is not recognised (too close to amounts).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import phonenumbers
from schwifty import IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException

EMAIL = "[EMAIL]"
IBAN_TOKEN = "[IBAN]"
CARD = "[CARD]"
PHONE = "[PHONE]"

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


def redact(text: str | None) -> str | None:
    """`text` with e-mail addresses, IBANs, card numbers and phone numbers replaced by placeholders."""
    if not text:
        return text
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _redact_ibans(text)
    text = _redact_cards(text)
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
