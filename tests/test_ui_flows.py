"""The three users in a real browser (Debian's headless Chromium against `python app.py`): a customer in the
chat at 1280 and 400 px, a call-centre agent in the sidebar at 400 px, and what neither page may show.

Screenshots of each view at 1280 px and 400 px are saved to docs/screenshots/.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from conftest_ui import RunningApp, chromium, running_app, send_chat

from assistant.config import ROOT
from assistant.models import FactStatus, ReplyStatus
from assistant.tools.registry import CALCULATORS
from assistant.ui.feedback import FeedbackStore
from assistant.ui.forms import fields_from_schema
from assistant.ui.po import LOCALE_DIR, parse_po

pytestmark = [pytest.mark.browser, pytest.mark.server]
playwright_api = pytest.importorskip("playwright.sync_api")

SHOTS = ROOT / "docs" / "screenshots"
ANSWER_MS = 120_000
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
# Every internal value a page could leak: calculator choices, reply and fact statuses.
RAW_VALUES = {value for calc in CALCULATORS.values()
              for f in fields_from_schema(calc.input_model.model_json_schema()) for value in f.choices}
RAW_VALUES |= {s.value for s in ReplyStatus} | {s.value for s in FactStatus}
RAW_VALUES -= {"HT", "TTC"}  # also the French words on invoices
FR = parse_po((LOCALE_DIR / "fr" / "LC_MESSAGES" / "ui.po").read_text(encoding="utf-8"))
EN = parse_po((LOCALE_DIR / "en" / "LC_MESSAGES" / "ui.po").read_text(encoding="utf-8"))
CHAT_CHROME = ["title", "operator", "ui_language", "send", "sources", "examples", "new_conversation",
               "example_1", "example_2", "example_3", "example_4"]

EARLY_TERMINATION_FR = ("Client professionnel chez Proximus en VoIP : 8 lignes facturées 120 € par mois, engagé "
                        "pour 24 mois à partir du 01/01/2024. S'il arrête au 01/04/2025, combien devra-t-il ?")
XDSL_FR = ("Chez Crossing Telecom, ma fibre xDSL coûte 45,50 € par mois depuis le 01/12/2024 ; si j'arrête le "
           "01/03/2025, que dois-je régler ?")
CORRECTION_FR = "Finalement mon contrat est chez Luxembourg Online : quel est le préavis ?"
ENGLISH_FR_UI = "Luxembourg Online internet: how many weeks ahead must I tell them I am leaving?"
RECIPE = "Une recette de tarte aux pommes, s'il vous plaît"
UNANSWERED = "Chez Proximus, quel est le prix d'un smartphone neuf en boutique ?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    yield from running_app(tmp_path_factory, "ui-flows")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from chromium()


def new_page(browser, width: int, locale: str = "fr-FR", height: int = 900):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def send(page, text: str) -> str:  # noqa: ANN001
    return send_chat(page, text, settle_ms=700, timeout_ms=ANSWER_MS)  # picker, language and scroll land


def answer_top_in_view(page) -> bool:  # noqa: ANN001
    """The newest answer's first line is inside the chat box's visible area."""
    return page.evaluate("""() => {
        const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
        const last = bots[bots.length - 1];
        let box = last.parentElement;
        while (box && !(box.scrollHeight > box.clientHeight + 2 &&
               /(auto|scroll)/.test(getComputedStyle(box).overflowY))) box = box.parentElement;
        const top = last.getBoundingClientRect().top;
        const area = (box || document.documentElement).getBoundingClientRect();
        return top >= area.top - 1 && top + 20 <= Math.min(area.bottom, window.innerHeight);
    }""")


def open_everything(page) -> None:  # noqa: ANN001
    """Open every accordion and every <details>, so that hidden text is checked too."""
    for _ in range(3):  # nested accordions appear once their parent is open
        for button in page.locator("button.label-wrap:not(.open)").all():
            if button.is_visible():
                button.click()
                page.wait_for_timeout(150)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(300)


def leaked_identifiers(page) -> list[str]:  # noqa: ANN001
    """snake_case identifiers in the visible text, and elements whose whole text is a raw internal value."""
    text = page.locator("body").inner_text()
    leaves = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.children.length === 0 && e.offsetParent !== null)
        .map(e => (e.innerText || e.textContent || '').trim()).filter(Boolean)""")
    return sorted(set(SNAKE.findall(text)) | {leaf for leaf in leaves if leaf in RAW_VALUES})


