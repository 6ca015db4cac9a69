"""Conversations sent the OpenAI way (history in `messages`, no `session_id`), in process.

The real API routes run against a stand-in assistant that records which user messages each of its sessions
took in, in order: a conversation resent request after request must take in each user message once, in one
session, exactly as a server session does; a retried or edited request, or one whose session was continued
through its id meanwhile, is rebuilt in a fresh session by replaying its earlier user messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.models import Reply
from assistant.ui.api import MAX_REPLAYED, build_api
from assistant.ui.backend import Backend
from assistant.ui.feedback import FeedbackStore
from assistant.ui.server import add_security

URL = "/v1/chat/completions"
KEY_A = "history-key-a-0123456789"
KEY_B = "history-key-b-0123456789"


class RecordingAssistant:
    """Answers with the whole conversation its session has taken in, so a reply shows its context."""

    def __init__(self) -> None:
        self.sessions: dict[str, list[str]] = {}
        self.fail_on: str | None = None

    def ask(self, question: str, session_id: str | None = None, operator: str | None = None) -> Reply:
        taken = self.sessions.setdefault(session_id or "", [])
        taken.append(question)
        if question == self.fail_on:  # after the session took the message in, as a turn failing late would
            raise RuntimeError("pipeline failure")
        return Reply(answer=" | ".join(taken), operator=operator, session_id=session_id)


@pytest.fixture
def api(tmp_path: Path) -> tuple[TestClient, RecordingAssistant]:
    assistant = RecordingAssistant()
    settings = Settings(data_dir=tmp_path, api_keys=f"{KEY_A},{KEY_B}", api_rate_per_minute=0)  # no 429 here
    backend = Backend(settings=settings, assistant=assistant, find_clause=lambda *a: None, calculators={},
                      feedback=FeedbackStore(tmp_path / "feedback.sqlite3"), operators=["Proximus"])
    app = FastAPI()
    app.include_router(build_api(backend))
    add_security(app, settings)
    return TestClient(app), assistant


def post(client: TestClient, messages: list[dict[str, str]], key: str = KEY_A, **extra: Any) -> dict[str, Any]:
    response = client.post(URL, json={"model": "telecom-assistant", "messages": messages, **extra},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def questions(n: int, tag: str = "q") -> list[str]:
    return [f"{tag}{i}" for i in range(1, n + 1)]


def openai_way(client: TestClient, asked: list[str], key: str = KEY_A) -> tuple[list[str], list[dict[str, str]]]:
    """Each question sent with the whole conversation so far, as OpenAI clients do; the answers and the
    messages of the last request."""
    messages: list[dict[str, str]] = []
    answers = []
    for question in asked:
        messages.append({"role": "user", "content": question})
        answer = post(client, messages, key)["choices"][0]["message"]["content"]
        answers.append(answer)
        messages.append({"role": "assistant", "content": answer})
    return answers, messages


def with_session(client: TestClient, asked: list[str]) -> list[str]:
    session_id = None
    answers = []
    for question in asked:
        body = post(client, [{"role": "user", "content": question}],
                    **({"session_id": session_id} if session_id else {}))
        session_id = body["assistant"]["session_id"]
        answers.append(body["choices"][0]["message"]["content"])
    return answers


def test_a_long_conversation_sent_the_openai_way_is_one_session_taking_each_message_once(api: Any) -> None:
    client, assistant = api
    asked = questions(MAX_REPLAYED + 8)  # longer than any replay
    answers, _ = openai_way(client, asked)
    assert list(assistant.sessions.values()) == [asked]  # one session, each message once, in order
    assert answers[-1] == " | ".join(asked)  # the last answer was given with the whole conversation
    assert answers == with_session(client, asked)  # the same answers as a server session


def test_a_retried_request_is_rebuilt_by_replay_in_a_fresh_session(api: Any) -> None:
    client, assistant = api
    answers, messages = openai_way(client, questions(5))
    retried = post(client, messages[:-1])  # the last request again (a regenerate, another replica, a restart)
    assert retried["choices"][0]["message"]["content"] == answers[-1]
    assert len(assistant.sessions) == 2 and all(taken == questions(5) for taken in assistant.sessions.values())
    # the conversation goes on from the retried request's session
    messages = [*messages[:-1], {"role": "assistant", "content": answers[-1]}, {"role": "user", "content": "q6"}]
    assert post(client, messages)["choices"][0]["message"]["content"] == " | ".join(questions(6))
    assert len(assistant.sessions) == 2


def test_an_edited_earlier_message_starts_again_from_the_edited_conversation(api: Any) -> None:
    client, assistant = api
    _, messages = openai_way(client, questions(3))
    messages[2] = {"role": "user", "content": "q2-edited"}
    body = post(client, [*messages, {"role": "user", "content": "q4"}])
    assert body["choices"][0]["message"]["content"] == "q1 | q2-edited | q3 | q4"


def test_a_replay_is_bounded(api: Any) -> None:
    client, assistant = api
    asked = questions(MAX_REPLAYED + 5)
    messages = [{"role": "user", "content": q} for q in asked]
    post(client, messages)  # a conversation this process never saw: rebuilt from its latest messages only
    (taken,) = assistant.sessions.values()
    assert taken == asked[-MAX_REPLAYED - 1:]


def test_two_keys_sending_the_same_conversation_never_share_a_session(api: Any) -> None:
    client, assistant = api
    answers_a, _ = openai_way(client, questions(4), KEY_A)
    answers_b, _ = openai_way(client, questions(4), KEY_B)
    assert answers_a == answers_b
    assert len(assistant.sessions) == 2
    assert len({sid.split(":")[1] for sid in assistant.sessions}) == 2  # "api:<key id>:<id>": one per key


def test_a_session_continued_through_its_id_is_not_continued_by_history(api: Any) -> None:
    client, assistant = api
    _, messages = openai_way(client, questions(3))
    session_id = post(client, [*messages, {"role": "user", "content": "q4"}])["assistant"]["session_id"]
    messages += [{"role": "user", "content": "q4"}, {"role": "assistant", "content": "..."}]
    post(client, [{"role": "user", "content": "aside"}], session_id=session_id)  # the same session, by its id
    body = post(client, [*messages, {"role": "user", "content": "q5"}])
    assert body["choices"][0]["message"]["content"] == "q1 | q2 | q3 | q4 | q5"  # rebuilt, without "aside"
    assert body["assistant"]["session_id"] != session_id


def test_a_failed_answer_keeps_nothing(api: Any) -> None:
    client, assistant = api
    _, messages = openai_way(client, questions(2))
    assistant.fail_on = "boom"
    failed = client.post(URL, json={"model": "telecom-assistant",
                                    "messages": [*messages, {"role": "user", "content": "boom"}]},
                         headers={"Authorization": f"Bearer {KEY_A}"})
    assert failed.status_code == 500
    assistant.fail_on = None
    body = post(client, [*messages, {"role": "user", "content": "q3"}])
    assert body["choices"][0]["message"]["content"] == "q1 | q2 | q3"
