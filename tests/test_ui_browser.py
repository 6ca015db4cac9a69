"""The customer chat and the agent sidebar, driven in Debian's headless Chromium against `python app.py`.

One app process and one browser for the module; each test opens its own page (its own chat session).
Screenshots of both views are saved to docs/screenshots/ for the README.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from conftest_ui import RunningApp, chromium, missing_pieces, send_chat, start_app, stop_app

from assistant.config import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.server]

SCREENSHOTS = ROOT / "docs" / "screenshots"
ANSWER_TIMEOUT_MS = 120_000

FRENCH_TERMINATION = "Comment résilier mon abonnement VoIP Proximus ?"
ENGLISH_QUESTION = "Proximus VoIP: how long is the notice period if I cancel?"

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    reason = missing_pieces()
    if reason:
        pytest.skip(reason)
    running = start_app(tmp_path_factory.mktemp("ui-app"))
    yield running
    stop_app(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from chromium()


@pytest.fixture
def page(browser, app: RunningApp):  # noqa: ANN001 (playwright types)
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def open_chat(page, app: RunningApp) -> None:  # noqa: ANN001
    page.goto(app.url + "/")
    page.wait_for_selector("#message textarea")


def bot_messages(page) -> list[str]:  # noqa: ANN001
    return [text.strip() for text in page.locator('#chatbot [data-testid="bot"]').all_inner_texts()]


def send(page, text: str) -> str:  # noqa: ANN001
    """Type `text` in the chat, send it, and return the new assistant message once it is final."""
    return send_chat(page, text, settle_ms=300, timeout_ms=ANSWER_TIMEOUT_MS).strip()  # the sources panel lands


def source_cards(page):  # noqa: ANN001, ANN201
    """The cards of the sources panel, which is collapsed under the chat: open it first."""
    if not page.locator("#sources").is_visible():
        open_accordion(page, "sources-panel")
        page.wait_for_selector("#sources", state="visible")
    return page.locator("#sources details.source-card")


def english_score(message: str) -> int:
    """> 0 for English, < 0 for French, judged on the answer's first line: the assistant's own words (what
    follows quotes the French documents, in any interface language)."""
    text = message.strip().splitlines()[0]
    # a quote inside that line is the document speaking (always French), not the assistant
    text = re.sub(r"«[^»]*»|“[^”]*”", " ", text)
    words = re.findall(r"[a-zà-ÿ']+", text.lower())
    english = sum(word in {"the", "you", "your", "is", "to", "of", "and", "must", "notice", "contract"}
                  for word in words)
    french = sum(word in {"le", "la", "les", "vous", "votre", "est", "de", "des", "et", "préavis", "contrat"}
                 for word in words)
    return english - french


def test_french_termination_question_shows_cited_clause_in_sources(page, app: RunningApp) -> None:  # noqa: ANN001
    open_chat(page, app)
    answer = send(page, FRENCH_TERMINATION)

    cards = source_cards(page)
    assert cards.count() >= 1, f"no source card for an answered termination question; answer: {answer}"
    clause_id = cards.first.get_attribute("data-clause")
    assert clause_id and clause_id in answer, "the chat answer should name the clause shown in the sources"
    cards.first.locator("summary").click()
    highlighted = cards.first.locator("mark").first.inner_text().strip()
    clause_text = cards.first.locator(".clause-text").first.inner_text()
    assert len(highlighted) >= 10 and highlighted in clause_text
    assert english_score(answer) < 0, "a French question gets a French answer"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat.png"), full_page=True)


def test_english_question_is_answered_in_english(page, app: RunningApp) -> None:  # noqa: ANN001
    open_chat(page, app)
    answer = send(page, ENGLISH_QUESTION)
    assert english_score(answer) > 0, answer


def test_feedback_with_comment_is_stored(page, app: RunningApp) -> None:  # noqa: ANN001
    open_chat(page, app)
    answer = send(page, FRENCH_TERMINATION)
    # Gradio translates its own button labels with the browser locale (fr-FR here).
    page.locator("#chatbot button[aria-label=\"J'aime\"], #chatbot button[aria-label='Like']").last.click()
    page.locator("#feedback-comment textarea").fill("clair et bien sourcé (test navigateur)")
    page.click("#feedback-send")
    page.wait_for_selector("#feedback-status :text-matches('enregistré|saved')")

    with sqlite3.connect(app.feedback_db) as db:
        rows = db.execute("SELECT rating, comment, question, answer, citations FROM feedback").fetchall()
    assert ("up", "clair et bien sourcé (test navigateur)", FRENCH_TERMINATION) in [row[:3] for row in rows]
    stored = next(row for row in rows if row[2] == FRENCH_TERMINATION)
    first_word = next(w for w in stored[3].split() if w.strip("-*"))  # a bulleted answer's first item: not the "-"
    assert first_word.strip("*") in answer  # the answer stored is the one shown
    assert stored[4].startswith("[")  # citations stored as JSON for QA


def test_script_payload_is_shown_as_text_not_executed(page, app: RunningApp) -> None:  # noqa: ANN001
    open_chat(page, app)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    payload = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script><b>bold</b>'
    send(page, f"Résiliation {payload}")

    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    user_text = page.locator('#chatbot [data-testid="user"]').last.inner_text()
    assert '<img src=x onerror="window.__xss=1;alert(1)">' in user_text
    assert "<b>bold</b>" in user_text  # markup is shown literally, not rendered
    assert page.locator('#chatbot img[src="x"], #chatbot script').count() == 0


def test_bad_input_gets_a_clear_message_and_the_chat_keeps_serving(page, app: RunningApp) -> None:  # noqa: ANN001
    open_chat(page, app)
    assert "vide" in send(page, "   ")
    too_long = send(page, "résiliation " * 1700)  # ~20,000 characters
    assert "20" in too_long and "limite" in too_long
    binary = "".join(chr(code) for code in range(0, 32)) * 20 + "\ufffd\ufffdPNG\x1a\x00"
    assert "binaire" in send(page, binary)

    answer = send(page, FRENCH_TERMINATION)  # the app still answers
    assert source_cards(page).count() >= 1, answer


def test_unanswered_question_offers_a_handoff_with_a_case_summary(page, app: RunningApp) -> None:  # noqa: ANN001
    """A human is offered for an in-scope question the documents leave unanswered, never after a refusal."""
    open_chat(page, app)
    declined = send(page, "Donnez-moi une recette de gaufres de Bruxelles")
    assert "conseiller" not in declined and not page.locator("#handoff").is_visible()
    unanswered = send(page, "Chez Proximus, combien coûte un téléphone portable neuf à Bruxelles ?")
    assert "conseiller" in unanswered
    page.click("#handoff")
    page.locator("#handoff-name input, #handoff-name textarea").first.fill("Ana Test")
    page.locator("#handoff-contact input, #handoff-contact textarea").first.fill("+352 621 000 111")
    page.locator("#handoff-consent input").check()
    page.click("#handoff-submit")
    page.wait_for_function(
        """() => [...document.querySelectorAll('#chatbot [data-testid="bot"]')].some(
               m => m.innerText.includes('transmise'))""")
    summary = bot_messages(page)[-1]
    assert "Bruxelles" in summary and "Non trouvé" in summary  # the question and the last status
    with sqlite3.connect(app.feedback_db) as db:
        stored = db.execute("SELECT summary, transcript FROM handoffs").fetchall()
    assert any("Bruxelles" in transcript for _, transcript in stored)


def test_sidebar_answers_with_reply_to_customer_and_sources(page, app: RunningApp) -> None:  # noqa: ANN001
    page.set_viewport_size({"width": 420, "height": 1400})
    page.goto(app.url + "/agent/")
    page.locator("#agent-question textarea").fill("Proximus, résiliation : quel préavis ?")
    page.click("#agent-ask")
    page.wait_for_function("document.querySelector('#reply-to-customer textarea').value.trim().length > 0",
                           timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#agent-answer .status-badge").count() == 1
    assert page.locator("#agent-sources details.source-card").count() >= 1
    # screenshots of the sidebar: tests/test_ui_flows.py


def open_accordion(page, elem_id: str) -> None:  # noqa: ANN001
    page.locator(f"#{elem_id} > button").first.click()


def test_sidebar_calculator_form_computes_a_known_value(page, app: RunningApp) -> None:  # noqa: ANN001
    """Crossing Telecom, 120 €/month since 2024-01-01, terminated on 2025-04-01 (the DESIGN's agent example):
    the current 12-month renewal period (Jan-Dec 2025) leaves April to December unserved, since the termination
    date is the first day without service, so the indemnity is 9 × 120 = 1080.00 €."""
    page.set_viewport_size({"width": 420, "height": 1600})
    page.goto(app.url + "/agent/")
    page.wait_for_selector("#agent-question textarea")
    calc = "calc-early_termination_cost"
    open_accordion(page, "calculators")
    open_accordion(page, calc)

    page.click(f"#{calc}-run")  # required fields empty: a readable message, not a traceback
    error = page.locator(f"#{calc}-result .calc-error")
    error.wait_for()
    assert "Traceback" not in error.inner_text() and "Opérateur" in error.inner_text()

    operator = page.locator(f"#{calc}-operator input")
    operator.fill("Crossing Telecom")
    operator.press("Enter")
    page.locator(f"#{calc}-service textarea").fill("mobile")
    page.locator(f"#{calc}-monthly_fee textarea").fill("120,00")  # French decimal comma
    page.locator(f"#{calc}-start_date textarea").fill("2024-01-01")
    page.locator(f"#{calc}-termination_date textarea").fill("2025-04-01")
    page.click(f"#{calc}-run")
    page.wait_for_selector(f"#{calc}-result .calc-amount:text-matches('1.?080,00')")
    result = page.locator(f"#{calc}-result")
    assert "080,00" in result.locator(".calc-amount").inner_text()
    assert result.locator("table.calc-steps tr").count() >= 2  # the step-by-step breakdown is shown


def test_both_views_work_under_the_content_security_policy(page, app: RunningApp) -> None:  # noqa: ANN001
    """The app's CSP (assistant/ui/security.py) is strict enough to matter and loose enough for Gradio: no
    CSP violation in the console, and the sources panel (a gr.HTML, which needs 'unsafe-eval') renders."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    response = page.goto(app.url + "/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    page.wait_for_selector("#message textarea")
    send(page, FRENCH_TERMINATION)
    assert source_cards(page).count() >= 1
    page.goto(app.url + "/agent/")
    page.wait_for_selector("#agent-question textarea")
    page.wait_for_timeout(500)
    assert violations == []
