"""The abuse suite against the running app, part two: what tests/test_abuse.py leaves to a real browser, to the
files on disk and to load. `python app.py` runs on 127.0.0.1 with API keys and its conversations in the SQLite
store it uses by default (tests/conftest.py puts the other tests' conversations in memory).

- XSS: script, event-handler, `javascript:` and `data:` payloads, as HTML and as Markdown, inside a quoted span
  and a blockquote, through the customer chat, a feedback comment, the hand-off form and the agent sidebar
  (question and calculator form), in Debian's headless Chromium: no dialog opens, no payload runs (each sets a
  window flag), the views hold no active content (script, frame, event-handler attribute, executable URL) and
  the payload is shown as the text that was typed.
- Personal data: a web chat, a sidebar case and API conversations (server session, OpenAI history, stream, the
  `user` field) give a phone number, an IBAN, an e-mail address, a card number and a postal address, with a
  feedback comment and a hand-off; every file under the app's data dir and temp dirs and its log is then read
  byte by byte, while the app runs and after it stopped: none holds any of them in clear (nor their compact
  forms or their distinctive parts), and the stores are owner-only.
- Load: 50 conversations x 10 turns at once through server sessions (5 API keys) and the same 50 through
  OpenAI history (messages array, no session id), then each last request retried: no 5xx, no traceback, no
  other conversation's operator, figure or reference word in a reply, and the same answers through history as
  through the server session, turn by turn.

The counts go to eval/reports/abuse_app.md when the whole file has run.
"""

from __future__ import annotations

import re
import sqlite3
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from abuse_tally import Tallies, Tally, report_fixture
from conftest_ui import (
    CONVERSATION_STORE,
    FEEDBACK_DB,
    RunningApp,
    chromium,
    isolated_data_dir,
    missing_pieces,
    send_chat,
    start_app,
    stop_app,
)

from assistant.config import ROOT
from assistant.ui.feedback import FeedbackStore

pytestmark = [pytest.mark.server, pytest.mark.slow]
playwright_api = pytest.importorskip("playwright.sync_api")

REPORT = ROOT / "eval" / "reports" / "abuse_app.md"
ANSWER_MS = 120_000
URL = "/v1/chat/completions"
MODEL = "telecom-assistant"
# Five keys, customer and agent roles alternating (agents also get the reply to paste, checked for leaks too).
KEYS = [f"load-key-{index}-0123456789abcdef" for index in range(5)]
KEY_SPEC = ",".join(f"{key}:{'agent' if index % 2 else 'customer'}" for index, key in enumerate(KEYS))
CONVERSATIONS, TURNS = 50, 10


# --------------------------------------------------------------------------- counts and the report

SECTIONS = {
    "xss_chat": "XSS in the browser: customer chat messages",
    "xss_feedback": "XSS in the browser: feedback comment",
    "xss_handoff": "XSS in the browser: hand-off form",
    "xss_sidebar": "XSS in the browser: agent sidebar (question, calculator form)",
    "pii": "personal data: every file written, while running and after stop",
    "sessions": f"{CONVERSATIONS} conversations x {TURNS} turns, server sessions ({len(KEYS)} API keys)",
    "history": f"the same {CONVERSATIONS} x {TURNS}, OpenAI history (no session id), and each last request retried",
    "server_log": "server log after everything above",
}
tally = Tallies(SECTIONS)


report = report_fixture(tally, lambda: write_report())  # defined below


def write_report() -> None:
    rows = tally.table("what")
    notes, remarks = tally.lines("notes"), tally.lines("remarks")
    REPORT.write_text("\n".join([
        "# Abuse suite: browser, stores, load",
        "",
        "Written by `pytest tests/test_abuse_app.py` (part of `make test`), the second half of the abuse suite",
        "(`eval/reports/abuse.md` is the first). Loopback only: `python app.py` on 127.0.0.1 with API keys,",
        "conversations in the SQLite store the app uses by default; Debian's Chromium, headless.",
        "",
        *rows,
        "",
        "- XSS: inputs are payloads sent (as a chat message, a comment, a form field); answered = shown back in",
        "  the page; a policy break is a dialog, a payload's window flag set, active content in the view (script,",
        "  frame, event-handler attribute, `javascript:`/`data:` link) or a payload not shown as the typed text.",
        "- Personal data: inputs are the values given (phone, IBAN, e-mail, card, address) times the channels they",
        "  went through; a leak is a value, its compact form or a distinctive part of it found in clear in a file;",
        "  a policy break is a store readable by others. The hand-off form's callback contact (given with consent",
        "  to be called back) is encrypted at rest and must appear in clear in no file, its own column included.",
        "- Load: inputs are HTTP requests; a leak is another conversation's operator, monthly fee or reference",
        "  word in a reply; a policy break is an answer through OpenAI history different from the server",
        "  session's for the same turn, or a request that did not get its answer (not 200, or the pipeline's",
        "  \"internal error\" reply).",
        "",
        *remarks,
        "",
        *(["Problems seen:", "", *notes, ""] if notes else []),
    ]), encoding="utf-8")


