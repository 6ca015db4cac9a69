"""`assistant ask` and `assistant chat` (wired in assistant/cli.py).

`ask --jsonl IN` reads `{"id", "question", "operator"?, "history"?}` per line and writes one Reply per
line with the same id, so any evaluation set can be run through the assistant. `history` is a list of
earlier user messages (strings, or `{"role": "user", "content": ...}` objects) replayed in the same session.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field, ValidationError

from assistant.config import Settings
from assistant.models import Reply, ReplyStatus


class AskLine(BaseModel):
    id: str | None = None
    question: str = ""
    operator: str | None = None
    history: list[Any] = Field(default_factory=list)

    def user_history(self) -> list[str]:
        out = []
        for h in self.history:
            if isinstance(h, str):
                out.append(h)
            elif isinstance(h, dict) and h.get("role", "user") == "user":
                out.append(str(h.get("content") or h.get("text") or ""))
        return out


def _assistant(settings: Settings):  # noqa: ANN202 - imported lazily so `--help` stays instant
    from assistant.agent import Assistant

    return Assistant(settings)


def _print_reply(reply: Reply, as_json: bool, stream: TextIO) -> None:
    if as_json:
        stream.write(reply.model_dump_json(indent=2) + "\n")
        return
    stream.write(reply.answer + "\n")
    stream.write(f"\n[{reply.status} · {reply.intent} · {reply.operator or '-'} · {reply.latency_ms:.0f} ms]\n")


def _run_jsonl(assistant: Any, jsonl_in: Path, out: Path | None) -> int:
    sink = out.open("w", encoding="utf-8") if out else sys.stdout
    failures = 0
    try:
        for n, line in enumerate(jsonl_in.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = AskLine.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError, RecursionError) as exc:
                failures += 1
                why = "JSON nested too deeply" if isinstance(exc, RecursionError) else type(exc).__name__
                reply = Reply(id=None, answer=f"line {n}: invalid input ({why})", status=ReplyStatus.CLARIFY)
                sink.write(reply.model_dump_json() + "\n")
                continue
            session = f"jsonl-{item.id or n}-{uuid.uuid4().hex[:8]}"  # every line is its own conversation
            for earlier in item.user_history():
                assistant.ask(earlier, session_id=session, operator=item.operator)
            reply = assistant.ask(item.question, session_id=session, operator=item.operator)
            reply.id = item.id
            sink.write(reply.model_dump_json() + "\n")
            sink.flush()
    finally:
        if out:
            sink.close()
    return 1 if failures else 0


def run_ask(question: str | None, operator: str | None, as_json: bool, jsonl_in: Path | None,
            out: Path | None, settings: Settings) -> int:
    if jsonl_in is not None:
        if not jsonl_in.is_file():
            print(f"error: input file not found: {jsonl_in}", file=sys.stderr)
            return 2
        return _run_jsonl(_assistant(settings), jsonl_in, out)
    if question is None:
        print("error: give a question, or --jsonl IN", file=sys.stderr)
        return 2
    reply = _assistant(settings).ask(question, operator=operator)
    if out:
        out.write_text(reply.model_dump_json(indent=2) + "\n", encoding="utf-8")
    _print_reply(reply, as_json, sys.stdout)
    return 0


def run_chat(settings: Settings, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """A terminal conversation: one session for the whole chat; `exit`, `quit` or Ctrl-D leaves."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    assistant = _assistant(settings)
    session = uuid.uuid4().hex
    stdout.write("Assistant CGV — posez votre question / ask your question (exit to quit)\n")
    while True:
        stdout.write("> ")
        stdout.flush()
        line = stdin.readline()
        if not line or line.strip().lower() in ("exit", "quit", ":q"):
            stdout.write("\n")
            return 0
        if not line.strip():
            continue
        reply = assistant.ask(line.rstrip("\n"), session_id=session)
        _print_reply(reply, False, stdout)
