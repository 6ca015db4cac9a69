"""The OpenAI-compatible API and /healthz, exercised with the official `openai` client against `python app.py`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest_ui import RunningApp, running_app

pytestmark = pytest.mark.server

QUESTION = "Comment résilier mon abonnement VoIP Proximus ?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    yield from running_app(tmp_path_factory, "api-app")


@pytest.fixture(scope="module")
def client(app: RunningApp) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app.url}/v1", api_key="x", max_retries=0, timeout=120)


def test_healthz_reports_operators_and_calculators(app: RunningApp) -> None:
    health = httpx.get(f"{app.url}/healthz", timeout=10).json()
    assert health["status"] == "ok"
    assert "Proximus" in health["operators"] and "early_termination_cost" in health["calculators"]


def test_models_lists_the_assistant(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["telecom-assistant"]


def test_completion_carries_the_reply_in_the_extra_field(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="telecom-assistant", messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra["assistant"]
    assert content == extra["answer"] and content
    assert extra["status"] in {"answered", "clarify", "refused", "not_found"}
    assert extra["language"] == "fr" and extra["session_id"]
    assert extra["citations"], "a termination question about a named operator is answered with clauses"
    assert all(citation["quote"] and citation["clause_id"] for citation in extra["citations"])
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_streaming_yields_chunks_then_done_and_the_same_answer(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="telecom-assistant", messages=[{"role": "user", "content": QUESTION}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    finals = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason == "stop"]
    assert len(chunks) >= 4 and len(finals) == 1
    assert finals[0].model_extra["assistant"]["answer"] == text
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_session_id_continues_a_conversation(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="telecom-assistant",
                                           messages=[{"role": "user", "content": "Je suis client chez Proximus."}])
    session_id = first.model_extra["assistant"]["session_id"]
    follow_up = client.chat.completions.create(
        model="telecom-assistant", messages=[{"role": "user", "content": "Quel est le préavis de résiliation ?"}],
        extra_body={"session_id": session_id})
    reply = follow_up.model_extra["assistant"]
    assert reply["session_id"] == session_id
    assert reply["operator"] == "Proximus", "the session remembers the operator"


def test_english_question_is_answered_in_english(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="telecom-assistant",
        messages=[{"role": "user", "content": "How much notice do I have to give to cancel my Proximus contract?"}])
    assert completion.model_extra["assistant"]["language"] == "en"


@pytest.mark.parametrize(("content", "code"), [
    ("   ", "empty_message"),
    ("résiliation " * 1700, "message_too_long"),
    ("\x00\x01\x02\x03\ufffd" * 50, "binary_message"),
])
def test_bad_input_is_a_400_and_the_server_keeps_serving(client: openai.OpenAI, content: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="telecom-assistant", messages=[{"role": "user", "content": content}])
    assert caught.value.code == code
    again = client.chat.completions.create(model="telecom-assistant", messages=[{"role": "user", "content": QUESTION}])
    assert again.choices[0].message.content


def test_unknown_model_and_missing_user_message_are_rejected(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="telecom-assistant", messages=[{"role": "system", "content": "hi"}])


# --------------------------------------------------------------------------- limits and headers, on the real app

def test_security_headers_on_pages_and_api(app: RunningApp) -> None:
    for path in ("/", "/agent/", "/v1/models", "/healthz"):
        response = httpx.get(f"{app.url}{path}", timeout=30)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


def test_a_10_mb_body_is_413_and_the_server_keeps_serving(app: RunningApp, client: openai.OpenAI) -> None:
    body = b'{"messages": [{"role": "user", "content": "' + b"a" * 10_000_000 + b'"}]}'
    try:
        response = httpx.post(f"{app.url}/v1/chat/completions", content=body, timeout=60,
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    except httpx.WriteError:
        pass  # the server may answer 413 and close before the client finished sending: refused either way
    assert client.chat.completions.create(model="telecom-assistant",
                                          messages=[{"role": "user", "content": QUESTION}]).choices


@pytest.mark.parametrize(("body", "status", "code"), [
    (b'{"messages": [{"role": "user", "content": "x"}], "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
     "json_too_deep"),
    (b'{"model": "\\ud800", "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_unicode"),
    (b'{"session_id": "\\udcff", "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_unicode"),
    (b'{"session_id": "../../x", "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_session_id"),
    (b'{"messages": [{"role": "user", "content": "pr\xe9avis"}]}', 400, "invalid_encoding"),
])
def test_malformed_requests_are_4xx_not_5xx(app: RunningApp, body: bytes, status: int, code: str) -> None:
    response = httpx.post(f"{app.url}/v1/chat/completions", content=body, timeout=60,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_a_cross_site_text_plain_post_is_415_without_cors(app: RunningApp) -> None:
    response = httpx.post(f"{app.url}/v1/chat/completions", timeout=30,
                          content=b'{"messages": [{"role": "user", "content": "x"}]}',
                          headers={"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert response.status_code == 415
    assert "access-control-allow-origin" not in response.headers