# --------------------------------------------------------------------------- the app and the browser

@dataclass
class App:
    running: RunningApp
    data_dir: Path
    temp_dirs: list[Path]
    copied: set[Path]  # the files of the data dir before the app started (the index)

    @property
    def url(self) -> str:
        return self.running.url

    def log(self) -> str:
        return self.running.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop_app(self.running)


def launch(tmp_path_factory: pytest.TempPathFactory, name: str) -> App:
    reason = missing_pieces()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp(name)
    data_dir = isolated_data_dir(work / "app-data")  # the index only: the app creates both stores
    temp_dirs = [work / "tmp", work / "gradio-tmp"]
    for folder in temp_dirs:
        folder.mkdir()
    copied = set(files_under(data_dir))
    running = start_app(work, data_dir=data_dir, env={
        "ASSISTANT_CONVERSATION_STORE": "sqlite",
        "ASSISTANT_API_KEYS": KEY_SPEC,
        # hundreds of calls per key: the limit is raised (its 429 is tested in tests/test_rate_limits.py)
        "ASSISTANT_API_RATE_PER_MINUTE": "600000", "ASSISTANT_API_RATE_BURST": "100000",
        "TMPDIR": str(temp_dirs[0]), "GRADIO_TEMP_DIR": str(temp_dirs[1])})
    return App(running, data_dir, temp_dirs, copied)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    started = launch(tmp_path_factory, "abuse-app")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


class Page:
    """A page of its own browser context, recording every dialog and every page it opens."""

    def __init__(self, browser: Any, width: int = 1200, height: int = 900):
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.dialogs: list[str] = []
        self.popups: list[str] = []
        self.context.on("page", lambda page: self.popups.append(page.url))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    opened = Page(browser)
    yield opened
    opened.close()


def bot_texts(page: Any) -> list[str]:
    return [text.strip() for text in page.locator('#chatbot [data-testid="bot"]').all_inner_texts()]


def send(page: Any, text: str) -> str:
    """Send `text` in the chat; the new assistant message once it is final."""
    return send_chat(page, text, settle_ms=200, timeout_ms=ANSWER_MS).strip()


def like_last_answer(page: Any) -> None:
    page.locator("#chatbot button[aria-label=\"J'aime\"], #chatbot button[aria-label='Like']").last.click()
    page.wait_for_selector("#feedback-comment textarea", state="visible")


def open_accordion(page: Any, elem_id: str) -> None:
    page.locator(f"#{elem_id} > button").first.click()


# --------------------------------------------------------------------------- XSS

# name -> payload. Each one that ran would set window.__xss (or its frame's parent's) to its name.
def flag(name: str) -> str:
    return f"window.__xss='{name}'"


XSS: dict[str, str] = {
    "img-onerror": f'<img src=x onerror="{flag("img-onerror")};alert(1)">',
    "script": f"<script>{flag('script')};alert(2)</script>",
    "svg-onload": f'<svg onload="{flag("svg-onload")}"><circle r="9"/></svg>',
    "iframe-js": "<iframe src=\"javascript:parent.__xss='iframe-js'\"></iframe>",
    "html-link-js": f'<a href="javascript:{flag("html-link-js")}">mon contrat</a>',
    "details-ontoggle": f'<details open ontoggle="{flag("details-ontoggle")}">x</details>',
    "md-link-js": f"[voir mon contrat](javascript:{flag('md-link-js')})",
    "md-image-js": f"![facture](javascript:{flag('md-image-js')})",
    "md-link-data": "[conditions](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==)",
    "md-autolink-js": f"<javascript:{flag('md-autolink-js')}>",
    "quoted-span": f"l'article dit « <img src=x onerror=\"{flag('quoted-span')}\"> » non ?",
    "blockquote": f"> <img src=x onerror=\"{flag('blockquote')}\">\n> préavis",
    "entity-encoded": f"&lt;img src=x onerror=\"{flag('entity-encoded')}\"&gt;",
    "code-span": f"`<img src=x onerror=\"{flag('code-span')}\">`",
}
# What each payload must show as the customer typed it (by default the whole payload): Markdown keeps working
# in messages (a link shows its words, without its URL; a blockquote or a code span loses its marks).
SHOWN: dict[str, list[str]] = {
    "md-link-js": ["voir mon contrat"], "md-image-js": [], "md-link-data": ["conditions"],
    "blockquote": [f"<img src=x onerror=\"{flag('blockquote')}\">", "préavis"],
    "code-span": [f"img src=x onerror=\"{flag('code-span')}\">"],
}

