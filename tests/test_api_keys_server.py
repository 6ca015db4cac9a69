"""`python app.py` with ASSISTANT_API_KEYS set: keys, roles and key-bound sessions through the `openai` client."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest_ui import RunningApp, running_app

pytestmark = pytest.mark.server

CUSTOMER_KEY = "customer-key-0123456789"
AGENT_KEY = "agent-key-0123456789abc"
OTHER_KEY = "other-customer-key-0123"
QUESTION = "Comment résilier mon abonnement VoIP Proximus ?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    yield from running_app(tmp_path_factory, "api-keys-app", env={
        "ASSISTANT_API_KEYS": f"{CUSTOMER_KEY},{AGENT_KEY}:agent,{OTHER_KEY}:customer",
        "ASSISTANT_RETENTION_DAYS": "30"})


def client(app: RunningApp, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app.url}/v1", api_key=key, max_retries=0, timeout=120)


def test_a_wrong_or_missing_key_is_401(app: RunningApp) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(app, "not-a-configured-key").models.list()
    response = httpx.post(f"{app.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]},
                          timeout=30)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{app.url}/healthz", timeout=30).status_code == 200


def test_roles_decide_which_reply_fields_are_returned(app: RunningApp) -> None:
    customer = client(app, CUSTOMER_KEY).chat.completions.create(
        model="telecom-assistant", messages=[{"role": "user", "content": QUESTION}]).model_extra["assistant"]
    agent = client(app, AGENT_KEY).chat.completions.create(
        model="telecom-assistant", messages=[{"role": "user", "content": QUESTION}]).model_extra["assistant"]
    assert customer["answer"] and customer["citations"]
    assert not {"tools", "passages", "reply_to_customer"} & set(customer)
    assert {"tools", "passages", "reply_to_customer"} <= set(agent) and agent["passages"]


def test_another_key_cannot_continue_a_session(app: RunningApp) -> None:
    owner, other = client(app, CUSTOMER_KEY), client(app, OTHER_KEY)
    first = owner.chat.completions.create(model="telecom-assistant",
                                          messages=[{"role": "user", "content": "Je suis client chez Proximus."}])
    session_id = first.model_extra["assistant"]["session_id"]
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.create(model="telecom-assistant", extra_body={"session_id": session_id},
                                      messages=[{"role": "user", "content": "Quel est le préavis ?"}])
    follow_up = owner.chat.completions.create(model="telecom-assistant", extra_body={"session_id": session_id},
                                              messages=[{"role": "user", "content": "Quel est le préavis ?"}])
    assert follow_up.model_extra["assistant"]["operator"] == "Proximus"


def test_the_feedback_database_is_owner_only(app: RunningApp) -> None:
    assert app.feedback_db.exists()
    assert stat.S_IMODE(app.feedback_db.stat().st_mode) == 0o600
