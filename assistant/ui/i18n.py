"""Interface text in French and English, from the gettext catalogues under `assistant/ui/locale/`.

Message ids are symbolic keys ("handoff_button", "field.monthly_fee", "choice.reason.customer_death"), so the
two `.po` files carry every visible word and the code none. A key missing in English falls back to French
(the language of the documents); a key missing everywhere is a KeyError, never the raw key on screen.
"""

from __future__ import annotations

import gettext
from functools import cache
from typing import Literal

from assistant.ui.po import DOMAIN, LOCALE_DIR

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")


@cache
def catalogue(lang: Lang) -> gettext.GNUTranslations:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as handle:
        return gettext.GNUTranslations(handle)


def normalise_lang(value: str | None) -> Lang:
    return "en" if (value or "").lower().startswith("en") else "fr"


def lookup(key: str, lang: str = "fr") -> str | None:
    """The `key` message in `lang` (French when missing in that language), or None when no catalogue has it."""
    for candidate in dict.fromkeys((normalise_lang(lang), "fr")):
        text = catalogue(candidate).gettext(key)
        if text != key:  # gettext returns the id itself for a missing message
            return text
    return None


def has(key: str, lang: str = "fr") -> bool:
    return lookup(key, lang) is not None


def t(key: str, lang: str = "fr", **kwargs: object) -> str:
    """The `key` message in `lang`, formatted with `kwargs`."""
    text = lookup(key, lang)
    if text is None:
        raise KeyError(key)
    return text.format(**kwargs) if kwargs else text


def accept_language(header: str | None) -> Lang:
    """The interface language a browser asks for (Accept-Language), French unless English ranks first."""
    for part in (header or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        if tag.startswith(("en", "fr")):
            return normalise_lang(tag)
    return "fr"