ACTIVE_CONTENT_JS = """
(selectors) => {
  const found = [];
  const executable = /^\\s*(javascript|vbscript|data):/i;
  for (const selector of selectors) {
    for (const root of document.querySelectorAll(selector)) {
      for (const el of [root, ...root.querySelectorAll('*')]) {
        const tag = el.tagName.toLowerCase();
        if (['script', 'iframe', 'frame', 'object', 'embed', 'base', 'meta', 'link'].includes(tag)) {
          found.push(tag);
        }
        for (const attr of el.attributes) {
          const name = attr.name.toLowerCase();
          if (name.startsWith('on')) found.push(`${tag}[${name}]`);
          const navigates = ['href', 'xlink:href', 'action', 'formaction'].includes(name)
            || (name === 'src' && ['iframe', 'frame', 'embed', 'script'].includes(tag))
            || (name === 'data' && tag === 'object');
          if (navigates && executable.test(attr.value)) found.push(`${tag}[${name}=${attr.value.slice(0, 40)}]`);
        }
      }
    }
  }
  return found;
}
"""
# The views' areas that show what users typed or what the assistant said.
CHAT_AREAS = ["#chatbot", "#sources", "#feedback-status", "#handoff-error"]
SIDEBAR_AREAS = ["#agent-sidebar"]


def xss_flag(page: Any) -> Any:
    return page.evaluate("() => window.__xss")


def check_inert(t: Tally, opened: Page, areas: list[str], what: str) -> None:
    """No dialog, no flag, no active content, no popup: counted per problem."""
    page = opened.page
    page.wait_for_timeout(300)  # let an image's error handler or a frame's load run, if any would
    problems = [*[f"dialog {d!r}" for d in opened.dialogs], *[f"page opened {u}" for u in opened.popups]]
    if xss_flag(page) is not None:
        problems.append(f"payload ran: window.__xss = {xss_flag(page)!r}")
    problems += [f"active content {item}" for item in page.evaluate(ACTIVE_CONTENT_JS, areas)]
    for problem in problems:
        t.broken(f"{what}: {problem}")


def click_links(page: Any, selector: str) -> int:
    """Click every link and image of the customer's messages (a link that kept a script URL would run)."""
    targets = page.locator(f"{selector} a, {selector} img").all()
    for target in targets:
        target.click(no_wait_after=True, timeout=5_000, force=True)
    return len(targets)


def test_xss_payloads_in_customer_messages_stay_text(app: App, page: Page) -> None:
    t = tally("xss_chat")
    p = page.page
    p.goto(app.url + "/")
    p.wait_for_selector("#message textarea")
    for name, payload in XSS.items():
        send(p, f"Quel préavis chez Proximus ? {payload}")
        t.tried += 1
        shown = p.locator('#chatbot [data-testid="user"]').last.inner_text()
        expected = SHOWN.get(name, [payload])
        missing = [words for words in expected if words not in shown]
        if missing:
            t.broken(f"{name}: not shown as typed ({missing!r} not in {shown[:120]!r})")
        else:
            t.answered += 1
    clicked = click_links(p, '#chatbot [data-testid="user"]')
    open_accordion(p, "sources-panel")  # the sources panel renders with the last answer
    check_inert(t, page, CHAT_AREAS, "chat")
    images = p.evaluate("""() => [...document.querySelectorAll('#chatbot [data-testid="user"] img')]
                                 .map(img => img.getAttribute('src'))""")
    escaped_code = p.locator('#chatbot [data-testid="user"] code', has_text="&lt;").count()
    t.remarks.append(f"{len(XSS)} payloads sent in one conversation; {clicked} links and images of the "
                     "customer's messages clicked, none ran")
    if images:
        t.remarks.append(f"Markdown image syntax in a customer's message is rendered as an image ({len(images)}: "
                         f"src {', '.join(sorted(set(map(str, images))))}); a `javascript:` URL as an image "
                         "source is never run by browsers, and the CSP allows images from the app only")
    if escaped_code:
        t.remarks.append("inside a Markdown code span, a `<` the customer typed is shown as `&lt;` (escaped twice: "
                         "harmless, but not the text typed)")
    assert t.policy_breaks == 0, t.notes