def chrome_text(page) -> str:  # noqa: ANN001
    """What the interface itself says: the page without the conversation and the documents' texts."""
    return page.evaluate("""() => {
        const clone = document.body.cloneNode(true);
        clone.querySelectorAll('#chatbot [data-testid="bot"], #chatbot [data-testid="user"], #sources')
             .forEach(e => e.remove());
        const holders = [...document.querySelectorAll('[placeholder]')].map(e => e.getAttribute('placeholder'));
        return clone.innerText + '\\n' + holders.join('\\n');
    }""")


# --------------------------------------------------------------------------- customer chat


def test_customer_correction_answer_in_view_and_each_quote_once(browser, app: RunningApp) -> None:  # noqa: ANN001
    page = new_page(browser, 1280)
    page.goto(app.url + "/")
    page.wait_for_selector("#message textarea")
    first = send(page, XDSL_FR)
    assert "409,50" in first and page.locator("#operator input").input_value() == "Crossing Telecom"
    assert answer_top_in_view(page), "after a reply the answer's first line must be in view"
    sources = page.locator('#chatbot [data-testid="bot"]').last.locator("details.answer-sources")
    assert sources.count() == 1 and sources.get_attribute("open") is None  # collapsed under the answer
    quotes = [q.strip() for q in sources.locator("blockquote").all_text_contents()]
    assert quotes and len(quotes) == len(set(quotes))
    whole = page.locator('#chatbot [data-testid="bot"]').last.text_content() or ""
    for quote in re.findall(r"«\s*(.+?)\s*»", "\n".join(quotes)):
        assert whole.count(quote) == 1, f"quote shown more than once: {quote[:60]}"

    corrected = send(page, CORRECTION_FR)
    assert page.locator("#operator input").input_value() == "Luxembourg Online"
    assert answer_top_in_view(page)
    assert "8A" in corrected or "Luxembourg Online" in corrected, corrected
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chat-1280.png"))
    page.context.close()


def test_interface_language_follows_the_customer_with_no_french_left(browser, app: RunningApp) -> None:  # noqa: ANN001
    page = new_page(browser, 1280)
    page.goto(app.url + "/")
    page.wait_for_selector("#message textarea")
    assert page.locator("#send").inner_text().strip() == FR["send"]  # French browser, French interface
    send(page, ENGLISH_FR_UI)
    page.wait_for_function(f"document.querySelector('#send')?.innerText.trim() === {EN['send']!r}")
    chrome = chrome_text(page)
    for key in CHAT_CHROME:
        assert EN[key] in chrome or EN[key][:40] in chrome, f"missing English {key}"
        assert FR[key][:40] not in chrome, f"French left in the English interface: {FR[key]}"
    page.context.close()

    english = new_page(browser, 1280, locale="en-GB")  # an English browser starts in English
    english.goto(app.url + "/")
    english.wait_for_function(f"document.querySelector('#send')?.innerText.trim() === {EN['send']!r}")
    assert FR["examples"] not in chrome_text(english)
    english.screenshot(path=str(SHOTS / "chat-en-1280.png"))
    english.context.close()


