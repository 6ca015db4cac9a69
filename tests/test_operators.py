"""OperatorMatcher: longest mention first, whole words only, and strip() never eats the words around a name."""

from __future__ import annotations

import pytest
import yaml

from assistant.config import ROOT
from assistant.corpus.operators import OperatorMatcher


def manifest_names() -> dict[str, list[str]]:
    manifest = yaml.safe_load((ROOT / "knowledge" / "manifest.yaml").read_text(encoding="utf-8"))
    names: dict[str, list[str]] = {}
    for entry in manifest["documents"]:
        names.setdefault(entry["operator"], []).extend(entry.get("operator_aliases", []))
    return names


@pytest.fixture(scope="module")
def matcher() -> OperatorMatcher:
    return OperatorMatcher(manifest_names())


@pytest.mark.parametrize(("text", "stripped"), [
    ("Proximus VoIP préavis", "préavis"),  # overlapping "Proximus" / "Proximus VoIP": the word after stays
    ("Proximus VoIP préavis de résiliation ?", "préavis de résiliation ?"),
    ("proximus voip préavis", "préavis"),
    ("Quel préavis chez Proximus Téléphonie VoIP pour 8 lignes ?", "Quel préavis chez pour 8 lignes ?"),
    ("PROXIMUS\nVoIP préavis", "préavis"),  # a line break inside a product name
    ("Crossing Telecom et CT : frais", "et : frais"),
    ("CE+T résiliation", "résiliation"),
    ("cœur Proximus VoIP préavis", "cœur préavis"),  # folding changes the length before the name
    ("Straße Proximus préavis", "Straße préavis"),
    ("e\u0301te\u0301 Proximus VoIP préavis", "e\u0301te\u0301 préavis"),  # decomposed accents
])
def test_strip_removes_names_and_keeps_every_other_word(matcher: OperatorMatcher, text: str, stripped: str) -> None:
    assert matcher.strip(text) == stripped


@pytest.mark.parametrize("text", [
    "Proximusien préavis",  # a longer word is not the name
    "CE+Tx frais",
    "ct minuscule",  # short aliases are case-sensitive: "ct" is not "CT"
    "Easy2Phones",
])
def test_names_only_match_whole_words(matcher: OperatorMatcher, text: str) -> None:
    assert matcher.find(text) == []
    assert matcher.strip(text) == text


def test_find_lists_operators_in_order_of_first_mention(matcher: OperatorMatcher) -> None:
    assert matcher.find("CMI ou Proximus VoIP ? et Crossing") == ["CMI Services", "Proximus", "Crossing Telecom"]
    assert matcher.find("Proximus VoIP puis Proximus") == ["Proximus"]


def test_overlapping_names_of_two_operators_resolve_to_the_longest() -> None:
    matcher = OperatorMatcher({"Alpha": ["Alpha Net"], "Net Mobile": []})
    # "Alpha Net Mobile": "Alpha Net" and "Net Mobile" overlap; the longer wins, then "Alpha" still fits.
    assert [(m.start, m.end) for m in matcher.mentions("Alpha Net Mobile frais")] == [(0, 5), (6, 16)]
    assert matcher.find("Alpha Net Mobile frais") == ["Alpha", "Net Mobile"]
    assert matcher.strip("Alpha Net Mobile frais") == "frais"  # noqa: B005 (OperatorMatcher.strip)
    short_inside_long = OperatorMatcher({"Orange Business": [], "Orange": []}, exact=True)
    assert short_inside_long.find("chez Orange Business Services") == ["Orange Business"]
    assert short_inside_long.strip("chez Orange Business préavis") == "chez préavis"  # noqa: B005


def test_mentions_are_offsets_into_the_original_text(matcher: OperatorMatcher) -> None:
    text = "Œuvre: Proximus VoIP, préavis"
    [mention] = matcher.mentions(text)
    assert text[mention.start:mention.end] == "Proximus VoIP" and mention.operator == "Proximus"


def test_product_names_are_brand_shaped_words_of_one_operator_only():
    from assistant.corpus.operators import product_names

    texts = {"A": ["Offre NetBox Pro et VoIP. Les PAiements", "paiements mensuels"], "B": ["Service VoIP et Fast2Net"]}
    assert product_names(texts) == {"netbox": "A", "fast2net": "B"}  # VoIP is at both; "paiements" is a word