def test_xss_payload_in_a_feedback_comment_is_stored_as_text(app: App, page: Page) -> None:
    t = tally("xss_feedback")
    p = page.page
    p.goto(app.url + "/")
    p.wait_for_selector("#message textarea")
    send(p, "Quel préavis chez Proximus ?")
    comment = f"{XSS['img-onerror']} {XSS['script']} {XSS['md-link-js']}"
    like_last_answer(p)
    p.locator("#feedback-comment textarea").fill(comment)
    p.click("#feedback-send")
    p.wait_for_selector("#feedback-status :text-matches('enregistré|saved')")
    t.tried += 1
    with sqlite3.connect(app.data_dir / FEEDBACK_DB) as db:
        stored = [row[0] for row in db.execute("SELECT comment FROM feedback WHERE comment IS NOT NULL")]
    if comment in stored:
        t.answered += 1
    else:
        t.broken(f"the comment was not stored as typed: {stored!r}")
    check_inert(t, page, CHAT_AREAS, "feedback")
    assert t.policy_breaks == 0, t.notes


def test_xss_payloads_in_the_handoff_form_stay_text(app: App, page: Page) -> None:
    t = tally("xss_handoff")
    p = page.page
    p.goto(app.url + "/")
    p.wait_for_selector("#message textarea")
    send(p, f"Je voudrais parler à un conseiller {XSS['svg-onload']}")
    p.wait_for_selector("#handoff-form", state="visible")
    name = "Ana <img src=x onerror=\"window.__xss='handoff-name'\">"
    contact = "<svg/onload=window.__xss='handoff-contact'>@exemple.lu"  # an e-mail address to the form's check
    p.locator("#handoff-name input, #handoff-name textarea").first.fill(name)
    p.locator("#handoff-contact input, #handoff-contact textarea").first.fill(contact)
    p.locator("#handoff-consent input").check()
    p.click("#handoff-submit")
    p.wait_for_function("""() => [...document.querySelectorAll('#chatbot [data-testid="bot"]')].some(
                               m => m.innerText.includes('transmise') || m.innerText.includes('passed'))""")
    t.tried += 3  # the message, the name, the contact
    confirmation = bot_texts(p)[-1]
    shown = p.locator('#chatbot [data-testid="user"]').last.inner_text()
    for what, text, words in (("message", shown, XSS["svg-onload"]), ("name", confirmation, name)):
        if words in text:
            t.answered += 1
        else:
            t.broken(f"{what} not shown as typed: {text[:160]!r}")
    rows = [(h.customer_name, h.contact) for h in FeedbackStore(app.data_dir / FEEDBACK_DB).list_handoffs()]
    if (name, contact) not in rows:  # encrypted at rest, read back as typed
        t.broken(f"the form's fields were not stored as typed: {rows!r}")
    check_inert(t, page, CHAT_AREAS, "hand-off")
    assert t.policy_breaks == 0, t.notes


def test_xss_payloads_in_the_sidebar_stay_text(app: App, browser: Any) -> None:
    t = tally("xss_sidebar")
    opened = Page(browser, width=420, height=1600)
    p = opened.page
    try:
        p.goto(app.url + "/agent/")
        p.wait_for_selector("#agent-question textarea")
        question = f"Proximus, résiliation : quel préavis ? {XSS['img-onerror']} {XSS['md-link-js']} {XSS['script']}"
        p.locator("#agent-question textarea").fill(question)
        p.click("#agent-ask")
        p.wait_for_function("document.querySelector('#reply-to-customer textarea').value.trim().length > 0",
                            timeout=ANSWER_MS)
        t.tried += 1
        t.answered += p.locator("#agent-answer .status-badge").count() == 1
        open_accordion(p, "tool-trace-panel")
        calc = "calc-early_termination_cost"
        open_accordion(p, "calculators")
        open_accordion(p, calc)
        fields = {"service": XSS["img-onerror"], "monthly_fee": XSS["script"], "start_date": XSS["svg-onload"]}
        for name, payload in fields.items():
            p.locator(f"#{calc}-{name} textarea").fill(payload)
        p.click(f"#{calc}-run")
        error = p.locator(f"#{calc}-result .calc-error")
        error.wait_for()
        t.tried += len(fields)
        shown = error.inner_text()
        echoed = [payload for payload in fields.values() if payload in shown]
        t.answered += len(echoed)
        if not echoed:  # the calculator names the first field it cannot read, with what was typed
            t.broken(f"the calculator's message does not show the typed value: {shown[:160]!r}")
        check_inert(t, opened, SIDEBAR_AREAS, "sidebar")
    finally:
        opened.close()
    assert t.policy_breaks == 0, t.notes