def test_handoff_on_request_with_consent_at_400_px(browser, app: RunningApp) -> None:  # noqa: ANN001
    page = new_page(browser, 400, height=1100)
    page.goto(app.url + "/")
    page.wait_for_selector("#message textarea")
    send(page, RECIPE)
    assert not page.locator("#handoff").is_visible() and not page.locator("#handoff-form").first.is_visible()
    unanswered = send(page, UNANSWERED)
    assert page.locator("#handoff").is_visible(), unanswered
    assert answer_top_in_view(page)

    send(page, "Je voudrais parler à un conseiller")
    form = page.locator("#handoff-form").first  # Gradio repeats a group's id on its inner block
    form.wait_for(state="visible")
    page.locator("#handoff-name input, #handoff-name textarea").first.fill("Ana Test")
    page.locator("#handoff-contact input, #handoff-contact textarea").first.fill("+352 621 000 222")
    page.click("#handoff-submit")
    page.wait_for_selector("#handoff-error :text-matches('Cochez la case')")
    page.screenshot(path=str(SHOTS / "chat-400.png"), full_page=True)
    page.locator("#handoff-consent input").check()
    page.click("#handoff-submit")
    page.wait_for_function("""() => [...document.querySelectorAll('#chatbot [data-testid="bot"]')]
        .some(m => m.innerText.includes('Ana Test'))""")
    assert not form.is_visible()
    with sqlite3.connect(app.feedback_db) as db:
        rows = db.execute("SELECT customer_name, contact FROM handoffs ORDER BY id DESC LIMIT 1").fetchall()
    assert "621 000 222" not in str(rows) and "Ana Test" not in str(rows)  # encrypted at rest
    stored = FeedbackStore(app.feedback_db).list_handoffs()[0]
    name, contact, channel, consent, summary = (stored.customer_name, stored.contact, stored.contact_channel,
                                                stored.consent, stored.summary)
    assert (name, contact, channel, consent) == ("Ana Test", "+352 621 000 222", "phone", True)
    lines = summary.splitlines()
    assert len(lines) <= 6 and lines[0].startswith("**Proximus**") and "smartphone" in summary
    assert "621 000 222" not in summary  # the free text stays redacted; the contact has its own column
    page.context.close()


# --------------------------------------------------------------------------- agent sidebar


def ask_sidebar(page, app: RunningApp, question: str) -> None:  # noqa: ANN001
    page.goto(app.url + "/agent/")
    page.locator("#agent-question textarea").fill(question)
    page.click("#agent-ask")
    page.wait_for_function("document.querySelector('#reply-to-customer textarea').value.trim().length > 0",
                           timeout=ANSWER_MS)
    page.wait_for_timeout(500)


