"""The interface's message catalogue: one gettext catalogue per language, complete, compiled, and used.

What a customer or an agent reads comes from `assistant/ui/locale/{fr,en}/LC_MESSAGES/ui.po`: these tests
fail when a message is missing in one language, left untranslated, not recompiled, or when the code asks
for a key no catalogue has (which would put an identifier on screen).
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from assistant.models import FactStatus, ReplyStatus, TaxBasis
from assistant.tools.registry import CALCULATORS
from assistant.ui import i18n
from assistant.ui.forms import choice_label, field_help, field_label, fields_from_schema
from assistant.ui.po import LOCALE_DIR, PoError, compile_mo, parse_po, stale

UI_DIR = Path(i18n.__file__).parent
CATALOGUES = {lang: parse_po((LOCALE_DIR / lang / "LC_MESSAGES" / "ui.po").read_text(encoding="utf-8"))
              for lang in ("fr", "en")}
# The same word in both languages, on purpose.
SAME_IN_BOTH = {"", "chat_label", "channel_email", "summary_questions_count", "lang_fr", "lang_en", "paste_article",
                "field.service", "field.km", "field.moving_cost.service", "field.fee_lookup.service",
                "field.outage_refund.service"}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_compiled_catalogues_match_their_sources() -> None:
    assert stale() == [], "run `python -m assistant.ui.po` after editing a .po file"


def test_both_languages_have_the_same_messages_with_the_same_placeholders() -> None:
    fr, en = CATALOGUES["fr"], CATALOGUES["en"]
    assert set(fr) == set(en)
    for key in fr:
        assert fr[key].strip() and en[key].strip(), f"empty message {key!r}"
        assert placeholders(fr[key]) == placeholders(en[key]), key


def test_english_messages_are_translated() -> None:
    fr, en = CATALOGUES["fr"], CATALOGUES["en"]
    untranslated = sorted(key for key in fr if fr[key] == en[key] and key not in SAME_IN_BOTH)
    assert untranslated == []


def test_every_message_the_code_asks_for_exists() -> None:
    used = set()
    for path in UI_DIR.glob("*.py"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
    assert len(used) > 50
    missing = sorted(key for key in used if key not in CATALOGUES["fr"])
    assert missing == []


def test_keys_built_from_data_exist_for_every_calculator_status_and_tax_basis() -> None:
    keys = [f"status_{s.value}" for s in ReplyStatus] + [f"fact_{s.value}" for s in FactStatus]
    keys += [f"tax_{b.value}" for b in TaxBasis if b is not TaxBasis.NONE]
    keys += [f"calc.{name}.{part}" for name in CALCULATORS for part in ("what", "description")]
    assert [key for key in keys if key not in CATALOGUES["fr"]] == []


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_calculator_field_and_choice_has_a_catalogue_label(lang: str) -> None:
    for name, calculator in CALCULATORS.items():
        for form_field in fields_from_schema(calculator.input_model.model_json_schema()):
            assert i18n.has(f"field.{name}.{form_field.name}") or i18n.has(f"field.{form_field.name}"), \
                f"{name}.{form_field.name} has no label"
            label = field_label(name, form_field, lang)
            assert "_" not in label and label != form_field.name
            assert "_" not in field_help(name, form_field, lang)
            for value in form_field.choices:
                assert i18n.has(f"choice.{form_field.name}.{value}"), f"{name}.{form_field.name}={value}"
                shown = choice_label(form_field.name, value, lang)
                assert shown != value and "_" not in shown


def test_t_formats_falls_back_and_refuses_unknown_keys() -> None:
    assert i18n.t("handoff_done", "en", name="Ana", ref=7, channel="phone").startswith("Thank you Ana")
    assert i18n.t("examples", "en") == "Example questions" and i18n.t("examples", "fr") == "Exemples de questions"
    with pytest.raises(KeyError):
        i18n.t("no_such_message", "fr")
    assert i18n.accept_language("en-GB,en;q=0.9,fr;q=0.8") == "en"
    assert i18n.accept_language("de-DE,fr;q=0.5") == "fr" and i18n.accept_language(None) == "fr"


def test_the_po_reader_rejects_broken_catalogues_and_compiles_what_gettext_reads() -> None:
    with pytest.raises(PoError, match="duplicate"):
        parse_po('msgid "a"\nmsgstr "x"\nmsgid "a"\nmsgstr "y"\n')
    with pytest.raises(PoError, match="no msgstr"):
        parse_po('msgid "a"\n')
    entries = parse_po('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                       'msgid "k"\nmsgstr ""\n"two "\n"lines \\"quoted\\""\n')
    assert entries["k"] == 'two lines "quoted"'
    import gettext
    import io

    assert gettext.GNUTranslations(io.BytesIO(compile_mo(entries))).gettext("k") == 'two lines "quoted"'
