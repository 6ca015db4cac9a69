"""HTTP hardening shared by every route: API keys, request limits, content type, security headers.

Pure ASGI middlewares (they also see Gradio's routes and streaming responses, which Starlette's
`BaseHTTPMiddleware` would buffer). Order, outermost first (server.py): security headers → CORS → API guard →
sidebar basic auth → routes, so that even a 401/413/415 carries the security headers.

- `ApiGuardMiddleware`: on `/v1/*`, a token bucket per API key (per client IP when no key is configured, and
  for calls whose key is missing or wrong, so guessing keys is throttled too; 429 with Retry-After),
  `Authorization: Bearer <key>` when API keys are configured (401 otherwise), `application/json` POSTs only
  (415; a cross-site form or `text/plain` POST needs no CORS preflight, so this is what stops one); on every
  path, request bodies over `max_body_bytes` get 413 before anything parses them.
- `LoginLockout`: the sidebar's basic auth (server.py) locks a client IP out after repeated wrong passwords,
  for a time that doubles with each further failure.
- `SecurityHeadersMiddleware`: Content-Security-Policy, X-Frame-Options (when no frame ancestor is
  allowed), X-Content-Type-Options, Referrer-Policy on every response.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import AssistantError

Role = Literal["customer", "agent"]
ROLES: tuple[Role, ...] = ("customer", "agent")
API_PREFIX = "/v1"


@dataclass(frozen=True)
class ApiClient:
    """Who is calling the API: `key_id` names the key without revealing it (sessions are bound to it)."""

    key_id: str
    role: Role
    authenticated: bool

    @property
    def is_agent(self) -> bool:
        return self.role == "agent"


# No keys configured: everyone is the same caller and sees the whole reply, as before API keys existed.
OPEN_CLIENT = ApiClient(key_id="open", role="agent", authenticated=False)


class ApiKeyError(AssistantError):
    """ASSISTANT_API_KEYS cannot be read (the app refuses to start rather than run with an open API)."""


def parse_api_keys(spec: str | None) -> dict[str, Role]:
    """`"k1,k2:agent"` → `{"k1": "customer", "k2": "agent"}`.

    The text after the last ':' of an entry is its role; keys may not contain ',', ':' or whitespace and need
    16 characters or more.
    """
    keys: dict[str, Role] = {}
    for raw in (spec or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, role = entry.rpartition(":")
        if not sep:
            key, role = entry, "customer"
        key, role = key.strip(), role.strip()
        if not key or any(char.isspace() for char in key):
            raise ApiKeyError("ASSISTANT_API_KEYS: an entry has an empty key or a key with spaces")
        if role not in ROLES:
            raise ApiKeyError(f"ASSISTANT_API_KEYS: unknown role '{role}' (use customer or agent)")
        if len(key) < 16:
            raise ApiKeyError("ASSISTANT_API_KEYS: every key needs at least 16 characters")
        keys[key] = role  # type: ignore[assignment]
    return keys


def key_id(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> bytes:
    """OpenAI's error shape. ASCII-escaped, so text echoed from a request (even a lone surrogate) encodes."""
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}},
                      ensure_ascii=True).encode()


