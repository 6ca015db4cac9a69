"""Rate limits on /v1/* (per API key, per client IP without one) and the lockout of the sidebar's basic auth,
in process: the real middlewares on a stand-in assistant, with a controllable clock."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from test_api_security import AGENT_KEY, CUSTOMER_KEY, URL, api_app, ask, error_code

from assistant.config import Settings
from assistant.ui.security import LoginLockout, RateLimiter
from assistant.ui.server import BasicAuthMiddleware


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the token bucket

def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)  # one a second: the next one in 1 s
    assert limiter.take("b") == 0.0  # each client has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    clock.now += 3600
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, never above it


def test_buckets_are_bounded_and_zero_rate_is_off() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, max_clients=100)
    for index in range(1000):
        limiter.take(f"client-{index}")
    assert len(limiter._buckets) == 100
    off = RateLimiter(per_minute=0, burst=1)
    assert not off.enabled and all(off.take("a") == 0.0 for _ in range(100))


# --------------------------------------------------------------------------- /v1/* through the middleware

def test_over_the_limit_is_429_with_a_json_error_and_retry_after(tmp_path: Path) -> None:
    client, assistant = api_app(tmp_path, api_rate_per_minute=6, api_rate_burst=2)
    assert [ask(client).status_code for _ in range(2)] == [200, 200]
    response = ask(client)
    assert response.status_code == 429 and error_code(response) == "rate_limit_exceeded"
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error" and "a minute" in error["message"]
    assert int(response.headers["retry-after"]) == 10  # 6 a minute: one every 10 s
    assert response.headers["x-content-type-options"] == "nosniff"  # security headers on a 429 too
    assert sum(len(turns) for turns in assistant.turns.values()) == 2  # the refused call never reached it
    assert client.get("/healthz").status_code == 200  # only /v1/* is limited


def test_each_api_key_has_its_own_bucket_and_wrong_keys_spend_the_ip_one(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path, api_keys=f"{CUSTOMER_KEY},{AGENT_KEY}:agent", api_rate_per_minute=6,
                        api_rate_burst=2)
    assert [ask(client, key=CUSTOMER_KEY).status_code for _ in range(3)] == [200, 200, 429]
    assert ask(client, key=AGENT_KEY).status_code == 200
    # guessing keys: 401 while the address has requests left, then 429 even for a right key from nowhere else
    assert [ask(client, key="wrong-key-0123456789").status_code for _ in range(3)] == [401, 401, 429]
    assert ask(client).status_code == 429


def test_the_limit_can_be_switched_off(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path, api_rate_per_minute=0, api_rate_burst=1)
    assert {ask(client).status_code for _ in range(30)} == {200}


def test_the_default_limit_leaves_room_for_a_conversation(tmp_path: Path) -> None:
    client, _ = api_app(tmp_path)
    assert {client.post(URL, json={"messages": [{"role": "user", "content": f"question {i}"}]}).status_code
            for i in range(30)} == {200}


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_API_RATE_PER_MINUTE", "30")
    monkeypatch.setenv("ASSISTANT_SIDEBAR_MAX_FAILED_LOGINS", "3")
    settings = Settings()
    assert settings.api_rate_per_minute == 30 and settings.sidebar_max_failed_logins == 3
    monkeypatch.setenv("ASSISTANT_API_RATE_BURST", "0")
    with pytest.raises(ValidationError):
        Settings()


# --------------------------------------------------------------------------- sidebar login lockout

def test_lockout_doubles_with_each_further_failure_and_a_success_clears_it() -> None:
    clock = Clock()
    lockout = LoginLockout(max_failures=3, base_s=30, max_s=100, forget_s=900, clock=clock)
    assert [lockout.failure("ip") for _ in range(3)] == [0.0, 0.0, 30.0]
    assert lockout.locked_for("ip") == 30.0 and lockout.locked_for("other") == 0.0
    clock.now += 31
    assert lockout.failure("ip") == 60.0
    clock.now += 61
    assert lockout.failure("ip") == 100.0  # capped
    clock.now += 101
    lockout.success("ip")
    assert lockout.failure("ip") == 0.0  # counting starts again
    clock.now += 1000
    assert [lockout.failure("ip") for _ in range(2)] == [0.0, 0.0]  # old failures forgotten


def sidebar(clock: Clock) -> TestClient:
    app = FastAPI()
    app.get("/agent/")(lambda: {"view": "sidebar"})
    app.add_middleware(BasicAuthMiddleware, prefix="/agent", user="agent", password="s3cret",
                       lockout=LoginLockout(max_failures=5, base_s=30, max_s=900, clock=clock))
    return TestClient(app)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_wrong_sidebar_passwords_lock_the_address_out() -> None:
    clock = Clock()
    client = sidebar(clock)
    assert client.get("/agent/").status_code == 401  # no credentials: a challenge, not a failure
    statuses = [client.get("/agent/", headers=basic("agent", f"guess{i}")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = client.get("/agent/", headers=basic("agent", "s3cret"))
    assert locked.status_code == 429, "while locked out, the right password is refused too"
    assert 1 <= int(locked.headers["retry-after"]) <= 30 and "try again in" in locked.text
    clock.now += 31
    assert client.get("/agent/", headers=basic("agent", "s3cret")).json() == {"view": "sidebar"}
    assert client.get("/agent/", headers=basic("agent", "guess")).status_code == 401  # the success cleared it


def test_300_fast_guesses_get_at_most_a_handful_of_tries() -> None:
    client = sidebar(Clock())  # the clock never moves: the guesses come all at once
    statuses = [client.get("/agent/", headers=basic("agent", f"guess{i}")).status_code for i in range(300)]
    assert statuses.count(401) == 4 and statuses.count(429) == 296