def test_sidebar_shows_answer_breakdown_clause_and_reply_in_order_at_400_px(browser, app: RunningApp) -> None:  # noqa: ANN001
    page = new_page(browser, 400, height=1800)
    ask_sidebar(page, app, EARLY_TERMINATION_FR)
    order = ["#agent-answer", "#agent-breakdown table.calc-steps", "#agent-sources mark", "#reply-to-customer"]
    tops = []
    for selector in order:
        element = page.locator(selector).first
        assert element.is_visible(), f"{selector} is hidden: nothing should need opening"
        tops.append(element.bounding_box()["y"])
    assert tops == sorted(tops), f"order on screen: {tops}"

    table = page.locator("#agent-breakdown table.calc-steps")
    width = table.bounding_box()["width"]
    assert width <= 400 and page.evaluate(
        "document.querySelector('#agent-breakdown').scrollWidth <= document.querySelector('#agent-breakdown').clientWidth + 1")
    for formula in table.locator(".formula").all():
        box = formula.bounding_box()
        line = float(formula.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16"))
        lines = max(1, round(box["height"] / line))
        assert box["width"] >= 0.9 * width, "a formula squeezed into a narrow column"
        assert lines == 1 or len(formula.inner_text()) / lines >= 30, f"a formula wrapping every few characters ({lines} lines)"
    assert re.search(r"9 mois × 120,00", table.inner_text()) and "1\u202f080,00" in table.inner_text()

    reply = page.locator("#reply-to-customer textarea").input_value()
    assert reply.startswith("Bonjour,") and reply.rstrip().endswith("Cordialement,")
    assert "1\u202f080,00 €" in reply and "Calcul : 9 mois × 120,00 € = 1\u202f080,00 €." in reply
    assert "article 66" in reply and "**" not in reply
    page.screenshot(path=str(SHOTS / "sidebar.png"), full_page=True)
    page.screenshot(path=str(SHOTS / "sidebar-400.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "sidebar-1280.png"), full_page=True)

    page.locator("#reply-to-customer textarea").fill(reply + "\nAjout du conseiller")  # editable
    assert page.locator("#reply-to-customer textarea").input_value().endswith("Ajout du conseiller")
    assert page.locator("#reply-to-customer button").count() >= 1  # the copy button
    page.context.close()


def test_calculator_form_reads_french_dates_and_amounts_with_catalogue_labels(browser, app: RunningApp) -> None:  # noqa: ANN001
    page = new_page(browser, 400, height=1600)
    page.goto(app.url + "/agent/")
    page.wait_for_selector("#agent-question textarea")
    calc = "calc-early_termination_cost"
    page.locator("#calculators > button").first.click()
    page.locator(f"#{calc} > button").first.wait_for(state="visible")
    page.locator(f"#{calc} > button").first.click()
    page.locator(f"#{calc}-run").wait_for(state="visible")
    form = page.locator(f"#{calc}")
    assert FR["field.monthly_fee"] in form.inner_text() and FR["field.reason"] in form.inner_text()
    assert page.locator(f"#{calc}-reason input").input_value() == FR["choice.reason.customer_request"]
    operator = page.locator(f"#{calc}-operator input")
    operator.fill("Crossing Telecom")
    operator.press("Enter")
    page.locator(f"#{calc}-service textarea").fill("fibre")
    page.locator(f"#{calc}-monthly_fee textarea").fill("45,50")
    page.locator(f"#{calc}-start_date textarea").fill("01/12/2025")
    page.locator(f"#{calc}-termination_date textarea").fill("01/03/2026")
    page.click(f"#{calc}-run")
    page.wait_for_selector(f"#{calc}-result .calc-amount:text-matches('409,50')")
    result = page.locator(f"#{calc}-result")
    assert result.locator("table.calc-steps tr").count() >= 2
    result.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "sidebar-calculator.png"), full_page=True)

    page.locator(f"#{calc}-termination_date textarea").fill("31/02/2026")
    page.click(f"#{calc}-run")
    page.wait_for_selector(f"#{calc}-result .calc-error:text-matches('31/02/2026')")
    assert "_" not in page.locator(f"#{calc}-result").inner_text()

    page.locator("#agent-lang label:has-text('EN')").click()
    page.wait_for_function(f"document.querySelector('#{calc}').innerText.includes({EN['field.monthly_fee']!r})")
    assert FR["field.monthly_fee"] not in form.inner_text()
    page.context.close()


# --------------------------------------------------------------------------- nothing internal on screen


def test_no_identifier_or_raw_value_is_visible_on_either_page(browser, app: RunningApp) -> None:  # noqa: ANN001
    chat = new_page(browser, 1280)
    chat.goto(app.url + "/")
    chat.wait_for_selector("#message textarea")
    send(chat, XDSL_FR)
    open_everything(chat)
    assert leaked_identifiers(chat) == []
    chat.context.close()

    for width in (400, 1280):
        sidebar = new_page(browser, width, height=1600)
        ask_sidebar(sidebar, app, EARLY_TERMINATION_FR)
        open_everything(sidebar)
        for choice in sidebar.locator("#calc-early_termination_cost-reason input").all():
            choice.click()  # the choice list itself
            sidebar.wait_for_selector("[role=listbox] [role=option]")
            options = [o.replace("✓", "").strip() for o in sidebar.locator("[role=listbox] [role=option]").all_inner_texts()]
            assert len(options) == 4 and not set(options) & RAW_VALUES, options
            sidebar.keyboard.press("Escape")
        assert leaked_identifiers(sidebar) == [], f"at {width} px"
        sidebar.context.close()
