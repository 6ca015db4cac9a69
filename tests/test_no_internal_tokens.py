"""`internal_tokens`: what must never reach a customer outside quotes (snake_case, raw enum values, a bare
"none", template lines in the other language), and what must not be mistaken for it."""

from __future__ import annotations

import re

import pytest

from assistant.evaluation.metrics import internal_tokens
from assistant.evaluation.metrics.hygiene import foreign_line


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Règle appliquée : remaining_periods", "fr", ["remaining_periods"]),
    ("Base : not_subject_to_vat, motif customer_request", "fr", ["not_subject_to_vat", "customer_request"]),
    ("Montant : non chiffré = not stated", "fr", ["stated"]),
    ("Facture papier : 1,03 € ou 2,00 € = conflicting", "fr", ["conflicting"]),
    ("Frais de déménagement : 100.00 EUR none per move", "fr", ["none"]),
    ("Statut : None", "fr", ["None"]),
    ("Moving fee: 100.00 EUR none per move x 1", "en", ["none"]),
    ("Tax basis: none", "en", ["none"]),
    ("Status = stated", "en", ["stated"]),
    ("The documents disagree (`conflicting`).", "en", ["conflicting"]),
    ("Source: 003_3e031832c59a142d, clause 66", "en", ["003_3e031832c59a142d"]),
])
def test_internal_tokens_found(text, language, expected):
    assert internal_tokens(text, language) == expected


def test_english_template_line_in_a_french_reply():
    reply = ("**Coût de résiliation anticipée : 270,00 € HT**\n"
             "- The termination date is the first day without service; a month already in progress is billed.\n"
             "Le solde est dû jusqu'à la date anniversaire du contrat.")
    found = internal_tokens(reply, "fr")
    assert len(found) == 1 and found[0].startswith("en-line: - The termination date")
    french = "- La date de résiliation est le premier jour sans service ; le mois entamé est facturé.\n"
    assert internal_tokens(reply.replace(reply.splitlines()[1] + "\n", french), "fr") == []


def test_french_template_line_in_an_english_reply():
    reply = ("The early-termination cost is €270.00 excl. VAT.\n"
             "1. Frais d'annulation par service annulé : le montant est dû pour chaque service.")
    found = internal_tokens(reply, "en")
    assert len(found) == 1 and found[0].startswith("fr-line: 1. Frais d'annulation")
    # one side of a bilingual "English / français" template line is enough
    assert foreign_line("1. Maximum per quarter / maximum par période : 40 x 10% = 4, rounded down = 4 user(s)", "en")


@pytest.mark.parametrize(("text", "language"), [
    ("Le préavis est d'un mois avant l'échéance ; aucune indemnité n'est due.", "fr"),
    ("None of the documents states a fee for this; the price list is not part of them.", "en"),
    ("The amount is not stated in the documents: they point to the price list.", "en"),
    ("The clauses are conflicting: art. 11.1 says 60 months and art. 11.4 says 36 months.", "en"),
    ("Votre demande a été refusée.", "fr"),
    ("Voir https://www.proximus.be/fr/id_b_cl_termination ou écrivez à service_client@example.be.", "fr"),
    # quoted text is the document's, not the assistant's
    ("Selon l'article 8.5.1 :\n> « The customer_request clause » none\nLe montant est de 4,39 €.", "fr"),
    ("Le texte dit « the termination date is the first day without service » mot pour mot.", "fr"),
    ('The contract says "la résiliation se fait par lettre recommandée à la poste" (art. 8A).', "en"),
    ("Under art. 8C (quoted in the original French):\n“Le constat par Luxembourg Online de l'une des hypothèses "
     "décrites ci-dessus peut entraîner l'interruption immédiate”\n— art. 8C, *Luxembourg Online – conditions "
     "générales*", "en"),
    ("**Sources**\n\n> « pour les Clients professionnels qui ne possèdent pas plus de cinq numéros »\n"
     "> — art. 66, *Proximus – Conditions générales du Service de téléphonie VoIP*", "en"),
    ("Réponse __importante__ : 30 jours.", "fr"),
    ("Porting costs: **€500.00 excl. VAT** (Service de telephonie fixe, art. 2).", "en"),  # a French part name
    ("", "fr"),
])
def test_internal_tokens_clean(text, language):
    assert internal_tokens(text, language) == []


def test_every_unit_a_price_is_given_per_has_words_in_both_languages():
    # a unit without a translation would be printed as its key ("/half_day") in a reply
    import yaml

    from assistant.config import get_settings

    settings = get_settings()
    templates = yaml.safe_load((settings.prompts_dir / "answers.yaml").read_text(encoding="utf-8"))
    used = set()
    for path in settings.rules_dir.glob("*.yaml"):
        used |= set(re.findall(r"\bper: ([a-z_]+)", path.read_text(encoding="utf-8")))
    for language in ("fr", "en"):
        assert not used - set(templates[language]["per"]), language
