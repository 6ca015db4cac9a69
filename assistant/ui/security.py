"""HTTP hardening shared by every route: API keys, request limits, content type, security headers.

Pure ASGI middlewares (they also see Gradio's routes and streaming responses, which Starlette's
`BaseHTTPMiddleware` would buffer). Order, outermost first (server.py): security headers → CORS → API guard →
sidebar basic auth → routes, so that even a 401/413/415 carries the security headers.

- `ApiGuardMiddleware`: on `/v1/*`, `Authorization: Bearer <key>` when API keys are configured (401
  otherwise), `application/json` POSTs only (415; a cross-site form or `text/plain` POST needs no CORS
  preflight, so this is what stops one); on every path, request bodies over `max_body_bytes` get 413 before
  anything parses them.
- `SecurityHeadersMiddleware`: Content-Security-Policy, X-Frame-Options (when no frame ancestor is
  allowed), X-Content-Type-Options, Referrer-Policy on every response.
"""

from __future__ import annotations

import hashlib
import hmac
import json
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


class _BodyTooLarge(Exception):
    pass


class ApiGuardMiddleware:
    def __init__(self, app: ASGIApp, *, api_keys: dict[str, Role], max_body_bytes: int, prefix: str = API_PREFIX):
        self.app, self.prefix, self.max_body_bytes = app, prefix, max_body_bytes
        self.keys = [(key.encode(), role) for key, role in api_keys.items()]

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