async def send_error(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def client_ip(scope: Scope) -> str:
    """The peer address of the connection (a proxy's X-Forwarded-For is not trusted: any client can send one)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def retry_after(seconds: float) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(max(1, math.ceil(seconds))).encode())]


class RateLimiter:
    """A token bucket per client: `burst` requests at once, refilled at `per_minute` requests a minute.

    In memory and per process (one uvicorn worker serves the app). At most `max_clients` buckets are kept,
    the least recently used dropped first, so a flood of new client ids cannot grow memory without bound.
    """

    def __init__(self, per_minute: float, burst: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.max_clients, self.clock = per_minute / 60.0, max(1, burst), max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, updated at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """Spend one request of `client`: 0 when allowed, else the seconds until the next one is."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, updated = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.rate


class LoginLockout:
    """Failed logins per client: after `max_failures` in a row the client is locked out for `base_s`, and
    each further failure doubles that, up to `max_s`. A success clears the record; a client with no failure
    for `forget_s` starts again from zero. While locked out every attempt is refused, a right password too
    (otherwise the lockout would still tell a guesser when a guess is right)."""

    def __init__(self, max_failures: int = 5, base_s: float = 30.0, max_s: float = 900.0, *,
                 forget_s: float = 900.0, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.base_s, self.max_s, self.forget_s = max(1, max_failures), base_s, max_s, forget_s
        self.max_clients, self.clock = max_clients, clock
        self._records: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, last, locked until
        self._lock = threading.Lock()

    def locked_for(self, client: str) -> float:
        """Seconds `client` stays locked out (0: it may try)."""
        with self._lock:
            record = self._records.get(client)
            return max(0.0, record[2] - self.clock()) if record else 0.0

    def failure(self, client: str) -> float:
        """Record a wrong password; returns the lockout it starts (0: none yet)."""
        with self._lock:
            now = self.clock()
            failures, last, _ = self._records.pop(client, (0, now, 0.0))
            failures = 1 if now - last > self.forget_s else failures + 1
            lock = 0.0
            if failures >= self.max_failures and self.base_s > 0:
                lock = min(self.max_s, self.base_s * 2 ** (failures - self.max_failures))
            self._records[client] = (failures, now, now + lock)
            while len(self._records) > self.max_clients:
                self._records.popitem(last=False)
        return lock

    def success(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)


class ApiGuardMiddleware:
    def __init__(self, app: ASGIApp, *, api_keys: dict[str, Role], max_body_bytes: int, prefix: str = API_PREFIX,
                 rate_limiter: RateLimiter | None = None):
        self.app, self.prefix, self.max_body_bytes = app, prefix, max_body_bytes
        self.keys = [(key.encode(), role) for key, role in api_keys.items()]
        self.limiter = rate_limiter

    def authenticate(self, scope: Scope) -> ApiClient | None:
        if not self.keys:
            return OPEN_CLIENT
        header = dict(scope.get("headers", [])).get(b"authorization", b"")
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return None
        token = token.strip()
        found: ApiClient | None = None
        for key, role in self.keys:  # every key is compared, so timing does not tell which one was close
            if hmac.compare_digest(token, key):
                found = ApiClient(key_id=key_id(key.decode()), role=role, authenticated=True)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = dict(scope.get("headers", []))
        if _under(path, self.prefix):
            client = self.authenticate(scope)
            # A key's own bucket wherever it calls from; the caller's IP without a valid key (an open API, or
            # someone guessing keys: each wrong guess spends a request of that IP).
            bucket = client.key_id if client is not None and client.authenticated else f"ip:{client_ip(scope)}"
            wait = self.limiter.take(bucket) if self.limiter is not None else 0.0
            if wait > 0:
                await send_error(send, 429, error_body(
                    f"too many requests: the limit is {self.limiter.rate * 60:g} a minute per API key (per client "
                    f"address without one); retry in {max(1, math.ceil(wait))} s",
                    kind="rate_limit_error", code="rate_limit_exceeded"), retry_after(wait))
                return
            if client is None:
                await send_error(send, 401, error_body(
                    "missing or invalid API key: send 'Authorization: Bearer <key>'", code="invalid_api_key"),
                    [(b"www-authenticate", b'Bearer realm="telecom-assistant"')])
                return
            scope.setdefault("state", {})["api_client"] = client
            if scope["method"] == "POST":
                media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
                if media_type != b"application/json":
                    await send_error(send, 415, error_body(
                        "the API accepts only 'Content-Type: application/json' request bodies",
                        code="unsupported_media_type"))
                    return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            await self._with_body_limit(scope, receive, send, headers)
            return
        await self.app(scope, receive, send)

    async def _with_body_limit(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> None:
        too_large = error_body(f"the request body is larger than {self.max_body_bytes} bytes",
                               code="request_too_large")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body_bytes:
                    await send_error(send, 413, too_large, [(b"connection", b"close")])
                    return
            except ValueError:
                await send_error(send, 400, error_body("invalid Content-Length header"))
                return
        # Read the body here (it is small once under the limit) and hand the app a replay of it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_error(send, 413, too_large, [(b"connection", b"close")])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)


def content_security_policy(frame_ancestors: str = "") -> str:
    """The CSP for the Gradio pages and the API.

    Gradio's page bootstraps with inline scripts and its HTML component compiles templates at run time, so
    scripts need 'unsafe-inline' and 'unsafe-eval'; what the policy still enforces is that nothing loads
    from, or talks to, another origin (scripts, styles, fonts, fetch/WebSocket), that no plugin runs, that
    forms and <base> stay on this origin, and who may frame the app.
    """
    ancestors = " ".join(frame_ancestors.replace(",", " ").split()) or "'none'"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' blob: data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
    ])


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, frame_ancestors: str = ""):
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", content_security_policy(frame_ancestors).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if not frame_ancestors.strip():
            self.headers.append((b"x-frame-options", b"DENY"))
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept: list[Any] = [(n, v) for n, v in message.get("headers", []) if n.lower() not in self.names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
