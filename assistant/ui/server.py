"""One FastAPI process serves everything: the API routes, the agent sidebar at /agent, the chat at /.

Routes are registered before the Gradio mounts because the chat is mounted at the root and would
otherwise shadow them.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import secrets
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import Settings
from assistant.privacy import install_log_redaction, load_address_patterns
from assistant.ui.api import build_api
from assistant.ui.backend import Backend
from assistant.ui.chat import build_chat
from assistant.ui.security import (
    ApiGuardMiddleware,
    LoginLockout,
    RateLimiter,
    Role,
    SecurityHeadersMiddleware,
    client_ip,
    parse_api_keys,
    retry_after,
)
from assistant.ui.sidebar import build_sidebar
from assistant.ui.style import CSS

log = logging.getLogger(__name__)

SIDEBAR_PATH = "/agent"
SIDEBAR_CSS = ".gradio-container { max-width: 460px !important; }"


class BasicAuthMiddleware:
    """HTTP Basic auth on one path prefix (the agent sidebar), so customers never reach agent tools.

    Basic auth rather than Gradio's login page: browsers resend the credentials with every request the
    sidebar makes (page, assets, queue), and a CRM can embed the panel with credentials in its config.
    """

    def __init__(self, app: ASGIApp, prefix: str, user: str, password: str, realm: str = "agent sidebar",
                 lockout: LoginLockout | None = None):
        self.app, self.prefix, self.realm = app, prefix, realm
        self.expected = (user.encode(), password.encode())
        self.lockout = lockout or LoginLockout()

    @staticmethod
    def _attempted(scope: Scope) -> bool:
        """Credentials were sent (a first request without them is the browser asking, not a failed login)."""
        return bool(dict(scope.get("headers", [])).get(b"authorization", b"").strip())

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope.get("headers", [])).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both comparisons always run so timing does not reveal which part was wrong.
        user_ok = secrets.compare_digest(user, self.expected[0])
        password_ok = secrets.compare_digest(password, self.expected[1])
        return user_ok and password_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        protected = path == self.prefix or path.startswith(self.prefix + "/")
        if scope["type"] not in ("http", "websocket") or not protected:
            await self.app(scope, receive, send)
            return
        client = client_ip(scope)
        locked = self.lockout.locked_for(client)
        if not locked:
            if self._authorised(scope):
                self.lockout.success(client)
                await self.app(scope, receive, send)
                return
            if self._attempted(scope):
                locked = self.lockout.failure(client)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif locked:
            await _plain(send, 429, f"Too many failed logins to the agent sidebar from this address; try again in "
                                    f"{max(1, math.ceil(locked))} s.\n", retry_after(locked))
        else:
            await _plain(send, 401, "Authentication required for the agent sidebar.\n", [
                (b"www-authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'.encode())])


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


def create_app(settings: Settings, backend: Backend | None = None) -> FastAPI:
    """The whole product as one ASGI app (builds the real backend, and the index if missing, by default)."""
    api_keys = parse_api_keys(settings.api_keys)  # a malformed key list stops the start, before the index
    load_address_patterns(settings.knowledge_dir)  # so does a broken knowledge/privacy.yaml
    backend = backend or Backend.from_settings(settings, progress=True)
    app = FastAPI(title="Telecom T&C assistant", docs_url="/docs", redoc_url=None)
    app.include_router(build_api(backend))
    app.add_api_route("/qa/health", _health_page(settings), methods=["GET"], response_class=HTMLResponse,
                      include_in_schema=False)
    mount: dict[str, Any] = {"server_name": settings.host, "server_port": settings.port,
                             "footer_links": ["api"], "run_history": False, "ssr_mode": False}
    app = gr.mount_gradio_app(app, build_sidebar(backend), path=SIDEBAR_PATH, css=CSS + SIDEBAR_CSS, **mount)
    app = gr.mount_gradio_app(app, build_chat(backend), path="/", css=CSS, **mount)
    app.state.backend = backend
    if settings.sidebar_user and settings.sidebar_password:
        app.add_middleware(BasicAuthMiddleware, prefix=SIDEBAR_PATH, user=settings.sidebar_user,
                           password=settings.sidebar_password, lockout=LoginLockout(
                               settings.sidebar_max_failed_logins, settings.sidebar_lockout_s,
                               settings.sidebar_lockout_max_s))
    elif settings.sidebar_user or settings.sidebar_password:
        log.warning("sidebar auth needs both ASSISTANT_SIDEBAR_USER and ASSISTANT_SIDEBAR_PASSWORD; it is OFF")
    add_security(app, settings, api_keys)
    return app


def _health_page(settings: Settings) -> Any:
    """The QA page of the corpus health check (computed once, on first visit; the texts are public T&C)."""
    cache: dict[str, str] = {}

    def page() -> HTMLResponse:
        if "html" not in cache:
            from assistant.corpus import load_corpus
            from assistant.corpus.health import check
            from assistant.corpus.health_view import health_html
            from assistant.tools.rules import load_rules

            cache["html"] = health_html(check(load_corpus(settings), load_rules(settings.rules_dir)))
        return HTMLResponse(cache["html"])

    return page


def add_security(app: FastAPI, settings: Settings, api_keys: dict[str, Role] | None = None) -> FastAPI:
    """API guard (keys, content type, body size), CORS (no origin unless configured) and security headers.

    Middlewares run last-added first, so the order here makes the security headers the outermost layer
    (every response carries them, a 401/413/415 too) and the API guard the innermost of the three.
    """
    api_keys = parse_api_keys(settings.api_keys) if api_keys is None else api_keys
    app.add_middleware(ApiGuardMiddleware, api_keys=api_keys, max_body_bytes=settings.max_body_bytes,
                       rate_limiter=RateLimiter(settings.api_rate_per_minute, settings.api_rate_burst))
    # Always installed, with no origin by default: then Gradio's own CORS handling (which answers any origin
    # once the app is served under a non-localhost name) stands down and no cross-site page can read replies.
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
    app.add_middleware(SecurityHeadersMiddleware, frame_ancestors=settings.frame_ancestors)
    if not api_keys and settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("ASSISTANT_API_KEYS is not set: the /v1 API is open to anyone who can reach %s:%s",
                    settings.host, settings.port)
    return app


# Every file the server creates is its owner's only: the conversation store and its WAL/SHM files, the feedback
# store, the index built on first start, Gradio's temporary files.
FILE_UMASK = 0o077


# The embedding engine spreads one query over OpenMP threads that spin while they wait for each other. In a
# server, concurrent requests already keep the cores busy, and the spinning threads took the CPU from them: on
# the shared 2-core machine an answer cost ~750 ms of CPU with the defaults, ~80 ms with one thread per query
# and passive waiting (eval/reports/load.md). Set before the engine is loaded; the environment can override.
SERVER_THREADING = {"OMP_NUM_THREADS": "1"}  # passive waiting is every process's default (config.py)


def serve(settings: Settings, backend: Backend | None = None) -> None:
    """Build everything (index first, with a progress bar), then serve on settings.host:settings.port."""
    os.umask(FILE_UMASK)
    for name, value in SERVER_THREADING.items():
        os.environ.setdefault(name, value)
    install_log_redaction()
    app = create_app(settings, backend)
    auth = "basic auth" if settings.sidebar_user and settings.sidebar_password else "no auth"
    keys = "API keys" if settings.api_keys.strip() else "no API key"
    print(f"Customer chat:  http://{settings.host}:{settings.port}/\n"
          f"Agent sidebar:  http://{settings.host}:{settings.port}{SIDEBAR_PATH}/  ({auth})\n"
          f"OpenAI API:     http://{settings.host}:{settings.port}/v1  (model telecom-assistant, {keys})", flush=True)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")  # configures logging
    install_log_redaction("uvicorn", "uvicorn.error", "uvicorn.access")
    uvicorn.Server(config).run()