# --------------------------------------------------------------------------- concurrent conversations

FOLLOW_UPS = ["Quel préavis ?", "Si j'arrête le 01/04/2025, combien ?", "Et la portabilité ?",
              "Frais de résiliation ?", "Et si c'était le 01/06/2025 ?", "Délai de portabilité ?",
              "Et la caution ?", "Par écrit ?", "Et le préavis ?"]


@dataclass
class Conversation:
    index: int
    operator: str

    @property
    def key(self) -> str:
        return KEYS[self.index % len(KEYS)]

    @property
    def fee(self) -> str:
        return f"{311 + 13 * self.index},{17 + self.index:02d}"  # a monthly fee no other conversation uses

    @property
    def reference(self) -> str:
        return f"QZX{self.index:02d}WV"  # a word no other conversation uses

    def messages(self) -> list[str]:
        opening = (f"Client chez {self.operator}, réf. {self.reference}, je paie {self.fee} € par mois depuis le "
                   f"01/01/2024.")
        return [opening, *FOLLOW_UPS][:TURNS]


def post(http: httpx.Client, key: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(URL, json={"model": MODEL, **body}, headers={"Authorization": f"Bearer {key}"})


def assistant_of(response: httpx.Response) -> dict[str, Any]:
    return response.json().get("assistant", {}) if response.status_code == 200 else {}


def with_session(http: httpx.Client, conversation: Conversation) -> list[httpx.Response]:
    responses, session_id = [], None
    for message in conversation.messages():
        body: dict[str, Any] = {"messages": [{"role": "user", "content": message}]}
        if session_id:
            body["session_id"] = session_id
        responses.append(post(http, conversation.key, body))
        session_id = assistant_of(responses[-1]).get("session_id", session_id)
    return responses


def with_history(http: httpx.Client, conversation: Conversation) -> tuple[list[httpx.Response], list[dict]]:
    """The OpenAI way: each request carries the whole conversation (the answers as the client received them),
    no session id; returns the responses and the last request's messages."""
    responses, messages = [], []
    for message in conversation.messages():
        messages.append({"role": "user", "content": message})
        responses.append(post(http, conversation.key, {"messages": list(messages)}))
        messages.append({"role": "assistant", "content": responses[-1].json()["choices"][0]["message"]["content"]
                         if responses[-1].status_code == 200 else ""})
    return responses, messages[:-1]


INTERNAL_ERROR = "internal error"  # the pipeline's own failure reply (assistant.agent: "unavailable")


def count(t: Tally, response: httpx.Response, what: str) -> dict[str, Any]:
    t.tried += 1
    if response.status_code >= 500:
        t.server_errors += 1
    if "Traceback" in response.text:
        t.tracebacks += 1
    reply = assistant_of(response)
    if response.status_code != 200:
        t.broken(f"{what}: HTTP {response.status_code} {response.text[:120]}")
    elif INTERNAL_ERROR in reply.get("answer", ""):
        t.broken(f"{what}: the pipeline failed: {reply.get('answer', '')[:120]!r}")
    else:
        t.answered += 1
    return reply


def leaks(reply: dict[str, Any], own: Conversation, everyone: list[Conversation]) -> list[str]:
    text = "\n".join([reply.get("answer", ""), reply.get("reply_to_customer") or ""])
    found = []
    if reply.get("operator") not in (None, own.operator):
        found.append(f"operator {reply.get('operator')}")
    for other in everyone:
        if other.index == own.index:
            continue
        if other.fee in text or other.fee.replace(",", ".") in text:
            found.append(f"figure {other.fee} of conversation {other.index}")
        if other.reference in text:
            found.append(f"reference {other.reference} of conversation {other.index}")
    return found


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("answer", "status", "operator", "citations"))


