"""What the views build from a Reply, without a browser: the agent's paste-ready reply, the breakdown,
the tool trace, the chat bubble's sources, and the hand-off (when, what it collects, what it stores)."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from assistant.models import CalcResult, CalcStep, Citation, Reply, ReplyStatus, ToolTrace
from assistant.tools.registry import CALCULATORS
from assistant.ui.calc_forms import CalcForm, make_compute
from assistant.ui.calc_view import breakdown_table, main_result, tool_trace_html
from assistant.ui.feedback import FeedbackStore, HandoffRecord
from assistant.ui.forms import fields_from_schema
from assistant.ui.handoff import QA, asks_for_human, case_summary, check_form, is_request_only, should_offer
from assistant.ui.paste import paste_reply
from assistant.ui.render import answer_markdown, split_answer

SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
NNBSP = "\u202f"
RULE = Citation(doc_id="px", operator="Proximus", clause_id="66", doc_title="CG VoIP Proximus",
                quote="une indemnité équivalente aux redevances mensuelles")
TERM = Citation(doc_id="px", operator="Proximus", clause_id="4", doc_title="CG VoIP Proximus",
                quote="le contrat court sans terme fixé")


def early_termination(months: int, fee: str = "120.00") -> ToolTrace:
    amount = Decimal(fee) * months
    result = CalcResult(
        tool="early_termination_cost", amount=amount, unit="EUR", tax_basis="not_subject_to_vat",
        breakdown=[CalcStep(label="Rule applied / règle appliquée", formula="Fees to term ‖ Redevances jusqu'au terme"),
                   CalcStep(label="Current commitment period / période d'engagement en cours",
                            formula="2024-01-01 .. 2025-12-31", value="24 months"),
                   CalcStep(label="Indemnity / indemnité", formula=f"{fee} x {months}", value=f"{amount} EUR")],
        citations=[RULE, TERM])
    return ToolTrace(name="early_termination_cost", input={"operator": "Proximus", "service": "voip_pbx",
                                                            "start_date": "2024-01-01", "reason": "customer_death",
                                                            "customer_type": "business"},
                     output=result.model_dump(mode="json"))


def reply(language: str = "fr", amount_text: str = "1 080,00 € non soumis à TVA") -> Reply:
    return Reply(answer=f"Coût de résiliation anticipée : **{amount_text}** (art. 66).\n\n**Sources**\n\n"
                        f"> « {RULE.quote} »\n> — art. 66, *CG VoIP Proximus*",
                 language=language, operator="Proximus", citations=[RULE, TERM],
                 tools=[ToolTrace(name="retriever", input={"query": "q", "k": 5}, output={"passages": []}),
                        early_termination(3), early_termination(9)])


# --------------------------------------------------------------------------- the agent's views

def test_paste_reply_is_a_polite_french_message_with_figure_arithmetic_and_clause() -> None:
    text = paste_reply(reply())
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Bonjour,"
    assert f"1{NNBSP}080,00 € non soumis à TVA" in paragraphs[1] and "Proximus" in paragraphs[1]
    assert paragraphs[2] == f"Calcul : 120,00 × 9 = 1{NNBSP}080,00 €."  # the service the answer states, not 3 months
    assert paragraphs[3] == "Référence : article 66, article 4 du document « CG VoIP Proximus »."
    assert paragraphs[-1] == "Cordialement," and "disposition" in paragraphs[-2]
    assert "**" not in text and "»\n>" not in text and "360" not in text


def test_paste_reply_follows_the_customers_language() -> None:
    text = paste_reply(reply("en", "€1,080.00 not subject to VAT"))
    assert text.startswith("Hello,") and text.endswith("Kind regards,")
    assert "€1,080.00 not subject to VAT" in text and "Calculation: 120.00 × 9 = 1080.00 €." in text
    assert "Reference: article 66, article 4 of “CG VoIP Proximus”." in text


def test_without_a_stated_figure_the_paste_reply_uses_the_answers_words_and_no_calculation() -> None:
    clarify = reply().model_copy(update={"answer": "- Redevances jusqu'au terme (art. 66).\n\nQuel service ?",
                                          "status": ReplyStatus.CLARIFY})
    assert main_result(clarify) is None
    text = paste_reply(clarify)
    assert "Redevances jusqu'au terme (art. 66).\n\nQuel service ?" in text and "Calcul" not in text


def test_a_lead_that_announces_a_list_is_not_left_hanging() -> None:
    partial = reply().model_copy(update={"tools": [], "answer": (
        "Les conditions chiffrent une partie seulement ; voici ce qui est chiffré et ce qui ne l'est pas :\n\n"
        "**Détail du calcul**\n1. frais de dossier : 50 EUR\n2. frais de technicien : non chiffré\n\n"
        "**Sources**\n\n> « x »")})
    text = paste_reply(partial)
    assert "ne l'est pas :\n\n- frais de dossier : 50 EUR\n- frais de technicien : non chiffré" in text
    assert "Détail" not in text and "« x »" not in text


def test_breakdown_table_has_two_columns_in_the_readers_language() -> None:
    name, result = main_result(reply()) or ("", None)
    assert name == "early_termination_cost" and result is not None and result.amount == Decimal("1080.00")
    html = breakdown_table(result, "fr")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html)
    assert rows and all(row.count("<td") == 2 or 'colspan="2"' in row for row in rows)  # never a third column
    assert "période d&#x27;engagement en cours" in html and "01/01/2024 – 31/12/2025" in html and "24 mois" in html
    assert "Current commitment" not in html
    assert "Current commitment period" in breakdown_table(result, "en")


def test_tool_trace_names_tools_fields_and_values_without_identifiers() -> None:
    titles = {name: (calc.title_fr, calc.title_en) for name, calc in CALCULATORS.items()}
    error = ToolTrace(name="fee_lookup", input={"operator": "Proximus"},
                      output={"error": "kind: Field required / champ obligatoire manquant", "field": "kind"})
    shown = {}
    for lang in ("fr", "en"):
        html = tool_trace_html([*reply().tools, error], lang, titles, {"service": {"voip_pbx": "VoIP PBX"}})
        shown[lang] = re.sub(r"<[^>]+>", " ", html)
        assert SNAKE.findall(shown[lang]) == [], shown[lang]
    assert "Coût de résiliation anticipée" in shown["fr"] and "Décès du client" in shown["fr"]
    assert "Early-termination cost" in shown["en"] and "Death of the customer" in shown["en"]
    assert "Professionnel" in shown["fr"] and "business" not in shown["fr"]
    assert "VoIP PBX" in shown["en"] and "Recherche dans les documents" in shown["fr"]


def test_calculator_form_accepts_day_first_dates_and_decimal_commas_and_names_bad_fields() -> None:
    calculator = CALCULATORS["early_termination_cost"]
    form = CalcForm("early_termination_cost", calculator, fields_from_schema(calculator.input_model.model_json_schema()))
    values = {"operator": "Crossing Telecom", "service": "fibre", "monthly_fee": "45,50",
              "start_date": "01/12/2025", "termination_date": "01/03/2026"}
    compute = make_compute(form)
    html = compute("fr", *[values.get(f.name, f.default) for f in form.fields])
    assert 'class="calc-amount"' in html and "409,50" in html, html
    values["termination_date"] = "32/03/2026"
    bad = compute("en", *[values.get(f.name, f.default) for f in form.fields])
    assert "Termination date" in bad and "not a valid date" in bad and "_" not in re.sub(r"<[^>]+>", "", bad)


# --------------------------------------------------------------------------- the chat bubble

def test_each_quote_is_shown_once_under_the_answer() -> None:
    quote = f"> « {RULE.quote} »\n> — art. 66, *CG*"
    answer = f"Réponse : **1 mois** (art. 66).\n\n**Sources**\n\n{quote}\n\n{quote}\n\n**Voir aussi**\n\n{quote}"
    body, sources = split_answer(answer)
    assert body == ["Réponse : **1 mois** (art. 66)."] and sources == [quote]
    text = answer_markdown(Reply(answer=answer, citations=[RULE, RULE]))
    assert text.count(RULE.quote) == 1 and text.index("1 mois") < text.index("<details")


def test_a_quote_inside_a_longer_quote_is_not_shown_again() -> None:
    short, long = "> « Tout mois commencé est dû. »\n> — art. 4", "> « Fibre - Tout mois commencé est dû. »\n> — art. 4"
    body, sources = split_answer(f"Réponse.\n\n**Sources**\n\n{short}\n\n{long}")
    assert sources == [long]


def test_a_quote_the_answer_introduces_stays_in_the_answer() -> None:
    answer = f"Le passage le plus proche est l'art. 66 :\n\n> « {RULE.quote} »\n> — art. 66, *CG*"
    body, sources = split_answer(answer)
    assert len(body) == 2 and sources == []
    assert answer_markdown(Reply(answer=answer, citations=[RULE])).count(RULE.quote) == 1


# --------------------------------------------------------------------------- hand-off

@pytest.mark.parametrize(("text", "asks", "only"), [
    ("Je voudrais parler à un conseiller", True, True),
    ("I'd like to talk to someone please", True, True),
    ("Pouvez-vous me rappeler demain ?", True, True),
    ("Quel préavis pour résilier ma ligne fixe ?", False, False),
    ("Pouvez-vous me conseiller sur le préavis de ma ligne ?", False, False),
    ("Un conseiller en boutique m'a parlé de frais de dossier pour résilier, est-ce prévu par les conditions ?",
     True, False),
])
def test_a_request_for_a_person_is_recognised(text: str, asks: bool, only: bool) -> None:
    assert asks_for_human(text) is asks and is_request_only(text) is only


def test_a_human_is_offered_only_for_unanswered_in_scope_questions() -> None:
    assert should_offer(Reply(answer="x", status=ReplyStatus.NOT_FOUND))
    for status in (ReplyStatus.REFUSED, ReplyStatus.ANSWERED, ReplyStatus.CLARIFY):
        assert not should_offer(Reply(answer="x", status=status))


@pytest.mark.parametrize(("name", "contact", "consent", "error"), [
    ("", "ana@example.lu", True, "nom"),
    ("Ana", "pas un contact", True, "e-mail ou un numéro"),
    ("Ana", "12", True, "e-mail ou un numéro"),
    ("Ana", "+352 621 123 456", False, "Cochez la case"),
])
def test_the_form_says_what_to_fix(name: str, contact: str, consent: bool, error: str) -> None:
    checked = check_form(name, contact, consent, "fr")
    assert isinstance(checked, str) and error in checked


def test_case_summary_reads_in_ten_seconds() -> None:
    request = check_form("Ana Lima", "ana@example.lu", True, "fr")
    assert not isinstance(request, str) and request.channel == "email"
    turns = [QA(question="Une recette de crêpes ?", reply=Reply(answer="Je ne traite que les contrats.",
                                                               status=ReplyStatus.REFUSED)),
             QA(question="Combien coûte un duplicata de facture papier ?",
                reply=Reply(answer="Les documents de **Proximus** ne donnent pas cette information.\n\n"
                                   "**Sources**\n\n> « x »", status=ReplyStatus.NOT_FOUND, citations=[RULE]))]
    summary = case_summary(turns, "Proximus", "fr", request)
    lines = summary.splitlines()
    assert len(lines) <= 6 and len(summary.split()) <= 80
    assert lines[0] == "**Proximus** · Non trouvé dans les documents · 2 question(s)"
    assert "duplicata" in lines[1] and "ne donnent pas cette information" in lines[2] and "art. 66" in lines[3]
    assert "crêpes" in summary and "Ana Lima, par e-mail, consentement donné" in lines[-1]
    assert "ana@example.lu" not in summary  # the contact has its own column


def test_contact_details_are_stored_only_with_consent_and_free_text_stays_redacted(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        HandoffRecord(summary="s", customer_name="Ana", contact="ana@example.lu")
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add_handoff(HandoffRecord(summary="client : ana@example.lu", transcript=[{"question": "06 12 34 56 78"}],
                                    customer_name="Ana", contact="ana@example.lu", contact_channel="email",
                                    consent=True))
    [stored] = store.list_handoffs()
    assert (stored.customer_name, stored.contact, stored.consent) == ("Ana", "ana@example.lu", True)
    assert "ana@example.lu" not in stored.summary and "06 12" not in stored.transcript[0]["question"]


def test_an_older_handoff_table_gets_the_contact_columns(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE handoffs (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, "
                   "session_id TEXT, operator TEXT, summary TEXT NOT NULL, transcript TEXT NOT NULL)")
        db.execute("INSERT INTO handoffs (created_at, summary, transcript) VALUES ('2026-01-01', 'old', '[]')")
    store = FeedbackStore(path)
    assert store.list_handoffs()[0].consent is False
    store.add_handoff(HandoffRecord(summary="new", customer_name="Ana", contact="+352 621 000 000",
                                    contact_channel="phone", consent=True))
    assert store.list_handoffs()[0].contact == "+352 621 000 000"
    assert b"621 000 000" not in b"".join(p.read_bytes() for p in tmp_path.glob("feedback.sqlite3*"))
    assert (tmp_path / "handoff.key").stat().st_mode & 0o077 == 0  # the key beside it is owner-only
    assert FeedbackStore(path, key=Fernet.generate_key().decode()).list_handoffs()[0].contact is None  # wrong key
