"""Interface text in French and English.

One flat table keyed by message id keeps the two languages side by side, so a missing translation is
visible in review and `t()` can fall back to French (the language of the documents) instead of crashing.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")

STRINGS: dict[str, dict[Lang, str]] = {
    "title": {"fr": "Assistant conditions générales télécom", "en": "Telecom terms & conditions assistant"},
    "subtitle": {
        "fr": "Posez votre question sur votre contrat : les réponses citent les articles exacts des conditions générales.",
        "en": "Ask about your contract: answers quote the exact clauses of the terms and conditions.",
    },
    "ui_language": {"fr": "Langue de l'interface", "en": "Interface language"},
    "operator": {"fr": "Votre opérateur", "en": "Your operator"},
    "operator_unknown": {"fr": "Je ne sais pas", "en": "I don't know"},
    "placeholder": {
        "fr": "Ex. : Je veux résilier mon abonnement, quel est le préavis ?",
        "en": "e.g. I want to cancel my subscription, what is the notice period?",
    },
    "chat_label": {"fr": "Conversation", "en": "Conversation"},
    "chat_placeholder": {
        "fr": "Bonjour ! Je réponds à partir des conditions générales de votre opérateur, en citant les articles.",
        "en": "Hello! I answer from your operator's terms and conditions and quote the clauses.",
    },
    "send": {"fr": "Envoyer", "en": "Send"},
    "new_conversation": {"fr": "Nouvelle conversation", "en": "New conversation"},
    "examples": {"fr": "Exemples de questions", "en": "Example questions"},
    "sources": {"fr": "Sources citées", "en": "Cited sources"},
    "no_sources": {"fr": "Aucune source pour cette réponse.", "en": "No sources for this answer."},
    "sources_heading": {"fr": "Références (détail dans « Sources citées »)", "en": "References (full text under “Cited sources”)"},
    "quote_not_located": {
        "fr": "Texte de l'article indisponible ; extrait cité :",
        "en": "Clause text unavailable; quoted excerpt:",
    },
    "feedback_thanks": {"fr": "Merci pour votre avis !", "en": "Thanks for your feedback!"},
    "feedback_comment": {"fr": "Un commentaire ? (facultatif)", "en": "Any comment? (optional)"},
    "feedback_send": {"fr": "Envoyer le commentaire", "en": "Send comment"},
    "feedback_comment_saved": {"fr": "Commentaire enregistré, merci.", "en": "Comment saved, thank you."},
    "handoff_offer": {
        "fr": "Je ne peux pas répondre avec certitude à partir des documents. Voulez-vous que je transmette la "
        "conversation à un conseiller ?",
        "en": "I can't answer this reliably from the documents. Shall I pass the conversation to an agent?",
    },
    "handoff_button": {"fr": "Parler à un conseiller", "en": "Talk to an agent"},
    "handoff_done": {
        "fr": "Votre demande n° {ref} a été transmise à un conseiller. Résumé du dossier :",
        "en": "Your request no. {ref} has been passed to an agent. Case summary:",
    },
    "summary_operator": {"fr": "Opérateur", "en": "Operator"},
    "summary_questions": {"fr": "Questions du client", "en": "Customer questions"},
    "summary_last_status": {"fr": "Dernier statut", "en": "Last status"},
    "summary_clauses": {"fr": "Articles consultés", "en": "Clauses consulted"},
    "unknown": {"fr": "inconnu", "en": "unknown"},
    "none": {"fr": "aucun", "en": "none"},
    "err_empty": {"fr": "Votre message est vide : écrivez votre question.", "en": "Your message is empty: please type a question."},
    "err_too_long": {
        "fr": "Votre message fait {n} caractères ; la limite est de {limit}. Résumez votre question en quelques phrases.",
        "en": "Your message is {n} characters long; the limit is {limit}. Please sum up your question in a few sentences.",
    },
    "err_binary": {
        "fr": "Votre message ressemble à des données binaires ou illisibles, pas à du texte. Écrivez votre question en clair.",
        "en": "Your message looks like binary or unreadable data, not text. Please type your question in plain words.",
    },
    "err_invalid_unicode": {
        "fr": "Votre message contient des caractères invalides (ce n'est pas du texte UTF-8 valide). Retapez votre "
        "question plutôt que de la coller.",
        "en": "Your message contains invalid characters (it is not valid UTF-8 text). Please type your question "
        "instead of pasting it.",
    },
    "err_internal": {
        "fr": "Désolé, un problème technique m'empêche de répondre. Réessayez dans un instant.",
        "en": "Sorry, a technical problem prevents me from answering. Please try again in a moment.",
    },
    "truncated_message": {"fr": "[message de {n} caractères, non traité]", "en": "[{n}-character message, not processed]"},
    "invalid_unicode_message": {"fr": "[texte invalide, non traité]", "en": "[invalid text, not processed]"},
    "binary_message": {"fr": "[données binaires, non traitées]", "en": "[binary data, not processed]"},
    "status_answered": {"fr": "Réponse", "en": "Answered"},
    "status_clarify": {"fr": "Précision demandée", "en": "Clarification needed"},
    "status_refused": {"fr": "Hors périmètre", "en": "Declined"},
    "status_not_found": {"fr": "Non trouvé dans les documents", "en": "Not found in the documents"},
    # agent sidebar
    "sidebar_title": {"fr": "Assistant conseiller", "en": "Agent assistant"},
    "sidebar_question": {"fr": "Question / faits du dossier", "en": "Question / account facts"},
    "sidebar_placeholder": {
        "fr": "pro, 8 numéros, CDD 24 mois depuis 01/01/2024, 120 €/mois, résiliation au 01/04/2025 ?",
        "en": "business, 8 lines, 24-month term since 01/01/2024, €120/month, cancel on 01/04/2025?",
    },
    "ask": {"fr": "Demander", "en": "Ask"},
    "new_case": {"fr": "Nouveau dossier", "en": "New case"},
    "answer": {"fr": "Réponse", "en": "Answer"},
    "reply_to_customer": {"fr": "Réponse à envoyer au client", "en": "Reply to customer"},
    "calculators": {"fr": "Calculateurs", "en": "Calculators"},
    "compute": {"fr": "Calculer", "en": "Compute"},
    "tool_trace": {"fr": "Trace des outils (dernière réponse)", "en": "Tool trace (last answer)"},
    "no_tools": {"fr": "Aucun outil utilisé.", "en": "No tool used."},
    "no_calculators": {"fr": "Aucun calculateur disponible.", "en": "No calculator available."},
    "calc_amount": {"fr": "Résultat", "en": "Result"},
    "calc_status": {"fr": "Statut", "en": "Status"},
    "calc_steps": {"fr": "Détail du calcul", "en": "Step by step"},
    "calc_assumptions": {"fr": "Hypothèses", "en": "Assumptions"},
    "calc_warnings": {"fr": "Avertissements", "en": "Warnings"},
    "calc_citations": {"fr": "Articles utilisés", "en": "Clauses used"},
    "calc_not_stated": {
        "fr": "Les documents ne donnent pas ce montant.",
        "en": "The documents do not state this amount.",
    },
    "calc_invalid": {"fr": "Saisie invalide", "en": "Invalid input"},
    "calc_failed": {"fr": "Le calcul a échoué", "en": "The calculation failed"},
    "required": {"fr": "obligatoire", "en": "required"},
    "date_hint": {"fr": "AAAA-MM-JJ", "en": "YYYY-MM-DD"},
}


def t(key: str, lang: str = "fr", **kwargs: object) -> str:
    """The `key` message in `lang` (French when the language or the key's translation is missing)."""
    entry = STRINGS[key]
    text = entry.get(lang) or entry["fr"]  # type: ignore[call-overload]
    return text.format(**kwargs) if kwargs else text


def normalise_lang(value: str | None) -> Lang:
    return "en" if (value or "").lower().startswith("en") else "fr"
