"""HTTP API: an OpenAI-compatible `POST /v1/chat/completions`, `GET /v1/models` and `GET /healthz`.

Any OpenAI client can talk to the assistant. The answer text is the message content; the whole Reply
(citations with exact quotes, tool results with their breakdown, passages, status, session id) rides in the
extra top-level field `assistant` of the completion (of the last chunk when streaming), so clients that
know about it get the evidence and the others still work. See docs/ui.md.

Every malformed request is a 4xx with OpenAI's error shape, never a 5xx: the body is decoded and parsed
here (not by FastAPI) so that invalid UTF-8, lone surrogates, deep nesting and oversized fields each get a
clear message. Who may call and how big a body may be is checked before this code runs
(assistant/ui/security.py). With API keys, a customer-role key gets the reply without the agent-only fields
(tool traces, passages, reply_to_customer), and API sessions belong to the key that created them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant import __version__
from assistant.errors import QueryError
from assistant.models import Reply
from assistant.ui.backend import Backend, check_message
from assistant.ui.security import OPEN_CLIENT, ApiClient, error_body
from assistant.validation import field_problem, has_lone_surrogate

log = logging.getLogger(__name__)

MODEL_NAME = "telecom-assistant"
STREAM_WORDS_PER_CHUNK = 4

# Request limits (the body size is ASSISTANT_MAX_BODY_BYTES, checked before parsing).
MAX_MESSAGES = 200
MAX_CONTENT_PARTS = 64
MAX_HISTORY_MESSAGE_CHARS = 32_000  # earlier messages are accepted (clients resend the conversation), not read
MAX_JSON_DEPTH = 32
MAX_NAME_CHARS = 100  # model, operator
MAX_USER_CHARS = 256
SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_API_SESSIONS = 10_000
# Reply fields only agent-role keys (or an API without keys) receive.
AGENT_ONLY_FIELDS = ("tools", "passages", "reply_to_customer")


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | Annotated[list[dict[str, Any]], Field(max_length=MAX_CONTENT_PARTS)] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI request; sampling parameters are accepted and ignored (answers are deterministic)."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_NAME  # model, user and operator: length and characters checked by _check_fields
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    # Extensions (pass with the OpenAI client's `extra_body`):
    session_id: str | None = Field(default=None, description="continue a conversation (returned in "
                                   "assistant.session_id); 1-64 characters among A-Z a-z 0-9 _ -")
    operator: str | None = Field(default=None, description="operator name, as in the manifest")


class APIError(Exception):
    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def response(self) -> Response:
        return Response(error_body(self.message, kind=self.kind, param=self.param, code=self.code),
                        status_code=self.status, media_type="application/json")


class ApiSessions:
    """Which API key created which session id.

    The Assistant's session behind a visible id is `api:<key id>:<id>`, so an API caller can never reach a
    web-chat session or another key's session, whatever id it sends; this table adds a clear 404 when a key
    sends an id that another key created. An id the caller invents is accepted and becomes theirs.
    """

    def __init__(self, max_sessions: int = MAX_API_SESSIONS):
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_sessions

    def resolve(self, client: ApiClient, requested: str | None) -> tuple[str, str]:
        """(the id the caller sees, the Assistant's session id)."""
        if requested is None:
            visible = f"api-{uuid.uuid4().hex[:16]}"
        elif not SESSION_ID_RE.fullmatch(requested):
            raise APIError(400, "session_id must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'",
                           param="session_id", code="invalid_session_id")
        else:
            visible = requested
        with self._lock:
            owner = self._owners.get(visible)
            if owner is not None and owner != client.key_id:
                raise APIError(404, "no session with this session_id for this API key", param="session_id",
                               code="session_not_found")
            self._owners[visible] = client.key_id
            self._owners.move_to_end(visible)
            while len(self._owners) > self._max:
                self._owners.popitem(last=False)
        return visible, f"api:{client.key_id}:{visible}"


class HistoryThreads:
    """Conversations sent the OpenAI way (the history in `messages`, no `session_id`): which session has taken
    in exactly which user messages.

    After answering a request the session behind it holds the conversation up to that request's last user
    message; it is kept under a digest of (API key, operator, the user messages). The client's next request
    resends those messages plus a new one, finds the session by the digest of its earlier messages and
    continues it with the new one only: the same turns as a server session, one answer's work per request
    however long the conversation. A session is taken out when it is continued, so a retried or edited
    request (a digest no longer kept), a conversation this process never saw (another replica, a restart) or
    one whose session was continued through its `session_id` is rebuilt by replaying its earlier user
    messages in a fresh session.
    """

    def __init__(self, max_entries: int = MAX_API_SESSIONS):
        self._sessions: OrderedDict[str, str] = OrderedDict()  # digest -> visible session id
        self._digests: dict[str, str] = {}  # visible session id -> its digest
        self._taken: set[str] = set()  # sessions a request is continuing
        self._lock = threading.Lock()
        self._max = max_entries

    @staticmethod
    def digest(key_id: str, operator: str | None, questions: list[str]) -> str:
        text = json.dumps([key_id, operator, questions], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def take(self, digest: str) -> str | None:
        """The session that took in exactly these messages, taken out (one request continues it)."""
        with self._lock:
            session_id = self._sessions.pop(digest, None)
            if session_id is not None:
                self._digests.pop(session_id, None)
                self._taken.add(session_id)
            return session_id

    def keep(self, digest: str, session_id: str, *, taken: bool) -> None:
        """After the answer: `session_id` now holds the messages of `digest`. A taken session that was
        continued through its id in the meantime is not kept (it holds more than these messages)."""
        with self._lock:
            if taken and session_id not in self._taken:
                return
            self._taken.discard(session_id)
            self._drop(session_id)
            previous = self._sessions.pop(digest, None)
            if previous is not None:
                self._digests.pop(previous, None)
            self._sessions[digest] = session_id
            self._digests[session_id] = digest
            while len(self._sessions) > self._max:
                _, oldest = self._sessions.popitem(last=False)
                self._digests.pop(oldest, None)

    def release(self, session_id: str) -> None:
        """The request that took `session_id` failed: the session is not kept."""
        with self._lock:
            self._taken.discard(session_id)

    def forget(self, session_id: str) -> None:
        """A session continued through its id no longer matches the messages it was kept under."""
        with self._lock:
            self._taken.discard(session_id)
            self._drop(session_id)

    def _drop(self, session_id: str) -> None:
        digest = self._digests.pop(session_id, None)
        if digest is not None:
            self._sessions.pop(digest, None)


def _parse_body(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise APIError(400, f"the request body is not valid UTF-8 (byte {error.start})",
                       code="invalid_encoding") from error
    try:
        payload = json.loads(text)
    except RecursionError as error:
        raise APIError(400, f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH})",
                       code="json_too_deep") from error
    except ValueError as error:  # JSONDecodeError, and integers with too many digits
        raise APIError(400, f"the request body is not valid JSON: {str(error).splitlines()[0]}",
                       code="invalid_json") from error
    _check_structure(payload)
    return payload


def _check_structure(payload: Any) -> None:
    """Nesting depth and lone surrogates in any string or key, without recursion."""
    stack: list[tuple[Any, int, str]] = [(payload, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            raise APIError(400, f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH})",
                           code="json_too_deep")
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if has_lone_surrogate(key):
                    raise APIError(400, "a JSON key is not valid UTF-8 text", code="invalid_unicode")
                stack.append((item, depth + 1, where))
        elif isinstance(value, list):
            stack += [(item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value)]
        elif isinstance(value, str) and has_lone_surrogate(value):
            raise APIError(400, f"{path or 'the body'} is not valid UTF-8 text (it contains a lone surrogate)",
                           param=path or None, code="invalid_unicode")


def _validate(payload: Any) -> ChatCompletionRequest:
    if isinstance(payload, dict) and isinstance(payload.get("messages"), list) \
            and len(payload["messages"]) > MAX_MESSAGES:
        raise APIError(400, f"the request has {len(payload['messages'])} messages; the limit is {MAX_MESSAGES}",
                       param="messages", code="too_many_messages")
    try:
        return ChatCompletionRequest.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = f"invalid request: {where + ': ' if where else ''}{first['msg']}"
        raise APIError(400, message.splitlines()[0], param=where or None) from error


def _usage(request: ChatCompletionRequest, reply: Reply) -> dict[str, int]:
    # Approximate (whitespace words): there is no tokenizer in the offline answer path.
    prompt = sum(len(message.text().split()) for message in request.messages)
    completion = len(reply.answer.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _question(request: ChatCompletionRequest) -> str:
    for index, message in enumerate(request.messages):
        length = len(message.text())
        if length > MAX_HISTORY_MESSAGE_CHARS:
            raise APIError(400, f"message {index} has {length} characters; the limit is "
                                f"{MAX_HISTORY_MESSAGE_CHARS}", param=f"messages[{index}]", code="message_too_long")
    users = [message for message in request.messages if message.role == "user"]
    if not users:
        raise APIError(400, "messages must contain at least one message with role 'user'", param="messages")
    checked = check_message(users[-1].text())
    if checked.rejection == "empty":
        raise APIError(400, "the last user message is empty", param="messages", code="empty_message")
    if checked.rejection == "too_long":
        raise APIError(400, f"the last user message has {checked.length} characters; the limit is "
                            f"{checked.max_chars}", param="messages", code="message_too_long")
    if checked.rejection == "invalid_unicode":
        raise APIError(400, "the last user message is not valid UTF-8 text", param="messages",
                       code="invalid_unicode")
    if checked.rejection == "binary":
        raise APIError(400, "the last user message looks like binary data, not text", param="messages",
                       code="binary_message")
    return checked.text


# Earlier user messages replayed to rebuild a conversation sent the OpenAI way that no session holds yet (the
# most recent ones): it bounds the work one request can ask for.
MAX_REPLAYED = 32


def _earlier_questions(request: ChatCompletionRequest) -> list[str]:
    """The user messages before the last one, each through the input gate; one the gate refuses is skipped
    (it could not have been answered either)."""
    users = [m for m in request.messages if m.role == "user"][:-1]
    out = []
    for message in users:
        checked = check_message(message.text())
        if checked.rejection is None:
            out.append(checked.text)
    return out


def _ask_after(backend: Backend, history: list[str], question: str, session_id: str,
               operator: str | None) -> Reply:
    """Replay earlier user messages in the (fresh) session, their replies unused, then answer `question`."""
    for earlier in history:
        backend.ask(earlier, session_id, operator)
    return backend.ask(question, session_id, operator)


def _check_fields(request: ChatCompletionRequest) -> None:
    for name in ("model", "operator", "user"):
        value = getattr(request, name)
        problem = field_problem(value, name, MAX_USER_CHARS if name == "user" else MAX_NAME_CHARS) \
            if value is not None else None
        if problem:
            raise APIError(400, problem, param=name, code=f"invalid_{name}")


def reply_for(client: ApiClient, reply: Reply) -> dict[str, Any]:
    """The Reply as JSON, without the agent-only fields for a customer-role key."""
    data = reply.model_dump(mode="json")
    if not client.is_agent:
        for name in AGENT_ONLY_FIELDS:
            data.pop(name, None)
    return data


def _stream(request: ChatCompletionRequest, reply: Reply, extra: dict[str, Any], completion_id: str,
            created: int) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = reply.answer.split(" ")
    for start in range(0, len(words), STREAM_WORDS_PER_CHUNK):
        piece = " ".join(words[start:start + STREAM_WORDS_PER_CHUNK])
        yield chunk({"content": piece if start == 0 else " " + piece})
    yield chunk({}, "stop", assistant=extra)
    if request.stream_options and request.stream_options.include_usage:
        usage = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME,
                 "choices": [], "usage": _usage(request, reply)}
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


def build_api(backend: Backend) -> APIRouter:
    router = APIRouter()
    sessions = ApiSessions()
    threads = HistoryThreads()

    @router.get("/healthz")
    def healthz() -> dict[str, Any]:
        status = {"status": "ok", "version": __version__, "model": MODEL_NAME, "operators": backend.operators,
                  "calculators": sorted(backend.calculators)}
        if backend.index_status is not None:  # which index this replica serves (docs/deploy.md, re-ingest)
            status["index"] = backend.index_status.report()
        return status

    @router.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0,
                                            "owned_by": "telecom-assistant"}]}

    @router.post("/v1/chat/completions", response_model=None,
                 openapi_extra={"requestBody": {"content": {"application/json": {
                     "schema": ChatCompletionRequest.model_json_schema()}}, "required": True}})
    async def chat_completions(http_request: Request) -> Response:
        client: ApiClient = getattr(http_request.state, "api_client", OPEN_CLIENT)
        try:
            request = _validate(_parse_body(await http_request.body()))
            _check_fields(request)
            if request.model != MODEL_NAME:
                raise APIError(404, f"the model '{request.model}' does not exist; use '{MODEL_NAME}'",
                               param="model", code="model_not_found")
            question = _question(request)
            # Standard OpenAI clients resend the conversation instead of a session id: without one, the session
            # that took in the earlier user messages continues (HistoryThreads), or they are replayed in a
            # fresh session, so follow-ups keep their context.
            history: list[str] = []
            taken = kept_as = None
            if request.session_id is None:
                earlier = _earlier_questions(request)
                taken = threads.take(threads.digest(client.key_id, request.operator, earlier)) if earlier else None
                history = [] if taken else earlier[-MAX_REPLAYED:]
                kept_as = threads.digest(client.key_id, request.operator, [*earlier, question])
            try:
                session_id, assistant_session = sessions.resolve(client, taken or request.session_id)
                if request.session_id is not None:
                    threads.forget(session_id)
                reply = await run_in_threadpool(_ask_after, backend, history, question, assistant_session,
                                                request.operator)
            except Exception as error:
                if taken:
                    threads.release(taken)
                if isinstance(error, APIError):
                    raise
                if isinstance(error, QueryError):
                    raise APIError(400, str(error), param="operator") from error
                log.exception("assistant failed on an API question")
                raise APIError(500, "the assistant failed to answer; please retry", kind="server_error") from error
        except APIError as error:
            return error.response()

        if kept_as is not None:
            threads.keep(kept_as, session_id, taken=taken is not None)
        reply = reply.model_copy(update={"session_id": session_id})
        extra = reply_for(client, reply)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if request.stream:
            return StreamingResponse(_stream(request, reply, extra, completion_id, created),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_NAME,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.answer, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(request, reply),
            "assistant": extra,
        })

    return router
