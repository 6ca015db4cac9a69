"""API limits, API keys and roles, session binding, security headers and CORS, in process.

The real FastAPI routes and middlewares run against a stand-in assistant (no index, no model) through
Starlette's in-process TestClient: no socket is opened. tests/test_api_server.py checks a few of the same
things against `python app.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.models import Citation, PassageOut, Reply, ToolTrace
from assistant.ui.api import AGENT_ONLY_FIELDS, MAX_JSON_DEPTH, MAX_MESSAGES, build_api
from assistant.ui.backend import Backend
from assistant.ui.feedback import FeedbackStore
from assistant.ui.security import ApiKeyError, content_security_policy, parse_api_keys
from assistant.ui.server import add_security, create_app

CUSTOMER_KEY = "cust-0123456789abcdef"
AGENT_KEY = "agent-0123456789abcdef"
OTHER_CUSTOMER_KEY = "cust2-0123456789abcdef"
URL = "/v1/chat/completions"


class FakeAssistant:
    """Counts the turns of each session it is given, so tests can see which session a request reached."""

    def __init__(self) -> None:
        self.turns: dict[str, list[str]] = {}

    def ask(self, question: str, session_id: str | None = None, operator: str | None = None) -> Reply:
        history = self.turns.setdefault(session_id or "", [])
        history.append(question)
        return Reply(answer=f"turn {len(history)}: {question}", operator=operator, session_id=session_id,
                     citations=[Citation(doc_id="d", operator="Proximus", clause_id="66", quote="préavis")],
                     tools=[ToolTrace(name="calc", input={"x": 1}, output={"amount": "1"})],
                     passages=[PassageOut(doc_id="d", clause_id="66", text="texte", score=1.0)],
                     reply_to_customer="Bonjour, ...")


def make_backend(tmp_path: Path, assistant: FakeAssistant | None = None) -> Backend:
    settings = Settings(data_dir=tmp_path)
    return Backend(settings=settings, assistant=assistant or FakeAssistant(), find_clause=lambda *a: None,
                   calculators={}, feedback=FeedbackStore(tmp_path / "feedback.sqlite3"), operators=["Proximus"])


def api_app(tmp_path: Path, **settings: object) -> tuple[TestClient, FakeAssistant]:
    assistant = FakeAssistant()
    app = FastAPI()
    app.include_router(build_api(make_backend(tmp_path, assistant)))
    add_security(app, Settings(data_dir=tmp_path, **settings))
    return TestClient(app), assistant


def ask(client: TestClient, content: str = "Quel préavis ?", key: str | None = None, **extra: object):  # noqa: ANN201
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(URL, json={"model": "telecom-assistant", "messages": [{"role": "user", "content": content}],
                                  **extra}, headers=headers)


def error_code(response) -> str:  # noqa: ANN001
    return response.json()["error"]["code"]


# --------------------------------------------------------------------------- limits

@pytest.fixture
def open_api(tmp_path: Path) -> TestClient:
    return api_app(tmp_path, max_body_bytes=1_048_576)[0]


def test_a_10_mb_body_is_413_before_parsing(open_api: TestClient) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "a" * 10_000_000}]})
    response = open_api.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_code(response) == "request_too_large"


def test_a_large_body_without_content_length_is_413(open_api: TestClient) -> None:
    def chunks():  # noqa: ANN202 - a streamed (chunked) body: no Content-Length to trust
        for _ in range(20):
            yield b"x" * 100_000

    response = open_api.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_body_limit_follows_the_setting(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path, max_body_bytes=2048)
    assert ask(client, "a" * 1000).status_code == 200
    assert ask(client, "a" * 3000).status_code == 413


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deeply_nested_json_is_400_not_500(open_api: TestClient, depth: int) -> None:
    body = '{"model": "telecom-assistant", "messages": [{"role": "user", "content": "x"}], "extra": ' + \
        "[" * depth + "]" * depth + "}"
    response = open_api.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "json_too_deep"


def test_nesting_within_the_limit_is_accepted(open_api: TestClient) -> None:
    body = '{"model": "telecom-assistant", "messages": [{"role": "user", "content": "x"}], "meta": ' + \
        "[" * 10 + "]" * 10 + "}"
    assert open_api.post(URL, content=body, headers={"Content-Type": "application/json"}).status_code == 200


def test_too_many_messages_and_an_overlong_history_message_are_400(open_api: TestClient) -> None:
    many = [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)
    response = open_api.post(URL, json={"messages": many})
    assert response.status_code == 400 and error_code(response) == "too_many_messages"
    long_history = [{"role": "assistant", "content": "y" * 40_000}, {"role": "user", "content": "préavis ?"}]
    response = open_api.post(URL, json={"messages": long_history})
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages[0]"
    assert ask(open_api, "a" * 4001).json()["error"]["code"] == "message_too_long"


@pytest.mark.parametrize(("body", "code"), [
    (b'{"model": "telecom-\\ud800assistant", "messages": [{"role": "user", "content": "x"}]}', "invalid_unicode"),
    (b'{"session_id": "\\udcff", "messages": [{"role": "user", "content": "x"}]}', "invalid_unicode"),
    (b'{"messages": [{"role": "user", "content": "pr\\udce9avis"}]}', "invalid_unicode"),
    (b'{"messages": [{"role": "user", "content": "pr\xe9avis"}]}', "invalid_encoding"),  # Latin-1 byte
    (b'{"messages": [', "invalid_json"),
    (b'{"messages": [{"role": "user", "content": "x"}], "n": ' + b"9" * 5000 + b"}", "invalid_json"),
])
def test_invalid_unicode_and_broken_json_are_400(open_api: TestClient, body: bytes, code: str) -> None:
    response = open_api.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert response.headers["content-type"] == "application/json"
    response.json()  # the error itself is valid JSON


@pytest.mark.parametrize("session_id", ["", "a" * 65, "../etc", "web chat", "é", "a\nb"])
def test_session_id_format_is_enforced(open_api: TestClient, session_id: str) -> None:
    response = ask(open_api, session_id=session_id)
    assert response.status_code == 400 and error_code(response) == "invalid_session_id"


def test_names_with_control_characters_or_too_long_are_400(open_api: TestClient) -> None:
    assert error_code(ask(open_api, operator="Proximus\x00")) == "invalid_operator"
    assert error_code(ask(open_api, operator="P" * 101)) == "invalid_operator"
    assert error_code(ask(open_api, user="u" * 300)) == "invalid_user"
    assert error_code(ask(open_api, model="telecom-assistant\t")) == "invalid_model"
    response = ask(open_api, operator="Proximus")
    assert response.status_code == 200 and response.json()["assistant"]["operator"] == "Proximus"


def test_the_question_is_cleaned_by_the_shared_gate(tmp_path: Path) -> None:
    client, assistant = api_app(tmp_path)
    raw = "Quel est le pre\u0301avis de re\u0301siliation chez \u202eProximus pour mon abonnement\x07 ?"
    assert ask(client, raw).status_code == 200
    [questions] = assistant.turns.values()
    # NFC, and the bidi override and the control character are gone
    assert questions == ["Quel est le préavis de résiliation chez Proximus pour mon abonnement ?"]


# --------------------------------------------------------------------------- content type

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_only_json_posts_are_accepted(open_api: TestClient, content_type: str | None) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    headers = {"Content-Type": content_type} if content_type else {}
    response = open_api.post(URL, content=body, headers={**headers, "Origin": "https://evil.example"})
    assert response.status_code == 415 and error_code(response) == "unsupported_media_type"


def test_json_with_a_charset_is_accepted(open_api: TestClient) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    response = open_api.post(URL, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


# --------------------------------------------------------------------------- API keys and roles

@pytest.fixture
def keyed(tmp_path: Path) -> tuple[TestClient, FakeAssistant]:
    return api_app(tmp_path, api_keys=f"{CUSTOMER_KEY}, {AGENT_KEY}:agent,{OTHER_CUSTOMER_KEY}:customer")


def test_keys_are_parsed_with_roles() -> None:
    assert parse_api_keys(f"{CUSTOMER_KEY}, {AGENT_KEY}:agent") == {CUSTOMER_KEY: "customer", AGENT_KEY: "agent"}
    assert parse_api_keys("") == {} and parse_api_keys(None) == {}
    for bad in (f"{CUSTOMER_KEY}:admin", "short", f"{CUSTOMER_KEY}:", ":agent"):
        with pytest.raises(ApiKeyError):
            parse_api_keys(bad)


def test_with_keys_every_v1_route_needs_a_valid_bearer_key(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, assistant = keyed
    for response in (ask(client), ask(client, key="wrong-key-0123456789"), client.get("/v1/models"),
                     client.post(URL, json={}, headers={"Authorization": f"Basic {CUSTOMER_KEY}"}),
                     client.get("/v1/models", headers={"Authorization": f"Bearer {CUSTOMER_KEY}x"})):
        assert response.status_code == 401 and error_code(response) == "invalid_api_key"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert assistant.turns == {}, "an unauthenticated request never reaches the assistant"
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {CUSTOMER_KEY}"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # readiness stays open


def test_the_key_is_checked_before_the_body_is_read(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, _ = keyed
    response = client.post(URL, content=b"x" * 5_000_000, headers={"Content-Type": "text/plain"})
    assert response.status_code == 401


def test_customer_keys_do_not_get_agent_only_fields(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, _ = keyed
    customer = ask(client, key=CUSTOMER_KEY).json()["assistant"]
    agent = ask(client, key=AGENT_KEY).json()["assistant"]
    assert not set(AGENT_ONLY_FIELDS) & set(customer)
    assert customer["citations"] and customer["answer"]  # the evidence a customer may see stays
    assert agent["tools"] and agent["passages"] and agent["reply_to_customer"]


def test_customer_keys_do_not_get_agent_only_fields_when_streaming(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, _ = keyed
    response = ask(client, key=CUSTOMER_KEY, stream=True)
    events = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: {")]
    [final] = [event for event in events if event["choices"] and event["choices"][0]["finish_reason"] == "stop"]
    assert final["assistant"]["answer"] and not set(AGENT_ONLY_FIELDS) & set(final["assistant"])


def test_without_keys_the_api_is_open_and_returns_the_whole_reply(open_api: TestClient) -> None:
    reply = ask(open_api).json()["assistant"]
    assert all(reply[name] for name in AGENT_ONLY_FIELDS)


def test_a_session_belongs_to_the_key_that_created_it(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, assistant = keyed
    first = ask(client, "je suis chez Proximus", key=CUSTOMER_KEY).json()["assistant"]
    session_id = first["session_id"]
    stolen = ask(client, "et mon préavis ?", key=OTHER_CUSTOMER_KEY, session_id=session_id)
    assert stolen.status_code == 404 and error_code(stolen) == "session_not_found"
    assert "turn 2" not in stolen.text
    follow_up = ask(client, "et mon préavis ?", key=CUSTOMER_KEY, session_id=session_id).json()["assistant"]
    assert follow_up["session_id"] == session_id and follow_up["answer"].startswith("turn 2")
    # The assistant's sessions are namespaced by key: another key's session can never be reached.
    assert all(name.startswith("api:key-") for name in assistant.turns)


def test_an_api_session_id_never_reaches_a_web_chat_session(open_api: TestClient, tmp_path: Path) -> None:
    client, assistant = api_app(tmp_path)
    assistant.turns["web-0123456789ab"] = ["a customer's earlier question"]
    reply = ask(client, "et alors ?", session_id="web-0123456789ab").json()["assistant"]
    assert reply["answer"].startswith("turn 1") and reply["session_id"] == "web-0123456789ab"
    assert assistant.turns["web-0123456789ab"] == ["a customer's earlier question"]


# --------------------------------------------------------------------------- headers and CORS

def test_every_response_carries_the_security_headers(keyed: tuple[TestClient, FakeAssistant]) -> None:
    client, _ = keyed
    for response in (client.get("/healthz"), ask(client), ask(client, key=CUSTOMER_KEY),
                     client.post(URL, content=b"x", headers={"Authorization": f"Bearer {CUSTOMER_KEY}"}),
                     client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "object-src 'none'" in response.headers["content-security-policy"]


def test_frame_ancestors_setting_replaces_x_frame_options(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path, frame_ancestors="https://crm.example.com")
    response = client.get("/healthz")
    assert "frame-ancestors https://crm.example.com" in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    assert "connect-src 'self'" in content_security_policy()


def test_cors_is_off_by_default_and_opens_only_to_listed_origins(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path)
    response = ask(client, Origin="https://evil.example") if False else client.post(  # noqa: SIM210
        URL, json={"messages": [{"role": "user", "content": "x"}]}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(URL, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    allowed, _ = api_app(tmp_path / "b", cors_origins="https://crm.example.com")
    ok = allowed.options(URL, headers={"Origin": "https://crm.example.com", "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
    assert ok.headers["access-control-allow-origin"] == "https://crm.example.com"


def test_the_whole_app_serves_gradio_pages_with_headers_and_no_cors(tmp_path: Path) -> None:
    """create_app with the stand-in backend: Gradio's own CORS (which answers any origin when the app is
    reached under a non-localhost name) stands down, and its pages carry the security headers."""
    app = create_app(Settings(data_dir=tmp_path, host="0.0.0.0"), make_backend(tmp_path))
    with TestClient(app, base_url="http://assistant.example") as client:
        for path in ("/", "/agent/", "/gradio_api/info", "/agent/gradio_api/info"):
            response = client.get(path, headers={"Origin": "https://evil.example"})
            assert response.status_code == 200, path
            assert "access-control-allow-origin" not in response.headers, path
            assert response.headers["x-frame-options"] == "DENY", path
            assert "script-src" in response.headers["content-security-policy"], path


# --------------------------------------------------------------------------- conversations the OpenAI way

def test_history_in_messages_is_replayed_in_a_fresh_session(tmp_path: Path) -> None:
    client, assistant = api_app(tmp_path)
    messages = [{"role": "user", "content": "Combien coûte une résiliation ?"},
                {"role": "assistant", "content": "Avec quel opérateur ?"},
                {"role": "user", "content": "Proximus"}]
    response = client.post(URL, json={"model": "telecom-assistant", "messages": messages})
    assert response.status_code == 200
    session = response.json()["assistant"]["session_id"]
    turns = next(t for sid, t in assistant.turns.items() if sid.endswith(session))
    assert turns == ["Combien coûte une résiliation ?", "Proximus"]  # the earlier user turn, then the last
    # a second client sending the same history gets its own session: nothing is shared
    again = client.post(URL, json={"model": "telecom-assistant", "messages": messages})
    assert again.json()["assistant"]["session_id"] != session


def test_with_a_session_id_history_is_not_replayed(tmp_path: Path) -> None:
    client, assistant = api_app(tmp_path)
    messages = [{"role": "user", "content": "Bonjour"}, {"role": "user", "content": "Quel préavis ?"}]
    client.post(URL, json={"model": "telecom-assistant", "messages": messages, "session_id": "abc"})
    turns = next(t for sid, t in assistant.turns.items() if sid.endswith("abc"))
    assert turns == ["Quel préavis ?"]  # the server session holds the context already
