"""Fast tests of the UI building blocks: input gate, rendering/escaping, forms, feedback store, sidebar auth."""

from __future__ import annotations

import base64
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from assistant.models import CalcResult, CalcStep, Citation, Clause, Reply
from assistant.ui.backend import MAX_MESSAGE_CHARS, check_message
from assistant.ui.calc_view import calc_result_html
from assistant.ui.feedback import FeedbackRecord, FeedbackStore, HandoffRecord
from assistant.ui.forms import FormInputError, fields_from_schema, payload_from_values
from assistant.ui.render import (
    answer_markdown,
    clause_label,
    escape_markdown_html,
    highlight,
    sources_html,
)
from assistant.ui.server import BasicAuthMiddleware

CITATION = Citation(doc_id="d1", operator="Proximus", clause_id="66", title="Résiliation",
                    quote="préavis d'un mois")
CLAUSE = Clause(doc_id="d1", operator="Proximus", clause_id="66", title="Résiliation",
                text="Le client <b>peut</b> résilier moyennant un\npréavis d'un mois & sans frais.", start=0, end=10)


# --------------------------------------------------------------------------- the input gate

@pytest.mark.parametrize(("raw", "rejection"), [
    ("", "empty"), ("   \n\t ", "empty"), (None, "empty"),
    ("a" * (MAX_MESSAGE_CHARS + 1), "too_long"),
    ("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("".join(chr(c) for c in range(1, 32)) * 5, "binary"),
    ("\ufffd" * 30 + "abc", "binary"),
])
def test_bad_messages_are_rejected(raw: str | None, rejection: str) -> None:
    assert check_message(raw).rejection == rejection


def test_real_text_passes_and_a_stray_control_character_is_stripped() -> None:
    text = "Je veux résilier mon contrat, quel préavis ? " * 5 + "\x07"
    checked = check_message(text)
    assert checked.rejection is None and "\x07" not in checked.text and checked.text.startswith("Je veux")
    assert check_message("a" * MAX_MESSAGE_CHARS).rejection is None


# --------------------------------------------------------------------------- rendering

def test_highlight_escapes_and_marks_the_quote_across_line_breaks() -> None:
    html = highlight(CLAUSE.text, "préavis d'un mois")  # the clause has "un\npréavis": same span, exact
    assert "<mark>préavis d&#x27;un mois</mark>" in html
    assert "&lt;b&gt;peut&lt;/b&gt;" in html and "<b>" not in html and "&amp; sans" in html
    tolerant = highlight(CLAUSE.text, "moyennant un préavis")  # quote with a space where the text breaks
    assert "<mark>moyennant un\npréavis</mark>" in tolerant


def test_a_quote_that_is_not_in_the_text_is_not_marked_inside_it() -> None:
    assert "<mark>" not in highlight(CLAUSE.text, "trois mois")


def test_sources_panel_shows_the_clause_text_with_the_quote_highlighted() -> None:
    html = sources_html([CITATION], lambda d, c, p=None: CLAUSE, "fr", {"d1": "CG Proximus"})
    assert 'data-clause="66"' in html and "<mark>préavis d&#x27;un mois</mark>" in html and "CG Proximus" in html
    missing = sources_html([CITATION], lambda d, c, p=None: None, "en")
    assert "Clause text unavailable" in missing and "<mark>préavis d&#x27;un mois</mark>" in missing


def test_answer_markdown_collapses_the_sources_and_neutralises_html() -> None:
    reply = Reply(answer="Vous pouvez <script>x</script> résilier.", citations=[CITATION])
    text = answer_markdown(reply)
    assert "&lt;script>" in text and "<script>" not in text
    assert text.index("résilier") < text.index('<details class="answer-sources">')  # the answer first
    assert "<summary>Sources (1) : art. 66</summary>" in text and "« préavis d'un mois »" in text
    assert escape_markdown_html("**a** < b\n> « quote »") == "**a** &lt; b\n> « quote »"  # Markdown survives


def test_clause_labels() -> None:
    assert clause_label("8.5.12") == "art. 8.5.12"
    assert clause_label("ARTICLE 12") == "ARTICLE 12"
    assert clause_label("7", "CP Téléphonie mobile") == "CP Téléphonie mobile, art. 7"


def test_calc_result_html_shows_amount_breakdown_and_escapes() -> None:
    result = CalcResult(tool="x", amount=Decimal("960.00"), unit="EUR", tax_basis="HT",
                        breakdown=[CalcStep(label="<i>mois</i>", formula="8 x 120", value="960.00")],
                        warnings=["attention"])
    html = calc_result_html(result.model_dump(mode="json"), "fr")
    assert "960,00 € HT" in html and "8 × 120" in html and "&lt;i&gt;mois&lt;/i&gt;" in html
    assert "Avertissements" in html
    not_stated = calc_result_html(CalcResult(tool="x", status="not_stated"), "en")
    assert "do not state" in not_stated


# --------------------------------------------------------------------------- calculator forms

class DemoInput(BaseModel):
    operator: str = Field(description="Operator")
    monthly_fee: Decimal = Field(description="Fee in EUR")
    months: int | None = None
    lines: int = 1
    kind: Literal["business", "consumer"] = "business"
    start: date
    vat: bool = False


def test_form_fields_follow_the_typed_input() -> None:
    fields = {f.name: f for f in fields_from_schema(DemoInput.model_json_schema())}
    assert {name: f.kind for name, f in fields.items()} == {
        "operator": "text", "monthly_fee": "number", "months": "integer", "lines": "integer", "kind": "choice",
        "start": "date", "vat": "bool"}
    assert fields["kind"].choices == ["business", "consumer"] and fields["kind"].default == "business"
    assert fields["monthly_fee"].required and not fields["months"].required


def test_payload_drops_blanks_keeps_decimals_exact_and_reads_french_amounts_and_dates() -> None:
    fields = fields_from_schema(DemoInput.model_json_schema())
    payload = payload_from_values(fields, ["Proximus", "1 234,56 €", "", "2", "consumer", "01/12/2026", False])
    assert payload == {"operator": "Proximus", "monthly_fee": "1234.56", "lines": 2, "kind": "consumer",
                       "start": "2026-12-01", "vat": False}
    assert DemoInput.model_validate(payload).monthly_fee == Decimal("1234.56")
    assert payload_from_values(fields, ["P", "45,50", None, "1", "business", "2026-12-01", True])["monthly_fee"] == "45.50"


@pytest.mark.parametrize(("values", "message"), [
    (["P", "", "", "1", "business", "2026-12-01", False], "Champs obligatoires manquants"),
    (["P", "45,5,0", "", "1", "business", "2026-12-01", False], "« 45,5,0 » n'est pas un nombre"),
    (["P", "45", "", "1,5", "business", "2026-12-01", False], "« 1,5 » n'est pas un nombre entier"),
    (["P", "45", "", "1", "business", "31/02/2026", False], "« 31/02/2026 » n'est pas une date valide"),
    (["P", "45", "", "1", "business", "12/2026", False], "« 12/2026 » n'est pas une date valide"),
])
def test_bad_form_values_are_named_in_the_agents_language(values: list[object], message: str) -> None:
    fields = fields_from_schema(DemoInput.model_json_schema())
    with pytest.raises(FormInputError) as caught:
        payload_from_values(fields, values, lang="fr")
    assert message in caught.value.message and "_" not in caught.value.message


# --------------------------------------------------------------------------- feedback store

def test_feedback_and_handoffs_round_trip(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "qa" / "feedback.sqlite3")
    record_id = store.add(FeedbackRecord(rating="down", question="q?", answer="a.", citations=[CITATION],
                                         operator="Proximus", status="answered", language="fr"))
    assert store.set_comment(record_id, "quote wrong") and not store.set_comment(record_id + 99, "x")
    [stored] = store.list()
    assert (stored.rating, stored.comment, stored.citations) == ("down", "quote wrong", [CITATION])
    ref = store.add_handoff(HandoffRecord(summary="- Opérateur : Proximus", transcript=[{"question": "q?"}]))
    assert store.list_handoffs()[0].id == ref
    with sqlite3.connect(store.path) as db:  # plain SQL is enough for QA to read it
        assert db.execute("SELECT count(*) FROM feedback WHERE rating = 'down'").fetchone() == (1,)


# --------------------------------------------------------------------------- sidebar auth

def test_basic_auth_protects_only_the_sidebar() -> None:
    app = FastAPI()
    app.get("/agent/")(lambda: {"view": "sidebar"})
    app.get("/healthz")(lambda: {"status": "ok"})
    app.add_middleware(BasicAuthMiddleware, prefix="/agent", user="agent", password="s3cret")
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    denied = client.get("/agent/")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")
    assert client.get("/agent/", auth=("agent", "wrong")).status_code == 401
    assert client.get("/agent/", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    token = base64.b64encode(b"agent:s3cret").decode()
    assert client.get("/agent/", headers={"Authorization": f"Basic {token}"}).json() == {"view": "sidebar"}
    assert client.get("/agentx").status_code == 404  # a prefix match is a path-segment match
