"""Ask the evaluation questions through the HTTP API of a running app (`assistant eval --via-api URL`).

What is measured is then the served path: the OpenAI-compatible route, its input gate, the operator and
session handling of the API layer, and the JSON round trip of the Reply, not only `Assistant.ask`. Each
item keeps its own API session (a dialogue's turns continue it), and the item's operator is sent the way a
client picks one (`operator` in the request body).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import httpx
from pydantic import ValidationError

from assistant.errors import AssistantError
from assistant.models import Reply

MODEL = "telecom-assistant"
_SESSION_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_RETRY_WAIT_S = 60.0  # a rate-limited run waits as the server says, up to this per try
MAX_TRIES = 5


def api_session_id(session_id: str | None) -> str | None:
    """The runner's session id in the API's format (1-64 of A-Z a-z 0-9 _ -)."""
    if session_id is None:
        return None
    cleaned = _SESSION_CHARS.sub("-", session_id)
    if len(cleaned) <= 64:
        return cleaned
    return cleaned[:47] + "-" + hashlib.sha256(session_id.encode()).hexdigest()[:16]


class ApiAsker:
    """`ask()` like `Assistant.ask`, answered by the app at `base_url` (e.g. http://127.0.0.1:7860)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 120.0,
                 client: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=timeout_s, headers=headers, trust_env=False)

    def check(self) -> dict[str, Any]:
        """The app's /healthz, or an AssistantError saying why it cannot be used."""
        try:
            response = self.client.get(f"{self.base_url}/healthz")
        except httpx.HTTPError as error:
            raise AssistantError(f"cannot reach the app at {self.base_url}: {error}") from None
        if response.status_code != 200:
            raise AssistantError(f"{self.base_url}/healthz answered {response.status_code}: is the app ready?")
        return dict(response.json())

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        for _ in range(MAX_TRIES):
            response = self.client.post(f"{self.base_url}/v1/chat/completions", json=body)
            if response.status_code != 429:
                return response
            time.sleep(min(MAX_RETRY_WAIT_S, float(response.headers.get("retry-after", "1") or 1)))
        return response

    def ask(self, question: str | None, session_id: str | None = None, operator: str | None = None) -> Reply:
        body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": question or ""}]}
        if session_id:
            body["session_id"] = api_session_id(session_id)
        if operator:
            body["operator"] = operator
        response = self._post(body)
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise RuntimeError(f"HTTP {response.status_code}: {message}")
        try:
            return Reply.model_validate(response.json()["assistant"])
        except (ValueError, KeyError, ValidationError) as error:
            raise RuntimeError(f"the API answered without a valid 'assistant' reply: {error}") from None
