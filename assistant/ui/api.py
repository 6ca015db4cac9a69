"""HTTP API: an OpenAI-compatible `POST /v1/chat/completions`, `GET /v1/models` and `GET /healthz`.

Any OpenAI client can talk to the assistant. The answer text is the message content; the whole Reply
(citations with exact quotes, tool results with their breakdown, passages, status, session id) rides in the
extra top-level field `assistant` of the completion (of the last chunk when streaming), so clients that
know about it get the evidence and the others still work. See docs/ui.md.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant import __version__
from assistant.errors import QueryError
from assistant.models import Reply
from assistant.ui.backend import MAX_MESSAGE_CHARS, Backend, check_message

log = logging.getLogger(__name__)

MODEL_NAME = "telecom-assistant"
STREAM_WORDS_PER_CHUNK = 4


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI request; sampling parameters are accepted and ignored (answers are deterministic)."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_NAME
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    # Extensions (pass with the OpenAI client's `extra_body`):
    session_id: str | None = Field(default=None, description="continue a conversation (returned in assistant.session_id)")
    operator: str | None = Field(default=None, description="operator name, as in the manifest")


class APIError(Exception):
    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content={"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code}})


def _usage(request: ChatCompletionRequest, reply: Reply) -> dict[str, int]:
    # Approximate (whitespace words): there is no tokenizer in the offline answer path.
    prompt = sum(len(message.text().split()) for message in request.messages)
    completion = len(reply.answer.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _question(request: ChatCompletionRequest) -> str:
    users = [message for message in request.messages if message.role == "user"]
    if not users:
        raise APIError(400, "messages must contain at least one message with role 'user'", param="messages")
    checked = check_message(users[-1].text())
    if checked.rejection == "empty":
        raise APIError(400, "the last user message is empty", param="messages", code="empty_message")
    if checked.rejection == "too_long":
        raise APIError(400, f"the last user message has {checked.length} characters; the limit is "
                            f"{MAX_MESSAGE_CHARS}", param="messages", code="message_too_long")
    if checked.rejection == "binary":
        raise APIError(400, "the last user message looks like binary data, not text", param="messages",
                       code="binary_message")
    return checked.text


def _stream(request: ChatCompletionRequest, reply: Reply, completion_id: str, created: int) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = reply.answer.split(" ")
    for start in range(0, len(words), STREAM_WORDS_PER_CHUNK):
        piece = " ".join(words[start:start + STREAM_WORDS_PER_CHUNK])
        yield chunk({"content": piece if start == 0 else " " + piece})
    yield chunk({}, "stop", assistant=reply.model_dump(mode="json"))
    if request.stream_options and request.stream_options.include_usage:
        usage = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME,
                 "choices": [], "usage": _usage(request, reply)}
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


def build_api(backend: Backend) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "model": MODEL_NAME, "operators": backend.operators,
                "calculators": sorted(backend.calculators)}

    @router.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0,
                                            "owned_by": "telecom-assistant"}]}

    @router.post("/v1/chat/completions", response_model=None,
                 openapi_extra={"requestBody": {"content": {"application/json": {
                     "schema": ChatCompletionRequest.model_json_schema()}}, "required": True}})
    async def chat_completions(http_request: Request) -> JSONResponse | StreamingResponse:
        try:
            try:
                request = ChatCompletionRequest.model_validate(await http_request.json())
            except (ValueError, ValidationError) as error:  # json errors are ValueErrors
                raise APIError(400, f"invalid request: {error}".splitlines()[0]) from error
            if request.model != MODEL_NAME:
                raise APIError(404, f"the model '{request.model}' does not exist; use '{MODEL_NAME}'",
                               param="model", code="model_not_found")
            question = _question(request)
            session_id = request.session_id or f"api-{uuid.uuid4().hex[:12]}"
            try:
                reply = await run_in_threadpool(backend.ask, question, session_id, request.operator)
            except QueryError as error:
                raise APIError(400, str(error), param="operator") from error
            except Exception as error:
                log.exception("assistant failed on an API question")
                raise APIError(500, "the assistant failed to answer; please retry", kind="server_error") from error
        except APIError as error:
            return error.response()

        reply = reply.model_copy(update={"session_id": reply.session_id or session_id})
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if request.stream:
            return StreamingResponse(_stream(request, reply, completion_id, created), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_NAME,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.answer, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(request, reply),
            "assistant": reply.model_dump(mode="json"),
        })

    return router