def test_concurrent_conversations_through_sessions_and_openai_history(app: App) -> None:
    operators = httpx.get(app.url + "/healthz").json()["operators"]
    everyone = [Conversation(index, operators[index % len(operators)]) for index in range(CONVERSATIONS)]
    log_before = len(app.log())
    limits = httpx.Limits(max_connections=3 * CONVERSATIONS, max_keepalive_connections=3 * CONVERSATIONS)
    with httpx.Client(base_url=app.url, timeout=600, limits=limits) as http, \
            ThreadPoolExecutor(max_workers=2 * CONVERSATIONS) as pool:
        by_session = [pool.submit(with_session, http, c) for c in everyone]
        by_history = [pool.submit(with_history, http, c) for c in everyone]
        sessions = [future.result() for future in by_session]
        histories = [future.result() for future in by_history]
        # each last request again (a regenerate; or the next replica): rebuilt by replaying the history
        retried = list(pool.map(lambda c, h: post(http, c.key, {"messages": h[1]}), everyone, histories))

    s, h = tally("sessions"), tally("history")
    followed = own_figure_seen = 0
    for conversation, session_responses, (history_responses, _), retry in zip(
            everyone, sessions, histories, retried, strict=True):
        session_ids = set()
        for turn, (by_id, by_messages) in enumerate(zip(session_responses, history_responses, strict=True)):
            where = f"conversation {conversation.index} turn {turn + 1}"
            one = count(s, by_id, f"{where} (session)")
            other = count(h, by_messages, f"{where} (history)")
            session_ids.add(one.get("session_id"))
            for tallied, reply in ((s, one), (h, other)):
                found = leaks(reply, conversation, everyone)
                if found:
                    tallied.leaked(f"{where}: {found}")
            if one and other and not same_answer(one, other):
                h.broken(f"{where}: history answer differs: {other.get('answer', '')[:80]!r} vs session "
                         f"{one.get('answer', '')[:80]!r}")
            followed += turn > 0 and one.get("operator") == conversation.operator
            own_figure_seen += conversation.fee.replace(",", ".") in one.get("answer", "")
        if len(session_ids) != 1:
            s.broken(f"conversation {conversation.index}: session ids changed {session_ids}")
        again = count(h, retry, f"conversation {conversation.index} retried")
        found = leaks(again, conversation, everyone)
        if found:
            h.leaked(f"conversation {conversation.index} retried: {found}")
        last = assistant_of(session_responses[-1])
        if again and last and not same_answer(again, last):
            h.broken(f"conversation {conversation.index}: the retried request's answer differs from the session's")
    new_log = app.log()[log_before:]  # its tracebacks and 5xx are counted once, on the server log's row
    logged = {"tracebacks": new_log.count("Traceback"), "5xx": len(re.findall(r'" 5\d\d ', new_log))}
    follow_ups = CONVERSATIONS * (TURNS - 1)
    s.remarks.append(f"{followed} of {follow_ups} follow-ups (which name no operator) kept their conversation's "
                     f"operator; the conversation's own monthly fee appears in {own_figure_seen} answers; "
                     f"{logged['tracebacks']} tracebacks and {logged['5xx']} 5xx in the server log during the run"
                     + (f" (the last: {last_traceback(new_log)})" if logged["tracebacks"] else ""))
    h.remarks.append(f"{CONVERSATIONS * TURNS} answers compared with the server session's, turn by turn, and "
                     f"{CONVERSATIONS} retried last requests with the session's last answer")
    failed: dict[str, list[int]] = {}  # operator -> the turns of its server-session conversations that failed
    for conversation, responses in zip(everyone, sessions, strict=True):
        for turn, response in enumerate(responses, 1):
            if response.status_code != 200 or INTERNAL_ERROR in assistant_of(response).get("answer", ""):
                failed.setdefault(conversation.operator, []).append(turn)
    if failed:
        s.remarks.append("turns without their answer, by the conversation's operator: " + "; ".join(
            f"{operator}: {len(turns)} (turns {min(turns)} to {max(turns)})" for operator, turns in failed.items()))
    counts = {name: (getattr(s, name), getattr(h, name))
              for name in ("tried", "answered", "server_errors", "tracebacks", "leaks", "policy_breaks")}
    summary = (f"(sessions, history): {counts}; server log: {logged}; {[*s.notes, *h.notes]}; last traceback: "
               f"{last_traceback(new_log)}")
    assert s.server_errors == h.server_errors == s.tracebacks == h.tracebacks == 0, summary
    assert logged == {"tracebacks": 0, "5xx": 0}, summary
    assert s.leaks == h.leaks == 0, summary
    assert s.policy_breaks == h.policy_breaks == 0, summary
    # the leak check is not idle: follow-ups remember their own operator, and answers do state own figures
    assert followed >= follow_ups // 2, f"only {followed} follow-ups kept their operator"
    assert own_figure_seen > 0


def last_traceback(log: str) -> str:
    """The last traceback of a log, shortened: its last frames and the error."""
    start = log.rfind("Traceback")
    if start < 0:
        return "none"
    lines = log[start:].splitlines()
    end = next((i for i, line in enumerate(lines[1:], 1) if line and not line.startswith(" ")), len(lines) - 1)
    frames = [line.strip().replace(f"{ROOT}/", "") for line in lines[1:end + 1] if line.strip(" ^~")]
    return " | ".join(frames[-3:])


def test_the_server_logged_no_traceback(app: App) -> None:
    log = app.log()
    t = tally("server_log")
    t.tracebacks = log.count("Traceback")
    t.server_errors = len(re.findall(r'" 5\d\d ', log))
    t.remarks.append(f"{len(log.splitlines())} log lines read: {t.tracebacks} tracebacks, {t.server_errors} 5xx")
    assert t.tracebacks == 0 and t.server_errors == 0, f"{t.remarks[-1]}; last: {last_traceback(log)}"


# --------------------------------------------------------------------------- personal data in every store

PHONE = "+352 621 123 456"
EMAIL = "zoe.marchetti@example.lu"
IBAN = "LU28 0019 4006 4475 0000"
CARD = "4970 1012 3456 7893"
ADDRESS = "27 rue des Glycines, L-4321 Esch-sur-Alzette"
CALLBACK = "+352 691 555 010"  # typed in the hand-off form to be called back: kept, in its column only
# What must not be found in any file: each value as typed, compact, and its distinctive parts.
NEEDLES: dict[str, list[str]] = {
    "phone": [PHONE, "352621123456", "621 123 456", "621123456"],
    "e-mail": [EMAIL, "marchetti"],
    "IBAN": [IBAN, IBAN.replace(" ", ""), "0019 4006 4475", "001940064475"],
    "card": [CARD, CARD.replace(" ", ""), "3456 7893"],
    "address": [ADDRESS, "Glycines"],
}
CHAT_MESSAGES = [
    f"Bonjour, je suis chez Proximus, mon numéro est le {PHONE} et mon e-mail {EMAIL} : quel préavis ?",
    f"Mon IBAN est {IBAN} et ma carte {CARD} ; quels frais si je pars avant la fin ?",
    f"J'habite {ADDRESS} : et pour garder mon numéro ?",
]
COMMENT = f"Rappelez-moi au {PHONE} ou {EMAIL} ; remboursez sur {IBAN}, carte {CARD}, chez moi : {ADDRESS}."


PLACEHOLDERS = {"[PHONE]", "[EMAIL]", "[IBAN]", "[CARD]", "[ADDRESS]"}


def stored_placeholders(data_dir: Path) -> set[str]:
    """The placeholders found in the conversation store's files (the WAL included)."""
    data = b"".join(path.read_bytes() for path in data_dir.glob(f"{CONVERSATION_STORE}*"))
    return {token for token in PLACEHOLDERS if token.encode() in data}


def files_under(*roots: Path) -> list[Path]:
    return sorted(path for root in roots if root.exists() for path in root.rglob("*") if path.is_file())


def found_in(path: Path, needles: list[str]) -> list[str]:
    data = path.read_bytes().lower()
    return [needle for needle in needles if needle.lower().encode() in data]


def pii_session(app: App, browser: Any) -> int:
    """A customer, an agent and API clients give the five values; returns how many channels carried them."""
    opened = Page(browser)
    p = opened.page
    try:
        p.goto(app.url + "/")
        p.wait_for_selector("#message textarea")
        for message in CHAT_MESSAGES:
            send(p, message)
        like_last_answer(p)
        p.locator("#feedback-comment textarea").fill(COMMENT)
        p.click("#feedback-send")
        p.wait_for_selector("#feedback-status :text-matches('enregistré|saved')")
        send(p, "Je voudrais parler à un conseiller")
        p.wait_for_selector("#handoff-form", state="visible")
        p.locator("#handoff-name input, #handoff-name textarea").first.fill("Jeanne Test")
        p.locator("#handoff-contact input, #handoff-contact textarea").first.fill(CALLBACK)
        p.locator("#handoff-consent input").check()
        p.click("#handoff-submit")
        p.wait_for_function("""() => [...document.querySelectorAll('#chatbot [data-testid="bot"]')].some(
                                   m => m.innerText.includes('transmise'))""")

        p.goto(app.url + "/agent/")
        p.wait_for_selector("#agent-question textarea")
        p.locator("#agent-question textarea").fill(f"Client {PHONE}, {EMAIL}, IBAN {IBAN}, carte {CARD}, "
                                                   f"{ADDRESS} : quel préavis chez Proximus ?")
        p.click("#agent-ask")
        p.wait_for_function("document.querySelector('#reply-to-customer textarea').value.trim().length > 0",
                            timeout=ANSWER_MS)
    finally:
        opened.close()

    with httpx.Client(base_url=app.url, timeout=120) as http:
        session_id = None
        history: list[dict[str, str]] = []
        for index, message in enumerate(CHAT_MESSAGES):
            body: dict[str, Any] = {"messages": [{"role": "user", "content": message}], "user": EMAIL}
            if session_id:
                body["session_id"] = session_id
            response = post(http, KEYS[1], body)
            assert response.status_code == 200, response.text
            session_id = response.json()["assistant"]["session_id"]
            history.append({"role": "user", "content": message})
            response = post(http, KEYS[0], {"messages": history, "stream": index == len(CHAT_MESSAGES) - 1})
            assert response.status_code == 200, response.text
            history.append({"role": "assistant", "content": "…"})
    return 7  # chat messages, feedback comment, sidebar, API session, API history, API stream, `user` field


def scan(app: App, t: Tally, when: str) -> None:
    """Every file under the data dir, the temp dirs and the log, byte by byte; the stores and every file the
    app created under its data dir must be owner-only."""
    work = app.running.log_path.parent
    for path in files_under(app.data_dir, *app.temp_dirs, app.running.log_path):
        name = path.relative_to(work)
        for kind, needles in NEEDLES.items():
            hits = found_in(path, needles)
            if hits:
                t.leaked(f"{when}: {kind} in clear in {name}: {hits}")
        if path.is_relative_to(app.data_dir) and (path not in app.copied or path.name.startswith(
                (FEEDBACK_DB, CONVERSATION_STORE))):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                t.broken(f"{when}: {name} is readable by others (mode {mode:o})")
        if found_in(path, [CALLBACK, CALLBACK.replace(" ", "")]):  # encrypted at rest, even in its column
            t.leaked(f"{when}: the hand-off contact in clear in {name}")


def test_personal_data_is_in_no_file_in_clear(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> None:
    t = tally("pii")
    pii_app = launch(tmp_path_factory, "pii-app")
    try:
        channels = pii_session(pii_app, browser)
        created = sorted(p.name for p in files_under(pii_app.data_dir) if p not in pii_app.copied)
        scan(pii_app, t, "while running")
        placeholders = stored_placeholders(pii_app.data_dir)
    finally:
        pii_app.stop()
    scan(pii_app, t, "after stop")
    t.tried = len(NEEDLES) * channels  # inputs: the values times the channels that carried them

    db_path = pii_app.data_dir / FEEDBACK_DB
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        feedback = [dict(row) for row in db.execute("SELECT * FROM feedback")]
        handoffs = [dict(row) for row in db.execute("SELECT * FROM handoffs")]
    assert len(feedback) == 1 and feedback[0]["comment"], feedback  # the session wrote what it should
    assert len(handoffs) == 1, handoffs
    t.answered = len(feedback) + len(handoffs)
    handoff = handoffs[0]
    assert handoff["contact"] != CALLBACK and handoff["consent"] == 1  # sealed in the file ...
    assert FeedbackStore(db_path).list_handoffs()[0].contact == CALLBACK  # ... and read back by the store
    redacted = PLACEHOLDERS & set(re.findall(r"\[[A-Z]+\]", f"{feedback[0]['comment']} {handoff['transcript']}"))
    if redacted != PLACEHOLDERS:
        t.broken(f"placeholders missing from the stored comment and transcript: {PLACEHOLDERS - redacted}")
    for row, columns in ((handoff, [c for c in handoff if c != "contact"]), (feedback[0], list(feedback[0]))):
        for column in columns:
            if CALLBACK in str(row[column]):
                t.leaked(f"the hand-off contact in column {column}")
    for expected in (FEEDBACK_DB, CONVERSATION_STORE):
        if expected not in created:
            t.broken(f"{expected} was not created (the scan would prove nothing about it)")
    if placeholders != PLACEHOLDERS:  # the conversations with the values were written, redacted
        t.broken(f"the conversation store lacks the placeholders {sorted(PLACEHOLDERS - placeholders)}")
    t.remarks.append(f"files the app created under its data dir: {', '.join(created)}; the scan read every file "
                     "under the data dir, the app's temp dirs and its log, while running and after stop; the "
                     "conversation store holds the five placeholders where the values were")
    assert t.leaks == 0, t.notes
    assert t.policy_breaks == 0, t.notes
